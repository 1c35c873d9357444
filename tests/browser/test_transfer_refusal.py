"""New York refuses a warm box from London on the transfer's page; London records it back, on hold."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from inventory.cold_chain import service as cold_chain
from inventory.extensions import db
from inventory.models import Clinic, Container, ContainerState, Location, LocationKind, Lot, LotStatus, Product, User
from inventory.models import utcnow
from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from inventory.transfers.models import Transfer, TransferStatus
from tests.browser.conftest import answer, screenshot, sign_in


def _send_a_sealed_vial_from_london(live_server) -> tuple[int, str]:
    """A sealed, full Xeomin of London, not in a kit, sent to New York's first receiving place."""
    with live_server.app.app_context():
        manager = db.session.scalar(select(User).where(User.username == "manager"))
        vial = db.session.scalar(
            select(Container).join(Container.product).join(Container.clinic).join(Container.location)
            .join(Container.lot)
            .where(Product.name == "Xeomin 100 U", Clinic.code == "LON", Container.state == ContainerState.SEALED,
                   Container.on_hold_since.is_(None), Container.remaining == Container.initial_quantity,
                   Location.kind != LocationKind.KIT, Lot.status == LotStatus.ACTIVE)
            .order_by(Container.id).limit(1)
        )
        new_york = next(p for p in clinic_transfers.destinations(db.session) if p.clinic.code == "NYC")
        transfer = clinic_transfers.send(db.session, actor=manager, scope=Scope.everything(), container_ids=[vial.id],
                                         to_location_id=new_york.id, now=utcnow(), note="Browser refusal box")
        db.session.commit()
        return transfer.id, vial.label_code


def test_new_york_refuses_a_warm_box_and_london_records_it_back_on_hold(page, live_server):
    transfer_id, label = _send_a_sealed_vial_from_london(live_server)
    try:
        sign_in(page, "manager")  # chain level: both ends, as a manager covering two clinics would be
        page.goto(f"/transfers/{transfer_id}")
        refuse = page.locator("#refuse")
        expect(refuse.locator("h2")).to_have_text("Refuse")
        # The reason is required in the browser too: an empty one is not sent.
        refuse.locator("button:has-text('Refuse')").click()
        expect(page.locator(".transfer-status")).to_have_text("In transit")
        page.select_option("#category", "temperature")
        page.fill("#reason", "Box arrived at 14 °C, ice packs melted")
        screenshot(page, f"transfer-refuse-form-{live_server.backend}")
        refuse.locator("button:has-text('Refuse')").click()
        answer(page, "Confirm")
        expect(page.locator(".flash-ok")).to_contain_text(f"Transfer {transfer_id} refused")
        expect(page.locator(".transfer-status")).to_have_text("Refused, on its way back")
        expect(page.locator("dl.facts")).to_contain_text("Box arrived at 14 °C, ice packs melted")
        expect(page.locator("table.transfer-items")).to_contain_text("on the way back")
        expect(page.locator("#refuse")).to_have_count(0)

        page.goto("/transfers")
        expect(page.locator("table.transfer-list")).to_contain_text("Box arrived at 14 °C")
        page.click(f"a[href='/transfers/{transfer_id}#record-return']")
        page.click("button:has-text('Record return')")
        answer(page, "Confirm")
        expect(page.locator(".flash-ok")).to_contain_text(f"Return of transfer {transfer_id} recorded")
        expect(page.locator(".flash-ok")).to_contain_text("1 container is on hold")
        expect(page.locator(".transfer-status")).to_have_text("Refused and returned")
        expect(page.locator("table.transfer-items")).to_contain_text("sealed, on hold")
        screenshot(page, f"transfer-refused-{live_server.backend}")

        with live_server.app.app_context():
            container = db.session.scalar(select(Container).where(Container.label_code == label))
            assert (container.clinic.code, container.state, container.on_hold_since is not None) == (
                "LON", ContainerState.SEALED, True)
            assert db.session.get(Transfer, transfer_id).status is TransferStatus.RETURNED
    finally:  # the live server is shared by the session's browser tests: leave the vial usable
        with live_server.app.app_context():
            safety = db.session.scalar(select(User).where(User.username == "safety"))
            container = db.session.scalar(select(Container).where(Container.label_code == label))
            if container.on_hold_since is not None:
                cold_chain.release_hold(db.session, actor=safety, scope=Scope.everything(), container_id=container.id,
                                        reason="test clean-up", now=utcnow())
            db.session.commit()
