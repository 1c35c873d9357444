"""A scan that lands on a button (or a select, a checkbox...) is scanned, and a fast scan is scanned whole.

QA found a slow scanner (a key every 60 ms) recording a draw: with "Record draw" focused, the label's keys did
nothing and its Enter pressed the button. A button takes no characters, so keys typed on it and then Enter are
a scan, whatever their speed; Enter or Space alone still presses it. QA also found a fast scan cut short, its
first keys (typed before the keys came at scanner speed) left in the field; and a slow scan typed after a
quantity of 20 sent as "20VL...".

The page's clock is paused and moved on by hand, so the gaps between keys are exactly those of the scanner.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from inventory.extensions import db
from inventory.models import ContainerState, MovementKind, Treatment
from tests.browser.conftest import CONFIRM_DIALOG, open_still_loading, questions_asked, sign_in, wedge
from tests.browser.test_cart_scanner_guards import (
    box_code,
    container,
    draws_of,
    movements,
    sealed_labels,
    start_treatment,
)
from tests.browser.test_cart_scanner_hiccup import keys, on_the_page_clock

SLOW_SCANNER_MS = 60  # a Bluetooth scanner: slower than vialog.js's 40 ms, the keys read as a person's
FAST_SCANNER_MS = 5


def with_a_container_scanned(page, live_server, ref: str, product: str, lot: str, at: str) -> tuple[int, str, str]:
    """A treatment with a container on screen, and the label of another sealed one for the scanner to read."""
    first, other = sealed_labels(live_server, product, lot, 2, at=at)
    sign_in(page, "nurse")
    treatment_id = start_treatment(page, live_server, ref)
    wedge(page, first)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", first)
    return treatment_id, first, other


def a_syringe_scanned(page, live_server, ref: str) -> tuple[int, str, str]:
    return with_a_container_scanned(page, live_server, ref, "Juvederm Volbella XC 0.55 mL", "VB19A44", "Store room")


def a_toxin_vial_scanned(page, live_server, ref: str) -> tuple[int, str, str]:
    """Dysport, not Botox: the live server's few Botox vials are the other cart tests'."""
    return with_a_container_scanned(page, live_server, ref, "Dysport 300 U", "DY2291", "Medicines fridge")


def scanner_types(page, code: str, gap_ms: int) -> None:
    """The scanner's keys into whatever has the focus, gap_ms apart on the page's clock, then its Enter."""
    on_the_page_clock(page)
    try:
        keys(page, code, gap_ms)
        page.clock.run_for(FAST_SCANNER_MS)
        page.keyboard.press("Enter")
    finally:
        page.clock.resume()


def a_draw_ready_to_record(page) -> None:
    page.check("input[name=area][value=lip]")
    page.fill("#quantity", "0.1")


def is_closed(live_server, treatment_id: int) -> bool:
    with live_server.app.app_context():
        return db.session.scalar(select(Treatment.closed_at).where(Treatment.id == treatment_id)) is not None


@pytest.mark.parametrize("focused", ["button:has-text('Record draw')", "#unit", "input[name=area][value=chin]"])
def test_a_slow_scan_with_the_draw_button_or_another_control_focused_is_scanned_and_records_nothing(
    page, live_server, focused
):
    treatment_id, _syringe, other = a_syringe_scanned(page, live_server, f"BTN-DRAW-{focused[:8]}")
    a_draw_ready_to_record(page)
    page.focus(focused)

    scanner_types(page, other, SLOW_SCANNER_MS)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", other)  # scanned, as any scan
    expect(page.locator("#scan")).to_be_focused()
    expect(page.locator(".flash-ok")).to_have_count(0)
    assert draws_of(live_server, treatment_id) == 0
    assert container(live_server, other).state is ContainerState.SEALED


def test_a_box_code_typed_slowly_on_the_draw_button_is_scanned_and_records_nothing(page, live_server):
    treatment_id, _syringe, _other = a_syringe_scanned(page, live_server, "BTN-DRAW-GS1")
    a_draw_ready_to_record(page)
    page.focus("button:has-text('Record draw')")

    scanner_types(page, box_code(live_server, "Juvederm Voluma XC 1.0 mL", "VM88B21"), SLOW_SCANNER_MS)
    expect(page.locator(".container-panel h2")).to_contain_text("Juvederm Voluma XC 1.0 mL")
    assert draws_of(live_server, treatment_id) == 0


def test_a_slow_scan_on_the_reconstitute_button_is_scanned_and_reconstitutes_nothing(page, live_server):
    _treatment_id, vial, other = a_toxin_vial_scanned(page, live_server, "BTN-MIX")
    page.focus("button:has-text('Reconstitute')")

    scanner_types(page, other, SLOW_SCANNER_MS)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", other)
    assert movements(live_server, vial, MovementKind.RECONSTITUTE) == 0
    assert container(live_server, vial).state is ContainerState.SEALED


def test_a_slow_scan_on_the_waste_or_close_button_is_scanned_and_asks_nothing(page, live_server):
    treatment_id, syringe, other = a_syringe_scanned(page, live_server, "BTN-WASTE")
    dialogs = questions_asked(page)

    page.click("summary:has-text('Waste from this container')")
    page.focus("button:has-text('Waste')")
    scanner_types(page, other, SLOW_SCANNER_MS)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", other)

    page.focus("button:has-text('Close treatment')")
    scanner_types(page, syringe, SLOW_SCANNER_MS)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", syringe)

    assert dialogs == []
    expect(page.locator(f"{CONFIRM_DIALOG}[open]")).to_have_count(0)
    assert movements(live_server, syringe, MovementKind.WASTE) == 0
    assert not is_closed(live_server, treatment_id)


def test_enter_or_space_alone_on_the_focused_button_still_presses_it(page, live_server):
    treatment_id, _syringe, _other = a_syringe_scanned(page, live_server, "BTN-PERSON")
    a_draw_ready_to_record(page)
    page.focus("button:has-text('Record draw')")
    page.keyboard.press("Enter")
    expect(page.locator(".flash-ok")).to_contain_text("Recorded 0.1 mL into lips.")
    assert draws_of(live_server, treatment_id) == 1

    page.focus("input[name=area][value=chin]")
    page.keyboard.press(" ")  # a keyboard user ticks the area
    expect(page.locator("input[name=area][value=chin]")).to_be_checked()
    page.fill("#quantity", "0.1")
    page.keyboard.press("Tab")  # keys typed in a field, then the focus moves on: they are not the button's
    page.focus("button:has-text('Record draw')")
    page.keyboard.press(" ")
    expect(page.locator(".flash-ok")).to_contain_text("Recorded 0.1 mL into chin.")
    assert draws_of(live_server, treatment_id) == 2


def test_a_fast_scan_into_the_diluent_lot_that_starts_slowly_is_scanned_whole(page, live_server):
    _treatment_id, vial, other = a_toxin_vial_scanned(page, live_server, "FAST-DIL")
    page.fill("#diluent_lot", "NS5521")
    page.press("#diluent_lot", "End")

    on_the_page_clock(page)
    try:
        keys(page, other[:5], SLOW_SCANNER_MS)  # the scanner's first keys come late...
        page.clock.run_for(SLOW_SCANNER_MS)
        keys(page, other[5:], FAST_SCANNER_MS)  # ...then at its speed
        expect(page.locator("#diluent_lot")).to_have_value("NS5521")  # every key of the scan taken back
        page.clock.run_for(FAST_SCANNER_MS)
        page.keyboard.press("Enter")
    finally:
        page.clock.resume()

    expect(page.locator(".container-panel")).to_have_attribute("data-label", other)  # the whole label
    assert movements(live_server, vial, MovementKind.RECONSTITUTE) == 0


def test_a_fast_scan_into_quantity_whose_first_key_comes_late_is_scanned_whole(page, live_server):
    treatment_id, _syringe, other = a_syringe_scanned(page, live_server, "FAST-QTY")
    page.fill("#quantity", "20")
    page.click("h3")
    page.click("#quantity")  # selects the 20: a key replaces it

    on_the_page_clock(page)
    try:
        keys(page, other[0], 0)
        page.clock.run_for(SLOW_SCANNER_MS)
        keys(page, other[1:], FAST_SCANNER_MS)
        expect(page.locator("#quantity")).to_have_value("20")  # no "V" left behind
        page.clock.run_for(FAST_SCANNER_MS)
        page.keyboard.press("Enter")
    finally:
        page.clock.resume()

    expect(page.locator(".container-panel")).to_have_attribute("data-label", other)
    assert draws_of(live_server, treatment_id) == 0


def test_a_slow_scan_after_a_quantity_of_20_sends_just_the_code(page, live_server):
    treatment_id, _syringe, other = a_syringe_scanned(page, live_server, "SLOW-QTY-20")
    page.check("input[name=area][value=lip]")
    page.fill("#quantity", "20")  # the cursor after the 20: the scan follows it

    scanner_types(page, other, SLOW_SCANNER_MS)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", other)  # not "20VL...": not found
    expect(page.locator(".refusal")).to_have_count(0)
    assert draws_of(live_server, treatment_id) == 0


def test_a_stray_key_then_enter_on_the_draw_button_does_nothing_and_keeps_the_form(page, live_server):
    """One key typed on the focused button by mistake, then Enter: no draw, and no look-up that would leave the
    page with the quantity and area the nurse had set."""
    treatment_id, syringe, _other = a_syringe_scanned(page, live_server, "BTN-STRAY")
    a_draw_ready_to_record(page)
    page.focus("button:has-text('Record draw')")
    page.keyboard.press("a")
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    assert draws_of(live_server, treatment_id) == 0
    expect(page.locator(".container-panel")).to_have_attribute("data-label", syringe)
    expect(page.locator("#quantity")).to_have_value("0.1")
    expect(page.locator("input[name=area][value=lip]")).to_be_checked()


def test_a_scan_on_a_button_while_the_page_is_still_loading_is_scanned_and_closes_nothing(page, live_server):
    """The page is on screen before it has all loaded (here a script at its end is held back): a scan at once.

    With the guard waiting for the page to finish loading, the scan's keys went past it and its Enter pressed
    Close treatment, closing the treatment without its confirmation.
    """
    treatment_id, _syringe, other = a_syringe_scanned(page, live_server, "BTN-LOADING")
    release = open_still_loading(page, f"/cart/treatments/{treatment_id}")
    page.locator("button:has-text('Close treatment')").focus()
    assert page.evaluate("document.readyState") == "loading"

    page.keyboard.type(other, delay=SLOW_SCANNER_MS)
    page.keyboard.press("Enter")
    expect(page.locator(".container-panel")).to_have_attribute("data-label", other)
    release()
    assert not is_closed(live_server, treatment_id)
