"""A draw or waste reversed after its container went out of use puts nothing back into the bin.

QA's history: a Dysport vial gave a patient 50 U into the glabella and 10 U into the forehead (recorded twice);
closing the treatment wasted the other 240 U. Reversing the forehead dose then revived the vial with 10 U, still
bound to the patient: stock out of nothing, a count expecting 10 U, and (with sharing allowed) a dose for another
patient from a vial in the bin. The 10 U were in the vial when it was closed, so they were wasted with it: the
reversal undoes the dose and, in the same transaction, wastes what it put back, as the container went.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from inventory import lifecycle
from inventory.cart import service as cart
from inventory.cold_chain import service as cold_chain
from inventory.counts import service as counts
from inventory.counts.service import LineSpec
from inventory.kits import service as kits
from inventory.models import AuditEvent, Container, ContainerState, Draw, Movement, MovementKind, Treatment
from inventory.reconciliation import service as reconciliation
from inventory.reconciliation.service import Period
from inventory.services.permissions import Scope
from recall import services as recalls
from recall.models import NotificationStatus, RecallContainer, RecallPatient
from tests.factories import (
    EVERYWHERE, NOW, World, close_treatment, draw, reconstitute, refusal, reverse, start_treatment, waste,
)
from tests.kit_factories import check, stocked_kit, state, texts

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
JUNE = Period(dt.date(2026, 6, 1), dt.date(2026, 6, 30))


@dataclass
class Closed:
    vial: Container
    treatment: Treatment
    glabella: Draw
    forehead: Draw
    closing: Movement


def closed_dysport(world: World) -> Closed:
    """QA's history: 50 U glabella, 10 U forehead from a Dysport vial mixed with 2.5 mL; the closing wastes 240 U."""
    vial = reconstitute(world, world.container("dysport", lot="DY1"), "2.5")
    treatment = start_treatment(world, "P-1")
    glabella = draw(world, treatment, vial, "50", area="glabella", at=NOW + MINUTE).draw
    forehead = draw(world, treatment, vial, "10", area="forehead", at=NOW + 2 * MINUTE).draw
    (closing,) = close_treatment(world, treatment, at=NOW + HOUR).wasted
    assert (closing.quantity, vial.state, vial.remaining) == (Decimal(-240), ContainerState.DISCARDED, 0)
    return Closed(vial, treatment, glabella, forehead, closing)


def written_after(world: World, container: Container, movement_id: int) -> list[tuple]:
    world.session.flush()
    return [(m.kind, m.quantity, m.balance_after, m.reason, m.treatment_id) for m in world.session.scalars(
        select(Movement).where(Movement.container_id == container.id, Movement.id > movement_id)
        .order_by(Movement.id))]


def last_movement(world: World, container: Container) -> Movement:
    world.session.flush()
    return world.session.scalar(select(Movement).where(Movement.container_id == container.id)
                                .order_by(Movement.id.desc()).limit(1))


def test_a_dose_reversed_after_the_closing_is_wasted_with_the_vial(world):
    qa = closed_dysport(world)

    reversal = reverse(world, qa.forehead, "recorded twice", at=NOW + 2 * HOUR)

    assert (reversal.kind, reversal.quantity, reversal.reverses_id, reversal.treatment_id) == (
        MovementKind.REVERSAL, Decimal(10), qa.forehead.movement_id, qa.treatment.id)
    assert written_after(world, qa.vial, qa.closing.id) == [
        (MovementKind.REVERSAL, Decimal(10), Decimal(10), "correction", qa.treatment.id),
        (MovementKind.WASTE, Decimal(-10), Decimal(0), "single_patient_remainder", qa.treatment.id),
    ]
    assert f"reversal {reversal.id}" in last_movement(world, qa.vial).note
    assert (qa.vial.state, qa.vial.remaining) == (ContainerState.DISCARDED, 0)
    assert qa.vial.patient_id == qa.treatment.patient_id  # the glabella dose stands
    # The dose is undone in the patient's record and the totals.
    summary = cart.treatment_summary(world.session, qa.treatment.id, Scope.for_user(world.users["nurse"]))
    assert [(line.draw.area, line.is_reversed) for line in summary.draws] == [
        ("glabella", False), ("forehead", True)]
    assert [t.quantity for t in summary.totals] == [Decimal(50)]
    # The reconciliation expects nothing of the vial: drawn 50, wasted 250.
    (row,) = [r for r in reconciliation.reconcile(world.session, scope=EVERYWHERE, period=JUNE).rows
              if r.lot.id == qa.vial.lot_id]
    assert (row.received, row.drawn, row.wasted, row.closing, row.expected_closing) == (
        Decimal(300), Decimal(50), Decimal(250), Decimal(0), Decimal(0))


