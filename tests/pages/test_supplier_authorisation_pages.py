"""The suppliers page: authorising asks for the licence and a reason and shows who authorised, when and why;
a clinic-level manager adds suppliers for review but neither authorises nor stops one; a supplier authorised
before licences were asked is marked "no licence on file"."""

from __future__ import annotations

import re
from html import unescape

from sqlalchemy import select

from inventory.counterfeit.models import Supplier
from tests.pages.conftest import csrf_token

CHAINS = "The authorised suppliers are the chain's: a chain-level manager or chain-level admin authorises one."


def grey_market(session) -> Supplier:
    grey = Supplier(name="Grey market", is_authorised=False)
    session.add(grey)
    session.flush()
    return grey


def supplier_item(html: str, supplier_id: int) -> str:
    match = re.search(rf'<li data-supplier-id="{supplier_id}">(.*?)</li>', html, re.S)
    assert match, f"supplier {supplier_id} is not listed"
    return match.group(1)


def refusal_code(html: str) -> str | None:
    match = re.search(r'data-code="([a-z_]+)"', html)
    return match.group(1) if match else None


def test_a_chain_manager_authorises_with_the_licence_and_a_reason_and_the_page_says_who(browser_client, world,
                                                                                         session):
    grey = grey_market(session)
    client = browser_client("manager")
    token = csrf_token(client, "/suppliers")
    item = supplier_item(client.get("/suppliers").get_data(as_text=True), grey.id)
    assert 'name="licence"' in item and 'name="reason"' in item and "Authorise" in item
    html = client.post(f"/suppliers/{grey.id}", data={"authorised": "on", "licence": "", "reason": "checked",
                                                      "csrf_token": token}).get_data(as_text=True)
    assert "A supplier is authorised with its licence or registration number" in html
    assert refusal_code(html) == "validation_error"
    html = client.post(f"/suppliers/{grey.id}", data={"authorised": "on", "licence": "WDA 9", "reason": "",
                                                      "csrf_token": token}).get_data(as_text=True)
    assert "Say why this supplier is authorised" in html
    session.expire_all()
    assert not session.get(Supplier, grey.id).is_authorised
    client.post(f"/suppliers/{grey.id}", data={"authorised": "on", "licence": "WDA 9",
                                               "reason": "on the regulator's register", "csrf_token": token})
    session.expire_all()
    assert session.get(Supplier, grey.id).is_authorised
    item = supplier_item(client.get("/suppliers").get_data(as_text=True), grey.id)
    # On the chain's clock, named (tests/pages/test_counterfeit_page_clocks_pages.py has the exact words).
    assert re.search(r"Authorised by manager \d+ \w{3} \d{4} \d\d:\d\d \S+: on the regulator's register",
                     unescape(item))
    assert "no licence on file" not in item and "Stop: refuse its deliveries" in item


def test_adding_an_authorised_supplier_on_the_page_needs_a_reason(browser_client, world, session):
    client = browser_client("manager")
    token = csrf_token(client, "/suppliers")
    html = client.post("/suppliers", data={"name": "Harbour Pharma", "licence": "WDA 7", "authorised": "on",
                                           "csrf_token": token}).get_data(as_text=True)
    assert "Say why this supplier is authorised" in html
    session.expire_all()
    assert session.scalar(select(Supplier).where(Supplier.name == "Harbour Pharma")) is None
    client.post("/suppliers", data={"name": "Harbour Pharma", "licence": "WDA 7", "authorised": "on",
                                    "reason": "tender 2026", "csrf_token": token})
    session.expire_all()
    harbour = session.scalar(select(Supplier).where(Supplier.name == "Harbour Pharma"))
    assert harbour.is_authorised
    assert "Authorised by manager" in supplier_item(client.get("/suppliers").get_data(as_text=True), harbour.id)


def test_a_clinic_level_manager_adds_for_review_but_neither_authorises_nor_stops(browser_client, world, session):
    grey = grey_market(session)
    client = browser_client("clinic_manager")
    html = client.get("/suppliers").get_data(as_text=True)
    assert CHAINS in unescape(html)
    assert "Authorise</button>" not in html and "Stop: refuse its deliveries" not in html
    assert 'name="authorised"' not in html
    token = csrf_token(client, "/suppliers")
    client.post("/suppliers", data={"name": "Harbour Pharma", "licence": "WDA 7", "csrf_token": token})
    session.expire_all()
    harbour = session.scalar(select(Supplier).where(Supplier.name == "Harbour Pharma"))
    assert harbour is not None and not harbour.is_authorised
    # A forged form is refused on the server, in words.
    client.post("/suppliers", data={"name": "Botox4Less Ltd", "licence": "WDA(H) 31337", "authorised": "on",
                                    "reason": "cheap", "csrf_token": token})
    html = client.get("/suppliers").get_data(as_text=True)
    assert CHAINS + " Add it as not authorised" in unescape(html) and refusal_code(html) == "forbidden"
    client.post(f"/suppliers/{grey.id}", data={"authorised": "on", "licence": "WDA(H) 31337", "reason": "cheap",
                                               "csrf_token": token})
    assert refusal_code(client.get("/suppliers").get_data(as_text=True)) == "forbidden"
    client.post(f"/suppliers/{world.supplier.id}", data={"csrf_token": token})  # stop it
    assert refusal_code(client.get("/suppliers").get_data(as_text=True)) == "forbidden"
    session.expire_all()
    assert session.scalar(select(Supplier).where(Supplier.name == "Botox4Less Ltd")) is None
    assert not session.get(Supplier, grey.id).is_authorised
    assert session.get(Supplier, world.supplier.id).is_authorised


def test_a_supplier_authorised_without_a_licence_is_marked(browser_client, world, session):
    old = Supplier(name="Old Friend Wholesale", licence=None, is_authorised=True)
    session.add(old)
    session.flush()
    html = browser_client("manager").get("/suppliers").get_data(as_text=True)
    item = supplier_item(html, old.id)
    assert "no licence on file" in item and "Who authorised it is not on record" in item
    assert "no licence on file" not in supplier_item(html, world.supplier.id)
