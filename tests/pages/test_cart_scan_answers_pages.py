"""What the cart's scan field answers, in one plain message: another clinic's lot reads exactly as a lot not on
file (QA: "Lot DEMOHYL03 has no sealed vial here" for New York's lot against "... is not stock of this clinic" for
a made-up one), a number typed into it is said to be a number (QA: "113" read as a production date), and a
product's bare barcode is one message fit for the cart (QA: "scan or type the lot and expiry too" beside it)."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from urllib.parse import quote

from inventory.models import utcnow
from recall import services as recall
from tests.factories import NOW, start_treatment

HYLENEX = "Hylenex recombinant 150 USP U/mL"
NUMBER = ("That looks like a number, not a code: type quantities in the Quantity field. Here, scan the vial's "
          "Vialog label or the box's code.")


def cart_scan(client, treatment, code: str) -> str:
    return html_lib.unescape(client.get(f"/cart/treatments/{treatment.id}?scan={quote(code)}").get_data(as_text=True))


def messages(page: str) -> list[str]:
    """The scan's refusal and warnings, as the nurse reads them (the refusal without its "Scanned: ...")."""
    found = re.findall(r'<div class="flash flash-(?:error refusal|warning)"[^>]*>(.*?)(?:<span class="scanned">|</div>)',
                       page, re.S)
    return [" ".join(text.split()) for text in found]


def nyc_lot(world):
    return world.container("hylenex", lot="DEMOHYL03", expiry=dt.date(2027, 9, 30),
                           location=world.location("Fridge", world.other_clinic)).lot


def box(world, lot: str) -> str:
    return f"01{world.products['hylenex'].gtins[0].gtin}1727093010{lot}"


def test_the_qa_case_new_yorks_lot_at_a_london_cart_reads_as_a_lot_not_on_file(browser_client, world, session):
    lot = nyc_lot(world)
    treatment = start_treatment(world, "P-HYL", at=utcnow())
    client = browser_client("nurse")
    theirs = cart_scan(client, treatment, box(world, "DEMOHYL03"))
    made_up = cart_scan(client, treatment, box(world, "NOSUCH01"))
    assert messages(theirs) == [f"Lot DEMOHYL03 of {HYLENEX} is not stock of this clinic. Scan the Vialog label on "
                                "the vial."]
    assert messages(made_up) == [messages(theirs)[0].replace("DEMOHYL03", "NOSUCH01")]
    assert "no sealed vial here" not in theirs
    # Quarantined, it is refused as a lot that may be used nowhere, without New York's reason.
    recall.quarantine(session, actor=world.users["safety"], lot_id=lot.id,
                      reason="NYC patient NY-100 vascular event under review", now=NOW)
    session.flush()
    quarantined = cart_scan(client, treatment, box(world, "DEMOHYL03"))
    assert messages(quarantined) == [f"Lot DEMOHYL03 of {HYLENEX} is quarantined: do not use until a safety lead "
                                     "releases it."]
    assert "NY-100" not in quarantined


def test_a_number_typed_into_the_scan_field_is_said_to_be_a_number(browser_client, world, session):
    treatment = start_treatment(world, "P-NUM", at=utcnow())
    client = browser_client("nurse")
    for typed in ("113", "1725", "4", "0.1", "2,5"):
        page = cart_scan(client, treatment, typed)
        assert messages(page) == [NUMBER], typed
        assert 'data-code="number_not_code"' in page and "not a real date" not in page


def test_a_products_bare_barcode_at_the_cart_is_one_message(browser_client, world, session):
    treatment = start_treatment(world, "P-GTIN", at=utcnow())
    page = cart_scan(browser_client("nurse"), treatment, world.products["hylenex"].gtins[0].gtin)
    assert messages(page) == [f"This barcode names {HYLENEX} but no lot. Scan the Vialog label on the vial, or the "
                              "box's full code (the one with the lot and expiry)."]
