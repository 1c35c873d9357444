"""A box scanned onto a count sheet without how many: the sheet keeps the scan, names the lot, and the cursor waits
in Sealed containers (not in the scan field, where vialog.js would otherwise put it); the number and Enter record it.
A refused line's Left, still in its field, does not go with the next box scanned."""

from __future__ import annotations

from playwright.sync_api import expect

from inventory.demo import demo_gtin
from tests.browser.conftest import sign_in, wedge


def _start_count(page) -> None:
    """A manager's new count of London's medicines fridge, its sheet open."""
    sign_in(page, "manager")
    page.goto("/counts")
    page.select_option("#location_id", label="LON · Medicines fridge")
    page.click("button:has-text('Start')")


def test_a_box_scanned_without_how_many_waits_for_the_number(page, live_server):
    _start_count(page)
    expect(page.locator("#code")).to_be_focused()
    wedge(page, f"(01){demo_gtin(1)}(10)DEMOBTX01")
    expect(page.locator("#containers-refusal")).to_contain_text("Say how many sealed containers")
    expect(page.locator("#scan-kept")).to_contain_text("Botox Cosmetic 100 U, lot DEMOBTX01")
    expect(page.locator("#containers")).to_be_focused()
    expect(page.locator("#code")).to_have_value("")

    page.keyboard.type("6", delay=90)  # a person's typing
    page.keyboard.press("Enter")
    expect(page.locator(".flash-ok")).to_contain_text("Counted Botox Cosmetic 100 U (lot DEMOBTX01, sealed)")
    expect(page.locator("#scan-kept")).to_have_count(0)
    expect(page.locator("#code")).to_be_focused()


def test_a_refused_lines_left_does_not_go_with_the_next_box(page, live_server):
    _start_count(page)
    page.click("#counted")
    page.keyboard.type("50", delay=90)
    page.click("#code")
    wedge(page, f"(01){demo_gtin(1)}(10)DEMOBTX01")
    expect(page.locator("#counted-refusal")).to_contain_text("50 is not a whole number of them")
    expect(page.locator("#counted")).to_have_value("50")  # what was typed, beside its refusal
    expect(page.locator("#containers")).to_be_focused()

    page.keyboard.type("3", delay=90)
    page.click("#code")
    wedge(page, f"(01){demo_gtin(1)}(10)DEMOBTX02")  # another box: the 50 was the refused line's
    expect(page.locator(".flash-ok")).to_contain_text("Counted Botox Cosmetic 100 U (lot DEMOBTX02, sealed): 300 U")


def test_a_box_scanned_while_the_cursor_waits_for_the_number_replaces_the_kept_one(page, live_server):
    _start_count(page)
    wedge(page, f"(01){demo_gtin(1)}(10)DEMOBTX01")
    expect(page.locator("#containers")).to_be_focused()

    # The next box scanned with the cursor still in Sealed containers: a scan, not a number of containers.
    wedge(page, f"(01){demo_gtin(1)}(10)DEMOBTX02")
    expect(page.locator("#scan-kept")).to_contain_text("Botox Cosmetic 100 U, lot DEMOBTX02")
    expect(page.locator("#containers")).to_have_value("")
    expect(page.locator("#containers")).to_be_focused()
