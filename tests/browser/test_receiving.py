"""A manager receives a box by typing a GS1 string, as a scanner would, and prints its labels."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from inventory.demo import DEMO_SUPPLIER, demo_gtin
from tests.browser.conftest import GS, scan, screenshot, sign_in


def test_manager_receives_a_scanned_box_and_sees_its_labels(page, live_server):
    sign_in(page, "manager")
    page.goto("/receive")
    code = page.locator("#code")
    expect(code).to_be_focused()  # a keyboard-wedge scanner types straight in
    page.select_option("#location_id", label="LON · Medicines fridge")
    page.select_option("#supplier_id", label=DEMO_SUPPLIER)
    page.fill("#containers", "2")
    code.focus()
    # The scanner types the code with a GS separator, then Enter.
    scan(page, f"]d201{demo_gtin(3)}17291130{GS}10BRWSR{live_server.backend[:2].upper()}{GS}21PACK9")
    expect(page.locator("h1")).to_contain_text("Received 2 × Dysport 300 U")
    expect(page.locator(".label img")).to_have_count(2)
    screenshot(page, f"receipt-{live_server.backend}")
    # The label images are real SVGs served to the signed-in manager.
    src = page.locator(".label img").first.get_attribute("src")
    assert re.search(r"/containers/VL[0-9A-Z]{8}/label\.svg$", src)
    svg = page.request.get(live_server.url + src)
    assert svg.ok and "<svg" in svg.text()


def test_a_nurse_is_not_offered_receiving_and_is_refused_it(page):
    sign_in(page, "nurse")
    expect(page.locator("nav a", has_text="Receive")).to_have_count(0)
    response = page.goto("/receive")
    assert response.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed")
