"""A scanner that pauses mid-code while Quantity has the focus.

QA found a keyboard-wedge scanner beating the cart's guard: with 4 typed by hand in Quantity, the scanner
typed most of a vial's label at 5 ms a key, paused 60 ms, then typed the last character and Enter. The pause
let that last character through as a person's key: nothing was scanned and Quantity read 48, ready to be
recorded as 48 U. Once keys at scanner speed are caught, those that follow until Enter (or a short quiet)
are the same scan; a person's two quick keys ("12") are still a quantity.

The page's clock is paused and moved on by hand, so the gaps between keys are exactly those a scanner or a
person makes, whatever the load on the machine.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from inventory.models import ContainerState
from tests.browser.conftest import _pause_page_clock, sign_in, wedge
from tests.browser.test_cart_scanner_guards import container, draws_of, sealed_labels, start_treatment

SCANNER_KEY_MS = 5
QUIET_AFTER_A_SCAN_MS = 1000  # longer than the page keeps a caught scan open without its Enter


def syringe_in_the_cart(page, live_server, ref: str) -> tuple[int, str, str]:
    """A treatment with a filler syringe scanned (its draw form on screen), and the label of another sealed
    syringe for the scanner to read. Fillers, not toxins: the live server's few Botox vials are the other
    cart tests'."""
    syringe, other = sealed_labels(live_server, "Juvederm Volbella XC 0.55 mL", "VB19A44", 2)
    sign_in(page, "nurse")
    treatment_id = start_treatment(page, live_server, ref)
    wedge(page, syringe)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", syringe)
    return treatment_id, syringe, other


def keys(page, text: str, gap_ms: int) -> None:
    """Each character as a key, the page's clock moved on gap_ms between two keys."""
    for i, char in enumerate(text):
        if i:
            page.clock.run_for(gap_ms)
        page.keyboard.type(char)


def on_the_page_clock(page):
    page.clock.install()
    _pause_page_clock(page)


@pytest.mark.parametrize("hiccup_ms", [60, 150])
def test_a_scanner_pausing_before_its_last_character_is_scanned_and_quantity_keeps_what_was_typed(
    page, live_server, hiccup_ms
):
    treatment_id, _syringe, other = syringe_in_the_cart(page, live_server, f"HICCUP-{hiccup_ms}")
    page.click("#quantity")
    on_the_page_clock(page)
    try:
        keys(page, "4", 0)  # the nurse
        page.clock.run_for(400)
        keys(page, other[:-1], SCANNER_KEY_MS)
        page.clock.run_for(hiccup_ms)
        keys(page, other[-1], 0)
        expect(page.locator("#quantity")).to_have_value("4")  # not 48: the last character is the scan's too
        page.clock.run_for(SCANNER_KEY_MS)
        page.keyboard.press("Enter")
    finally:
        page.clock.resume()

    expect(page.locator(".container-panel")).to_have_attribute("data-label", other)  # scanned, the whole label
    expect(page.locator("#scan")).to_be_focused()
    assert draws_of(live_server, treatment_id) == 0
    assert container(live_server, other).state is ContainerState.SEALED


def test_a_scan_caught_in_quantity_without_its_enter_leaves_quantity_as_it_was_and_says_so(page, live_server):
    treatment_id, syringe, other = syringe_in_the_cart(page, live_server, "HICCUP-NOENTER")
    page.check("input[name=area][value=lip]")
    page.click("#quantity")
    on_the_page_clock(page)
    try:
        keys(page, "4", 0)
        page.clock.run_for(400)
        keys(page, other[:-1], SCANNER_KEY_MS)
        page.clock.run_for(60)
        keys(page, other[-1], 0)  # and no Enter
        page.clock.run_for(QUIET_AFTER_A_SCAN_MS)
    finally:
        page.clock.resume()

    expect(page.locator("#quantity")).to_have_value("4")  # no stray character
    note = page.locator(".scan-kept-out[role=status]")
    expect(note).to_contain_text("Quantity")
    expect(note).to_contain_text(other)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", syringe)  # nothing scanned
    assert draws_of(live_server, treatment_id) == 0

    # After the quiet, the nurse's keys are hers again: she enters a fresh quantity.
    page.click("h3")
    page.click("#quantity")
    page.keyboard.type("0.1", delay=90)
    expect(page.locator("#quantity")).to_have_value("0.1")
    page.click("button:has-text('Record draw')")
    expect(page.locator(".flash-ok")).to_contain_text("Recorded 0.1 mL into lips.")
    assert draws_of(live_server, treatment_id) == 1


def test_a_person_typing_12_gets_12_in_quantity_even_with_keys_30_ms_apart(page, live_server):
    treatment_id, syringe, _other = syringe_in_the_cart(page, live_server, "HICCUP-HUMAN")
    for typed, gap_ms in (("15", 80), ("12", 30)):  # at a person's pace, then as fast as a quick hand goes
        page.click("h3")
        page.click("#quantity")  # selects what it holds: the keys replace it
        on_the_page_clock(page)
        try:
            keys(page, typed, gap_ms)
            page.clock.run_for(QUIET_AFTER_A_SCAN_MS)
        finally:
            page.clock.resume()
        expect(page.locator("#quantity")).to_have_value(typed)

    expect(page.locator(".scan-kept-out")).to_have_count(0)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", syringe)  # nothing scanned
    assert draws_of(live_server, treatment_id) == 0
