"""Corrections of recalled stock: a reversed draw or waste never slips past a recall (DOMAIN.md "Lots, expiry
and recalls"). While the case is open the stock joins it and a listed patient's line records the change; once
it is closed, a correction that would change what it recorded, or put stock where no case tracks it, is refused.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from inventory.cart import service as cart
from inventory.errors import LotQuarantined, LotRecalled, RecallOpenItems
from inventory.models import AuditEvent, Container, ContainerState, Draw, LotStatus, Movement, MovementKind
from recall import services
from recall.models import (
    NotificationMethod, NotificationStatus, RecallCase, RecallContainer, RecallContainerStatus, RecallPatient,
    RecallStatus,
)
from tests import factories
from tests.factories import EVERYWHERE, NOW, World, patient, reconstitute

HOUR = dt.timedelta(hours=1)
LATER = NOW + HOUR

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@dataclass
class Remainder:
    """QA's history: a Botox vial (single patient) gave Pat 20 U; the lot is recalled; the safety lead closing Pat's
    treatment wasted the other 80 U (closed by a nurse, they would be set aside); the empty vial is marked
    destroyed on the case and Pat is notified."""

    vial: Container
    draw: Draw
    waste: Movement
    case: RecallCase


def remainder_on_a_case(world: World, lot: str = "RV1") -> Remainder:
    vial = reconstitute(world, world.container("botox", lot=lot))
    treatment = factories.start_treatment(world, patient(world, "P-1", name="Pat"))
    draw = factories.draw(world, treatment, vial, "20").draw
    case = open_case(world, vial.lot_id)
    (waste,) = factories.close_treatment(world, treatment, at=NOW + dt.timedelta(minutes=5), user="safety").wasted
    assert (waste.reason, vial.remaining) == ("single_patient_remainder", 0)
    mark(world, case, vial, "destroyed")
    notify(world, case, draw)
    return Remainder(vial, draw, waste, case)


def open_case(world: World, lot_id: int) -> RecallCase:
    return services.open_recall(world.session, actor=world.users["safety"], lot_ids=[lot_id],
                                reason="Manufacturer notice 2026-31", recall_class="I", source="manufacturer", now=NOW)


def mark(world: World, case: RecallCase, container: Container, status: str) -> None:
    services.update_container(world.session, actor=world.users["safety"], scope=EVERYWHERE, case_id=case.id,
                              container_id=container.id, status=status, now=LATER)


def notify(world: World, case: RecallCase, draw: Draw) -> None:
    services.update_patient(world.session, actor=world.users["safety"], scope=EVERYWHERE, case_id=case.id,
                            patient_id=draw.treatment.patient_id, status="notified", method="phone", now=LATER,
                            note="told on the phone: 20 U into the glabella")


def close(world: World, case: RecallCase) -> RecallCase:
    return services.close_case(world.session, actor=world.users["safety"], case_id=case.id, now=LATER + HOUR)


def reversals(world: World, container: Container) -> int:
    return world.session.scalar(select(func.count(Movement.id)).where(
        Movement.container_id == container.id, Movement.kind == MovementKind.REVERSAL)) or 0


def patient_line(world: World, case: RecallCase, draw: Draw) -> RecallPatient:
    world.session.flush()
    return world.session.scalar(select(RecallPatient).where(
        RecallPatient.case_id == case.id, RecallPatient.patient_id == draw.treatment.patient_id,
    ).execution_options(populate_existing=True))


def container_line(world: World, case: RecallCase, container: Container) -> RecallContainer:
    world.session.flush()
    return world.session.scalar(select(RecallContainer).where(
        RecallContainer.case_id == case.id, RecallContainer.container_id == container.id,
    ).execution_options(populate_existing=True))


# --- a closed case ----------------------------------------------------------------------------------


def test_reversing_the_remainder_waste_after_the_case_closed_is_refused(world):
    history = remainder_on_a_case(world)
    close(world, history.case)

    error = factories.refusal(lambda: factories.reverse(world, history.waste, "not wasted after all",
                                                        at=LATER + 2 * HOUR))

    assert error.code == "recall_closed" and error.status == 409
    assert error.details["case_id"] == history.case.id
    assert "destroyed" in error.message and "ask the safety lead" in error.message
    assert (history.vial.remaining, history.vial.state, reversals(world, history.vial)) == (
        0, ContainerState.DISCARDED, 0)
    assert container_line(world, history.case, history.vial).status is RecallContainerStatus.DESTROYED
    assert services.open_counts(world.session, history.case.id)["containers_back_in_stock"] == 0


def test_reversing_a_notified_patients_dose_after_the_case_closed_is_refused(world):
    history = remainder_on_a_case(world)
    close(world, history.case)

    error = factories.refusal(lambda: factories.reverse(world, history.draw, at=LATER + 2 * HOUR))

    assert error.code == "recall_closed"
    assert cart.reversed_ids(world.session, [history.draw.movement_id]) == set()
    assert history.vial.remaining == 0
    line = patient_line(world, history.case, history.draw)
    assert (line.status, line.method) == (NotificationStatus.NOTIFIED, NotificationMethod.PHONE)


def test_a_dose_on_a_closed_cases_patient_list_is_never_withdrawn(world):
    """The vial is not on the list (another patient's draw emptied it first), but Pat is: what Pat was told
    stays true."""
    world.botox.is_multi_patient = True  # a clinic's choice: this vial serves Pat and then Sam
    vial = reconstitute(world, world.container("botox", lot="RV2"))
    pat = factories.draw(world, factories.start_treatment(world, patient(world, "P-1")), vial, "20").draw
    factories.draw(world, factories.start_treatment(world, patient(world, "P-2", name="Sam")), vial, "80",
                   area="masseter_left")
    case = open_case(world, vial.lot_id)
    assert container_line(world, case, vial) is None
    for draw in (pat, world.session.scalar(select(Draw).where(Draw.container_id == vial.id, Draw.id != pat.id))):
        notify(world, case, draw)
    close(world, case)

    error = factories.refusal(lambda: factories.reverse(world, pat, at=LATER + 2 * HOUR))

    assert error.code == "recall_closed" and error.details["patient_id"] == pat.treatment.patient_id
    assert "patient list" in error.message
    assert vial.remaining == 0


def test_stock_put_back_into_a_lot_whose_case_closed_is_refused_though_the_case_never_listed_it(world):
    kept, dropped = world.receive("botox", lot="RV3", containers=2).containers
    waste = factories.waste(world, dropped, "dropped")
    case = open_case(world, kept.lot_id)
    mark(world, case, kept, "returned")
    close(world, case)

    error = factories.refusal(lambda: factories.reverse(world, waste, "not dropped after all", at=LATER + 2 * HOUR))

    assert error.code == "recall_closed" and error.details["case_id"] == case.id
    assert (dropped.remaining, reversals(world, dropped)) == (0, 0)


def test_a_later_case_on_the_lot_does_not_undo_what_a_closed_case_recorded(world):
    history = remainder_on_a_case(world)
    close(world, history.case)
    later = open_case(world, history.vial.lot_id)  # a regulator's notice on the same lot, after the first

    error = factories.refusal(lambda: factories.reverse(world, history.waste, at=LATER + 2 * HOUR))

    assert error.code == "recall_closed" and error.details["case_id"] == history.case.id
    assert container_line(world, later, history.vial) is None


def test_a_lot_recalled_without_a_case_takes_no_stock_back(world):
    vial = world.container("botox", lot="RV4")
    waste = factories.waste(world, vial, "dropped")
    vial.lot.status = LotStatus.RECALLED  # as an import from the old system left it
    world.session.flush()

    error = factories.refusal(lambda: factories.reverse(world, waste))

    assert isinstance(error, LotRecalled)
    assert (vial.remaining, reversals(world, vial)) == (0, 0)


# --- an open case -----------------------------------------------------------------------------------


def test_a_reversed_remainder_waste_puts_the_destroyed_vial_back_on_the_open_case(world):
    history = remainder_on_a_case(world)

    factories.reverse(world, history.waste, "not wasted after all", at=LATER + HOUR)

    assert history.vial.remaining == 80
    line = container_line(world, history.case, history.vial)
    assert (line.status, line.note) == (RecallContainerStatus.OPEN, "back in stock: return or destroy it again")
    with pytest.raises(RecallOpenItems) as caught:
        close(world, history.case)
    assert caught.value.details["containers_open"] == 1
    mark(world, history.case, history.vial, "destroyed")
    assert history.vial.remaining == 0
    assert close(world, history.case).status is RecallStatus.CLOSED


def test_reversing_a_notified_patients_dose_on_an_open_case_makes_them_pending_again(world):
    history = remainder_on_a_case(world)

    factories.reverse(world, history.draw, "scanned the wrong vial", at=LATER + HOUR)

    line = patient_line(world, history.case, history.draw)
    assert (line.status, line.method) == (NotificationStatus.PENDING, None)
    assert line.note == "a dose was reversed after the patient was notified: tell them what changed"
    assert line.updated_by_id == world.users["nurse"].id
    event = world.session.scalar(select(AuditEvent).where(AuditEvent.action == "recall.dose_reversed"))
    assert event.object_id == str(history.case.id)
    assert event.details.items() >= {"patient_id": line.patient_id, "movement_id": history.draw.movement_id,
                                  "from": "notified", "to": "pending", "method": "phone",
                                  "note": "told on the phone: 20 U into the glabella", "quantity": "20"}.items()
    assert line.patient_id in services.names_patients(event)
    # The 20 U were in the vial when the closing wasted it: they are wasted with it (never back on a shelf), the
    # vial stays destroyed on the list, and the case waits for the patient only.
    assert (history.vial.remaining, history.vial.state) == (0, ContainerState.DISCARDED)
    assert container_line(world, history.case, history.vial).status is RecallContainerStatus.DESTROYED
    with pytest.raises(RecallOpenItems) as caught:
        close(world, history.case)
    assert (caught.value.details["patients_pending"], caught.value.details["containers_open"]) == (1, 0)


TELL_AGAIN = "a dose was reversed after the patient was notified: tell them what changed"


@pytest.mark.parametrize("status, method, note, done", [
    # The case page's form sends the line's note back as it showed it: the instruction, unchanged.
    ("notified", "letter", TELL_AGAIN, "notified again by letter on 15 Jun 2026 13:30"),
    ("notified", "in_person", None, "notified again in person on 15 Jun 2026 13:30"),
    ("unreachable", None, None, "could not be reached to be told again (15 Jun 2026 13:30)"),
], ids=["page-form-letter", "in-person", "unreachable"])
def test_working_the_line_again_settles_the_reversals_instruction(world, status, method, note, done):
    history = remainder_on_a_case(world)
    factories.reverse(world, history.draw, "scanned the wrong vial", at=LATER + HOUR)

    line = services.update_patient(
        world.session, actor=world.users["safety"], scope=EVERYWHERE, case_id=history.case.id,
        patient_id=history.draw.treatment.patient_id, status=status, method=method, note=note, now=LATER + 2 * HOUR)

    history_note = f"a dose was reversed after the first notice; {done}"  # London's summer clock, UTC+1
    assert line.note == history_note
    view = services.case_view(world.session, history.case.id, EVERYWHERE)
    assert [p.note for p in view.patients] == [history_note]
    event = world.session.scalars(select(AuditEvent).where(AuditEvent.action == "recall.patient_updated")
                                  .order_by(AuditEvent.id.desc())).first()
    assert (event.details["to"], event.details["note"]) == (status, history_note)
    assert close(world, history.case).status is RecallStatus.CLOSED


def test_a_note_typed_when_telling_them_again_replaces_the_instruction(world):
    history = remainder_on_a_case(world)
    factories.reverse(world, history.draw, "scanned the wrong vial", at=LATER + HOUR)
    line = services.update_patient(
        world.session, actor=world.users["safety"], scope=EVERYWHERE, case_id=history.case.id,
        patient_id=history.draw.treatment.patient_id, status="notified", method="phone",
        note="told her the 20 U were never given", now=LATER + 2 * HOUR)
    assert line.note == "told her the 20 U were never given"


def test_pending_again_keeps_the_instruction_open(world):
    history = remainder_on_a_case(world)
    factories.reverse(world, history.draw, "scanned the wrong vial", at=LATER + HOUR)
    line = services.update_patient(
        world.session, actor=world.users["safety"], scope=EVERYWHERE, case_id=history.case.id,
        patient_id=history.draw.treatment.patient_id, status="pending", note=TELL_AGAIN, now=LATER + 2 * HOUR)
    assert (line.status, line.note) == (NotificationStatus.PENDING, TELL_AGAIN)


def test_a_line_left_with_the_instruction_by_an_older_vialog_reads_as_done(world):
    """Lines notified again before the instruction was settled keep it in the database (a closed case's record
    is not rewritten): they read as done, as of the line's last change."""
    history = remainder_on_a_case(world)
    factories.reverse(world, history.draw, "scanned the wrong vial", at=LATER + HOUR)
    line = patient_line(world, history.case, history.draw)
    line.status, line.method, line.updated_at = NotificationStatus.NOTIFIED, NotificationMethod.LETTER, LATER + HOUR
    assert line.note == TELL_AGAIN
    close(world, history.case)

    (item,) = services.case_view(world.session, history.case.id, EVERYWHERE).patients
    assert item.note == "a dose was reversed after the first notice; notified again by letter on 15 Jun 2026 12:30"


def test_reversing_a_pending_patients_dose_on_an_open_case_is_recorded_and_leaves_them_pending(world):
    vial = reconstitute(world, world.container("botox", lot="RV5"))
    draw = factories.draw(world, factories.start_treatment(world, patient(world, "P-1")), vial, "20").draw
    case = open_case(world, vial.lot_id)

    factories.reverse(world, draw, at=LATER)

    line = patient_line(world, case, draw)
    assert (line.status, line.note) == (NotificationStatus.PENDING, None)
    event = world.session.scalar(select(AuditEvent).where(AuditEvent.action == "recall.dose_reversed"))
    assert (event.details["from"], event.details["to"]) == ("pending", "pending")
    assert container_line(world, case, vial).status is RecallContainerStatus.OPEN


# --- a quarantined lot ------------------------------------------------------------------------------


def test_a_reversal_into_a_quarantined_lot_stays_out_of_use_with_its_lot(world):
    vial = world.container("botox", lot="RV6")
    waste = factories.waste(world, vial, "dropped")
    services.quarantine(world.session, actor=world.users["safety"], lot_id=vial.lot_id, reason="fridge alarm",
                        now=NOW)

    factories.reverse(world, waste, "not dropped after all", at=LATER)

    assert vial.remaining == 100
    error = factories.refusal(lambda: reconstitute(world, vial))
    assert isinstance(error, LotQuarantined)

