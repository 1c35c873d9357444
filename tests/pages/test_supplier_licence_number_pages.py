"""On the suppliers page a placeholder typed as the licence ("n/a", "tbc", "000") is refused beside the licence
field, with the API's code, and the form keeps what was typed; a supplier saved with one before the rule is not
authorised on it, and an authorised one is marked "no licence on file"."""

from __future__ import annotations

import re
from html import unescape

from sqlalchemy import select

from inventory.counterfeit.models import Supplier
from tests.pages.conftest import csrf_token


def field_refusal(html: str, field_id: str) -> tuple[str, str]:
    """The code and the words said beside the field ``field_id``, which points at them."""
    assert re.search(rf'<(input|textarea) id="{field_id}"[^>]*aria-describedby="{field_id}-refusal"', html), html
    match = re.search(rf'<p [^>]*id="{field_id}-refusal" data-code="([a-z_]+)">([^<]*)</p>', html)
    assert match, f"nothing said beside {field_id}"
    return match.group(1), unescape(match.group(2))


def value_of(html: str, field_id: str) -> str:
    match = re.search(rf'<input id="{field_id}" name="[a-z]+" value="([^"]*)"', html)
    assert match, f"no {field_id} field"
    return unescape(match.group(1))


def supplier_item(html: str, supplier_id: int) -> str:
    match = re.search(rf'<li data-supplier-id="{supplier_id}">(.*?)</li>', html, re.S)
    assert match, f"supplier {supplier_id} is not listed"
    return match.group(1)


def test_a_placeholder_licence_is_refused_beside_the_field_and_what_was_typed_is_kept(browser_client, world,
                                                                                         session):
    client = browser_client("manager")
    token = csrf_token(client, "/suppliers")
    answer = client.post("/suppliers", data={"name": "Harbour Pharma", "licence": "n/a", "authorised": "on",
                                             "reason": "tender 2026, on the register", "csrf_token": token})
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert field_refusal(html, "licence") == (
        "validation_error", "Type the supplier's licence number as printed on its licence: “n/a” is not a licence "
        "number, and an authorised supplier needs its licence.")
    assert (value_of(html, "name"), value_of(html, "licence")) == ("Harbour Pharma", "n/a")
    assert ">tender 2026, on the register</textarea>" in html and 'name="authorised" checked' in html
    # For review (not authorised), leaving the field empty is offered; the box stays as it was left.
    html = client.post("/suppliers", data={"name": "Harbour Pharma", "licence": " TBC ", "csrf_token": token}
                       ).get_data(as_text=True)
    assert field_refusal(html, "licence")[1] == ("Type the supplier's licence number as printed on its licence, or "
                                                 "leave the field empty until you have it: “TBC” is not a licence "
                                                 "number.")
    assert value_of(html, "licence") == " TBC " and 'name="authorised">' in html
    session.expire_all()
    assert session.scalar(select(Supplier).where(Supplier.name == "Harbour Pharma")) is None
    added = client.post("/suppliers", data={"name": "Harbour Pharma", "licence": "", "csrf_token": token})
    assert added.status_code == 302  # no licence yet is fine


def test_authorising_a_supplier_saved_with_a_placeholder_says_why_until_the_licence_is_fixed(browser_client, world,
                                                                                              session):
    grey = Supplier(name="Grey market", licence="n/a", is_authorised=False)
    old = Supplier(name="Old Friend Wholesale", licence="000", is_authorised=True)
    session.add_all([grey, old])
    session.flush()
    client = browser_client("manager")
    page = client.get("/suppliers").get_data(as_text=True)
    assert value_of(supplier_item(page, grey.id), f"licence-{grey.id}") == "n/a"  # the form offers what is on file
    assert 'data-role="no-licence"' in supplier_item(page, old.id)
    token = csrf_token(client, "/suppliers")
    answer = client.post(f"/suppliers/{grey.id}", data={"authorised": "on", "licence": "n/a",
                                                        "reason": "checked on the register", "csrf_token": token})
    assert answer.status_code == 422
    item = supplier_item(answer.get_data(as_text=True), grey.id)
    code, said = field_refusal(item, f"licence-{grey.id}")
    assert code == "validation_error" and "“n/a” is not a licence number" in said
    assert value_of(item, f"reason-{grey.id}") == "checked on the register"
    session.expire_all()
    assert not session.get(Supplier, grey.id).is_authorised
    done = client.post(f"/suppliers/{grey.id}", data={"authorised": "on", "licence": "WDA(H) 4411",
                                                      "reason": "checked on the register", "csrf_token": token})
    assert done.status_code == 302
    session.expire_all()
    assert (session.get(Supplier, grey.id).licence, session.get(Supplier, grey.id).is_authorised) == (
        "WDA(H) 4411", True)
