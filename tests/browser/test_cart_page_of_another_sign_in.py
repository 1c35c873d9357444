"""Two tabs on one cart computer: a treatment page opened by one nurse never records as the user who signed in
after her in the other tab. Her next scan there scans nothing and says plainly who is signed in now (tests/pages/
test_cart_page_of_another_sign_in_pages.py has the server's side)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in, wedge
from tests.browser.test_cart_scanner_guards import draws_of, sealed_labels, start_treatment


def test_a_scan_in_a_tab_opened_before_another_sign_in_records_nothing_as_the_new_user(page, live_server):
    sign_in(page, "nurse")
    treatment_id = start_treatment(page, live_server, "P-TABS")  # tab 1: the nurse's treatment page
    (syringe,) = sealed_labels(live_server, "Juvederm Volbella XC 0.55 mL", "VB19A44", 1)

    other_tab = page.context.new_page()  # tab 2, same cookies: she signs out, the admin signs in
    other_tab.goto("/cart")
    other_tab.click("button:has-text('Sign out')")
    sign_in(other_tab, "admin")

    page.bring_to_front()
    page.locator("#scan").focus()
    wedge(page, syringe)

    said = page.locator(".flash-error[role=alert]")
    expect(said).to_contain_text("This page was opened before the last sign-in on this computer: you are signed "
                                 "in as Admin. Nothing was scanned: scan again to record as Admin.")
    expect(page.locator(".container-panel")).to_have_count(0)
    expect(page.locator("button:has-text('Record draw')")).to_have_count(0)
    expect(page.locator("#scan")).to_be_focused()  # the scan field, fresh, for the scan she means
    screenshot(page, f"cart-page-of-another-sign-in-{live_server.backend}", full_page=False)

    wedge(page, syringe)  # scanned again, knowingly: the draw form is the admin's now
    expect(page.locator(".container-panel")).to_contain_text(syringe)
    expect(page.locator(".flash-error[role=alert]")).to_have_count(0)
    page.fill("#quantity", "0.1")
    page.check("input[name=area][value=lip]")
    page.click("button:has-text('Record draw')")
    expect(page.locator("table.draws tbody tr").first).to_contain_text("Admin")
    assert draws_of(live_server, treatment_id) == 1
    other_tab.close()
