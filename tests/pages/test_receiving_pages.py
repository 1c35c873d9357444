"""The receiving page shows a repeated pack serial as the API answers it, and offers no emergency kit."""

from __future__ import annotations

import html
import re

from sqlalchemy import func, select

from inventory.models import Container
from tests.factories import kit_location
from tests.pages.conftest import csrf_token

_FLASH = re.compile(r'<div class="flash flash-error"[^>]*\bdata-code="([^"]+)"[^>]*>(.*?)</div>', re.DOTALL)


def test_the_receiving_page_refuses_a_repeated_pack_serial_of_several_containers(browser_client, world, session):
    client = browser_client("manager")
    token = csrf_token(client, "/receive")
    form = {"code": f"(01){world.botox.gtins[0].gtin}(17)281231(10)QASER(21)X1", "containers": "2",
            "location_id": str(world.location().id), "supplier_id": str(world.supplier.id), "csrf_token": token}
    assert client.post("/receive", data=form).status_code == 302
    again = client.post("/receive", data=form)
    assert again.status_code == 409
    page = again.get_data(as_text=True)
    ((code, message),) = _FLASH.findall(page)
    assert code == "duplicate_serial"
    assert html.unescape(message.strip()) == (
        "Pack serial X1 of Botox Cosmetic 100 U was already received (lot QASER). The same box scanned twice, or a "
        "copied code: set the box aside and tell the safety lead if it is new. The safety lead is told (Signs on the "
        "watch list).")
    assert 'id="code"' in page and 'value=""' in page  # the scan field is empty again, for the next box
    session.expire_all()
    assert session.scalar(select(func.count(Container.id))) == 2


def test_the_receiving_page_offers_no_kit_and_refuses_one_posted(browser_client, world, session):
    kit = kit_location(world, name="Kit, room 2")
    client = browser_client("manager")
    token = csrf_token(client, "/receive")
    assert f'value="{kit.id}"' not in client.get("/receive").get_data(as_text=True)
    form = {"gtin": world.botox.gtins[0].gtin, "lot": "KIT1", "expiry": "2028-12-31", "containers": "1",
            "location_id": str(kit.id), "supplier_id": str(world.supplier.id), "csrf_token": token}
    assert client.post("/receive", data=form).status_code == 422
    session.expire_all()
    assert session.scalar(select(func.count(Container.id))) == 0


def test_a_refused_field_is_named_once(browser_client, world):
    client = browser_client("manager")
    token = csrf_token(client, "/receive")
    html = client.post("/receive", data={"code": "0" * 501, "containers": "1", "location_id": str(world.location().id),
                                         "supplier_id": str(world.supplier.id), "csrf_token": token}) \
        .get_data(as_text=True)
    errors = re.findall(r'<p class="field-error">([^<]*)</p>', html)
    assert errors == ["Scan the box: at most 500 characters (this has 501)."], errors


def test_the_receiving_page_explains_and_offers_to_keep_it_here(browser_client, world, session):
    client = browser_client("manager")
    token = csrf_token(client, "/receive")
    form = {"gtin": world.botox.gtins[0].gtin, "lot": "COLD3", "expiry": "2028-12-31", "containers": "1",
            "location_id": str(world.location("Room 1").id), "supplier_id": str(world.supplier.id),
            "csrf_token": token}
    first = client.post("/receive", data=form)
    assert first.status_code == 409
    page = first.get_data(as_text=True)
    ((code, message),) = _FLASH.findall(page)
    assert code == "location_not_refrigerated" and "Room 1 is not a temperature-sensitive place" in html.unescape(message)
    assert 'id="keep_here"' in page
    assert 'id="keep_here"' not in client.get("/receive").get_data(as_text=True)  # asked only when it matters
    session.expire_all()
    assert session.scalar(select(func.count(Container.id))) == 0

    kept = client.post("/receive", data=form | {"keep_here": "y"})
    assert kept.status_code == 302
    session.expire_all()
    assert session.scalar(select(func.count(Container.id))) == 1


def test_delivered_by_says_why_a_supplier_is_missing_from_its_list(browser_client, world):
    """QA: a supplier that is stopped or not yet reviewed was simply absent from "Delivered by"."""
    page = browser_client("manager").get("/receive").get_data(as_text=True)
    hint = page[page.index('class="hint supplier-hint"'):]
    hint = hint[:hint.index("</p>")]
    assert "Authorised suppliers only: a supplier stopped or not yet reviewed is not listed" in hint
    assert 'href="/suppliers"' in hint and "set the box aside and tell the safety lead" in hint
