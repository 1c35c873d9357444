"""An adverse event recorded from the cart in a few keystrokes, then the rescue hyaluronidase linked to it."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import scan, screenshot, sign_in
from tests.browser.test_scanner import sealed_labels, start_treatment


def test_a_nurse_records_an_occlusion_from_the_cart_and_links_the_rescue_to_it(page, live_server):
    (syringe,) = sealed_labels(live_server, "Juvederm Voluma XC 1.0 mL", "VM88B21", 1)
    (hylenex,) = sealed_labels(live_server, "Hylenex recombinant 150 USP U/mL", "2208816", 1, at="Medicines fridge")
    sign_in(page, "nurse")
    start_treatment(page, live_server, "AE-OCC")

    scan(page, syringe)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", syringe)
    page.check("input[name=area][value=chin]")
    page.fill("#quantity", "0.5")
    page.click("button:has-text('Record draw')")
    expect(page.locator(".flash-ok")).to_contain_text("Recorded 0.5 mL into chin.")

    # Blanching at the chin: one click opens the short form, the syringe is already linked.
    page.click("#record-adverse-event")
    expect(page.locator("h1")).to_have_text("Record an adverse event")
    expect(page.locator("input[name=container_ids]")).to_be_checked()
    page.check("input[name=kind][value=vascular_occlusion]")
    page.check("input[name=severity][value=severe]")
    page.fill("#description", "Blanching and livedo at the chin, pain out of proportion")
    page.click("button:has-text('Record adverse event')")
    expect(page.locator(".flash-ok")).to_contain_text("Adverse event recorded and linked to 1 container(s).")
    expect(page.locator("table.linked")).to_contain_text("VM88B21")
    expect(page.locator("#report-text")).to_contain_text("Product 1 lot: VM88B21")

    # Back at the cart, the rescue: the hyaluronidase draw offers the open event, already chosen.
    page.click("dl.facts a")  # the event's treatment
    scan(page, hylenex)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", hylenex)
    expect(page.locator("#adverse_event_id option:checked")).to_contain_text("Vascular occlusion")
    page.check("input[name=area][value=chin]")
    page.fill("#quantity", "150")
    page.select_option("#emergency", "emergency")
    page.click("button:has-text('Record draw')")
    expect(page.locator(".flash-ok")).to_contain_text("Recorded 150 USP U")
    page.click(".adverse-events-here a:has-text('Vascular occlusion')")
    expect(page.locator("table.rescues")).to_contain_text(hylenex)
    expect(page.locator("table.rescues")).to_contain_text("150 USP U")

    page.set_viewport_size({"width": 360, "height": 740})  # a phone at the cart: nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, f"adverse_event_rescue_{live_server.backend}")
