"""The suppliers page keeps one entry per supplier: a copy of a supplier's name (case, spaces, punctuation aside)
or of its licence number is refused in words naming the supplier that holds it, so a stopped supplier is not
offered as "Delivered by" on the receiving page under a copy of its name."""

from __future__ import annotations

import re
from html import unescape

from sqlalchemy import func, select

from inventory.counterfeit.models import Supplier
from tests.pages.conftest import csrf_token


def refusal(html: str) -> tuple[str | None, str]:
    code = re.search(r'data-code="([a-z_]+)"', html)
    return (code.group(1) if code else None), unescape(html)


def delivered_by(html: str) -> list[str]:
    select_ = re.search(r'<select[^>]*name="supplier_id"[^>]*>(.*?)</select>', html, re.S)
    assert select_, "no Delivered by list"
    return [unescape(o) for o in re.findall(r"<option[^>]*>([^<]*)</option>", select_.group(1))]


def test_a_stopped_supplier_is_not_delivered_by_under_a_copy_of_its_name(browser_client, world, session):
    client = browser_client("manager")
    token = csrf_token(client, "/suppliers")
    client.post("/suppliers", data={"name": "Acme Pharma", "licence": "WDA(H) 90211", "authorised": "on",
                                    "reason": "licence checked on the register", "csrf_token": token})
    answer = client.post("/suppliers", data={"name": "acme  pharma", "licence": "WDA(H) 55555", "authorised": "on",
                                             "reason": "new wholesaler", "csrf_token": token})
    code, html = refusal(answer.get_data(as_text=True))  # said beside the name, the form kept
    assert answer.status_code == 409 and 'id="name-refusal"' in html
    assert code == "supplier_name_taken"
    assert "A supplier named “Acme Pharma” is on the list already (“acme  pharma” reads the same" in html
    session.expire_all()
    acme = session.scalar(select(Supplier).where(Supplier.name == "Acme Pharma"))
    assert session.scalar(select(func.count(Supplier.id)).where(Supplier.name_key == "acmepharma")) == 1
    client.post(f"/suppliers/{acme.id}", data={"csrf_token": token})  # stop it
    offered = delivered_by(client.get("/receive").get_data(as_text=True))
    assert not [name for name in offered if "acme" in name.casefold()], offered
    assert "Allergan Aesthetics (direct)" in offered


def test_another_suppliers_licence_is_refused_on_the_page_naming_it(browser_client, world, session):
    client = browser_client("manager")
    token = csrf_token(client, "/suppliers")
    answer = client.post("/suppliers", data={"name": "Harbour Pharma", "licence": "wda(h) 0001", "authorised": "on",
                                             "reason": "tender 2026", "csrf_token": token})
    code, html = refusal(answer.get_data(as_text=True))  # said beside the licence, the form kept
    assert answer.status_code == 409 and 'id="licence-refusal"' in html and 'value="wda(h) 0001"' in html
    assert code == "supplier_licence_taken"
    assert ("Licence wda(h) 0001 belongs to “Allergan Aesthetics (direct)” (on file as “WDA(H) 0001”): a licence "
            "is one supplier's.") in html
    session.expire_all()
    assert session.scalar(select(Supplier).where(Supplier.name == "Harbour Pharma")) is None
    # Authorising a supplier under another's licence is refused the same way.
    grey = Supplier(name="Grey market", is_authorised=False)
    session.add(grey)
    session.flush()
    answer = client.post(f"/suppliers/{grey.id}", data={"authorised": "on", "licence": "WDA(H)0001",
                                                        "reason": "checked", "csrf_token": token})
    code, html = refusal(answer.get_data(as_text=True))
    assert code == "supplier_licence_taken" and "belongs to “Allergan Aesthetics (direct)”" in html
    session.expire_all()
    assert (session.get(Supplier, grey.id).licence, session.get(Supplier, grey.id).is_authorised) == (None, False)
