"""The cart page says where a scanned vial is, and says so loudly when it is an emergency kit's; and a dose
confirmation sent without its reason is asked again in words (the reason is not required in the browser).
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote

from sqlalchemy import func, select

from inventory.models import Draw, Treatment, utcnow
from tests import kit_factories
from tests.factories import EVERYWHERE, World, reconstitute, start_treatment, waste
from tests.pages.conftest import csrf_token

LOT = "HYL2205"
EXPIRY = dt.date(2027, 3, 31)


def box_code(world: World) -> str:
    return f"]d201{world.products['hylenex'].gtins[0].gtin}17{EXPIRY:%y%m%d}10{LOT}"


def scanned_page(client, treatment: Treatment, code: str) -> str:
    return client.get(f"/cart/treatments/{treatment.id}?scan={quote(code)}").get_data(as_text=True)


def stocked_kit_and_fridge(world: World):
    kit = kit_factories.new_kit(world, name="Emergency kit (room 2)")
    kit_factories.stock(world, kit, "hylenex", count=1, lot=LOT, expiry=EXPIRY)
    return world.receive("hylenex", lot=LOT, expiry=EXPIRY, containers=1, location=world.location("Fridge"))


def test_a_box_scanned_at_the_cart_shows_the_fridge_vial_it_picked(browser_client, world, session):
    stocked_kit_and_fridge(world)
    treatment = start_treatment(world, "P-WHERE", at=utcnow())
    session.flush()
    html = scanned_page(browser_client("nurse"), treatment, box_code(world))
    assert re.search(r'<dd id="where">\s*Fridge\s*</dd>', html)
    assert "kit-item" not in html


def test_a_kit_vial_picked_at_the_cart_is_shown_as_the_kits(browser_client, world, session):
    (fridge,) = stocked_kit_and_fridge(world).containers
    waste(world, fridge, user="manager", scope=EVERYWHERE)  # nothing of the lot left but the kit's
    treatment = start_treatment(world, "P-KITONLY", at=utcnow())
    session.flush()
    html = scanned_page(browser_client("nurse"), treatment, box_code(world))
    assert re.search(r'<dd id="where">\s*Emergency kit \(room 2\)\s*</dd>', html)
    notice = re.search(r'<div class="flash flash-warning kit-item" role="status">(.*?)</div>', html, re.S)
    assert notice and "Emergency kit (room 2)" in notice.group(1) and "taken out of the kit" in notice.group(1)


def test_a_confirmation_sent_without_its_reason_is_asked_again_in_words(browser_client, world, session):
    vial = world.container("botox")
    treatment = start_treatment(world, "P-NOREASON", at=utcnow())
    reconstitute(world, vial, at=utcnow())
    session.flush()
    client = browser_client("nurse")
    data = {"container": vial.label_code, "quantity": "70", "unit": "U", "area": "glabella", "emergency": ""}
    first = client.post(f"/cart/treatments/{treatment.id}/draws",
                        data={"csrf_token": csrf_token(client, f"/cart/treatments/{treatment.id}"), **data})
    assert first.status_code == 409 and "reason-missing" not in first.get_data(as_text=True)
    again = client.post(f"/cart/treatments/{treatment.id}/draws", data={
        "csrf_token": csrf_token(client, f"/cart/treatments/{treatment.id}"), **data,
        "confirm": "above_label_max", "confirm_reason": "",
    })
    html = again.get_data(as_text=True)
    assert again.status_code == 409 and 'data-code="confirmation_required"' in html
    assert "Say why this dose to confirm it." in html
    reason_field = re.search(r'<input[^>]*id="confirm_reason"[^>]*>', html)
    assert reason_field and "required" not in reason_field.group(0)  # a changed dose may need no reason
    assert session.scalar(select(func.count(Draw.id))) == 0
