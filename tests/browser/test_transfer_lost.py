"""Declaring a box lost asks once: the tick box the server checks, not a browser dialog as well. The transfer's
other forms still ask first in the browser (calling it back); the container page then says where the vial went."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from inventory.extensions import db
from inventory.models import Clinic, Container, ContainerState, Location, LocationKind, Lot, LotStatus, Product, User
from inventory.models import utcnow
from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from inventory.transfers.models import Transfer, TransferStatus
from tests.browser.conftest import answer, questions_asked, sign_in


def _send_a_sealed_syringe_from_london(live_server) -> tuple[int, str]:
    """A sealed Restylane Kysse of London (no other browser test uses it), sent to New York's first receiving place."""
    with live_server.app.app_context():
        manager = db.session.scalar(select(User).where(User.username == "manager"))
        syringe = db.session.scalar(
            select(Container).join(Container.product).join(Container.clinic).join(Container.location)
            .join(Container.lot)
            .where(Product.name == "Restylane Kysse 1.0 mL", Clinic.code == "LON",
                   Container.state == ContainerState.SEALED, Container.on_hold_since.is_(None),
                   Location.kind != LocationKind.KIT, Lot.status == LotStatus.ACTIVE)
            .order_by(Container.id).limit(1)
        )
        new_york = next(p for p in clinic_transfers.destinations(db.session) if p.clinic.code == "NYC")
        transfer = clinic_transfers.send(db.session, actor=manager, scope=Scope.everything(),
                                         container_ids=[syringe.id], to_location_id=new_york.id, now=utcnow(),
                                         note="Browser lost box")
        db.session.commit()
        return transfer.id, syringe.label_code


def test_declaring_a_box_lost_asks_by_its_tick_box_alone_while_calling_back_still_asks_first(page, live_server):
    transfer_id, label = _send_a_sealed_syringe_from_london(live_server)
    asked = questions_asked(page)
    sign_in(page, "manager")  # chain level: both ends
    page.goto(f"/transfers/{transfer_id}")
    lost = page.locator("#lost")

    # Not ticked: no dialog; the server asks for the tick and writes nothing.
    page.fill("#lost_reason", "Courier reports the parcel lost")
    lost.locator("button:has-text('Declare lost')").click()
    expect(page.locator(".flash-error")).to_contain_text(f"Tick the confirmation: declaring transfer {transfer_id} lost")
    expect(page.locator(".transfer-status")).to_have_text("In transit")
    assert asked == []

    # Calling back still asks in the browser; dismissed, nothing happens.
    page.locator("button:has-text('Call back')").click()
    assert answer(page, "Cancel").startswith(f"Call transfer {transfer_id} back to ")
    assert len(asked) == 1 and asked[0].startswith(f"Call transfer {transfer_id} back to ")
    expect(page.locator(".transfer-status")).to_have_text("In transit")

    # Ticked: declared at the first press, with no dialog in between.
    expect(page.locator("#lost_reason")).to_have_value("Courier reports the parcel lost")  # kept as typed
    page.check("#confirm_lost")
    lost.locator("button:has-text('Declare lost')").click()
    expect(page.locator(".flash-ok")).to_contain_text(f"Transfer {transfer_id} declared lost in transit")
    expect(page.locator(".transfer-status")).to_have_text("Lost in transit")
    assert len(asked) == 1

    page.goto(f"/containers/{label}")
    expect(page.locator("#where")).to_have_text(f"Lost in transit (transfer #{transfer_id}, LON → NYC)")
    with live_server.app.app_context():
        assert db.session.get(Transfer, transfer_id).status is TransferStatus.LOST
