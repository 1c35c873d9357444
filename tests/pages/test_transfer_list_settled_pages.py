"""The transfers list says where a received transfer was put away (not only where it was asked to go) and, for a
refused one whose return was recorded, when it came back, as the transfer's own page does."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from inventory.models import Location, LocationKind
from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from inventory.transfers.models import RefusalCategory
from tests.factories import NOW, send_transfer

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

UTC = dt.UTC


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.transfers.pages.utcnow", lambda: NOW)


def listed(html: str) -> dict[int, tuple[str, str]]:
    """Each listed transfer by id: its "To" cell and its status cell, as text (whitespace squeezed)."""
    found = {}
    for row in re.findall(r'<tr class="transfer-[a-z_]+">(.*?)</tr>', html, re.S):
        cells = [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        found[int(cells[0])] = (cells[2], cells[5])
    return found


def test_the_list_shows_where_a_transfer_was_received_and_when_a_refused_one_came_back(browser_client, world,
                                                                                       session):
    nyc = world.nyc_manager()
    store = Location(clinic_id=world.other_clinic.id, name="Store room", kind=LocationKind.STORAGE)
    session.add(store)
    session.flush()
    room = world.location("Room 1")
    sent_for_the_fridge, refused = (
        send_transfer(world, [world.container("syringe", lot=f"SY{n}", location=room)], user="clinic_manager",
                      at=dt.datetime(2026, 6, 15, 9, tzinfo=UTC))
        for n in (1, 2)
    )
    assert sent_for_the_fridge.to_location.name == "Fridge"
    clinic_transfers.receive(session, actor=nyc, scope=Scope.for_user(nyc), transfer_id=sent_for_the_fridge.id,
                             location_id=store.id, now=dt.datetime(2026, 6, 16, 13, tzinfo=UTC))
    clinic_transfers.refuse(session, actor=nyc, scope=Scope.for_user(nyc), transfer_id=refused.id,
                            reason="box crushed", category=RefusalCategory.DAMAGED,
                            now=dt.datetime(2026, 6, 16, 14, tzinfo=UTC))  # 10:00 in New York
    lon = world.users["clinic_manager"]
    clinic_transfers.cancel(session, actor=lon, scope=Scope.for_user(lon), transfer_id=refused.id,
                            now=dt.datetime(2026, 6, 18, 9, tzinfo=UTC))  # 10:00 in London: back home
    session.flush()

    for who in ("clinic_manager", "nyc_manager", "manager"):  # the sender, the receiver, the chain
        rows = listed(browser_client(who).get("/transfers").get_data(as_text=True))
        to, status = rows[sent_for_the_fridge.id]
        assert to == "Clinic NYC NYC Store room", who  # where it was put away, as the transfer's page says
        assert status.startswith("Received 16 Jun 2026 09:00 NYC time"), who
        to, status = rows[refused.id]
        assert to == "Clinic NYC NYC Fridge", who  # never received: where it was sent
        # When the return was recorded (the sender's time), then when and why it was refused.
        assert status.startswith("Refused and returned 18 Jun 2026 10:00 LON time refused 16 Jun 2026 10:00 NYC time"
                                 " Damaged: box crushed"), (who, status)
