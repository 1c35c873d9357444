"""A release is judged on the excursion as it was known then. When the same excursion later turns out wider (the
logger's readings show it went warmer, or lasted longer, than the reading typed by hand), a container released
on the narrower one goes back on hold for the safety lead to judge again; one she wasted stays wasted, and an
open hold stays as it is."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from inventory import lifecycle
from inventory.cold_chain import service as cold_chain
from inventory.cold_chain.models import ContainerHold
from inventory.errors import DomainError
from inventory.models import AuditEvent
from tests.factories import EVERYWHERE, NOW, reconstitute, waste

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

HOUR = dt.timedelta(hours=1)
START = NOW - 6 * HOUR


def excursion(world, *, end=START + HOUR, max_c="11", now=NOW):
    return cold_chain.record_excursion(
        world.session, actor=world.users["manager"], scope=EVERYWHERE, location_id=world.location().id,
        started_at=START, ended_at=end, min_c=Decimal("6"), max_c=Decimal(max_c), now=now)


def decide(world, vial, end, *, at):
    end(world.session, actor=world.users["safety"], scope=EVERYWHERE, container_id=vial.id,
        reason="stability data: fine up to 25 °C for 72 h", now=at)


def test_a_vial_released_on_a_narrower_excursion_goes_back_on_hold_when_it_widens(world):
    released = world.container("botox", now=NOW - 48 * HOUR)
    wasted = world.container("botox", now=NOW - 48 * HOUR)
    still_held = world.container("botox", now=NOW - 48 * HOUR)
    first = excursion(world)
    assert {c.id for c in first.held} == {released.id, wasted.id, still_held.id}
    decide(world, released, cold_chain.release_hold, at=NOW + HOUR)
    decide(world, wasted, cold_chain.waste_held, at=NOW + HOUR)
    assert released.on_hold_since is None

    # The logger's readings: it went to 31 °C, for longer.
    wider = excursion(world, end=START + 3 * HOUR, max_c="31", now=NOW + 2 * HOUR)

    assert wider.widened and wider.excursion.id == first.excursion.id
    assert [c.id for c in wider.held] == [released.id]  # judged again; the wasted one and the open hold as they were
    assert released.on_hold_since == NOW + 2 * HOUR
    assert "31 °C" in released.hold_reason and "released" in released.hold_reason
    with pytest.raises(DomainError) as refused:
        lifecycle.ensure_not_on_hold(released, doing="draw from")
    assert refused.value.code == "container_on_hold"
    with pytest.raises(DomainError) as refused:
        reconstitute(world, released, at=NOW + 3 * HOUR)
    assert refused.value.code == "container_on_hold"
    assert wasted.on_hold_since is None and wasted.remaining == 0
    assert still_held.on_hold_since == NOW  # its open hold untouched
    # The board lists it again, with the excursion behind it; the release stays on file in the audit trail.
    assert released.id in {h.container.id for h in cold_chain.open_holds(world.session, scope=EVERYWHERE)}
    open_hold = world.session.scalars(select(ContainerHold).where(
        ContainerHold.container_id == released.id, ContainerHold.resolved_at.is_(None))).one()
    assert open_hold.excursion_id == first.excursion.id
    audit = world.session.scalars(select(AuditEvent).where(AuditEvent.action == "container.hold_reopened",
                                                           AuditEvent.object_id == str(released.id))).one()
    assert audit.details["released_reason"] == "stability data: fine up to 25 °C for 72 h"
    assert audit.details["excursion_ids"] == [first.excursion.id]


def test_a_released_vial_wasted_since_is_not_held_again(world):
    vial = world.container("botox", now=NOW - 48 * HOUR)
    excursion(world)
    decide(world, vial, cold_chain.release_hold, at=NOW + HOUR)
    waste(world, vial, "dropped", at=NOW + HOUR)  # a nurse, after the release

    wider = excursion(world, end=START + 3 * HOUR, max_c="31", now=NOW + 2 * HOUR)

    assert wider.held == [] and vial.on_hold_since is None
