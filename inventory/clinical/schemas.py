"""Request and response models of the patient history, checklist and follow-up API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, StrictBool, StringConstraints

from inventory.blueprints.api.schemas import Day, Model, Qty
from inventory.clinical import service as clinical
from inventory.models import Treatment


class MoleculeHistoryOut(Model):
    molecule: str
    unit: str
    units_last_90_days: Qty
    sessions_last_90_days: int
    last_session_on: dt.date
    last_session_units: Qty
    last_treatment_id: int
    days_since_last: int


class FillerOut(Model):
    on: dt.date
    treatment_id: int
    product: str
    material: str | None
    gprime_category: str | None
    area: str
    ml: Qty


class PatientHistoryOut(Model):
    patient_id: int
    today: dt.date = Field(description="the clinic's date the days are counted to")
    molecules: list[MoleculeHistoryOut] = Field(description="per molecule, never summed across molecules")
    days_since_last_toxin: dict[str, int]
    fillers: list[FillerOut] = Field(description="newest first")

    @classmethod
    def of(cls, history: clinical.PatientHistory) -> PatientHistoryOut:
        return cls(
            patient_id=history.patient.id, today=history.today,
            molecules=[MoleculeHistoryOut(**vars(m)) for m in history.molecules],
            days_since_last_toxin=history.days_since_last_toxin,
            fillers=[FillerOut(**vars(f)) for f in history.fillers],
        )


class ChecklistAnswers(Model):
    """Each question answered true or false: "no" or 0 is no answer at all."""

    blood_thinners: StrictBool
    pregnant: StrictBool
    autoimmune: StrictBool
    recent_vaccine_or_infection: StrictBool
    dental_work_planned: StrictBool
    notes: Annotated[str, StringConstraints(strip_whitespace=True, max_length=clinical.MAX_NOTES)] = ""


class ChecklistIn(Model):
    answers: ChecklistAnswers


class ChecklistKnown(Model):
    days_since_last_toxin: dict[str, int]
    fillers: list[FillerOut]


class ChecklistOut(Model):
    treatment_id: int
    answers: ChecklistAnswers | None = Field(description="null until someone answers")
    answered_by: str | None
    answered_at: dt.datetime | None
    known: ChecklistKnown = Field(description="what Vialog's own records say, before this treatment")

    @classmethod
    def of(cls, treatment: Treatment, history: clinical.PatientHistory) -> ChecklistOut:
        stored = treatment.checklist or {}
        return cls(
            treatment_id=treatment.id,
            answers=ChecklistAnswers(**stored["answers"]) if stored.get("answers") else None,
            answered_by=stored.get("answered_by"),
            answered_at=dt.datetime.fromisoformat(stored["answered_at"]) if stored.get("answered_at") else None,
            known=ChecklistKnown(days_since_last_toxin=history.days_since_last_toxin,
                                 fillers=[FillerOut(**vars(f)) for f in history.fillers]),
        )


class TreatmentPatch(Model):
    follow_up_on: Day | None = Field(default=None, description="the follow-up date; null clears it")
    follow_up_done: bool | None = Field(
        default=None, description="true marks the follow-up done; false undoes that mark (audited): it is due again"
    )


class FollowUpOut(Model):
    treatment_id: int
    clinic_id: int
    patient_id: int
    patient_name: str
    patient_ref: str
    started_at: dt.datetime
    injector: str
    follow_up_on: dt.date | None
    follow_up_done_at: dt.datetime | None

    @classmethod
    def of(cls, treatment: Treatment) -> FollowUpOut:
        return cls(
            treatment_id=treatment.id, clinic_id=treatment.clinic_id, patient_id=treatment.patient_id,
            patient_name=treatment.patient.name, patient_ref=treatment.patient.external_ref,
            started_at=treatment.started_at, injector=treatment.injector.display_name or treatment.injector.username,
            follow_up_on=treatment.follow_up_on, follow_up_done_at=treatment.follow_up_done_at,
        )


class FollowUpQuery(Model):
    due_before: dt.date | None = Field(default=None, description="default: today in UTC plus 7 days")


class FollowUpList(Model):
    follow_ups: list[FollowUpOut]
