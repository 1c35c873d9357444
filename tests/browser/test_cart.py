"""A nurse at the treatment cart, driving the page with a keyboard-wedge scanner."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from inventory.extensions import db
from inventory.models import Lot, LotStatus, Product, utcnow
from inventory.demo import demo_gtin
from tests.browser.conftest import GS, answer, screenshot, sign_in, start_cart_treatment, wedge

BOTOX_100 = demo_gtin(1)


def _set_lot_status(live_server, product_name: str, lot_number: str, status: LotStatus) -> None:
    with live_server.app.app_context():
        lot = db.session.scalar(
            select(Lot).join(Product).where(Product.name == product_name, Lot.number == lot_number)
        )
        lot.status, lot.status_reason, lot.status_changed_at = status, "browser test", utcnow()
        db.session.commit()


def _expiry_raw(live_server, product_name: str, lot_number: str) -> str:
    with live_server.app.app_context():
        lot = db.session.scalar(select(Lot).join(Product).where(Product.name == product_name, Lot.number == lot_number))
        return lot.expiry.strftime("%y%m%d")


def test_nurse_scans_reconstitutes_draws_and_closes(page, live_server):
    sign_in(page, "nurse")
    page.goto("/cart")
    expect(page.locator("#external_ref")).to_be_focused()
    wedge(page, f"P-{live_server.backend}-1")  # the patient's card
    expect(page.locator(".flash-error")).to_contain_text("name")  # a new patient needs a name
    start_cart_treatment(page, f"P-{live_server.backend}-1", "Alex Morgan")

    # The scan field has focus; the scanner types the vial's GS1 DataMatrix with a GS and Enter.
    expect(page.locator("#scan")).to_be_focused()
    expiry = _expiry_raw(live_server, "Botox Cosmetic 100 U", "DEMOBTX01")
    wedge(page, f"]d201{BOTOX_100}17{expiry}10DEMOBTX01{GS}21NOSERIAL")
    panel = page.locator(".container-panel")
    expect(panel).to_contain_text("Botox Cosmetic 100 U")
    expect(panel).to_contain_text("sealed")

    # Next sensible action: reconstitute, with the label's 2.5 mL offered.
    expect(page.locator("#diluent_ml")).to_have_value("2.5")
    page.click("button:has-text('Reconstitute')")
    expect(page.locator(".flash-ok")).to_contain_text("4 U per 0.1 mL")
    expect(page.locator("#concentration")).to_contain_text("4 U per 0.1 mL")

    # Draw 0.1 mL into the glabella: 4 U are recorded.
    page.click("#quantity")
    page.keyboard.type("0.1", delay=90)  # a person typing
    page.select_option("#unit", "mL")
    page.check("input[name=area][value=glabella]")
    page.click("button:has-text('Record draw')")
    expect(page.locator(".flash-ok")).to_contain_text("Recorded 4 U (0.1 mL) into glabella")
    expect(page.locator("table.draws tbody tr").first).to_contain_text("4 U")
    expect(page.locator("#remaining")).to_have_text("96 U")
    expect(page.locator("#scan")).to_be_focused()  # ready for the next scan
    screenshot(page, f"cart-{live_server.backend}")

    # A recalled lot is refused in plain words, and nothing is offered for it.
    _set_lot_status(live_server, "Botox Cosmetic 100 U", "DEMOBTX02", LotStatus.RECALLED)
    expiry = _expiry_raw(live_server, "Botox Cosmetic 100 U", "DEMOBTX02")
    page.locator("#scan").focus()
    wedge(page, f"]d201{BOTOX_100}17{expiry}10DEMOBTX02")
    refusal = page.locator(".refusal[role=alert]")
    expect(refusal).to_contain_text("is recalled: do not use")
    expect(refusal).to_have_attribute("data-code", "lot_recalled")
    expect(page.locator("button:has-text('Record draw')")).to_have_count(0)

    # Close: the single-patient toxin remainder is wasted.
    page.click("button:has-text('Close treatment')")
    answer(page, "Confirm")
    expect(page.locator(".flash-ok")).to_contain_text("Treatment closed. Wasted what was left of")


def test_cart_works_on_a_phone_width(browser, live_server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=live_server.url)
    page = context.new_page()
    sign_in(page, "nurse")
    page.goto("/cart")
    box = page.locator("#external_ref").bounding_box()
    assert box["width"] <= 390 and box["height"] >= 44  # fits, and big enough to hit
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"horizontal scroll at phone width: {width}px"
    context.close()
