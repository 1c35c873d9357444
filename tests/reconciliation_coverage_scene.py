"""The acceptance scene of a partial count and of stock taken in by transfer (reconciliation of 4 Dec 2026).

London receives Dysport lot QA1DYS (two vials) from Northfield Medical Wholesale and sends both to the New
York fridge, which receives them; New York also receives lot QA2DYS itself, with no supplier recorded (a
receipt from before suppliers were). On 4 December at 14:29:55 New York time (19:29:55 UTC) a New York
manager counts only one QA1DYS vial (found missing: "0") and the QA2DYS vial; another manager posts it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from inventory.counterfeit.models import Supplier
from inventory.counts import service as counts
from inventory.counts.service import LineSpec
from inventory.models import Container, Location
from inventory.receiving import service as receiving
from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from tests.factories import World, send_transfer

UTC = dt.UTC
NORTHFIELD = "Northfield Medical Wholesale"
DAY_QUERY = "from=2026-12-04&to=2026-12-04"
COUNTED_AT = dt.datetime(2026, 12, 4, 19, 29, 55, tzinfo=UTC)  # 14:29:55 in New York (EST, UTC-5)


@dataclass
class Scene:
    nyc_fridge: Location
    counted: Container  # the QA1DYS vial on the count sheet
    not_counted: Container  # the QA1DYS vial beside it, left off the sheet
    whole: Container  # QA2DYS, counted: its only vial


def partly_counted_transferred_lot(world: World) -> Scene:
    session = world.session
    northfield = Supplier(name=NORTHFIELD, licence="WDA(H) 90211", is_authorised=True)
    session.add(northfield)
    session.flush()
    dysport = world.products["dysport"]
    receipt = receiving.receive(
        session, actor=world.users["manager"], scope=Scope.everything(), location_id=world.location("Fridge").id,
        containers=2, now=dt.datetime(2026, 12, 1, 10, tzinfo=UTC), gtin=dysport.gtins[0].gtin,
        lot_number="QA1DYS", expiry=dt.date(2027, 9, 30), supplier_id=northfield.id,
    )
    first, second = receipt.containers
    nyc_fridge = world.location("Fridge", world.other_clinic)
    transfer = send_transfer(world, [first, second], at=dt.datetime(2026, 12, 2, 10, tzinfo=UTC))
    nyc = world.nyc_manager()
    clinic_transfers.receive(session, actor=nyc, scope=Scope.for_user(nyc), transfer_id=transfer.id,
                             now=dt.datetime(2026, 12, 3, 15, tzinfo=UTC))
    whole = world.container("dysport", lot="QA2DYS", location=nyc_fridge, now=dt.datetime(2026, 12, 3, 16, tzinfo=UTC))
    count = counts.create_submitted(
        session, actor=nyc, scope=Scope.for_user(nyc), location_id=nyc_fridge.id, now=COUNTED_AT,
        lines=[LineSpec(container=first.label_code, counted=Decimal(0)), LineSpec(container=whole.label_code)],
    )
    reviewer = world.users["manager"]
    counts.post(session, actor=reviewer, scope=Scope.for_user(reviewer), count_id=count.id,
                now=COUNTED_AT + dt.timedelta(minutes=30))
    session.flush()
    return Scene(nyc_fridge, first, second, whole)
