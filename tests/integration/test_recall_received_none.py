"""A patient on a recall's list whose every dose from its lots was reversed received none of them: the safety lead
may set her not required in any class, and the case page says so. One with a dose that stands is notified in a
Class I or II case, as before; the refusal says which dose (DOMAIN.md "Lots, expiry and recalls")."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from inventory.errors import RecallOpenItems, ValidationError
from inventory.models import AuditEvent, Container, Draw, Patient
from recall import services
from recall.models import NotificationStatus, RecallCase, RecallPatient, RecallStatus
from tests import recall_helpers as rh
from tests.factories import EVERYWHERE, NOW, World, patient, reconstitute

LATER = NOW + dt.timedelta(hours=1)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


class Story:
    """Pat had 4 U and Sam 6 U from one shared Botox vial of lot RN1 (and Pat 2 U more that afternoon, when
    ``pat_again``); the lot is recalled."""

    def __init__(self, world: World, recall_class: str, *, pat_again: bool = False) -> None:
        rh.share_toxins(world)
        self.world = world
        self.vial: Container = reconstitute(world, world.container("botox", lot="RN1"))
        self.pat: Patient = patient(world, "P-1", name="Pat Quinn")
        self.sam: Patient = patient(world, "P-2", name="Sam Reed")
        self.pat_dose: Draw = rh.give(world, rh.treat(world, self.pat), self.vial, "4")
        self.sam_dose: Draw = rh.give(world, rh.treat(world, self.sam), self.vial, "6", area="forehead")
        touch_up = NOW + dt.timedelta(hours=4)
        self.pat_again: Draw | None = rh.give(world, rh.treat(world, self.pat, at=touch_up), self.vial, "2",
                                              at=touch_up) if pat_again else None
        self.case: RecallCase = services.open_recall(
            world.session, actor=world.users["safety"], lot_ids=[self.vial.lot_id], reason="Notice 7",
            recall_class=recall_class, source="manufacturer", now=NOW)

    def set(self, who: Patient, status: str, **kwargs) -> RecallPatient:
        return services.update_patient(self.world.session, actor=self.world.users["safety"], scope=EVERYWHERE,
                                       case_id=self.case.id, patient_id=who.id, status=status, now=LATER, **kwargs)

    def line(self, who: Patient) -> RecallPatient:
        self.world.session.flush()
        return self.world.session.scalar(select(RecallPatient).where(
            RecallPatient.case_id == self.case.id, RecallPatient.patient_id == who.id,
        ).execution_options(populate_existing=True))

    def view_line(self, who: Patient) -> services.PatientLine:
        view = services.case_view(self.world.session, self.case.id, EVERYWHERE)
        return next(p for p in view.patients if p.patient.id == who.id)


@pytest.mark.parametrize("recall_class", ["I", "II"])
def test_a_patient_whose_every_dose_was_reversed_may_be_not_required_in_a_class_one_or_two_case(world, recall_class):
    story = Story(world, recall_class)
    rh.reverse(world, story.pat_dose, at=LATER)  # recorded on the wrong patient's treatment, then corrected
    assert story.line(story.pat).status is NotificationStatus.PENDING  # still on the list, blocking the case
    assert story.view_line(story.pat).received_none and not story.view_line(story.sam).received_none

    line = story.set(story.pat, "not_required", note="the dose was never given")

    assert (line.status, line.method, line.note) == (NotificationStatus.NOT_REQUIRED, None, "the dose was never given")
    event = world.session.scalar(select(AuditEvent).where(AuditEvent.action == "recall.patient_updated"))
    assert event.details.items() >= {"patient_id": story.pat.id, "from": "pending", "to": "not_required"}.items()
    # Pat no longer holds the case open: Sam and the vial do.
    with pytest.raises(RecallOpenItems) as caught:
        services.close_case(world.session, actor=world.users["safety"], case_id=story.case.id, now=LATER)
    assert caught.value.details["patients_pending"] == 1


def test_a_patient_with_a_dose_that_stands_is_still_notified_in_a_class_one_case(world):
    story = Story(world, "I")

    with pytest.raises(ValidationError) as caught:
        story.set(story.sam, "not_required")

    error = caught.value
    assert error.code == "validation_error" and error.details["field"] == "status"
    assert error.message.startswith("Sam Reed received 6 U (0.15 mL) of Botox Cosmetic 100 U lot RN1 on 15 June 2026")
    assert "Class I recall notifies every patient" in error.message and "reversed" in error.message
    assert error.details["patient_id"] == story.sam.id
    assert error.details["draw_ids"] == [story.sam_dose.id]
    assert story.line(story.sam).status is NotificationStatus.PENDING


def test_one_dose_reversed_of_two_is_not_enough(world):
    story = Story(world, "II", pat_again=True)  # Pat came back that afternoon for a 2 U touch-up
    rh.reverse(world, story.pat_dose, at=LATER)
    assert not story.view_line(story.pat).received_none

    with pytest.raises(ValidationError) as caught:
        story.set(story.pat, "not_required")

    assert caught.value.message.startswith(
        "Pat Quinn received 2 U (0.05 mL) of Botox Cosmetic 100 U lot RN1 on 15 June 2026")
    assert caught.value.details["draw_ids"] == [story.pat_again.id]


def test_a_notified_patient_whose_last_dose_is_reversed_is_pending_again_and_may_then_be_not_required(world):
    story = Story(world, "I")
    story.set(story.pat, "notified", method="phone", note="told: 4 U in the glabella")

    rh.reverse(world, story.pat_dose, at=LATER)

    line = story.line(story.pat)  # check_reversal: what she was told has changed, the safety lead decides
    assert (line.status, line.note) == (
        NotificationStatus.PENDING, "a dose was reversed after the patient was notified: tell them what changed")
    assert story.set(story.pat, "not_required").status is NotificationStatus.NOT_REQUIRED


def test_a_class_three_case_leaves_out_a_patient_with_or_without_a_dose_that_stands(world):
    story = Story(world, "III")
    assert story.line(story.sam).status is NotificationStatus.NOT_REQUIRED
    story.set(story.sam, "pending")
    rh.reverse(world, story.pat_dose, at=LATER)
    story.set(story.pat, "pending")

    assert story.set(story.sam, "not_required").status is NotificationStatus.NOT_REQUIRED
    assert story.set(story.pat, "not_required").status is NotificationStatus.NOT_REQUIRED


def test_a_case_closes_once_its_reversed_patients_are_not_required(world):
    story = Story(world, "I")
    rh.reverse(world, story.pat_dose, at=LATER)
    story.set(story.pat, "not_required")
    story.set(story.sam, "notified", method="letter")
    services.update_container(world.session, actor=world.users["safety"], scope=EVERYWHERE, case_id=story.case.id,
                              container_id=story.vial.id, status="destroyed", now=LATER)

    closed = services.close_case(world.session, actor=world.users["safety"], case_id=story.case.id, now=LATER)

    assert closed.status is RecallStatus.CLOSED
