"""A label scanned while a draw (or a close) is on its way is kept for the next page, never sent at once.

QA found, at a tablet's size: the nurse presses "Record draw" and scans the next vial before the answer comes. The
pressed button is disabled as the form goes, so the focus is on the page, and the scan was sent from the page's
scan field: a second navigation, which in the browser cancels the draw's. The draw was then recorded with no
"Recorded" said (or not at all, on a slow network, while she believed it was). Now the scan waits: the page says so,
and the next page puts the code in its scan field, sent by Enter alone.

The network is stood in for as in test_cart_send_once.py: a listener added after the page's own counts the submits
that would leave the page and keeps the browser where it is.
"""

from __future__ import annotations

from playwright.sync_api import expect

from inventory.models import MovementKind
from tests.browser.conftest import answer
from tests.browser.test_cart_scanner_buttons import (
    FAST_SCANNER_MS,
    a_draw_ready_to_record,
    a_syringe_scanned,
    is_closed,
    scanner_types,
)
from tests.browser.test_cart_scanner_guards import draws_of, movements

_COUNT_SUBMITS = """() => {
  window.sent = [];
  document.addEventListener("submit", (event) => {
    if (!event.defaultPrevented) window.sent.push(new URL(event.target.action).pathname);
    event.preventDefault();
  });
}"""


def test_a_label_scanned_while_a_draw_is_saving_waits_in_the_next_pages_scan_field(page, live_server):
    treatment_id, _syringe, other = a_syringe_scanned(page, live_server, "SAVING-DRAW")
    a_draw_ready_to_record(page)
    page.wait_for_load_state("load")
    page.evaluate(_COUNT_SUBMITS)
    button = page.locator("button:has-text('Record draw')")
    button.click()
    expect(button).to_be_disabled()

    scanner_types(page, other, FAST_SCANNER_MS)  # into the page: the pressed button gave up the focus
    assert page.evaluate("window.sent") == [f"/cart/treatments/{treatment_id}/draws"]  # the draw alone goes
    expect(page.locator(".scan-while-saving")).to_contain_text("Scanned while the last one was saving, not used yet")
    expect(page.locator(".scan-while-saving")).to_contain_text(other)

    # The draw's answer is a page of this treatment: the code waits in its scan field, sent by Enter only.
    page.goto(f"/cart/treatments/{treatment_id}")
    expect(page.locator("#scan")).to_have_value(other)
    expect(page.locator(".scan-while-saving")).to_contain_text(f"press Enter to scan {other}")
    assert movements(live_server, other, MovementKind.DRAW) == 0
    page.keyboard.press("Enter")
    expect(page.locator(".container-panel")).to_have_attribute("data-label", other)
    expect(page.locator(".scan-while-saving")).to_have_count(0)  # used: it does not come back
    assert draws_of(live_server, treatment_id) == 0  # nothing was sent in this test but the scan


def test_a_label_scanned_while_a_treatment_closes_is_said_not_used_on_the_cart(page, live_server):
    treatment_id, _syringe, other = a_syringe_scanned(page, live_server, "SAVING-CLOSE")
    page.wait_for_load_state("load")
    page.evaluate(_COUNT_SUBMITS)
    page.click("button:has-text('Close treatment')")
    answer(page, "Confirm")
    expect(page.locator(".close-form button")).to_be_disabled()

    scanner_types(page, other, FAST_SCANNER_MS)
    assert page.evaluate("window.sent") == [f"/cart/treatments/{treatment_id}/close"]

    # A close answers with the cart, whose scan field is a patient's: the vial's code is not put there.
    page.goto("/cart")
    expect(page.locator("#external_ref")).to_have_value("")
    expect(page.locator(".scan-while-saving")).to_contain_text(f"Scanned while the last one was saving, and not used: {other}")
    assert not is_closed(live_server, treatment_id)
