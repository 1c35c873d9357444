"""Every page a scanner is used on, driven as a keyboard-wedge scanner drives it: keys typed fast, then Enter.

The cart case first: a label scanned while Quantity has the focus must switch to that
container and record nothing; then a refused scan that leaves the field empty for the
next one, on receiving, counting and a kit.
"""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import func, select

from inventory.extensions import db
from inventory.models import Clinic, Container, ContainerState, Draw, Location, Lot, Product, Treatment
from inventory.demo import DEMO_SUPPLIER, demo_gtin
from tests.browser.conftest import screenshot, sign_in, start_cart_treatment, wedge


def sealed_labels(live_server, product_name: str, lot_number: str, count: int, at: str = "Store room") -> list[str]:
    with live_server.app.app_context():
        return list(db.session.scalars(
            select(Container.label_code).join(Lot, Container.lot_id == Lot.id).join(Product)
            .join(Location, Container.location_id == Location.id).join(Clinic, Location.clinic_id == Clinic.id)
            .where(Product.name == product_name, Lot.number == lot_number, Clinic.code == "LON", Location.name == at,
                   Container.state == ContainerState.SEALED)
            .order_by(Container.id).limit(count)
        ))


def draws_of(live_server, treatment_id: int) -> int:
    with live_server.app.app_context():
        return db.session.scalar(select(func.count(Draw.id)).where(Draw.treatment_id == treatment_id))


def expect_switched_with_nothing_drawn(page, live_server, treatment_id: int, label: str) -> None:
    """A label that landed in Quantity was scanned instead: the page shows its container, Quantity is empty."""
    expect(page.locator(".container-panel")).to_have_attribute("data-label", label)
    expect(page.locator("#quantity")).to_have_value("")
    assert draws_of(live_server, treatment_id) == 0


def type_quantity_and_press_enter(page, live_server, treatment_id: int, quantity: str) -> None:
    """A person (keys 80 ms apart) types a quantity for the chin and presses Enter in Quantity: nothing is
    recorded, since only the button records a draw."""
    page.check("input[name=area][value=chin]")
    page.click("#quantity")
    page.keyboard.type(quantity, delay=80)
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    expect(page.locator(".flash-ok")).to_have_count(0)
    assert draws_of(live_server, treatment_id) == 0


def start_treatment(page, live_server, ref: str) -> int:
    page.goto("/cart")
    start_cart_treatment(page, f"{ref}-{live_server.backend}", "Robin Vale")
    with live_server.app.app_context():
        return db.session.scalar(select(func.max(Treatment.id)))


def test_a_label_scanned_into_quantity_switches_container_and_draws_nothing(page, live_server):
    first, second = sealed_labels(live_server, "Juvederm Voluma XC 1.0 mL", "VM88B21", 2)
    sign_in(page, "nurse")
    expect(page).to_have_url(f"{live_server.url}/cart")  # a nurse lands on the cart
    treatment_id = start_treatment(page, live_server, "SCAN-Q")

    expect(page.locator("#scan")).to_be_focused()
    wedge(page, first)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", first)
    # After a container scan the scan field keeps the focus: the next scan cannot land in Quantity.
    expect(page.locator("#scan")).to_be_focused()
    expect(page.locator("input[name=area]:checked")).to_have_count(0)  # no area is chosen for the nurse

    # The nurse deliberately puts the cursor in Quantity, then scans the next syringe anyway.
    page.click("#quantity")
    wedge(page, second)
    expect_switched_with_nothing_drawn(page, live_server, treatment_id, second)

    # Typed by hand, Enter in Quantity does not record a draw either: only the button does.
    type_quantity_and_press_enter(page, live_server, treatment_id, "0.3")
    page.click("button:has-text('Record draw')")
    expect(page.locator(".flash-ok")).to_contain_text("Recorded 0.3 mL into chin.")
    expect(page.locator("#scan")).to_be_focused()
    assert draws_of(live_server, treatment_id) == 1

    # A number field replaces what it holds: a fresh quantity never appends to an old one.
    page.click("#quantity")
    page.keyboard.type("0.2", delay=90)
    page.click("h3")  # elsewhere, which gives the focus back to the scan field
    expect(page.locator("#scan")).to_be_focused()
    page.click("#quantity")
    page.keyboard.type("0.1", delay=90)
    expect(page.locator("#quantity")).to_have_value("0.1")
    screenshot(page, f"cart-scan-{live_server.backend}")


def test_a_slow_scanner_in_quantity_is_caught_on_enter_and_draws_nothing(page, live_server):
    """Keys 80 ms apart read as a person typing; the Enter still finds a code, not a quantity, in the field."""
    first, second = sealed_labels(live_server, "Juvederm Voluma XC 1.0 mL", "VM88B21", 2)
    sign_in(page, "nurse")
    treatment_id = start_treatment(page, live_server, "SCAN-SLOW")
    wedge(page, first)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", first)

    page.check("input[name=area][value=chin]")
    page.click("#quantity")
    page.keyboard.type(second, delay=80)
    expect(page.locator("#quantity")).to_have_value(second)  # nothing held back: too slow for the timing guard
    page.keyboard.press("Enter")
    expect_switched_with_nothing_drawn(page, live_server, treatment_id, second)

    # A quantity typed slowly by hand is a quantity: Enter leaves it where it is and records nothing.
    type_quantity_and_press_enter(page, live_server, treatment_id, "0.25")
    expect(page.locator(".container-panel")).to_have_attribute("data-label", second)
    expect(page.locator("#quantity")).to_have_value("0.25")


