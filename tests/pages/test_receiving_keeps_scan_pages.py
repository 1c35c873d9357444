"""The receiving page keeps what a scan established after a refusal that asks the manager to type or confirm the
rest (QA: a lost separator, a bare GTIN): the GTIN (and the product's name), the expiry and serial the code
carried, and for a lot that may have swallowed its serial both readings to choose from. Nothing is received
until the manager presses Receive, and the server reads the kept code again."""

from __future__ import annotations

import datetime as dt
import html
import re

from sqlalchemy import func, select

from inventory.models import Container, Receipt
from inventory.receiving import service as receiving
from tests.pages.conftest import csrf_token

_FLASH = re.compile(r'<div class="flash flash-error"[^>]*\bdata-code="([^"]+)"[^>]*>(.*?)</div>', re.DOTALL)
# QA's code: GTIN, expiry 31 Dec 2027, then lot 3WEBH and serial SN99 without the separator between them.
SEPARATOR_LOST = "010361234000001417271231103WEBH21SN99"
BOTOX_GTIN = "03612340000014"


def _input(page: str, element_id: str) -> str | None:
    """The whole <input> tag with this id, or None."""
    match = re.search(rf'<input[^>]*\bid="{re.escape(element_id)}"[^>]*>', page)
    return match.group(0) if match else None


def _value(tag: str) -> str | None:
    match = re.search(r'\bvalue="([^"]*)"', tag)
    return html.unescape(match.group(1)) if match else None


def _text(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())


def _received(session) -> list[Receipt]:
    session.expire_all()
    return list(session.scalars(select(Receipt).order_by(Receipt.id)))


def _form(world, client, **fields) -> dict:
    return {"containers": "1", "location_id": str(world.location().id), "supplier_id": str(world.supplier.id),
            "csrf_token": csrf_token(client, "/receive")} | fields


def _refused_scan(world, client, code: str, status: int, error_code: str) -> str:
    response = client.post("/receive", data=_form(world, client, code=code))
    assert response.status_code == status
    page = response.get_data(as_text=True)
    ((code_shown, _message),) = _FLASH.findall(page)
    assert code_shown == error_code
    return page


def test_a_lost_separator_keeps_the_scan_and_offers_both_readings(browser_client, world, session):
    client = browser_client("manager")
    page = _refused_scan(world, client, SEPARATOR_LOST, 409, "separator_lost")
    assert _value(re.search(r'<input type="hidden" name="scanned"[^>]*>', page).group(0)) == SEPARATOR_LOST
    assert "Box scanned" in _text(page)
    gtin = _input(page, "gtin")
    assert _value(gtin) == BOTOX_GTIN and "disabled" in gtin  # shown from the code, which is sent again
    assert "Botox Cosmetic 100 U" in _text(page.split('id="gtin-product"')[1].split("</p>")[0])
    expiry = _input(page, "expiry")
    assert _value(expiry) == "2027-12-31" and "disabled" in expiry
    lot = _input(page, "lot")
    assert "disabled" not in lot and not _value(lot)  # the lot is the question: left to the manager
    readings = _text(page.split('id="lot-reading"')[1].split("</fieldset>")[0])
    assert "Lot 3WEBH21SN99 (no serial)" in readings and "Lot 3WEBH, serial SN99" in readings
    assert _input(page, "lot_reading-as_read") and _input(page, "lot_reading-separated")
    assert _received(session) == []


def test_choosing_the_separated_reading_receives_the_short_lot_and_its_serial(browser_client, world, session):
    client = browser_client("manager")
    _refused_scan(world, client, SEPARATOR_LOST, 409, "separator_lost")
    # What the browser sends: the kept code and the choice (the disabled GTIN and expiry are not sent).
    response = client.post("/receive", data=_form(world, client, scanned=SEPARATOR_LOST, lot_reading="separated"))
    assert response.status_code == 302, _FLASH.findall(response.get_data(as_text=True))
    (receipt,) = _received(session)
    assert (receipt.lot.number, receipt.lot.expiry, receipt.lot.product.name) == (
        "3WEBH", dt.date(2027, 12, 31), "Botox Cosmetic 100 U")
    assert receiving.serial_of(session, receipt.id) == "SN99"
    assert receipt.scanned_code == SEPARATOR_LOST


def test_choosing_the_lot_as_read_receives_it_without_a_serial(browser_client, world, session):
    client = browser_client("manager")
    _refused_scan(world, client, SEPARATOR_LOST, 409, "separator_lost")
    response = client.post("/receive", data=_form(world, client, scanned=SEPARATOR_LOST, lot_reading="as_read"))
    assert response.status_code == 302
    (receipt,) = _received(session)
    assert (receipt.lot.number, receipt.lot.expiry) == ("3WEBH21SN99", dt.date(2027, 12, 31))
    assert receiving.serial_of(session, receipt.id) is None


