"""What may no longer be drawn and still holds something is listed for waste (DOMAIN.md): a punctured ready-to-use
liquid past its in-use time (it is never reconstituted: its time starts at the first puncture) and a filler syringe
kept for its patient whose hold days are over, beside the reconstituted powders past beyond-use."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from inventory.cart import service as cart
from inventory.models import ContainerState
from inventory.services.permissions import Scope
from tests.factories import NOW, close_treatment, draw, start_treatment

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def listed(session, world, now):
    return [c.id for c in cart.beyond_use_containers(session, scope=Scope.for_user(world.users["nurse"]), now=now)]


def test_a_punctured_ready_to_use_liquid_past_its_in_use_time_is_listed_and_wasted_as_beyond_use(world, session):
    world.products["hylenex"].beyond_use_hours = 6
    vial = world.container("hylenex")
    draw(world, start_treatment(world), vial, "30", "USP U", area="lip", at=NOW + HOUR)
    assert vial.reconstituted_at is None and vial.beyond_use_at == NOW + 7 * HOUR

    assert listed(session, world, NOW + 7 * HOUR - dt.timedelta(seconds=1)) == []
    assert listed(session, world, NOW + 7 * HOUR) == [vial.id]
    wasted = cart.waste_beyond_use(session, actor=world.users["nurse"], scope=Scope.for_user(world.users["nurse"]),
                                   now=NOW + 8 * HOUR)
    assert [(m.container_id, m.quantity, m.reason) for m in wasted] == [(vial.id, Decimal("-120"), "beyond_use")]
    assert vial.state is ContainerState.DISCARDED


def test_a_syringe_kept_for_its_patient_is_listed_once_its_hold_is_over_and_wasted_as_its_remainder(world, session):
    world.clinic.filler_hold_days = 3
    session.flush()
    syringe = world.container("filler")
    first = start_treatment(world, "A", at=NOW)
    draw(world, first, syringe, "0.2", "mL", area="lip", at=NOW + HOUR)
    assert close_treatment(world, first, at=NOW + 2 * HOUR).held == [syringe]

    assert listed(session, world, NOW + HOUR + 3 * DAY - dt.timedelta(seconds=1)) == []  # still held for A
    assert listed(session, world, NOW + HOUR + 3 * DAY) == [syringe.id]
    wasted = cart.waste_beyond_use(session, actor=world.users["nurse"], scope=Scope.for_user(world.users["nurse"]),
                                   now=NOW + 5 * DAY)
    assert [(m.container_id, m.quantity, m.reason, m.treatment_id) for m in wasted] == [
        (syringe.id, Decimal("-0.35"), "single_patient_remainder", first.id)]
    assert "the hold is over" in wasted[0].note
    assert syringe.state is ContainerState.DISCARDED
    assert listed(session, world, NOW + 5 * DAY) == []


def test_a_syringe_in_a_treatment_still_open_is_that_treatments_and_not_listed(world, session):
    world.clinic.filler_hold_days = 3
    session.flush()
    syringe = world.container("filler")
    draw(world, start_treatment(world, "A", at=NOW), syringe, "0.2", "mL", area="lip", at=NOW + HOUR)

    assert listed(session, world, NOW + 10 * DAY) == []
    refused = pytest.raises(Exception, cart.waste_beyond_use, session, actor=world.users["nurse"],
                            scope=Scope.for_user(world.users["nurse"]), now=NOW + 10 * DAY,
                            container_ids=[syringe.id])
    assert refused.value.code == "validation_error"
    assert syringe.remaining == Decimal("0.35")


def test_without_a_hold_nothing_is_kept_so_nothing_waits_on_the_list(world, session):
    assert world.clinic.filler_hold_days == 0
    syringe = world.container("filler")
    first = start_treatment(world, "A", at=NOW)
    draw(world, first, syringe, "0.2", "mL", area="lip", at=NOW + HOUR)
    assert [m.container_id for m in close_treatment(world, first, at=NOW + 2 * HOUR).wasted] == [syringe.id]
    assert listed(session, world, NOW + 10 * DAY) == []