def test_the_vial_serves_no_other_patient_once_sharing_is_allowed(world):
    qa = closed_dysport(world)
    reverse(world, qa.forehead, "recorded twice", at=NOW + 2 * HOUR)
    world.products["dysport"].is_multi_patient = True
    world.session.flush()
    other = start_treatment(world, "P-2", at=NOW + 3 * HOUR)
    movements = world.session.scalar(select(func.count(Movement.id)))

    error = refusal(lambda: draw(world, other, qa.vial, "10", at=NOW + 3 * HOUR))

    assert error.code == "container_empty" and "discarded" in error.message
    assert world.session.scalar(select(func.count(Movement.id))) == movements
    assert lifecycle.scan_refusal(qa.vial, other, NOW + 3 * HOUR).code == "container_empty"


def test_the_closing_waste_reversed_after_the_dose_still_brings_the_vial_back(world):
    """Undoing the very waste that took the vial out of use keeps its rule: the vial is back, with what that waste
    took (the 10 U of the reversed dose stay wasted)."""
    qa = closed_dysport(world)
    reverse(world, qa.forehead, "recorded twice", at=NOW + 2 * HOUR)

    reverse(world, qa.closing, "the vial is still in the fridge", at=NOW + 3 * HOUR)

    assert (qa.vial.state, qa.vial.remaining) == (ContainerState.IN_USE, Decimal(240))


def test_a_part_waste_reversed_after_the_closing_is_wasted_with_the_vial(world):
    vial = reconstitute(world, world.container("dysport", lot="DY2"), "2.5")
    treatment = start_treatment(world, "P-1")
    draw(world, treatment, vial, "50", at=NOW + MINUTE)
    spilt = waste(world, vial, "contaminated", quantity="20", at=NOW + 2 * MINUTE)
    (closing,) = close_treatment(world, treatment, at=NOW + HOUR).wasted

    reversal = reverse(world, spilt, "it was not contaminated", at=NOW + 2 * HOUR)

    assert written_after(world, vial, closing.id) == [
        (MovementKind.REVERSAL, Decimal(20), Decimal(20), "correction", None),
        (MovementKind.WASTE, Decimal(-20), Decimal(0), "single_patient_remainder", treatment.id),
    ]
    assert reversal.reverses_id == spilt.id and cart.is_reversed(world.session, spilt)
    assert (vial.state, vial.remaining) == (ContainerState.DISCARDED, 0)


def shared_vial(world: World) -> tuple[Container, Draw]:
    """A Dysport vial shared between patients (an admin's choice): 10 U for P-1 (to be reversed), 20 U for P-2."""
    world.products["dysport"].is_multi_patient = True
    vial = reconstitute(world, world.container("dysport", lot="DY3"), "2.5")
    first = draw(world, start_treatment(world, "P-1"), vial, "10", at=NOW + MINUTE).draw
    draw(world, start_treatment(world, "P-2"), vial, "20", at=NOW + 2 * MINUTE)
    return vial, first


def dropped(world: World, vial: Container) -> None:
    waste(world, vial, "dropped", at=NOW + HOUR)


def past_beyond_use(world: World, vial: Container) -> None:
    cart.waste_beyond_use(world.session, actor=world.users["nurse"], scope=EVERYWHERE, now=NOW + 25 * HOUR,
                          container_ids=[vial.id])


def counted_empty(world: World, vial: Container) -> None:
    counter, reviewer = world.users["clinic_manager"], world.users["manager"]
    count = counts.create_submitted(world.session, actor=counter, scope=Scope.for_user(counter),
                                    location_id=vial.location_id, now=NOW + HOUR,
                                    lines=[LineSpec(container=vial.label_code, counted=Decimal(0))])
    counts.post(world.session, actor=reviewer, scope=EVERYWHERE, count_id=count.id, now=NOW + HOUR)


