"""A transfer's page under a keyboard-wedge scanner: the receiver checks labels against the box, and a label
scanned into a text field of a form that moves stock (what is missing, why it is lost) types a code and Enter.
That Enter must receive nothing and write nothing off: only the form's own button does."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from inventory.extensions import db
from inventory.models import User, utcnow
from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from inventory.transfers.models import Transfer, TransferStatus
from tests.browser.conftest import questions_asked, screenshot, sign_in, wedge
from tests.browser.test_transfer_refusal import _send_a_sealed_vial_from_london


def _status(live_server, transfer_id: int) -> TransferStatus:
    with live_server.app.app_context():
        return db.session.get(Transfer, transfer_id).status


def test_a_label_scanned_into_the_missing_or_lost_reason_receives_and_writes_off_nothing(page, live_server):
    transfer_id, label = _send_a_sealed_vial_from_london(live_server)
    try:
        sign_in(page, "manager")
        page.goto(f"/transfers/{transfer_id}")
        asked = questions_asked(page)  # none: a question asked would be one Confirm from writing it off
        page.focus("#missing_reason")
        wedge(page, label)
        page.wait_for_timeout(500)  # a submit would be on its way by now
        expect(page.locator(".transfer-status")).to_have_text("In transit")
        assert _status(live_server, transfer_id) is TransferStatus.IN_TRANSIT

        page.goto(f"/transfers/{transfer_id}")
        page.check("#confirm_lost")
        page.focus("#lost_reason")
        wedge(page, label)
        page.wait_for_timeout(500)
        expect(page.locator(".transfer-status")).to_have_text("In transit")
        assert _status(live_server, transfer_id) is TransferStatus.IN_TRANSIT
        assert asked == []
        screenshot(page, f"transfer-scan-into-lost-reason-{live_server.backend}")
    finally:  # the live server is shared by the session's browser tests: the vial goes back to its shelf
        with live_server.app.app_context():
            if db.session.get(Transfer, transfer_id).status is TransferStatus.IN_TRANSIT:
                manager = db.session.scalar(select(User).where(User.username == "manager"))
                clinic_transfers.cancel(db.session, actor=manager, scope=Scope.everything(),
                                        transfer_id=transfer_id, now=utcnow())
                db.session.commit()
