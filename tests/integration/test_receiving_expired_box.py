"""An expired box of a lot not on file is refused before its lot is made (receiving.receive): no lot id is taken
for it, so the refusal names none (QA: it named the id of a lot the rollback freed, which the next new lot took)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from inventory.models import Lot
from inventory.receiving import service as receiving
from tests.factories import EVERYWHERE, NOW, World, refusal


def lots(world: World) -> int:
    return world.session.scalar(select(func.count(Lot.id)))


def test_an_expired_new_box_is_refused_before_its_lot_is_made(world, session):
    before = lots(world)
    error = refusal(lambda: receiving.receive(
        session, actor=world.users["manager"], scope=EVERYWHERE, location_id=world.location().id, containers=1,
        now=NOW, code=f"(01){world.botox.gtins[0].gtin}(17)260614(10)QA3OLD", supplier_id=world.supplier.id))
    assert (error.code, error.details) == ("lot_expired", {"expiry": "2026-06-14"})
    assert error.message == "Lot QA3OLD of Botox Cosmetic 100 U expired on 14 Jun 2026: do not use."
    assert lots(world) == before  # nothing flushed, even before the caller rolls back


def test_a_box_on_its_expiry_day_in_the_clinic_is_still_received(world, session):
    # 23:30 in London on 14 June is 22:30 UTC: the box expiring that day is still in date there.
    late = dt.datetime(2026, 6, 14, 22, 30, tzinfo=dt.UTC)
    receipt = receiving.receive(
        session, actor=world.users["manager"], scope=EVERYWHERE, location_id=world.location().id, containers=1,
        now=late, code=f"(01){world.botox.gtins[0].gtin}(17)260614(10)QA3DAY", supplier_id=world.supplier.id)
    assert receipt.lot.number == "QA3DAY"
    error = refusal(lambda: receiving.receive(
        session, actor=world.users["manager"], scope=EVERYWHERE, location_id=world.location().id, containers=1,
        now=late + dt.timedelta(hours=1), code=f"(01){world.botox.gtins[0].gtin}(17)260614(10)QA3DAY2",
        supplier_id=world.supplier.id))
    assert error.code == "lot_expired"
