"""Cold-chain excursions put what was in the fridge during them on hold, read from the movement ledger; the
hold refuses draws, mixing, sending and a kit (a move to a working fridge keeps it), kits do not count held stock, and the safety lead releases or wastes it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from inventory.cold_chain import service as cold_chain
from inventory.cold_chain.models import ContainerHold, ExcursionSource, HoldOutcome
from inventory.models import AuditEvent, ContainerState, Location, LocationKind, Movement, MovementKind
from inventory.services.clock import format_clinic_time, to_clinic_time
from inventory.transfers import moves
from tests import kit_factories
from tests.factories import (
    EVERYWHERE,
    NOW,
    draw,
    kit_location,
    reconstitute,
    refusal,
    send_transfer,
    start_treatment,
)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

HOUR = dt.timedelta(hours=1)
START, END = NOW - 6 * HOUR, NOW - 2 * HOUR


def excursion(world, location=None, *, start=START, end=END, min_c="9", max_c="14.5", user="manager", **kwargs):
    return cold_chain.record_excursion(
        world.session, actor=world.users[user], scope=EVERYWHERE, location_id=(location or world.location()).id,
        started_at=start, ended_at=end, min_c=Decimal(min_c), max_c=Decimal(max_c), now=NOW, **kwargs,
    )


def move(world, container, to: str, at: dt.datetime):
    return moves.move_container(world.session, actor=world.users["manager"], scope=EVERYWHERE,
                                container_id=container.id, to_location_id=world.location(to).id, now=at,
                                reason="restock")


def move_to(world, container, location: Location):
    return moves.move_container(world.session, actor=world.users["manager"], scope=EVERYWHERE,
                                container_id=container.id, to_location_id=location.id, now=NOW, reason="fridge failed")


def test_a_fridge_is_temperature_sensitive_by_default_and_a_room_is_not(world):
    assert world.location("Fridge").temperature_sensitive is True
    assert world.location("Room 1").temperature_sensitive is False


def test_an_excursion_holds_what_the_ledger_says_was_in_the_fridge_during_it(world):
    stayed = world.container("botox", lot="LT-STAY", now=NOW - 48 * HOUR)
    left_during = world.container("botox", lot="LT-LEFT", now=NOW - 48 * HOUR)
    move(world, left_during, "Cart", START + HOUR)  # out of the fridge an hour into the excursion: it was there
    left_before = world.container("botox", lot="LT-BEFORE", now=NOW - 48 * HOUR)
    move(world, left_before, "Cart", START - HOUR)
    came_after = world.container("botox", lot="LT-AFTER", now=END + HOUR)
    elsewhere = world.container("botox", lot="LT-ROOM", location=world.location("Room 1"), now=NOW - 48 * HOUR)
    other_clinic = world.container("botox", lot="LT-NYC", location=world.location("Fridge", world.other_clinic),
                                   now=NOW - 48 * HOUR)

    result = excursion(world)

    assert {c.id for c in result.held} == {stayed.id, left_during.id}
    for container in (stayed, left_during):
        assert container.on_hold_since == NOW
        assert "9 to 14.5 °C" in container.hold_reason
    for container in (left_before, came_after, elsewhere, other_clinic):
        assert container.on_hold_since is None
    holds = world.session.scalars(select(ContainerHold).where(ContainerHold.excursion_id == result.excursion.id))
    assert sorted(h.container_id for h in holds) == sorted([stayed.id, left_during.id])
    audit = world.session.scalar(select(AuditEvent).where(AuditEvent.action == "cold_chain.excursion_recorded"))
    assert audit.details["held_container_ids"] == sorted([stayed.id, left_during.id])


def test_a_held_container_refuses_draws_mixing_and_sending_but_may_be_counted_and_wasted(world):
    vial = world.container("botox", now=NOW - 48 * HOUR)
    filler = world.container("filler", now=NOW - 48 * HOUR)
    excursion(world, max_c="30")  # above a filler's 25 °C too (test_cold_chain_sensitivity.py)
    treatment = start_treatment(world)

    assert refusal(lambda: reconstitute(world, vial)).code == "container_on_hold"
    assert refusal(lambda: draw(world, treatment, filler, "0.1", "mL", area="lip")).code == "container_on_hold"
    assert refusal(lambda: send_transfer(world, [vial])).code == "container_on_hold"
    assert vial.state is ContainerState.SEALED and vial.remaining == Decimal(100)  # still stock: counts see it


def test_held_stock_moves_out_of_the_failed_fridge_into_a_working_one_and_stays_on_hold(world):
    """The first thing staff do when a fridge fails is to move its stock into one that works: refusing the move left
    the held vials warming in the broken fridge while the safety lead decided. The hold goes with the container."""
    vial = world.container("botox", now=NOW - 48 * HOUR)
    excursion(world)
    spare = Location(clinic_id=world.clinic.id, name="Spare fridge", kind=LocationKind.FRIDGE)
    world.session.add(spare)
    world.session.flush()

    move_to(world, vial, spare)

    assert vial.location_id == spare.id
    assert vial.on_hold_since is not None  # still held: only the safety lead ends it
    assert refusal(lambda: reconstitute(world, vial)).code == "container_on_hold"
    kinds = world.session.scalars(select(Movement.kind).where(Movement.container_id == vial.id)
                                  .order_by(Movement.id.desc()).limit(2))
    assert sorted(kinds) == sorted([MovementKind.TRANSFER_OUT, MovementKind.TRANSFER_IN])
    assert refusal(lambda: move_to(world, vial, kit_location(world))).code == "container_on_hold"  # never a kit


def test_the_safety_lead_releases_a_hold_with_a_reason_and_the_container_is_usable_again(world):
    vial = world.container("botox", now=NOW - 48 * HOUR)
    excursion(world)
    assert refusal(lambda: cold_chain.release_hold(world.session, actor=world.users["safety"], scope=EVERYWHERE,
                                                   container_id=vial.id, reason=" ", now=NOW)).code == "validation_error"

    cold_chain.release_hold(world.session, actor=world.users["safety"], scope=EVERYWHERE, container_id=vial.id,
                            reason="Manufacturer confirmed 72 h stability up to 25 °C", now=NOW)

    assert vial.on_hold_since is None and vial.hold_reason is None
    reconstitute(world, vial)
    draw(world, start_treatment(world), vial, "4")
    hold = world.session.scalar(select(ContainerHold).where(ContainerHold.container_id == vial.id))
    assert (hold.outcome, hold.resolved_by_id) == (HoldOutcome.RELEASED, world.users["safety"].id)
    audit = world.session.scalar(select(AuditEvent).where(AuditEvent.action == "container.hold_released"))
    assert audit.details["reason"] == "Manufacturer confirmed 72 h stability up to 25 °C"
    again = refusal(lambda: cold_chain.release_hold(world.session, actor=world.users["safety"], scope=EVERYWHERE,
                                                    container_id=vial.id, reason="twice", now=NOW))
    assert again.code == "not_on_hold"


def test_the_safety_lead_may_waste_a_held_container_instead(world):
    vial = world.container("botox", now=NOW - 48 * HOUR)
    excursion(world)

    cold_chain.waste_held(world.session, actor=world.users["safety"], scope=EVERYWHERE, container_id=vial.id,
                          reason="Frozen: discard", now=NOW)

    assert vial.state is ContainerState.DISCARDED and vial.remaining == 0 and vial.on_hold_since is None
    waste = world.session.scalar(select(Movement).where(Movement.container_id == vial.id,
                                                        Movement.kind == MovementKind.WASTE))
    assert (waste.reason, waste.quantity) == ("cold_chain", Decimal(-100))
    assert cold_chain.open_holds(world.session, scope=EVERYWHERE) == []


def test_a_kit_does_not_count_held_hyaluronidase(world):
    kit = kit_factories.stocked_kit(world)
    kit.location.temperature_sensitive = True
    kit_factories.check(world, kit)
    assert kit_factories.state(world, kit).status == "ready"

    excursion(world, kit.location, start=NOW - HOUR, end=NOW, min_c="-2", max_c="3")

    found = kit_factories.state(world, kit)
    assert found.status == "not_ready"
    assert "on_hold_inside" in kit_factories.codes(found)
    assert any("Hyaluronidase" in text for text in kit_factories.texts(found))  # the held vials do not count


def test_open_holds_lists_each_held_container_with_its_excursion_within_the_callers_clinics(world):
    lon = world.container("botox", now=NOW - 48 * HOUR)
    excursion(world)
    nyc = world.container("botox", lot="LT-NYC", location=world.location("Fridge", world.other_clinic),
                          now=NOW - 48 * HOUR)
    excursion(world, world.location("Fridge", world.other_clinic))

    everywhere = cold_chain.open_holds(world.session, scope=EVERYWHERE)
    assert [h.container.id for h in everywhere] == [lon.id, nyc.id]
    from inventory.services.permissions import Scope
    london = cold_chain.open_holds(world.session, scope=Scope.for_user(world.lon_safety_lead()))
    assert [h.container.id for h in london] == [lon.id]
    assert len(london[0].excursions) == 1


@pytest.mark.parametrize(("changes", "field"), [
    ({"min_c": "3", "max_c": "7"}, "max_c"),                 # within 2-8 °C: no excursion
    ({"start": END, "end": START}, "ended_at"),              # ends before it starts
    ({"start": NOW + HOUR, "end": NOW + 2 * HOUR}, "started_at"),
    ({"min_c": "12", "max_c": "9"}, "max_c"),
    ({"min_c": "-300"}, "min_c"),
    ({"end": NOW + HOUR}, "ended_at"),                       # ends in the future
    ({"start": NOW - dt.timedelta(days=400)}, "started_at"),  # a year-old date: a typo that would hold a year
    ({"start": dt.datetime(1, 1, 1, tzinfo=dt.UTC)}, "started_at"),  # no time zone can even show it
])
def test_an_excursion_that_cannot_be_is_refused_and_holds_nothing(world, changes, field):
    vial = world.container("botox", now=NOW - 48 * HOUR)
    error = refusal(lambda: excursion(world, **changes))
    assert (error.code, error.details["field"]) == ("validation_error", field)
    assert vial.on_hold_since is None


def test_a_place_that_is_not_temperature_sensitive_records_no_excursion(world):
    error = refusal(lambda: excursion(world, world.location("Room 1")))
    assert (error.code, error.details["field"]) == ("validation_error", "location_id")


def test_another_clinics_fridge_is_not_found_for_a_clinic_manager(world):
    from inventory.services.permissions import Scope
    error = refusal(lambda: cold_chain.record_excursion(
        world.session, actor=world.users["clinic_manager"], scope=Scope.for_user(world.users["clinic_manager"]),
        location_id=world.location("Fridge", world.other_clinic).id, started_at=START, ended_at=END,
        min_c=Decimal(9), max_c=Decimal(12), now=NOW))
    assert error.code == "not_found"


LOGGER_CSV = """timestamp,temperature_c
2026-06-15T01:00:00+00:00,4.5
2026-06-15T02:00:00+00:00,9.1
2026-06-15T03:00:00+00:00,12.0
2026-06-15T04:00:00+00:00,5.0
2026-06-15 07:00,1.5
2026-06-15T08:00:00+00:00,3.0
"""


def test_a_loggers_readings_flag_what_is_outside_2_to_8_and_record_one_excursion_per_run(world):
    vial = world.container("botox", now=NOW - 48 * HOUR)

    imported = cold_chain.import_logger(world.session, actor=world.users["manager"], scope=EVERYWHERE,
                                        location_id=world.location().id, text=LOGGER_CSV, now=NOW)

    assert [str(r.celsius.normalize()) for r in imported.flagged] == ["9.1", "12", "1.5"]
    spans = [(e.excursion.started_at, e.excursion.ended_at, e.excursion.min_c, e.excursion.max_c)
             for e in imported.excursions]
    # 07:00 without an offset is London time (BST): 06:00 UTC. Each lasts until the next reading within 2-8 °C.
    assert spans == [
        (dt.datetime(2026, 6, 15, 2, tzinfo=dt.UTC), dt.datetime(2026, 6, 15, 4, tzinfo=dt.UTC),
         Decimal("9.1"), Decimal("12")),
        (dt.datetime(2026, 6, 15, 6, tzinfo=dt.UTC), dt.datetime(2026, 6, 15, 8, tzinfo=dt.UTC),
         Decimal("1.5"), Decimal("1.5")),
    ]
    assert all(e.excursion.source is ExcursionSource.LOGGER for e in imported.excursions)
    assert vial.on_hold_since == NOW
    assert len(world.session.scalars(select(ContainerHold).where(ContainerHold.container_id == vial.id)).all()) == 2


def test_an_unreadable_logger_line_is_refused_by_its_number(world):
    error = refusal(lambda: cold_chain.import_logger(
        world.session, actor=world.users["manager"], scope=EVERYWHERE, location_id=world.location().id,
        text="2026-06-15T01:00:00+00:00,4.5\nyesterday,hot\n", now=NOW))
    assert (error.code, error.details["line"]) == ("validation_error", 2)


def test_a_new_fridge_is_temperature_sensitive_and_a_new_cart_is_not(world):
    fridge = Location(clinic_id=world.clinic.id, name="Second fridge", kind=LocationKind.FRIDGE)
    cart = Location(clinic_id=world.clinic.id, name="Second cart", kind=LocationKind.CART)
    world.session.add_all([fridge, cart])
    world.session.flush()
    assert (fridge.temperature_sensitive, cart.temperature_sensitive) == (True, False)


def test_a_vial_sent_to_another_clinic_during_the_excursion_is_held_there_but_not_shown_to_this_clinic(world):
    from inventory.services.permissions import Scope
    from inventory.transfers import service as clinic_transfers
    from tests.factories import send_transfer

    vial = world.container("botox", now=NOW - 48 * HOUR)
    transfer = send_transfer(world, [vial], at=START + HOUR)
    clinic_transfers.receive(world.session, actor=world.users["manager"], scope=EVERYWHERE, transfer_id=transfer.id,
                             now=START + 2 * HOUR)
    assert vial.clinic_id == world.other_clinic.id

    manager = world.users["clinic_manager"]
    result = cold_chain.record_excursion(
        world.session, actor=manager, scope=Scope.for_user(manager), location_id=world.location().id,
        started_at=START, ended_at=END, min_c=Decimal(9), max_c=Decimal(12), now=NOW)

    assert (result.held, result.held_elsewhere) == ([], 1)
    assert vial.on_hold_since == NOW  # it was in the London fridge during the excursion: New York may not use it


def test_a_hold_reason_names_the_clinic_and_the_clock_it_is_told_in(world):
    """A held vial sent on to another clinic still says whose fridge failed, and in whose time."""
    vial = world.container("botox", lot="LT-TOLD", now=NOW - 48 * HOUR)
    fridge = world.location()

    excursion(world, fridge)

    clinic = fridge.clinic
    zone = to_clinic_time(END, clinic.timezone).tzname()
    assert vial.hold_reason.startswith(f"{clinic.code} · {fridge.name} was at 9 to 14.5 °C from ")
    assert f" to {format_clinic_time(END, clinic.timezone)} ({zone})" in vial.hold_reason, vial.hold_reason
