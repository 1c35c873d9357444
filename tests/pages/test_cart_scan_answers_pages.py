"""What the cart's scan field answers, in one plain message: another clinic's lot reads exactly as a lot not on
file (QA: "Lot DEMOHYL03 has no sealed vial here" for New York's lot against "... is not stock of this clinic" for
a made-up one)."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from urllib.parse import quote

from inventory.models import utcnow
from recall import services as recall
from tests.factories import NOW, start_treatment

HYLENEX = "Hylenex recombinant 150 USP U/mL"


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

