"""Enter never changes stock at the cart: only a form's button does.

QA found a slow scanner (a key every 70 ms, like a person) firing a vial's label into the reconstitute
form's "Diluent lot" field: its Enter reconstituted the vial with the label as diluent lot. A code typed
into any field of a form that changes stock is scanned instead, whatever the speed; Enter in the empty scan
field does nothing; and a dose confirmation the nurse no longer needs does not block the draw.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import func, select

from inventory.extensions import db
from inventory.models import (
    Clinic,
    Container,
    ContainerState,
    Draw,
    Location,
    Lot,
    Movement,
    MovementKind,
    Product,
    ProductGtin,
    Treatment,
)
from tests.browser.conftest import CONFIRM_DIALOG, open_still_loading, questions_asked, sign_in, start_cart_treatment, wedge

SLOW_SCANNER_MS = 70  # slower than vialog.js's 40 ms: the keys read as a person's


def sealed_labels(live_server, product_name: str, lot_number: str, count: int, at: str = "Store room") -> list[str]:
    """The first sealed containers of a demo lot at a London location (the live server is shared: others may
    have opened the very first ones already)."""
    with live_server.app.app_context():
        return list(db.session.scalars(
            select(Container.label_code).join(Lot, Container.lot_id == Lot.id).join(Product)
            .join(Location, Container.location_id == Location.id).join(Clinic, Location.clinic_id == Clinic.id)
            .where(Product.name == product_name, Lot.number == lot_number, Clinic.code == "LON", Location.name == at,
                   Container.state == ContainerState.SEALED)
            .order_by(Container.id).limit(count)
        ))


def start_treatment(page, live_server, ref: str) -> int:
    page.goto("/cart")
    start_cart_treatment(page, f"{ref}-{live_server.backend}", "Sam Guard")
    with live_server.app.app_context():
        return db.session.scalar(select(func.max(Treatment.id)))


def container(live_server, label: str) -> Container:
    with live_server.app.app_context():
        found = db.session.scalar(select(Container).where(Container.label_code == label))
        db.session.expunge(found)
        return found


def movements(live_server, label: str, kind: MovementKind) -> int:
    with live_server.app.app_context():
        return db.session.scalar(
            select(func.count(Movement.id)).join(Container, Movement.container_id == Container.id)
            .where(Container.label_code == label, Movement.kind == kind)
        )


def draws_of(live_server, treatment_id: int) -> int:
    with live_server.app.app_context():
        return db.session.scalar(select(func.count(Draw.id)).where(Draw.treatment_id == treatment_id))


def box_code(live_server, product_name: str, lot: str) -> str:
    """The GS1 DataMatrix of a demo box (lot last: no separator to type)."""
    with live_server.app.app_context():
        gtin = db.session.scalar(select(ProductGtin.gtin).join(Product).where(Product.name == product_name).limit(1))
        expiry = db.session.scalar(select(Lot.expiry).join(Product).where(Product.name == product_name,
                                                                          Lot.number == lot))
    return f"]d201{gtin}17{expiry:%y%m%d}10{lot}"


def test_a_slow_scan_into_the_diluent_lot_is_scanned_and_reconstitutes_nothing(page, live_server):
    vial, other = sealed_labels(live_server, "Botox Cosmetic 100 U", "DEMOBTX01", 2, at="Medicines fridge")
    sign_in(page, "nurse")
    start_treatment(page, live_server, "GUARD-DIL")
    wedge(page, vial)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", vial)
    expect(page.locator("#diluent_ml")).to_have_value("2.5")

    # The nurse is in Diluent lot when the slow scanner reads the next vial's label, then Enter.
    page.click("#diluent_lot")
    page.keyboard.type(other, delay=SLOW_SCANNER_MS)
    page.keyboard.press("Enter")
    expect(page.locator(".container-panel")).to_have_attribute("data-label", other)  # scanned, not stored
    expect(page.locator("#scan")).to_be_focused()
    assert movements(live_server, vial, MovementKind.RECONSTITUTE) == 0
    assert container(live_server, vial).state is ContainerState.SEALED

    # A real diluent lot typed by hand and Enter: still nothing; the button reconstitutes, with that lot.
    page.click("#diluent_lot")
    page.keyboard.type("NS5521", delay=90)
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    expect(page.locator(".flash-ok")).to_have_count(0)
    expect(page.locator("#diluent_lot")).to_have_value("NS5521")
    assert movements(live_server, other, MovementKind.RECONSTITUTE) == 0
    page.click("button:has-text('Reconstitute')")
    expect(page.locator(".flash-ok")).to_contain_text("Reconstituted: 4 U per 0.1 mL")
    assert container(live_server, other).diluent_lot == "NS5521"


def test_a_box_code_typed_slowly_into_another_area_is_scanned_and_draws_nothing(page, live_server):
    (syringe,) = sealed_labels(live_server, "Juvederm Volbella XC 0.55 mL", "VB19A44", 1)
    sign_in(page, "nurse")
    treatment_id = start_treatment(page, live_server, "GUARD-AREA")
    wedge(page, syringe)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", syringe)

    page.check("input[name=area][value=lip]")
    page.fill("#quantity", "0.1")
    page.click("#area_detail")
    page.keyboard.type(box_code(live_server, "Juvederm Voluma XC 1.0 mL", "VM88B21"), delay=SLOW_SCANNER_MS)
    page.keyboard.press("Enter")
    expect(page.locator(".container-panel h2")).to_contain_text("Juvederm Voluma XC 1.0 mL")
    assert draws_of(live_server, treatment_id) == 0


def test_enter_in_a_waste_note_wastes_nothing(page, live_server):
    (syringe,) = sealed_labels(live_server, "Juvederm Volbella XC 0.55 mL", "VB19A44", 1)
    sign_in(page, "nurse")
    start_treatment(page, live_server, "GUARD-WASTE")
    wedge(page, syringe)
    dialogs = questions_asked(page)  # the waste's question: none

    page.click("summary:has-text('Waste from this container')")
    page.click("#note")
    page.keyboard.type("cap cracked", delay=90)
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    assert dialogs == []
    expect(page.locator(f"{CONFIRM_DIALOG}[open]")).to_have_count(0)
    assert movements(live_server, syringe, MovementKind.WASTE) == 0
    expect(page.locator("#note")).to_have_value("cap cracked")


def test_enter_in_the_empty_scan_field_keeps_the_vial_on_screen(page, live_server):
    (syringe,) = sealed_labels(live_server, "Juvederm Volbella XC 0.55 mL", "VB19A44", 1)
    sign_in(page, "nurse")
    start_treatment(page, live_server, "GUARD-EMPTY")
    wedge(page, syringe)
    panel = page.locator(".container-panel")
    expect(panel).to_have_attribute("data-label", syringe)
    expect(page.locator("#scan")).to_be_focused()
    scanned_url = page.url

    page.keyboard.press("Enter")  # the scanner's second Enter, on the page its first one loaded
    page.wait_for_timeout(500)
    assert page.url == scanned_url
    expect(panel).to_have_attribute("data-label", syringe)

    page.keyboard.type("   ")  # spaces alone are nothing scanned either
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    assert page.url == scanned_url
    expect(panel).to_have_attribute("data-label", syringe)


def test_a_dose_changed_so_it_needs_no_confirmation_is_recorded_without_a_reason(page, live_server):
    (vial,) = sealed_labels(live_server, "Botox Cosmetic 100 U", "DEMOBTX01", 1, at="Medicines fridge")
    sign_in(page, "nurse")
    treatment_id = start_treatment(page, live_server, "GUARD-CONFIRM")
    wedge(page, vial)
    page.click("button:has-text('Reconstitute')")
    expect(page.locator("#concentration")).to_contain_text("4 U per 0.1 mL")
    # Botox keeps 24 hours once mixed: the page's clock is the real one, the scanner's pause (wedge) undone.
    expect(page.locator("[data-countdown]")).to_have_text(re.compile(r"^2[34] h \d+ min left$"))
    page.check("input[name=area][value=glabella]")
    page.fill("#quantity", "70")
    page.select_option("#unit", "U")
    page.click("button:has-text('Record draw')")
    expect(page.locator(".confirm-step[role=alert]")).to_contain_text("Confirm this dose")

    # Confirming with no reason is refused in words by the server, not by a browser tooltip.
    page.click("button:has-text('Confirm and record')")
    expect(page.locator(".confirm-step .reason-missing")).to_contain_text("Say why this dose")
    assert draws_of(live_server, treatment_id) == 0

    # The nurse lowers the dose instead: it needs no confirmation, and the button records it.
    page.fill("#quantity", "20")
    page.click("button:has-text('Confirm and record')")
    expect(page.locator(".flash-ok")).to_contain_text("Recorded 20 U")
    expect(page.locator("table.draws")).not_to_contain_text("dose confirmed")
    assert draws_of(live_server, treatment_id) == 1


def test_a_field_chosen_before_the_page_finished_loading_keeps_the_focus(page, live_server):
    """On a busy server the page is on screen before it has finished loading. A nurse already in Quantity by
    then stays there; her keys are not sent to the scan field."""
    (syringe,) = sealed_labels(live_server, "Juvederm Volbella XC 0.55 mL", "VB19A44", 1)
    sign_in(page, "nurse")
    treatment_id = start_treatment(page, live_server, "GUARD-FOCUS")
    wedge(page, syringe)
    expect(page.locator(".container-panel")).to_have_attribute("data-label", syringe)

    release = open_still_loading(page, f"/cart/treatments/{treatment_id}?scan={syringe}")
    expect(page.locator("#quantity")).to_be_visible()
    page.click("#quantity")
    expect(page.locator("#quantity")).to_be_focused()
    release()
    page.wait_for_load_state("load")  # after what the page's script does once the page has loaded
    page.keyboard.type("0.1")
    expect(page.locator("#quantity")).to_be_focused()
    expect(page.locator("#quantity")).to_have_value("0.1")
    expect(page.locator("#scan")).to_have_value("")


def test_a_hylenex_box_scanned_at_the_cart_shows_a_fridge_vial_not_the_kits(page, live_server):
    sign_in(page, "nurse")
    start_treatment(page, live_server, "GUARD-HYL")
    wedge(page, box_code(live_server, "Hylenex recombinant 150 USP U/mL", "DEMOHYL02"))
    expect(page.locator(".container-panel h2")).to_contain_text("Hylenex")
    expect(page.locator("#where")).to_have_text("Medicines fridge")
    expect(page.locator(".kit-item")).to_have_count(0)


def test_a_dose_to_confirm_is_in_sight_on_a_tablet_and_said_at_the_top(page, live_server):
    """QA at 1024x768: the page came back scrolled to the top, the confirmation below the fold: a nurse could take
    the draw for recorded. The step is brought into view, the top of the page says it too, and a scan still lands
    in the scan field."""
    (vial,) = sealed_labels(live_server, "Botox Cosmetic 100 U", "DEMOBTX01", 1, at="Medicines fridge")
    page.set_viewport_size({"width": 1024, "height": 768})
    sign_in(page, "nurse")
    treatment_id = start_treatment(page, live_server, "GUARD-IN-SIGHT")
    wedge(page, vial)
    page.click("button:has-text('Reconstitute')")
    page.check("input[name=area][value=glabella]")
    page.fill("#quantity", "70")
    page.select_option("#unit", "U")
    page.click("button:has-text('Record draw')")

    step = page.locator(".confirm-step")
    expect(step).to_be_in_viewport()
    expect(page.locator("#confirm_reason")).to_be_in_viewport()
    expect(page.locator("#confirm-pending")).to_contain_text("Not recorded yet: this dose needs your confirmation")
    assert page.evaluate("document.activeElement.id") == "scan"
    assert draws_of(live_server, treatment_id) == 0