def drawn_empty(world: World, vial: Container) -> None:
    draw(world, start_treatment(world, "P-3"), vial, "270", area="masseter_left", at=NOW + HOUR,
         confirm=["session_max", "area_max"], confirm_reason="bilateral masseter, as planned")


@pytest.mark.parametrize(("went", "emptied_as", "reason"), [
    (dropped, ContainerState.DISCARDED, "dropped"),
    (past_beyond_use, ContainerState.DISCARDED, "beyond_use"),
    (counted_empty, ContainerState.EMPTY, "other"),
    (drawn_empty, ContainerState.EMPTY, "other"),
], ids=["wasted whole", "beyond-use wasted", "counted empty", "drawn empty"])
def test_a_dose_reversed_into_a_vial_out_of_use_for_another_reason_is_wasted(world, went, emptied_as, reason):
    vial, first = shared_vial(world)
    went(world, vial)
    assert (vial.state, vial.remaining) == (emptied_as, 0)
    before = last_movement(world, vial).id

    reverse(world, first, "recorded on the wrong patient", at=NOW + 26 * HOUR)

    assert written_after(world, vial, before) == [
        (MovementKind.REVERSAL, Decimal(10), Decimal(10), "correction", first.treatment_id),
        (MovementKind.WASTE, Decimal(-10), Decimal(0), reason, None),
    ]
    assert (vial.state, vial.remaining) == (ContainerState.DISCARDED, 0)
    assert cart.reversed_ids(world.session, [first.movement_id]) == {first.movement_id}


def test_a_last_dose_reversed_after_the_closing_is_the_remainder_the_closing_wastes(world):
    """A dose that emptied a syringe, reversed while its treatment is open, is back in the syringe; reversed after
    the closing, it is the remainder the closing would have wasted."""
    reversed_early, reversed_late = world.container("filler", lot="JV1"), world.container("filler", lot="JV2")
    for syringe in (reversed_early, reversed_late):
        treatment = start_treatment(world, f"P-{syringe.lot.number}")
        draw(world, treatment, syringe, "0.3", "mL", area="lip", at=NOW + MINUTE)
        last = draw(world, treatment, syringe, "0.25", "mL", area="lip", at=NOW + 2 * MINUTE).draw
        assert syringe.state is ContainerState.EMPTY
        if syringe is reversed_early:
            reverse(world, last, "recorded twice", at=NOW + 3 * MINUTE)
        closed = close_treatment(world, treatment, at=NOW + HOUR)
        if syringe is reversed_late:
            assert closed.wasted == []  # it was empty when closed
            before = last_movement(world, syringe).id
            reverse(world, last, "recorded twice", at=NOW + 2 * HOUR)

    assert (reversed_early.state, reversed_early.remaining) == (ContainerState.DISCARDED, 0)  # the closing's waste
    assert written_after(world, reversed_late, before) == [
        (MovementKind.REVERSAL, Decimal("0.25"), Decimal("0.25"), "correction", treatment.id),
        (MovementKind.WASTE, Decimal("-0.25"), Decimal(0), "single_patient_remainder", treatment.id),
    ]
    assert (reversed_late.state, reversed_late.remaining) == (ContainerState.DISCARDED, 0)


