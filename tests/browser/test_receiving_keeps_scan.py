"""A box whose code lost the separator between its lot and serial: the page keeps the scan, fills in what it
established and offers both readings; the manager picks one and the box is received with it."""

from __future__ import annotations

from playwright.sync_api import expect

from inventory.demo import DEMO_SUPPLIER, demo_gtin
from tests.browser.conftest import scan, sign_in


def test_a_lost_separator_is_settled_by_choosing_the_reading_printed_on_the_box(page, live_server):
    sign_in(page, "manager")
    page.goto("/receive")
    page.select_option("#location_id", label="LON · Medicines fridge")
    page.select_option("#supplier_id", label=DEMO_SUPPLIER)
    page.locator("#code").focus()
    lot = f"7KS{live_server.backend[:2].upper()}"
    serial = f"SN{live_server.backend[:2].upper()}9"
    scan(page, f"01{demo_gtin(1)}17291130" f"10{lot}21{serial}")  # no separator after the lot
    expect(page.locator(".flash-error")).to_have_attribute("data-code", "separator_lost")
    expect(page.locator("#gtin")).to_have_value(demo_gtin(1))
    expect(page.locator("#gtin")).to_be_disabled()
    expect(page.locator("#gtin-product")).to_contain_text("Botox Cosmetic 100 U")
    expect(page.locator("#expiry")).to_have_value("2029-11-30")
    expect(page.locator("#lot-reading")).to_contain_text(f"Lot {lot}21{serial} (no serial)")
    page.get_by_label(f"Lot {lot}, serial {serial}").check()
    page.get_by_role("button", name="Receive and print labels").click()
    expect(page.locator("h1")).to_contain_text("Received 1 × Botox Cosmetic 100 U")
    expect(page.locator(".no-print .mono").first).to_have_text(lot)  # the short lot; its serial went with it
