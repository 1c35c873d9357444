"""The chain manager sends a vial from London to New York by scanning its label, then receives it there."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from inventory.extensions import db
from inventory.models import Clinic, Container, ContainerState, Product
from inventory.transfers.models import Transfer, TransferStatus
from tests.browser.conftest import scan, screenshot, sign_in


def _sealed_label(live_server, product_name: str, clinic_code: str) -> str:
    with live_server.app.app_context():
        return db.session.scalar(
            select(Container.label_code).join(Container.product).join(Container.clinic)
            .where(Product.name == product_name, Clinic.code == clinic_code, Container.state == ContainerState.SEALED)
            .order_by(Container.id.desc()).limit(1)
        )


def _demo_transfer_label(live_server) -> str:
    with live_server.app.app_context():
        transfer = db.session.scalar(select(Transfer).order_by(Transfer.id).limit(1))
        return transfer.items[0].container.label_code


def test_chain_manager_sends_a_vial_from_london_and_receives_it_in_new_york(page, live_server):
    label = _sealed_label(live_server, "Daxxify 100 U", "LON")
    sign_in(page, "manager")
    page.click("nav[aria-label=Main] summary:has-text('Stock')")  # the stock menu
    page.click("nav a:has-text('Transfers')")
    # The demo's Xeomin is on the road to New York.
    expect(page.locator("table.transfer-list")).to_contain_text("2 × Xeomin 100 U")
    expect(page.locator("table.transfer-list")).to_contain_text("In transit")

    page.click("text=Send stock to another clinic")
    expect(page.locator("#code")).to_be_focused()
    # A vial already on the road is refused in plain words, and the list stays empty.
    scan(page, _demo_transfer_label(live_server))
    expect(page.locator(".flash-error")).to_contain_text("already on its way")
    expect(page.locator("h2", has_text="On the list")).to_have_text("On the list: 0")

    expect(page.locator("#code")).to_be_focused()
    scan(page, label)
    items = page.locator("table.transfer-items")
    expect(items).to_contain_text(label)
    expect(items).to_contain_text("Daxxify 100 U")
    expect(page.locator("h2", has_text="On the list")).to_have_text("On the list: 1")
    expect(page.locator("#code")).to_be_focused()  # ready for the next label
    page.select_option("#to_location_id", label="NYC · Medicines fridge")
    page.fill("#note", "Browser test box")
    page.click("button:has-text('Send')")

    expect(page.locator(".flash-ok")).to_contain_text("Sent 1 container to Vialog Demo Clinic New York")
    expect(page.locator("h1")).to_contain_text("LON → NYC")
    expect(page.locator(".transfer-status")).to_have_text("In transit")
    expect(page.locator("table.transfer-items")).to_contain_text("on the road")
    expect(page.locator("dl.facts")).to_contain_text("(LON time) by Manager")

    page.select_option("#location_id", label="Medicines fridge")
    page.click("button:has-text('Receive')")
    expect(page.locator(".flash-ok")).to_contain_text("Received 1 container into Medicines fridge")
    expect(page.locator(".transfer-status")).to_have_text("Received")
    expect(page.locator("dl.facts")).to_contain_text("(NYC time) by Manager")
    expect(page.locator("table.transfer-items")).to_contain_text("NYC · Medicines fridge, sealed")
    screenshot(page, f"transfer-{live_server.backend}")

    with live_server.app.app_context():
        container = db.session.scalar(select(Container).where(Container.label_code == label))
        assert (container.clinic.code, container.location.name, container.state) == (
            "NYC", "Medicines fridge", ContainerState.SEALED)
        transfer = db.session.scalar(select(Transfer).order_by(Transfer.id.desc()).limit(1))
        assert (transfer.status, transfer.note) == (TransferStatus.RECEIVED, "Browser test box")
