"""An excursion is recorded once: the same readings imported again, a by-hand entry repeated or a form sent twice
is answered "already recorded" and writes nothing; a longer log that holds a recorded excursion widens it rather
than recording it again; two requests at once record it once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from inventory.cold_chain import service as cold_chain
from inventory.cold_chain.models import ContainerHold, Excursion
from inventory.models import AuditEvent
from tests.factories import EVERYWHERE, NOW, refusal

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

MINUTE = dt.timedelta(minutes=1)
START = NOW - dt.timedelta(hours=2)


def excursion(world, *, start=START, end=START + 4 * MINUTE, min_c="8.9", max_c="11.2", location=None):
    return cold_chain.record_excursion(
        world.session, actor=world.users["manager"], scope=EVERYWHERE, location_id=(location or world.location()).id,
        started_at=start, ended_at=end, min_c=Decimal(min_c), max_c=Decimal(max_c), now=NOW,
    )


def log(*readings: tuple[int, str]) -> str:
    """Logger lines, each a reading ``minutes`` after START (UTC) and its temperature."""
    return "\n".join(f"{(START + m * MINUTE).isoformat()},{c}" for m, c in readings)


def imported(world, text: str) -> cold_chain.LoggerImport:
    return cold_chain.import_logger(world.session, actor=world.users["manager"], scope=EVERYWHERE,
                                    location_id=world.location().id, text=text, now=NOW)


def counts(world) -> tuple[int, int]:
    session = world.session
    return session.scalar(select(func.count(Excursion.id))), session.scalar(select(func.count(ContainerHold.id)))


def test_the_same_readings_imported_twice_record_the_excursion_once(world):
    world.container("botox", now=NOW - dt.timedelta(days=2))
    readings = log((0, "5.1"), (1, "8.9"), (2, "11.2"), (4, "5.0"))
    first = imported(world, readings)
    assert len(first.excursions) == 1 and counts(world) == (1, 1)

    again = imported(world, readings)

    assert again.excursions == [] and counts(world) == (1, 1)
    (already,) = again.already_recorded
    assert already.code == "excursion_already_recorded" and already.status == 409
    assert already.details["excursion_id"] == first.excursions[0].excursion.id
    # Where, when and the range, in words.
    assert already.message.startswith("This excursion is already recorded: LON · Fridge was at 8.9 to 11.2 °C from ")


def test_an_excursion_entered_by_hand_twice_is_refused_as_already_recorded(world):
    world.container("botox", now=NOW - dt.timedelta(days=2))
    first = excursion(world)

    error = refusal(lambda: excursion(world))

    assert isinstance(error, cold_chain.ExcursionAlreadyRecorded)
    details = error.details
    assert (details["excursion_id"], details["location_id"]) == (first.excursion.id, world.location().id)
    assert (dt.datetime.fromisoformat(details["started_at"]), Decimal(details["max_c"])) == (START, Decimal("11.2"))
    assert counts(world) == (1, 1)
    # Within it (a shorter part, a narrower range): already recorded too.
    assert isinstance(refusal(lambda: excursion(world, start=START + MINUTE, end=START + 2 * MINUTE, min_c="9",
                                                max_c="10")), cold_chain.ExcursionAlreadyRecorded)
    assert counts(world) == (1, 1)


def test_a_longer_log_widens_the_recorded_excursion_and_holds_what_came_in_during_the_rest(world):
    world.container("botox", now=NOW - dt.timedelta(days=2))
    first = imported(world, log((0, "5.1"), (1, "8.9"), (2, "11.2")))  # the log ends outside the range
    (recorded,) = first.excursions
    late = world.container("botox", lot="LT-LATE", now=START + 3 * MINUTE)  # in after the first log's end

    longer = imported(world, log((0, "5.1"), (1, "8.9"), (2, "11.2"), (4, "12.5"), (5, "5.0"), (30, "9.5"),
                                 (31, "5.0")))

    widened, separate = longer.excursions
    assert widened.widened and widened.excursion.id == recorded.excursion.id
    assert (widened.excursion.started_at, widened.excursion.ended_at) == (START + MINUTE, START + 5 * MINUTE)
    assert widened.excursion.max_c == Decimal("12.5")
    assert [c.id for c in widened.held] == [late.id]  # the first container's hold stays as it was, not doubled
    assert not separate.widened  # a run of its own, later: an excursion of its own
    assert counts(world) == (2, 2 + len(separate.held))
    audit = world.session.scalars(select(AuditEvent).where(AuditEvent.action == "cold_chain.excursion_widened")).one()
    assert audit.details["was"]["ended_at"] == (START + 2 * MINUTE).isoformat()


def test_an_excursion_elsewhere_or_at_another_time_is_recorded_of_its_own(world):
    excursion(world)
    excursion(world, location=world.location("Fridge", world.other_clinic))
    excursion(world, start=START + 5 * MINUTE, end=START + 9 * MINUTE)
    assert counts(world)[0] == 3
