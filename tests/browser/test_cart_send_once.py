"""A second click on a cart form's button, while the first submit is still on its way, sends nothing: the
button is disabled as the form goes (vialog.js). The server is still the guard (tests/pages/
test_cart_form_once_pages.py)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import GS, sign_in, start_cart_treatment, wedge
from tests.browser.test_cart import BOTOX_100, _expiry_raw

# Stands in for a slow network: the page's own submit handling runs (vialog.js listens first), then this
# listener keeps the browser from leaving, counting the submits that would have been sent.
_HOLD_SUBMITS = """() => {
  window.sent = 0;
  document.addEventListener("submit", (event) => {
    if (!event.defaultPrevented) window.sent += 1;
    event.preventDefault();
  });
}"""


def test_a_second_click_on_reconstitute_while_the_first_is_slow_sends_nothing(page, live_server):
    sign_in(page, "nurse")
    page.goto("/cart")
    start_cart_treatment(page, f"P-{live_server.backend}-ONCE", "Sam Once")
    expiry = _expiry_raw(live_server, "Botox Cosmetic 100 U", "DEMOBTX01")
    wedge(page, f"]d201{BOTOX_100}17{expiry}10DEMOBTX01{GS}21NOSERIAL")
    button = page.locator(".reconstitute-form button")
    expect(button).to_be_enabled()
    # The page's deferred script has run (its submit listener must come before the one standing in for the
    # network, which would otherwise cancel the submit before the page saw it).
    page.wait_for_load_state("load")

    page.evaluate(_HOLD_SUBMITS)
    button.click()
    expect(button).to_be_disabled()
    page.evaluate("document.querySelector('.reconstitute-form').requestSubmit()")  # a second press, by any way
    assert page.evaluate("window.sent") == 1
