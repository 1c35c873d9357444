"""The cart's start form: a reference typed by hand survives a vial scanned into Name (QA: the scan replaced
"QA-003", was refused as a vial's label, and the reference came back empty, the message at the top of the page)."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from inventory.extensions import db
from inventory.models import Clinic, Container, ContainerState, Product
from tests.browser.conftest import screenshot, sign_in, wedge


def _london_vial(live_server) -> str:
    with live_server.app.app_context():
        return db.session.scalar(
            select(Container.label_code).join(Product).join(Clinic, Clinic.id == Container.clinic_id)
            .where(Product.name == "Botox Cosmetic 100 U", Clinic.code == "LON",
                   Container.state == ContainerState.SEALED).order_by(Container.id).limit(1))


def test_a_vial_scanned_into_name_keeps_the_reference_typed_by_hand(page, live_server):
    label = _london_vial(live_server)
    sign_in(page, "nurse")
    page.goto("/cart")
    expect(page.locator("#external_ref")).to_be_focused()
    page.keyboard.type("QA-003", delay=90)  # a person types the reference
    page.click("#name")
    with page.expect_navigation():
        wedge(page, label)  # the scanner fires into Name: the guard sends the code to the reference
    refusal = page.locator("#external_ref-refusal")
    expect(refusal).to_contain_text(f"{label} is a vial's Vialog label, not the patient's reference")
    expect(page.locator("#external_ref")).to_have_value("QA-003")
    expect(page.locator("#name")).to_be_focused()  # she goes on with the name
    # Beside the reference, not at the top of the page.
    expect(page.locator("main > .flash-error")).to_have_count(0)
    box, field = refusal.bounding_box(), page.locator("#external_ref").bounding_box()
    assert box is not None and field is not None and 0 <= box["y"] - (field["y"] + field["height"]) < 40
    screenshot(page, f"cart_start_keeps_typed_ref_{live_server.backend}")