def test_a_syringe_opened_for_another_patient_is_refused_when_scanned(page, live_server):
    (syringe,) = sealed_labels(live_server, "Restylane Kysse 1.0 mL", "RK5512", 1)
    sign_in(page, "nurse")
    start_treatment(page, live_server, "SCAN-A")
    wedge(page, syringe)
    page.check("input[name=area][value=lip]")
    page.click("#quantity")
    page.keyboard.type("0.5", delay=90)
    page.click("button:has-text('Record draw')")
    expect(page.locator(".flash-ok")).to_contain_text("Recorded 0.5 mL into lips.")

    start_treatment(page, live_server, "SCAN-B")
    wedge(page, syringe)
    refusal = page.locator(".container-panel .refusal[role=alert]")
    expect(refusal).to_have_attribute("data-code", "container_other_patient")
    expect(refusal).to_contain_text("opened for another patient")
    expect(page.locator("button:has-text('Record draw')")).to_have_count(0)
    expect(page.locator("#scan")).to_be_focused()


def test_receiving_refuses_a_bad_scan_then_takes_the_next_one(page, live_server):
    sign_in(page, "manager")
    page.goto("/receive")
    page.select_option("#location_id", label="LON · Medicines fridge")
    page.select_option("#supplier_id", label=DEMO_SUPPLIER)
    page.fill("#containers", "1")
    page.locator("#code").focus()
    wedge(page, "]d2019999999999999")  # a bad check digit
    expect(page.locator(".flash-error")).to_be_visible()
    expect(page.locator("#code")).to_have_value("")  # the next scan is not glued onto this one
    expect(page.locator("#code")).to_be_focused()

    # A lost separator: the lot swallowed the serial. Refused, never received as lot "...21SN...".
    lot = f"LS{live_server.backend[:2].upper()}7"
    wedge(page, f"]d201{demo_gtin(3)}17291130" f"10{lot}21SN4455")
    expect(page.locator(".flash-error")).to_contain_text("separator")
    expect(page.locator("#code")).to_have_value("")
    with live_server.app.app_context():
        assert db.session.scalar(select(func.count(Lot.id)).where(Lot.number.like(f"{lot}%"))) == 0

    wedge(page, f"]d201{demo_gtin(3)}17291130" f"10{lot}|21SN4455")  # the scanner's GS substitute
    expect(page.locator("h1")).to_contain_text("Received 1 × Dysport 300 U")


def test_counting_and_kit_scan_in_clear_a_refused_scan(page, live_server):
    sign_in(page, "manager")
    page.goto("/counts")
    page.select_option("#location_id", label="LON · Store room")
    page.click("button:has-text('Start')")
    expect(page.locator("#code")).to_be_focused()
    wedge(page, "VL0000000Z")  # no such container
    expect(page.locator(".flash-error")).to_be_visible()
    expect(page.locator("#code")).to_have_value("")
    expect(page.locator("#code")).to_be_focused()
    (label,) = sealed_labels(live_server, "Juvederm Volbella XC 0.55 mL", "VB19A44", 1)
    wedge(page, label)
    expect(page.locator(".flash-ok")).to_contain_text("Counted Juvederm Volbella")

    page.goto("/kits")
    page.locator("a", has_text="Emergency kit (room 2)").first.click()
    expect(page.locator("#code")).to_be_focused()
    wedge(page, "not-a-code")
    expect(page.locator(".flash-error")).to_be_visible()
    expect(page.locator("#code")).to_have_value("")
    expect(page.locator("#code")).to_be_focused()


def test_a_dose_above_the_label_maximum_is_confirmed_in_one_step(page, live_server):
    (vial,) = sealed_labels(live_server, "Botox Cosmetic 100 U", "DEMOBTX01", 1, at="Medicines fridge")
    sign_in(page, "nurse")
    treatment_id = start_treatment(page, live_server, "DOSE")
    wedge(page, vial)
    page.click("button:has-text('Reconstitute')")
    expect(page.locator("#concentration")).to_contain_text("4 U per 0.1 mL")
    page.check("input[name=area][value=glabella]")
    page.click("#quantity")
    page.keyboard.type("70", delay=90)
    page.select_option("#unit", "U")
    page.click("button:has-text('Record draw')")
    step = page.locator(".confirm-step[role=alert]")
    expect(step).to_contain_text("Confirm this dose")
    expect(step.locator("li[data-code=above_label_max]")).to_contain_text("above the label's maximum of 64 U")
    assert draws_of(live_server, treatment_id) == 0
    expect(page.locator("#quantity")).to_have_value("70")  # nothing to type again
    page.fill("#confirm_reason", "strong corrugators, reviewed")
    page.click("button:has-text('Confirm and record')")
    expect(page.locator(".flash-ok")).to_contain_text("Recorded 70 U")
    expect(page.locator("table.draws")).to_contain_text(
        "dose confirmed (above the label's maximum): strong corrugators, reviewed")
    expect(page.locator("table.draws .tag-warning[data-code=above_typical_range]")).to_contain_text(
        "warned: above the usual range")
    assert draws_of(live_server, treatment_id) == 1
