"""A hold ends when the safety lead empties a held container, and comes back with any stock put back into it.

Wasting a held vial is the safety lead's decision (a nurse is refused: tests/api/test_held_waste_api.py); the
safety lead may waste it at the cart too (it broke, it froze): that takes it out of use, so the hold is over and
the board must not keep asking for a decision. Emptied by anyone else (a count that finds it gone), the hold
stays for the safety lead to confirm. A correction that puts a wasted held vial's stock back (a reversal) must
not make a vial from a failed fridge usable: it goes back on hold."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from inventory.cold_chain import service as cold_chain
from inventory.cold_chain.models import ContainerHold, HoldOutcome
from inventory.models import AuditEvent, Movement, MovementKind
from tests.factories import EVERYWHERE, NOW, draw, reconstitute, refusal, reverse, start_treatment, waste

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

HOUR = dt.timedelta(hours=1)


def held_vial(world, *, mixed_at: dt.datetime | None = None):
    vial = world.container("botox", now=NOW - 48 * HOUR)
    if mixed_at is not None:
        reconstitute(world, vial, at=mixed_at)
    cold_chain.record_excursion(
        world.session, actor=world.users["manager"], scope=EVERYWHERE, location_id=world.location().id,
        started_at=NOW - 6 * HOUR, ended_at=NOW - 2 * HOUR, min_c=Decimal("9"), max_c=Decimal("14.5"), now=NOW)
    assert vial.on_hold_since is not None
    return vial


def holds_of(world, vial):
    return list(world.session.scalars(select(ContainerHold).where(ContainerHold.container_id == vial.id)))


def test_the_safety_lead_wasting_all_of_a_held_vial_at_the_cart_ends_its_hold_as_wasted_by_her(world):
    vial = held_vial(world)

    waste(world, vial, "dropped", user="safety", at=NOW + HOUR)

    assert vial.on_hold_since is None and vial.hold_reason is None
    [hold] = holds_of(world, vial)
    assert (hold.outcome, hold.resolved_by_id, hold.resolved_at) == (
        HoldOutcome.WASTED, world.users["safety"].id, NOW + HOUR)
    assert "dropped" in hold.reason
    assert cold_chain.open_holds(world.session, scope=EVERYWHERE) == []
    audit = world.session.scalar(select(AuditEvent).where(AuditEvent.action == "container.hold_wasted"))
    assert audit.actor_id == world.users["safety"].id


def test_wasting_part_of_a_held_vial_keeps_it_on_hold(world):
    vial = held_vial(world, mixed_at=NOW - 7 * HOUR)  # mixed before the fridge failed (sealed powder goes whole)

    waste(world, vial, "dropped", quantity="40", user="safety", at=NOW + HOUR)

    assert vial.on_hold_since is not None and vial.remaining == Decimal(60)
    [hold] = holds_of(world, vial)
    assert hold.resolved_at is None
    assert [h.container.id for h in cold_chain.open_holds(world.session, scope=EVERYWHERE)] == [vial.id]


@pytest.mark.parametrize("who", ["cart", "safety"])
def test_reversing_the_waste_of_a_held_vial_puts_it_back_on_hold(world, who):
    vial = held_vial(world)
    if who == "safety":
        wasted = cold_chain.waste_held(world.session, actor=world.users["safety"], scope=EVERYWHERE,
                                       container_id=vial.id, reason="Frozen: discard", now=NOW + HOUR)
        movement = world.session.scalar(select(Movement).where(Movement.container_id == vial.id,
                                                               Movement.kind == MovementKind.WASTE))
        assert wasted.on_hold_since is None
    else:  # the safety lead's waste at the cart
        movement = waste(world, vial, "dropped", user="safety", at=NOW + HOUR)

    reverse(world, movement, "wrong vial", at=NOW + 2 * HOUR)

    assert vial.remaining == Decimal(100)
    assert vial.on_hold_since is not None and "9 to 14.5 °C" in vial.hold_reason
    assert refusal(lambda: draw(world, start_treatment(world), vial, "4", at=NOW + 3 * HOUR)).code == \
        "container_on_hold"
    [hold] = holds_of(world, vial)
    assert hold.resolved_at is None and hold.outcome is None
    assert [h.container.id for h in cold_chain.open_holds(world.session, scope=EVERYWHERE)] == [vial.id]
    audit = world.session.scalar(select(AuditEvent).where(AuditEvent.action == "container.hold_reopened"))
    assert audit.details["excursion_ids"] == [hold.excursion_id]


def test_a_released_vial_wasted_later_and_corrected_stays_usable(world):
    vial = held_vial(world)
    cold_chain.release_hold(world.session, actor=world.users["safety"], scope=EVERYWHERE, container_id=vial.id,
                            reason="Stable per manufacturer", now=NOW + HOUR)
    movement = waste(world, vial, "dropped", at=NOW + 2 * HOUR)

    reverse(world, movement, "wrong vial", at=NOW + 3 * HOUR)

    assert vial.on_hold_since is None
    [hold] = holds_of(world, vial)
    assert hold.outcome is HoldOutcome.RELEASED


def _count(world, vial, counted: str, at: dt.datetime):
    from inventory.counts import service as counts
    from inventory.counts.service import LineSpec
    from inventory.services.permissions import Scope

    counter, reviewer = world.users["clinic_manager"], world.users["manager"]
    count = counts.start_count(world.session, actor=counter, scope=Scope.for_user(counter),
                               location_id=world.location().id, now=at)
    counts.add_line(world.session, actor=counter, scope=Scope.for_user(counter), count_id=count.id,
                    spec=LineSpec(container=vial.label_code, counted=Decimal(counted)), now=at)
    counts.submit(world.session, actor=counter, scope=Scope.for_user(counter), count_id=count.id, now=at)
    return counts.post(world.session, actor=reviewer, scope=Scope.for_user(reviewer), count_id=count.id, now=at)


def test_a_count_that_finds_a_held_vial_gone_leaves_the_hold_for_the_safety_lead_and_it_stays_when_found(world):
    """A manager's count does not decide a hold: the vial, counted empty, waits on the board for the safety lead."""
    vial = held_vial(world)

    _count(world, vial, "0", NOW + HOUR)

    [hold] = holds_of(world, vial)
    assert vial.on_hold_since is not None and hold.resolved_at is None
    [waiting] = cold_chain.open_holds(world.session, scope=EVERYWHERE)
    assert waiting.is_emptied and waiting.emptied_by.kind is MovementKind.ADJUST

    _count(world, vial, "100", NOW + 2 * HOUR)

    assert vial.remaining == Decimal(100) and vial.on_hold_since is not None
    assert hold.resolved_at is None