def test_typing_the_lot_as_told_beside_the_kept_scan_receives_it(browser_client, world, session):
    """QA's steps: the lot typed as printed, and Receive; the GTIN and expiry come from the kept code."""
    client = browser_client("manager")
    _refused_scan(world, client, SEPARATOR_LOST, 409, "separator_lost")
    response = client.post("/receive", data=_form(world, client, scanned=SEPARATOR_LOST, lot="3WEBH",
                                                  expiry="2027-12-31"))
    assert response.status_code == 302, _FLASH.findall(response.get_data(as_text=True))
    (receipt,) = _received(session)
    assert receipt.lot.number == "3WEBH" and receiving.serial_of(session, receipt.id) == "SN99"


def test_without_a_choice_the_lot_stays_refused_and_the_scan_kept(browser_client, world, session):
    client = browser_client("manager")
    _refused_scan(world, client, SEPARATOR_LOST, 409, "separator_lost")
    again = client.post("/receive", data=_form(world, client, scanned=SEPARATOR_LOST))
    assert again.status_code == 409
    assert [code for code, _ in _FLASH.findall(again.get_data(as_text=True))] == ["separator_lost"]
    assert _value(_input(again.get_data(as_text=True), "gtin")) == BOTOX_GTIN
    other = client.post("/receive", data=_form(world, client, scanned=SEPARATOR_LOST, lot="NOTONBOX"))
    assert other.status_code == 422  # neither reading: the server refuses it
    assert 'id="lot-reading"' in other.get_data(as_text=True)
    assert _received(session) == []


def test_a_choice_made_for_the_kept_box_is_not_applied_to_a_new_scan(browser_client, world, session):
    client = browser_client("manager")
    _refused_scan(world, client, SEPARATOR_LOST, 409, "separator_lost")
    another = "0103612340000014172712311077AB21XY5"  # another box, whose lot may also have swallowed its serial
    response = client.post("/receive", data=_form(world, client, code=another, scanned=SEPARATOR_LOST,
                                                  lot_reading="as_read"))
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert [code for code, _ in _FLASH.findall(page)] == ["separator_lost"]
    assert "77AB21XY5" in _text(page.split('id="lot-reading"')[1].split("</fieldset>")[0])
    assert 'checked' not in page.split('id="lot-reading"')[1].split("</fieldset>")[0]
    assert _received(session) == []


def test_a_bare_gtin_keeps_the_product_and_asks_only_for_lot_and_expiry(browser_client, world, session):
    client = browser_client("manager")
    page = _refused_scan(world, client, BOTOX_GTIN, 422, "validation_error")
    assert "The lot number is missing: type it as printed on the box." in _text(page)
    gtin = _input(page, "gtin")
    assert _value(gtin) == BOTOX_GTIN and "disabled" in gtin
    assert "Botox Cosmetic 100 U" in _text(page.split('id="gtin-product"')[1].split("</p>")[0])
    assert "disabled" not in _input(page, "lot") and "disabled" not in _input(page, "expiry")
    assert 'id="lot-reading"' not in page
    response = client.post("/receive", data=_form(world, client, scanned=BOTOX_GTIN, lot="BARE7",
                                                  expiry="2028-06-30"))
    assert response.status_code == 302, _FLASH.findall(response.get_data(as_text=True))
    (receipt,) = _received(session)
    assert (receipt.lot.number, receipt.lot.expiry, receipt.lot.product_id) == (
        "BARE7", dt.date(2028, 6, 30), world.botox.id)


def test_a_code_without_a_lot_keeps_its_expiry_and_serial(browser_client, world, session):
    client = browser_client("manager")
    code = f"(01){BOTOX_GTIN}(17)281130(21)PK7"
    page = _refused_scan(world, client, code, 422, "validation_error")
    expiry = _input(page, "expiry")
    assert _value(expiry) == "2028-11-30" and "disabled" in expiry
    serial = _input(page, "serial")
    assert serial and _value(serial) == "PK7"
    response = client.post("/receive", data=_form(world, client, scanned=code, lot="NOLOT1"))
    assert response.status_code == 302, _FLASH.findall(response.get_data(as_text=True))
    (receipt,) = _received(session)
    assert (receipt.lot.number, receipt.lot.expiry) == ("NOLOT1", dt.date(2028, 11, 30))
    assert receiving.serial_of(session, receipt.id) == "PK7"


def test_a_refused_box_is_not_kept(browser_client, world, session):
    """A box refused for itself (its product is not in the catalog) is set aside: nothing of it is kept."""
    client = browser_client("manager")
    page = _refused_scan(world, client, "(01)03612340009994(17)281231(10)UNK1", 404, "unknown_product")
    assert 'name="scanned"' not in page and "disabled" not in (_input(page, "gtin") or "")
    session.expire_all()
    assert session.scalar(select(func.count(Container.id))) == 0
