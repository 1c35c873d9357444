"""Two count sheets of the same place open at once: the second never corrects again what the first corrected.

QA: two managers each counted the same fridge before either sheet was posted; both found 3 of the 4 sealed
Voluma syringes of a lot. Posting the first wrote the missing one off (the ledger then held 3, as the shelf
did); posting the second wrote off another, taking the one the first had written off for a syringe found and
taken out since: the ledger held 2 while 3 stood on the shelf. A sheet whose lot or container another count
corrected after it was counted is now refused (count_outdated), and the reviewer sends it back to be counted
again; nothing is adjusted twice.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from inventory.counts import service as counts
from inventory.counts.models import Count, CountStatus
from inventory.counts.service import LineSpec
from inventory.models import User
from inventory.services.permissions import Scope
from inventory.transfers import moves
from tests.factories import NOW, World, adjustments, refusal

HOUR = dt.timedelta(hours=1)
LOT = "VM88B21"

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def _counter(world: World) -> User:
    return world.users["clinic_manager"]


def _start(world: World) -> Count:
    user = _counter(world)
    return counts.start_count(world.session, actor=user, scope=Scope.for_user(user),
                              location_id=world.location("Fridge").id, now=NOW)


def _sheet(world: World, at: dt.datetime, **spec: Any) -> Count:
    """A sheet of one line, counted at ``at`` and submitted by the clinic's manager."""
    user = _counter(world)
    count = _start(world)
    if spec.get("counted") is not None:
        spec["counted"] = Decimal(spec["counted"])
    counts.add_line(world.session, actor=user, scope=Scope.for_user(user), count_id=count.id,
                    spec=LineSpec(**spec), now=at)
    return counts.submit(world.session, actor=user, scope=Scope.for_user(user), count_id=count.id, now=at)


def _post(world: World, count: Count, at: dt.datetime) -> Count:
    user = world.users["manager"]
    return counts.post(world.session, actor=user, scope=Scope.for_user(user), count_id=count.id, now=at)


def test_a_second_sheet_of_a_lot_another_count_corrected_since_is_refused_not_written_off_twice(world, session):
    sealed = world.receive("botox", lot=LOT, containers=4).containers
    first = _sheet(world, NOW + HOUR, lot_id=sealed[0].lot_id, containers=3)
    second = _sheet(world, NOW + HOUR + dt.timedelta(minutes=5), lot_id=sealed[0].lot_id, containers=3)
    _post(world, first, NOW + 2 * HOUR)
    assert [m.quantity for m in adjustments(session)] == [Decimal(-100)]

    (line,) = counts.results(session, second)
    assert line.refused is not None and f"count {first.id}" in line.refused
    error = refusal(lambda: _post(world, second, NOW + 3 * HOUR))

    assert error.code == "count_outdated" and "Nothing was adjusted" in error.message
    assert f"count {first.id}" in error.message and "count it again" in error.message
    assert [m.quantity for m in adjustments(session)] == [Decimal(-100)]  # one written off, as the shelf says
    assert sum(c.remaining for c in sealed) == Decimal(300)
    assert second.status is CountStatus.SUBMITTED


def test_a_label_another_count_found_missing_since_is_not_silently_left_missing(world, session):
    vial = world.container("botox", lot=LOT)
    found = _sheet(world, NOW + HOUR, container=vial.label_code)  # there, sealed and full
    missing = _sheet(world, NOW + HOUR + dt.timedelta(minutes=5), container=vial.label_code, counted="0")
    _post(world, missing, NOW + 2 * HOUR)
    session.refresh(vial)
    assert vial.remaining == 0

    error = refusal(lambda: _post(world, found, NOW + 3 * HOUR))  # it posted "no difference" and left it at 0

    assert error.code == "count_outdated" and f"count {missing.id}" in error.message
    assert [m.quantity for m in adjustments(session)] == [Decimal(-100)]


def test_a_sheet_counted_after_the_other_count_was_posted_posts(world, session):
    sealed = world.receive("botox", lot=LOT, containers=4).containers
    first = _sheet(world, NOW + HOUR, lot_id=sealed[0].lot_id, containers=3)
    _post(world, first, NOW + 2 * HOUR)
    later = _sheet(world, NOW + 3 * HOUR, lot_id=sealed[0].lot_id, containers=2)

    posted = _post(world, later, NOW + 4 * HOUR)

    assert posted.status is CountStatus.POSTED
    assert [m.quantity for m in adjustments(session)] == [Decimal(-100), Decimal(-100)]
    assert sum(c.remaining for c in sealed) == Decimal(200)


def test_a_container_that_came_here_after_the_sheet_counted_the_lot_does_not_hold_it_up(world, session):
    """Only what stood here when the line was counted matters: a syringe brought in afterwards and corrected by
    another count here is none of this sheet's business."""
    here = world.receive("botox", lot=LOT, containers=2).containers
    elsewhere = world.receive("botox", lot=LOT, containers=1, location=world.location("Room 1")).containers[0]
    sheet = _sheet(world, NOW + HOUR, lot_id=here[0].lot_id, containers=2)
    moves.move_container(session, actor=world.users["manager"], scope=Scope.everything(), container_id=elsewhere.id,
                         to_location_id=world.location("Fridge").id, now=NOW + HOUR + dt.timedelta(minutes=10),
                         reason="back to the fridge")
    other = _sheet(world, NOW + HOUR + dt.timedelta(minutes=20), container=elsewhere.label_code, counted="0")
    _post(world, other, NOW + 2 * HOUR)

    posted = _post(world, sheet, NOW + 3 * HOUR)

    assert posted.status is CountStatus.POSTED and posted.lines[0].variance == 0
