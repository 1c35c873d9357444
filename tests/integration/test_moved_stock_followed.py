"""Stock carried out of a failed fridge is followed where it went: the next excursion at the spare fridge holds it,
one at the failed fridge after it left does not, and a count of the spare fridge finds it expected there."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from inventory.cold_chain import service as cold_chain
from inventory.counts import service as counts
from inventory.counts.service import LineSpec
from inventory.models import Location, LocationKind, Movement, MovementKind
from inventory.services.permissions import Scope
from inventory.transfers import moves
from tests.factories import EVERYWHERE, NOW, refusal

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

HOUR = dt.timedelta(hours=1)
MOVED_AT = NOW - 5 * HOUR


def spare_fridge(world) -> Location:
    spare = Location(clinic_id=world.clinic.id, name="Spare fridge", kind=LocationKind.FRIDGE)
    world.session.add(spare)
    world.session.flush()
    return spare


def carry_everything_out(world, spare: Location, user: str = "nurse") -> moves.Moved:
    actor = world.users[user]
    return moves.move_all(world.session, actor=actor, scope=Scope.for_user(actor),
                          from_location_id=world.location("Fridge").id, to_location_id=spare.id, now=MOVED_AT,
                          reason="fridge failed")


def excursion(world, location: Location, start: dt.datetime, end: dt.datetime = NOW - HOUR):
    return cold_chain.record_excursion(
        world.session, actor=world.users["manager"], scope=EVERYWHERE, location_id=location.id, started_at=start,
        ended_at=end, min_c=Decimal("9"), max_c=Decimal("14"), now=NOW)


def stock(world, lot: str):
    return world.container("botox", lot=lot, now=NOW - 48 * HOUR)


def test_an_excursion_at_the_spare_fridge_after_the_move_holds_what_was_carried_there(world, session):
    carried = stock(world, "LT-CARRIED")
    spare = spare_fridge(world)
    moved = carry_everything_out(world, spare)
    assert [c.id for c in moved.containers] == [carried.id]

    result = excursion(world, spare, start=MOVED_AT + HOUR)

    assert [c.id for c in result.held] == [carried.id]
    assert carried.on_hold_since == NOW and carried.location_id == spare.id


def test_an_excursion_at_the_failed_fridge_after_the_move_holds_nothing_that_left_before_it(world, session):
    carried = stock(world, "LT-CARRIED")
    spare = spare_fridge(world)
    carry_everything_out(world, spare)
    came_later = world.container("botox", lot="LT-LATER", now=MOVED_AT + HOUR)  # put in the fridge again

    result = excursion(world, world.location("Fridge"), start=MOVED_AT + 2 * HOUR)

    assert [c.id for c in result.held] == [came_later.id]
    assert carried.on_hold_since is None


def test_an_excursion_at_the_failed_fridge_that_began_before_the_move_holds_what_was_carried_out(world, session):
    carried = stock(world, "LT-CARRIED")
    spare = spare_fridge(world)
    carry_everything_out(world, spare)

    result = excursion(world, world.location("Fridge"), start=MOVED_AT - HOUR)

    assert [c.id for c in result.held] == [carried.id]  # it was there, warming, before it was carried out
    assert carried.location_id == spare.id  # held where it is now, the spare fridge


def test_a_count_of_the_spare_fridge_finds_the_carried_vial_expected_there(world, session):
    carried = stock(world, "LT-CARRIED")
    spare = spare_fridge(world)
    carry_everything_out(world, spare)
    counter, reviewer = world.users["clinic_manager"], world.users["manager"]

    # The failed fridge no longer has it: a count there is told where it is.
    old = counts.start_count(session, actor=counter, scope=Scope.for_user(counter),
                             location_id=world.location("Fridge").id, now=NOW)
    assert refusal(lambda: counts.add_line(
        session, actor=counter, scope=Scope.for_user(counter), count_id=old.id,
        spec=LineSpec(container=carried.label_code, counted=Decimal(100)), now=NOW)).code == "container_elsewhere"

    count = counts.start_count(session, actor=counter, scope=Scope.for_user(counter), location_id=spare.id, now=NOW)
    counts.add_line(session, actor=counter, scope=Scope.for_user(counter), count_id=count.id,
                    spec=LineSpec(container=carried.label_code, counted=Decimal(100)), now=NOW)
    counts.submit(session, actor=counter, scope=Scope.for_user(counter), count_id=count.id, now=NOW)
    [line] = counts.results(session, count)
    assert (line.expected, line.variance) == (Decimal(100), Decimal(0))
    assert counts.not_on_sheet(session, count) == []

    counts.post(session, actor=reviewer, scope=Scope.for_user(reviewer), count_id=count.id, now=NOW + HOUR)
    adjustments = session.scalars(select(Movement).where(Movement.kind == MovementKind.ADJUST)).all()
    assert adjustments == []  # nothing written off at either place, nothing "found"