def test_a_dose_reversed_into_a_held_vial_wasted_on_hold_stays_wasted_and_off_hold(world):
    vial = world.container("botox", lot="CC1", now=NOW - 48 * HOUR)
    reconstitute(world, vial, at=NOW - 10 * HOUR)
    treatment = start_treatment(world, "P-1", at=NOW - 9 * HOUR)
    dose = draw(world, treatment, vial, "20", at=NOW - 9 * HOUR).draw
    cold_chain.record_excursion(
        world.session, actor=world.users["manager"], scope=EVERYWHERE, location_id=vial.location_id,
        started_at=NOW - 6 * HOUR, ended_at=NOW - 2 * HOUR, min_c=Decimal("9"), max_c=Decimal("14.5"), now=NOW)
    assert vial.on_hold_since is not None
    cold_chain.waste_held(world.session, actor=world.users["safety"], scope=EVERYWHERE, container_id=vial.id,
                          reason="Kept at 14.5 C for 4 hours", now=NOW + HOUR)
    before = last_movement(world, vial).id

    reverse(world, dose, "wrong vial scanned", at=NOW + 2 * HOUR)

    assert written_after(world, vial, before) == [
        (MovementKind.REVERSAL, Decimal(20), Decimal(20), "correction", treatment.id),
        (MovementKind.WASTE, Decimal(-20), Decimal(0), cold_chain.WASTE_REASON, None),
    ]
    assert (vial.state, vial.remaining, vial.on_hold_since) == (ContainerState.DISCARDED, 0, None)
    assert cold_chain.open_holds(world.session, scope=EVERYWHERE) == []
    reopened = select(func.count(AuditEvent.id)).where(AuditEvent.action == "container.hold_reopened")
    assert world.session.scalar(reopened) == 0


@pytest.mark.parametrize(("status", "kind", "reason", "emptied_as"), [
    ("destroyed", MovementKind.WASTE, "recall_destroyed", ContainerState.DISCARDED),
    ("returned", MovementKind.RETURN, "recall_returned", ContainerState.EMPTY),
])
def test_a_dose_reversed_into_a_recalled_vial_leaves_as_the_vial_did(world, status, kind, reason, emptied_as):
    """The vial left stock for the recall: the units put back leave the same way, the case's line stays done
    (the case waits for no container), and the reversed dose is still recorded on the patient's line."""
    vial, first = shared_vial(world)
    case = recalls.open_recall(world.session, actor=world.users["safety"], lot_ids=[vial.lot_id],
                               reason="Manufacturer notice 2026-31", recall_class="I", source="manufacturer", now=NOW)
    recalls.update_container(world.session, actor=world.users["safety"], scope=EVERYWHERE, case_id=case.id,
                             container_id=vial.id, status=status, now=NOW + HOUR)
    before = last_movement(world, vial).id

    reverse(world, first, "recorded on the wrong patient", at=NOW + 2 * HOUR)

    assert written_after(world, vial, before) == [
        (MovementKind.REVERSAL, Decimal(10), Decimal(10), "correction", first.treatment_id),
        (kind, Decimal(-10), Decimal(0), reason, None),
    ]
    assert (vial.state, vial.remaining) == (emptied_as, 0)
    world.session.expire_all()
    line = world.session.scalar(select(RecallContainer).where(RecallContainer.case_id == case.id,
                                                              RecallContainer.container_id == vial.id))
    assert line.status.value == status
    assert recalls.open_counts(world.session, case.id)["containers_open"] == 0
    patient_line = world.session.scalar(select(RecallPatient).where(
        RecallPatient.case_id == case.id, RecallPatient.patient_id == first.treatment.patient_id))
    assert patient_line.status is NotificationStatus.PENDING
    assert world.session.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.action == "recall.dose_reversed")) == 1


def test_an_emergency_dose_reversed_after_the_closing_does_not_refill_the_kit(world):
    kit = stocked_kit(world)
    check(world, kit)
    vial = kits.contents(world.session, kit)[0]
    treatment = start_treatment(world, "P-1")
    used = draw(world, treatment, vial, "100", area="lip", reason="emergency", at=NOW + MINUTE).draw
    close_treatment(world, treatment, at=NOW + HOUR)
    assert (vial.state, vial.remaining) == (ContainerState.DISCARDED, 0)

    reverse(world, used, "recorded on the wrong vial", at=NOW + 2 * HOUR)

    assert (vial.state, vial.remaining) == (ContainerState.DISCARDED, 0)
    assert vial.patient_id is None  # its only dose is undone: it was never this patient's
    # The vial stays gone (its remainder was wasted at the closing, in the kit's place): the kit was used and
    # is short, whatever became of the dose.
    assert texts(state(world, kit, NOW + 2 * HOUR))[:2] == [
        "Used on 15 Jun 2026 (stock wasted from it): restock and check",
        "Hyaluronidase: 150 USP U of 300 USP U (Hylenex recombinant 150 USP U/mL)"]
