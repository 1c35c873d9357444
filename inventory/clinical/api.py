"""The patient's history, the pre-treatment checklist and follow-ups over the API (API.md "Clinical safety")."""

from __future__ import annotations

from inventory.blueprints.api.core import current_scope, current_user, operation
from inventory.clinical import service as clinical
from inventory.clinical.schemas import (
    ChecklistIn,
    ChecklistOut,
    FollowUpList,
    FollowUpOut,
    FollowUpQuery,
    PatientHistoryOut,
    TreatmentPatch,
)
from inventory.extensions import db
from inventory.models import utcnow
from inventory.services.permissions import Permission


@operation("GET", "/patients/<int:patient_id>/history", summary="What the patient received, per molecule",
           permission=Permission.CART, response=PatientHistoryOut, errors=(404,))
def patient_history(patient_id: int) -> PatientHistoryOut:
    history = clinical.view_patient_history(db.session, viewer=current_user(), scope=current_scope(),
                                            patient_id=patient_id, now=utcnow())
    return PatientHistoryOut.of(history)


def _checklist(treatment_id: int) -> ChecklistOut:
    treatment = clinical.get_treatment(db.session, treatment_id, current_scope())
    history = clinical.patient_history(db.session, scope=current_scope(), patient_id=treatment.patient_id,
                                       now=utcnow(), before_treatment_id=treatment.id)
    return ChecklistOut.of(treatment, history)


@operation("GET", "/treatments/<int:treatment_id>/checklist", summary="The pre-treatment checklist",
           permission=Permission.CART, response=ChecklistOut, errors=(404,))
def get_checklist(treatment_id: int) -> ChecklistOut:
    return _checklist(treatment_id)


@operation("PUT", "/treatments/<int:treatment_id>/checklist", summary="Answer the pre-treatment checklist",
           permission=Permission.CART, body=ChecklistIn, response=ChecklistOut, errors=(404, 422))
def put_checklist(treatment_id: int, body: ChecklistIn) -> ChecklistOut:
    clinical.save_checklist(db.session, actor=current_user(), scope=current_scope(), treatment_id=treatment_id,
                            answers=body.answers.model_dump(), now=utcnow())
    return _checklist(treatment_id)


@operation("PATCH", "/treatments/<int:treatment_id>", summary="Set the follow-up date, mark it done or undo that",
           permission=Permission.CART, body=TreatmentPatch, response=FollowUpOut, errors=(404, 422))
def patch_treatment(treatment_id: int, body: TreatmentPatch) -> FollowUpOut:
    now = utcnow()
    if "follow_up_on" in body.model_fields_set:
        clinical.set_follow_up(db.session, actor=current_user(), scope=current_scope(), treatment_id=treatment_id,
                               follow_up_on=body.follow_up_on, now=now)
    if body.follow_up_done is not None:  # true marks it done, false undoes the mark (both audited)
        change = clinical.complete_follow_up if body.follow_up_done else clinical.reopen_follow_up
        change(db.session, actor=current_user(), scope=current_scope(), treatment_id=treatment_id, now=now)
    return FollowUpOut.of(clinical.get_treatment(db.session, treatment_id, current_scope()))


@operation("GET", "/follow-ups", summary="Follow-ups due in the caller's clinics, soonest first",
           permission=Permission.CART, query=FollowUpQuery, response=FollowUpList, errors=(422,))
def list_follow_ups(query: FollowUpQuery) -> FollowUpList:
    due_before = query.due_before or clinical.follow_ups_due_before(db.session, scope=current_scope(), now=utcnow())
    found = clinical.due_follow_ups(db.session, scope=current_scope(), due_before=due_before)
    return FollowUpList(follow_ups=[FollowUpOut.of(t) for t in found])
