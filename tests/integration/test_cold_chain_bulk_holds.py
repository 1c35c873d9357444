"""The safety lead ends many holds with one decision (``end_holds``): the containers one excursion held, released
or wasted with one reason, all or nothing. Each is judged by the single release or waste; when any one cannot be
(emptied, not on hold, another clinic's), nothing is written and the refusal names each and why."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from inventory import lifecycle
from inventory.cold_chain import service as cold_chain
from inventory.cold_chain.models import ContainerHold, HoldOutcome
from inventory.errors import ValidationError
from inventory.models import AuditEvent, ContainerState, Movement, MovementKind
from inventory.services import ledger
from inventory.services.permissions import Scope
from tests.factories import EVERYWHERE, NOW, refusal

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

HOUR = dt.timedelta(hours=1)


def held_vials(world, count: int = 3, *, clinic=None):
    """``count`` Botox vials in a fridge for two days, held by one excursion four hours long."""
    fridge = world.location("Fridge", clinic)
    vials = world.receive("botox", lot=f"LT-{fridge.id}", containers=count, location=fridge,
                          now=NOW - 48 * HOUR).containers
    cold_chain.record_excursion(
        world.session, actor=world.users["manager"], scope=EVERYWHERE, location_id=fridge.id,
        started_at=NOW - 6 * HOUR, ended_at=NOW - 2 * HOUR, min_c=Decimal("9"), max_c=Decimal("14.5"), now=NOW)
    assert all(v.on_hold_since is not None for v in vials)
    return vials


def emptied_on_hold(world, vial) -> None:
    """A manager's count finds the held vial gone: emptied, its hold left for the safety lead to confirm."""
    ledger.record(world.session, vial, kind=MovementKind.ADJUST, quantity=-vial.remaining,
                  actor=world.users["manager"], at=NOW, reason="count")
    lifecycle.settle(vial)
    world.session.flush()
    assert vial.on_hold_since is not None and vial.remaining == 0


def end(world, vials, outcome, *, who="safety", reason="Manufacturer: stable 72 h up to 25 °C", scope=EVERYWHERE):
    return cold_chain.end_holds(world.session, actor=world.users[who] if isinstance(who, str) else who, scope=scope,
                                container_ids=[v.id for v in vials], outcome=outcome, reason=reason, now=NOW + HOUR)


def endings(world) -> int:
    return world.session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action.like("container.hold_%")))


def test_one_decision_releases_every_vial_an_excursion_held_with_one_reason(world):
    vials = held_vials(world, 3)

    released = end(world, list(reversed(vials)), HoldOutcome.RELEASED)

    assert [c.id for c in released] == sorted(v.id for v in vials)
    assert all(v.on_hold_since is None and v.state is ContainerState.SEALED for v in vials)
    holds = list(world.session.scalars(select(ContainerHold).where(ContainerHold.container_id.in_([v.id for v in vials]))))
    assert {(h.outcome, h.reason, h.resolved_by_id) for h in holds} == {
        (HoldOutcome.RELEASED, "Manufacturer: stable 72 h up to 25 °C", world.users["safety"].id)}
    assert cold_chain.open_holds(world.session, scope=EVERYWHERE) == []


def test_one_decision_wastes_them_each_with_its_own_waste_movement(world):
    vials = held_vials(world, 2)

    end(world, vials, HoldOutcome.WASTED, reason="Frozen: discard")

    assert all(v.on_hold_since is None and v.remaining == 0 for v in vials)
    wastes = list(world.session.scalars(select(Movement).where(Movement.kind == MovementKind.WASTE)))
    assert sorted((m.container_id, m.reason, m.note) for m in wastes) == [
        (v.id, "cold_chain", "Frozen: discard") for v in sorted(vials, key=lambda v: v.id)]


