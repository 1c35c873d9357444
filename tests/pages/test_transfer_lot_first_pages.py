"""Scanning a mixed vial of a recalled lot on the send page says it is recalled, not that it was mixed."""

from __future__ import annotations

import pytest

from inventory.models import LotStatus
from tests.factories import NOW, reconstitute
from tests.pages.conftest import csrf_token

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.transfers.pages.utcnow", lambda: NOW)


@pytest.mark.parametrize(("status", "code", "words"), [
    (LotStatus.RECALLED, "lot_recalled", "is recalled: do not use."),
    (LotStatus.QUARANTINED, "lot_quarantined", "is quarantined: do not use until a safety lead releases it."),
])
def test_a_scanned_mixed_vial_of_a_withdrawn_lot_is_refused_for_its_lot(browser_client, world, session, status, code,
                                                                      words):
    vial = reconstitute(world, world.container("botox", lot="RC-PAGE"))
    vial.lot.status = status
    session.flush()
    client = browser_client("clinic_manager")

    page = client.post("/transfers/new", data={"csrf_token": csrf_token(client, "/transfers/new"),
                                               "code": vial.label_code, "action": "add"}, follow_redirects=True)

    html = page.get_data(as_text=True)
    assert f'data-code="{code}"' in html and f"Lot RC-PAGE of Botox Cosmetic 100 U {words}" in html
    assert "has been reconstituted" not in html
    assert f'name="containers" value="{vial.id}"' not in html
