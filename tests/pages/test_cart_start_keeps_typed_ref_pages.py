"""The cart's start form: a scan that replaced the reference the nurse typed by hand gives it back when it is
refused, and the refusal is said beside the field (the browser's part: tests/browser/test_cart_start_keeps_typed_ref.py)."""

from __future__ import annotations

import re

from tests.pages.conftest import csrf_token


def test_a_vial_scanned_into_name_gives_back_the_reference_she_typed(browser_client, world, session):
    """QA: "QA-003" typed by hand, then a vial scanned into Name: the scan replaced the reference (vialog.js sends
    what she typed as typed_ref), was refused, and the reference came back empty, the message at the top."""
    vial = world.container("botox")
    session.flush()
    client = browser_client("nurse")
    page = client.post("/cart", data={
        "csrf_token": csrf_token(client, "/cart"), "external_ref": vial.label_code, "typed_ref": "QA-003",
        "name": "", "location_id": world.location("Room 1").id,
    })
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert re.search(r'name="external_ref"[^>]*value="QA-003"', html)
    beside = re.search(r'id="external_ref-refusal"[^>]*>([^<]*)<', html)
    assert beside and f"{vial.label_code} is a vial&#39;s Vialog label, not the patient&#39;s reference" in beside.group(1)
    assert not re.findall(r'<div class="flash flash-error"', html)  # not at the top of the page as well
    assert re.search(r'<input autocomplete="off" autofocus id="name"', html)  # she goes on with the name
