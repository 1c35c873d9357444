"""A nurse finds a patient by her reference, reads her record and saves her phone number."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import screenshot, sign_in


def test_the_nurse_finds_a_patient_reads_her_record_and_saves_her_phone(page, live_server):
    sign_in(page, "nurse")
    page.click("nav[aria-label=Main] summary:has-text('Cart')")
    page.click("nav[aria-label=Main] a:has-text('Patients')")
    expect(page.locator("#q")).to_be_focused()  # a scanned card goes straight into the search
    page.keyboard.type("P-1002", delay=60)
    page.keyboard.press("Enter")
    rows = page.locator("table.patients tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Omar Reyes")
    expect(rows.first).to_contain_text("Vialog Demo Clinic London")

    rows.first.locator("a:has-text('Omar Reyes')").click()
    expect(page.locator(".patient-bar")).to_contain_text("Omar Reyes")
    # The demo's two closed treatments, the newest first, with what was drawn and from which lot.
    treatments = page.locator("section.patient-treatment")
    expect(treatments).to_have_count(2)
    expect(treatments.first).to_contain_text("Botox Cosmetic 100 U")
    expect(treatments.nth(1)).to_contain_text("Dysport 300 U")
    expect(page.locator(".patient-history")).to_contain_text("abobotulinumtoxinA")

    page.fill("#phone", "07700 900456")
    page.click("button:has-text('Save contact details')")
    expect(page.locator(".flash-ok")).to_have_text("Contact details saved.")
    expect(page.locator("#phone")).to_have_value("07700 900456")
    screenshot(page, f"patient-page-{live_server.backend}")
