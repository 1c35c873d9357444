"""Destructive admin buttons ask first in a real browser (vialog.js reads ``data-confirm``): retiring a location
and stopping a supplier; dismissing the question changes nothing, and Save beside Retire asks nothing."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import answer, questions_asked, sign_in


def test_retire_asks_first_and_a_dismissed_question_changes_nothing_while_save_asks_nothing(page, live_server):
    sign_in(page, "admin")
    page.goto("/locations")
    fridge = page.locator("section.location", has=page.locator("h2", has_text="LON · Medicines fridge"))
    asked = questions_asked(page)

    fridge.locator("button:has-text('Retire')").click()
    assert answer(page, "Cancel") == ("Retire LON · Medicines fridge? Stock can no longer be received into it or "
                                      "moved to it; its history stays.")
    assert len(asked) == 1
    page.goto("/locations")
    expect(fridge.locator("h2 .tag")).to_have_count(0)  # not retired

    fridge.locator("button:has-text('Save')").click()
    expect(page.locator(".flash-ok")).to_contain_text("Medicines fridge saved")
    assert len(asked) == 1  # Save asked nothing


def test_stopping_a_supplier_asks_first(page, live_server):
    sign_in(page, "admin")
    page.goto("/suppliers")
    stop = page.locator("button:has-text('Stop: refuse its deliveries')").first
    stop.click()
    asked = answer(page, "Cancel")
    assert asked.startswith("Stop ") and "Its deliveries are refused from now on" in asked
    page.goto("/suppliers")
    expect(page.locator("button:has-text('Stop: refuse its deliveries')").first).to_be_visible()  # still authorised
