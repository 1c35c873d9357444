"""A held vial carried out of a failed fridge keeps its hold, whoever carries it: the move's transfer out leaves the
vial at zero only on its way to the next place, which is no emptying that ends a hold (as a safety lead's waste
would)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from inventory.cold_chain import service as cold_chain
from inventory.cold_chain.models import ContainerHold
from inventory.models import Location, LocationKind
from inventory.services.permissions import Scope
from inventory.transfers import moves
from tests.factories import EVERYWHERE, NOW

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

HOUR = dt.timedelta(hours=1)
MOVED_AT = NOW - 5 * HOUR


def excursion(world, location: Location, start: dt.datetime, end: dt.datetime):
    return cold_chain.record_excursion(
        world.session, actor=world.users["manager"], scope=EVERYWHERE, location_id=location.id, started_at=start,
        ended_at=end, min_c=Decimal("9"), max_c=Decimal("14"), now=NOW)


def spare_fridge(world) -> Location:
    spare = Location(clinic_id=world.clinic.id, name="Spare fridge", kind=LocationKind.FRIDGE)
    world.session.add(spare)
    world.session.flush()
    return spare


def stock(world, lot: str):
    return world.container("botox", lot=lot, now=NOW - 48 * HOUR)


@pytest.mark.parametrize("user", ["safety", "admin", "manager", "nurse"])
def test_held_stock_carried_out_keeps_its_hold_whoever_carries_it(world, session, user):
    carried = stock(world, "LT-HELD")
    excursion(world, world.location("Fridge"), start=NOW - 48 * HOUR + HOUR, end=MOVED_AT - HOUR)
    assert carried.on_hold_since is not None
    spare = spare_fridge(world)

    actor = world.users[user]
    moves.move_container(session, actor=actor, scope=Scope.for_user(actor), container_id=carried.id,
                         to_location_id=spare.id, now=MOVED_AT, reason="fridge failed")

    assert carried.on_hold_since is not None and carried.location_id == spare.id
    [still_open] = session.scalars(select(ContainerHold).where(ContainerHold.container_id == carried.id))
    assert still_open.resolved_at is None  # the safety lead has still to decide: the move decided nothing
    assert [c.container.id for c in cold_chain.open_holds(session, scope=EVERYWHERE)] == [carried.id]
