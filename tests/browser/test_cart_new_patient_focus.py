"""A new patient's reference at the cart: the page asks for the name and puts the cursor there (QA: it stayed in
the reference, so the name typed next went into the reference, or a card scanned next replaced it)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import sign_in


def test_a_new_reference_asks_for_the_name_with_the_cursor_in_it(page, live_server):
    sign_in(page, "nurse")
    page.goto("/cart")
    page.fill("#external_ref", f"P-NEW-{live_server.backend}")
    with page.expect_navigation():
        page.click("button:has-text('Start treatment')")
    expect(page.locator(".flash-error, .field-error, [role=alert]").first).to_contain_text("give the patient's name")
    expect(page.locator("#name")).to_be_focused()
    expect(page.locator("#external_ref")).to_have_value(f"P-NEW-{live_server.backend}")  # kept, to go with the name
    page.keyboard.type("Robin Vale", delay=90)  # a person types: keys at scanner speed would be a scan
    page.select_option("#location_id", label="LON · Treatment cart")
    with page.expect_navigation():
        page.click("button:has-text('Start treatment')")
    expect(page.locator(".patient-bar")).to_contain_text("Robin Vale")
