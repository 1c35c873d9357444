"""The question before a waste or a close is the page's own, and a scan cannot answer it.

QA at the cart: the browser's confirm box (window.confirm) took a keyboard-wedge scan's Enter for OK, so a waste or a
close was confirmed without the nurse reading it, and a page's script cannot guard that box. Every form marked
data-confirm now asks in a <dialog> of the page (vialog.js): it takes the focus, the scanner's keys and Enter are
judged by the cart's scanner guard and ignored (the dialog says so and stays open), Escape cancels, and only Confirm
pressed (a click, or Enter or Space on it, focused) goes on. Pages without the cart ask the same way.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from inventory.extensions import db
from inventory.models import Container, ContainerState, MovementKind
from tests.browser.conftest import CONFIRM_DIALOG, answer, screenshot, sign_in, wedge
from tests.browser.test_cart_scanner_buttons import (
    SLOW_SCANNER_MS,
    a_syringe_scanned,
    is_closed,
    scanner_types,
)
from tests.browser.test_cart_scanner_guards import movements
from tests.browser.test_cold_chain_bulk_release import WIDE, _held_in_a_fridge_of_its_own

IGNORED = "A scan was ignored: press Confirm or Cancel."


def test_a_scan_while_waste_asks_wastes_nothing_and_confirm_wastes(page, live_server):
    _treatment_id, syringe, other = a_syringe_scanned(page, live_server, "ASK-WASTE")
    page.click("summary:has-text('Waste from this container')")
    page.click("form[data-confirm] button:has-text('Waste')")
    dialog = page.locator(f"{CONFIRM_DIALOG}[open]")
    expect(dialog).to_be_visible()
    # The question names the amount: nothing typed in Quantity is all that is left.
    expect(dialog.locator(".confirm-question")).to_have_text(re.compile(rf"^Waste all [0-9.]+ mL from .+ \({syringe}\)\?$"))
    expect(dialog).to_be_focused()  # the dialog, not its Confirm button: Enter there presses nothing

    wedge(page, other)
    page.wait_for_timeout(300)  # a waste or a scan would be on its way by now
    expect(dialog).to_be_visible()
    expect(dialog.locator(".confirm-scan-ignored")).to_have_text(IGNORED)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", syringe)
    assert movements(live_server, syringe, MovementKind.WASTE) == 0
    assert movements(live_server, other, MovementKind.WASTE) == 0
    screenshot(page, f"cart-confirm-scan-ignored-{live_server.backend}", full_page=False)

    # A slow scanner on the focused Confirm button: its keys and Enter are a scan too.
    dialog.get_by_role("button", name="Confirm", exact=True).focus()
    scanner_types(page, other, SLOW_SCANNER_MS)
    page.wait_for_timeout(300)
    expect(dialog).to_be_visible()
    assert movements(live_server, syringe, MovementKind.WASTE) == 0

    assert re.match(rf"^Waste all [0-9.]+ mL from .+ \({syringe}\)\?$", answer(page, "Confirm"))
    expect(page.locator(".flash-ok")).to_contain_text("Wasted")
    assert movements(live_server, syringe, MovementKind.WASTE) == 1


def test_the_waste_question_names_the_amount_typed(page, live_server):
    """The nurse confirms what she typed: "Waste 0.2 mL of ...", not only which vial."""
    _treatment_id, syringe, _other = a_syringe_scanned(page, live_server, "ASK-AMOUNT")
    page.click("summary:has-text('Waste from this container')")
    page.fill("#waste_quantity", "0.2")
    page.click("form[data-confirm] button:has-text('Waste')")
    question = page.locator(f"{CONFIRM_DIALOG}[open] .confirm-question")
    expect(question).to_have_text(re.compile(rf"^Waste 0\.2 mL from .+ \({syringe}\)\?$"))
    assert answer(page, "Cancel").startswith("Waste 0.2 mL")
    assert movements(live_server, syringe, MovementKind.WASTE) == 0


def test_escape_cancels_and_enter_or_space_on_the_focused_confirm_button_confirms(page, live_server):
    treatment_id, _syringe, _other = a_syringe_scanned(page, live_server, "ASK-CLOSE")
    close = page.locator("button:has-text('Close treatment')")
    close.click()
    dialog = page.locator(f"{CONFIRM_DIALOG}[open]")
    expect(dialog.locator(".confirm-question")).to_have_text("Close this treatment? Single-patient remainders are wasted.")
    page.keyboard.press("Enter")  # on the dialog, not on a button: nothing
    page.wait_for_timeout(300)
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(close).to_be_focused()
    assert not is_closed(live_server, treatment_id)

    # Cancel, then Enter alone on the focused Confirm button.
    close.click()
    assert answer(page, "Cancel").startswith("Close this treatment?")
    assert not is_closed(live_server, treatment_id)
    close.click()
    page.keyboard.press("Tab")  # Cancel first
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Confirm", exact=True)).to_be_focused()
    page.keyboard.press("Space")
    expect(page.locator(".flash-ok")).to_contain_text("Treatment closed")
    assert is_closed(live_server, treatment_id)


def test_enter_on_the_focused_confirm_button_confirms(page, live_server):
    _treatment_id, syringe, _other = a_syringe_scanned(page, live_server, "ASK-ENTER")
    page.click("summary:has-text('Waste from this container')")
    page.click("form[data-confirm] button:has-text('Waste')")
    confirm = page.locator(f"{CONFIRM_DIALOG}[open]").get_by_role("button", name="Confirm", exact=True)
    confirm.focus()
    page.keyboard.press("Enter")
    expect(page.locator(".flash-ok")).to_contain_text("Wasted")
    assert movements(live_server, syringe, MovementKind.WASTE) == 1


def test_a_page_without_the_cart_asks_in_the_page_and_ignores_a_scan(page, live_server):
    sign_in(page, "admin")
    page.goto("/locations")
    fridge = page.locator("section.location", has=page.locator("h2", has_text="LON · Medicines fridge"))
    fridge.locator("button:has-text('Retire')").click()
    dialog = page.locator(f"{CONFIRM_DIALOG}[open]")
    expect(dialog).to_be_focused()
    wedge(page, "VL0000000Z")
    page.wait_for_timeout(300)
    expect(dialog.locator(".confirm-scan-ignored")).to_have_text(IGNORED)
    screenshot(page, f"admin-confirm-scan-ignored-{live_server.backend}", full_page=False)
    assert answer(page, "Cancel").startswith("Retire LON · Medicines fridge?")
    page.goto("/locations")
    expect(fridge.locator("h2 .tag")).to_have_count(0)  # not retired


def test_a_buttons_own_question_confirmed_sends_what_that_button_sends(page, live_server):
    """The hold board's "Waste all" asks (its own data-confirm, beside "Release all", which asks nothing); Confirm
    sends the form as that button would have (its formaction: waste, not release)."""
    fridge_id, labels = _held_in_a_fridge_of_its_own(live_server, 2, name="Confirm-waste fridge", lot="CWST12")
    page.set_viewport_size(WIDE)
    sign_in(page, "safety")
    page.goto(f"/cold-chain?location_id={fridge_id}")
    group = page.locator("tbody.hold-group").filter(has_text="NYC · Confirm-waste fridge was at 9 to 13 °C")
    group.locator("input[name=reason]").press_sequentially("warm for an hour", delay=90)
    group.locator("button:has-text('Waste all 2')").click()
    assert answer(page, "Confirm") == "Waste all 2 containers for good? They leave stock and cannot be used again."
    expect(page.locator(".flash-ok")).to_contain_text("Wasted 2 containers")
    with live_server.app.app_context():
        wasted = db.session.scalars(select(Container.state).where(Container.label_code.in_(labels))).all()
    assert wasted == [ContainerState.DISCARDED] * 2