def test_an_emptied_vial_among_them_refuses_the_release_and_nothing_is_released(world):
    vials = held_vials(world, 3)
    emptied = vials[1]
    emptied_on_hold(world, emptied)
    before = endings(world)

    error = refusal(lambda: end(world, vials, HoldOutcome.RELEASED))

    assert error.code == "holds_not_ended" and error.status == 409
    assert error.message == (
        f"Nothing was released: 1 of 3 containers cannot be released. Botox Cosmetic 100 U ({emptied.label_code}) "
        "holds nothing any more: it was emptied while on hold. Confirm it as wasted instead.")
    assert error.details["refused"] == [{"container_id": emptied.id, "code": "container_empty",
                                         "message": error.message.split("released. ", 1)[1]}]
    world.session.expire_all()
    assert all(v.on_hold_since is not None for v in vials)
    assert endings(world) == before
    assert world.session.scalar(select(func.count(ContainerHold.id)).where(ContainerHold.resolved_at.is_not(None))) == 0


def test_a_vial_not_on_hold_and_another_clinics_vial_are_each_named_and_nothing_is_wasted(world):
    vials = held_vials(world, 2)
    theirs = held_vials(world, 1, clinic=world.other_clinic)[0]
    cold_chain.release_hold(world.session, actor=world.users["safety"], scope=EVERYWHERE, container_id=vials[0].id,
                            reason="Stable", now=NOW + HOUR)
    lon_safety = world.lon_safety_lead()

    error = refusal(lambda: end(world, [*vials, theirs], HoldOutcome.WASTED, who=lon_safety,
                                scope=Scope.for_user(lon_safety)))

    assert error.code == "holds_not_ended"
    assert [(r["container_id"], r["code"]) for r in error.details["refused"]] == [
        (vials[0].id, "not_on_hold"), (theirs.id, "not_found")]
    assert error.message.startswith("Nothing was wasted: 2 of 3 containers cannot be wasted. ")
    assert f"({vials[0].label_code}) is not on hold." in error.message
    assert f"No container with id {theirs.id}." in error.message and theirs.label_code not in error.message
    world.session.expire_all()
    assert vials[1].on_hold_since is not None and vials[1].remaining == Decimal(100)
    assert world.session.scalar(select(func.count(Movement.id)).where(Movement.kind == MovementKind.WASTE)) == 0


def test_no_reason_or_no_container_is_refused_before_any_is_looked_at(world):
    vials = held_vials(world, 1)
    assert refusal(lambda: end(world, vials, HoldOutcome.RELEASED, reason="  ")).code == "validation_error"
    error = refusal(lambda: end(world, [], HoldOutcome.RELEASED))
    assert isinstance(error, ValidationError) and error.details["field"] == "container_ids"
    assert vials[0].on_hold_since is not None


def test_the_board_groups_holds_by_the_excursion_that_held_them_the_emptied_apart(world):
    london = held_vials(world, 2)
    new_york = held_vials(world, 1, clinic=world.other_clinic)
    emptied_on_hold(world, london[1])

    groups = cold_chain.holds_by_excursion(cold_chain.open_holds(world.session, scope=EVERYWHERE))

    words = [(g.words.split(" was at")[0], g.emptied, [h.container.id for h in g.holds]) for g in groups]
    assert sorted(words) == sorted([
        ("LON · Fridge", False, [london[0].id]), ("LON · Fridge", True, [london[1].id]),
        ("NYC · Fridge", False, [new_york[0].id])])
    assert all(" was at 9 to 14.5 °C from " in g.words for g in groups)


def test_more_containers_than_one_decision_takes_are_refused_in_words(world):
    error = refusal(lambda: cold_chain.end_holds(
        world.session, actor=world.users["safety"], scope=EVERYWHERE, container_ids=range(1, cold_chain.MAX_HOLDS_AT_ONCE + 2),
        outcome=HoldOutcome.RELEASED, reason="checked", now=NOW))
    assert isinstance(error, ValidationError) and error.details["field"] == "container_ids"
    assert error.message == f"Release or waste at most {cold_chain.MAX_HOLDS_AT_ONCE} containers at once."
