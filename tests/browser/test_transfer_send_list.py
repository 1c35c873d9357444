"""The send page's list is kept by the server: a label scanned with a wedge scanner stays on the list through a reload
and Back (no form sent anew, no "confirm form resubmission"), and another clinic's vial is refused as it is scanned,
named with where it is."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from inventory.errors import DomainError
from inventory.extensions import db
from inventory.models import Clinic, Container, ContainerState, utcnow
from inventory.transfers import service as clinic_transfers
from tests.browser.conftest import screenshot, sign_in, wedge


def _sendable(live_server, clinic_code: str) -> tuple[str, str]:
    """The label and product of a container of the clinic that Send would take (the demo's stock, as other browser
    tests have left it): nothing here writes, so no test finds it changed."""
    with live_server.app.app_context():
        candidates = db.session.scalars(
            select(Container).join(Container.clinic)
            .where(Clinic.code == clinic_code, Container.state == ContainerState.SEALED).order_by(Container.id)
        )
        for container in candidates:
            try:
                clinic_transfers.ensure_sendable(container, now=utcnow())
            except DomainError:
                continue
            return container.label_code, container.product.name
    raise AssertionError(f"no sendable container at {clinic_code} in the demo")


def test_a_scanned_list_survives_a_reload_and_back_and_another_clinics_vial_is_refused_by_name(page, live_server):
    lon_label, _ = _sendable(live_server, "LON")
    nyc_label, nyc_product = _sendable(live_server, "NYC")
    sign_in(page, "manager")
    page.goto("/transfers/new")
    on_the_list = page.locator("h2", has_text="On the list")
    items = page.locator("table.transfer-items")

    wedge(page, lon_label)
    expect(items).to_contain_text(lon_label)
    expect(on_the_list).to_have_text("On the list: 1")
    expect(page).to_have_url(re.compile(r"/transfers/new\?box="))

    wedge(page, nyc_label)
    expect(page.locator(".flash-error")).to_contain_text(
        f"{nyc_label} ({nyc_product}) is at NYC · ")
    expect(page.locator(".flash-error")).to_contain_text("not at LON: a box from LON takes LON's stock only.")
    expect(on_the_list).to_have_text("On the list: 1")
    expect(items).not_to_contain_text(nyc_label)

    page.reload()
    expect(on_the_list).to_have_text("On the list: 1")
    expect(items).to_contain_text(lon_label)
    expect(page.locator(".flash-error")).to_have_count(0)  # said once, not again
    expect(page.locator("#code")).to_be_focused()  # ready for the next label

    page.go_back()
    expect(on_the_list).to_have_text("On the list: 1")
    expect(items).to_contain_text(lon_label)
    screenshot(page, f"transfer-send-list-after-back-{live_server.backend}")
