"""A manager looking for a box on the Stock page clicks into "Product or lot" and scans the vial's label with a
keyboard-wedge scanner (keys at machine speed, then Enter): the page lists that vial's lot."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from inventory.extensions import db
from inventory.models import Clinic, Container, ContainerState, Lot
from tests.browser.conftest import screenshot, sign_in, wedge


def test_a_label_scanned_into_the_stock_search_lists_its_lot(page, live_server):
    with live_server.app.app_context():
        label, lot = db.session.execute(
            select(Container.label_code, Lot.number).join(Container.lot).join(Container.clinic)
            .where(Clinic.code == "LON", Container.state == ContainerState.SEALED).order_by(Container.id).limit(1)
        ).one()
    sign_in(page, "manager")
    page.goto("/stock")
    page.click("#stock-q")
    wedge(page, label)
    expect(page).to_have_url(re.compile(rf"/stock\?.*\bq={label}\b"))  # the scan and its Enter searched
    rows = page.locator("table.stock-list tbody.stock-group > tr:first-child td:nth-child(2)")
    expect(rows.first).to_have_text(lot)
    assert set(rows.all_inner_texts()) == {lot}
    screenshot(page, f"stock-scanned-search-{live_server.backend}")
