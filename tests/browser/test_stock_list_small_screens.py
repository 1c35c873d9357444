"""The stock list on a phone (390 px) and a tablet (768 px): a recalled lot's row says "recalled" in words, with its
product, lot and quantity, all in sight; neither the page nor the table scrolls sideways. From 1024 px up the
eight columns stay as they were."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from inventory.counterfeit.models import Supplier
from inventory.demo import DEMO_SUPPLIER, demo_gtin
from inventory.extensions import db
from inventory.models import Clinic, Location, User, utcnow
from inventory.receiving import service as receiving
from inventory.services.permissions import Scope
from recall import services as recall
from tests.browser.conftest import screenshot, sign_in

LOT = "STKRCL"
HEADS = ["Product", "Lot", "Expiry", "Status", "Location", "Sealed", "Opened", "Remaining"]


def _a_recalled_lot(live_server, lot: str) -> None:
    """London receives three vials of Botox Cosmetic 100 U (300 U) of a lot of its own; the lot is recalled."""
    with live_server.app.app_context():
        s = db.session
        users = {u.username: u for u in s.scalars(select(User).where(User.username.in_(["manager", "safety"])))}
        london = s.scalar(select(Clinic).where(Clinic.code == "LON"))
        fridge = s.scalar(select(Location).where(Location.clinic_id == london.id,
                                                 Location.name == "Medicines fridge"))
        supplier_id = s.scalar(select(Supplier.id).where(Supplier.name == DEMO_SUPPLIER))
        now = utcnow()
        receipt = receiving.receive(s, actor=users["manager"], scope=Scope.everything(), location_id=fridge.id,
                                    containers=3, now=now, gtin=demo_gtin(1), lot_number=lot,
                                    expiry=dt.date(2028, 1, 31), supplier_id=supplier_id)
        recall.open_recall(s, actor=users["safety"], lot_ids=[receipt.lot_id], reason="Notice 51",
                           recall_class="I", source="manufacturer", now=now)
        s.commit()


def _open_the_lots_stock(page, live_server, width: int, height: int) -> str:
    lot = f"{LOT}{live_server.backend[0].upper()}{width}"
    _a_recalled_lot(live_server, lot)
    page.set_viewport_size({"width": width, "height": height})
    sign_in(page, "nurse")
    page.goto(f"/stock?q={lot}")
    return lot


def _in_sight(locator, width: int, what: str) -> None:
    box = locator.bounding_box()
    assert box is not None and box["width"] > 0, f"{what} is not shown"
    assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, f"{what} is outside the {width} px screen: {box}"


@pytest.mark.parametrize(("width", "height"), [(390, 844), (768, 1024)])
def test_a_recalled_lots_row_says_so_in_words_with_its_quantity_in_sight(page, live_server, width, height):
    lot = _open_the_lots_stock(page, live_server, width, height)
    row = page.locator("table.stock-list tbody.stock-group > tr:first-child",
                       has=page.locator("td.mono", has_text=lot))
    expect(row).to_have_count(1)
    cells = row.locator("> td")
    status = row.locator(".status", has_text="recalled")
    quantity = cells.nth(7)  # Remaining: the row's last figure
    expect(status).to_be_visible()
    expect(status).to_have_text("recalled")
    expect(quantity).to_contain_text("300 U")
    screenshot(page, f"stock-recalled-{width}-{live_server.backend}")

    _in_sight(cells.nth(0), width, "the product")
    _in_sight(row.locator("td.mono"), width, "the lot")
    _in_sight(status, width, "the word 'recalled'")
    _in_sight(quantity, width, "the quantity")
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= width, f"the page scrolls sideways at {width} px: {page_width} px wide"
    scroll = page.locator(".table-scroll", has=page.locator("table.stock-list"))
    assert scroll.evaluate("el => el.scrollWidth <= el.clientWidth"), f"the stock table scrolls sideways at {width} px"


def test_from_1024_px_up_the_stock_list_keeps_its_eight_columns(page, live_server):
    _open_the_lots_stock(page, live_server, 1300, 900)
    heads = page.locator("table.stock-list thead th")
    expect(heads).to_have_text(HEADS)
    tops = {round(box["y"]) for box in (head.bounding_box() for head in heads.all()) if box}
    assert len(tops) == 1, f"the column heads are not one row: {tops}"
    expect(page.locator("table.stock-list .stock-counts")).to_be_hidden()  # the folded counts are a small screen's
    screenshot(page, f"stock-recalled-1300-{live_server.backend}")
