"""The read side of the patient's record: finding a patient, and every treatment she had.

Both read only the caller's clinics: another clinic's patient is not found, as in the API. The pages call
them through ``view_patient_search`` and ``view_patient_record``, which record each look in the access log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from inventory.clinical.service import get_patient, record_patient_search, record_patient_view
from inventory.models import Clinic, Container, Draw, Movement, Patient, Treatment, User
from inventory.patient_refs import name_search_key, ref_key
from inventory.services.permissions import Scope

# A longer list is no help at the cart: past it, the page asks for a narrower search.
SEARCH_LIMIT = 50


@dataclass(frozen=True)
class PatientMatch:
    patient: Patient
    clinic: Clinic
    last_treated_at: dt.datetime | None  # None: never treated


@dataclass(frozen=True)
class PatientSearch:
    matches: list[PatientMatch]
    is_capped: bool  # more patients match than are listed


def search_patients(session: Session, *, scope: Scope, text: str, limit: int = SEARCH_LIMIT) -> PatientSearch:
    """Patients of the caller's clinics whose reference starts with ``text`` or whose name holds each of its
    words ("hart amelia" finds Amelia Hart), case and accents ignored ("elodie" finds Élodie Dupont: each word is
    compared with the name's stored key, inventory/patient_refs.py ``name_search_key``, on SQLite and PostgreSQL
    alike). A reference is read as the cart reads it (its key,
    inventory/patient_refs.py): "p 1001", "p1001" and "P–1001" find P-1001, as the cart tells a nurse that
    "p 1001" is P-1001. An exact reference comes first (a scanned card finds its patient however many others
    match), then the most recently treated (never treated: the newest record). Nothing typed finds nothing."""
    text = (text or "").strip()
    if not text:
        return PatientSearch([], is_capped=False)
    key = ref_key(text)
    last_treated = func.max(Treatment.started_at)
    # A word that is only accents (a lone combining mark) names no letter: it narrows nothing.
    words = [word for word in (name_search_key(typed) for typed in text.split()) if word]
    every_word = and_(*[Patient.name_key.contains(word, autoescape=True) for word in words]) if words else false()
    by_reference = Patient.ref_key.startswith(key, autoescape=True) if key else false()
    stmt = (
        select(Patient, Clinic, last_treated)
        .join(Clinic, Clinic.id == Patient.clinic_id)
        .outerjoin(Treatment, Treatment.patient_id == Patient.id)
        .where(or_(by_reference, every_word))
        .group_by(Patient.id, Clinic.id)
        .order_by(
            case((Patient.ref_key == key, 0), else_=1),
            func.coalesce(last_treated, Patient.created_at).desc(),
            Patient.id.desc(),
        )
        .limit(limit + 1)  # one more than shown says the list is capped
    )
    rows = session.execute(scope.filter(stmt, Patient.clinic_id)).all()
    matches = [PatientMatch(patient, clinic, at) for patient, clinic, at in rows[:limit]]
    return PatientSearch(matches, is_capped=len(rows) > limit)


@dataclass(frozen=True)
class PatientRecord:
    patient: Patient
    clinic: Clinic
    treatments: list[Treatment]  # newest first; open and closed, with their draws
    corrected_movement_ids: frozenset[int]  # draws reversed afterwards: recorded, never given

    def is_corrected(self, draw: Draw) -> bool:
        return draw.movement_id in self.corrected_movement_ids


def patient_record(session: Session, *, scope: Scope, patient_id: int) -> PatientRecord:
    """The patient and every treatment she had, each with its room, injector and draws (product, lot, who
    drew), in the same few statements however many treatments she had. Raises NotFound (another clinic's
    patient too)."""
    patient = get_patient(session, patient_id, scope)
    clinic = session.get(Clinic, patient.clinic_id)
    assert clinic is not None  # a foreign key
    drawn = selectinload(Treatment.draws)
    stmt = (
        select(Treatment)
        .where(Treatment.patient_id == patient.id)
        .options(
            joinedload(Treatment.location), joinedload(Treatment.injector),
            drawn.joinedload(Draw.container).joinedload(Container.product),
            drawn.joinedload(Draw.container).joinedload(Container.lot),
            drawn.joinedload(Draw.injector),
        )
        .order_by(Treatment.started_at.desc(), Treatment.id.desc())
    )
    treatments = list(session.scalars(scope.filter(stmt, Treatment.clinic_id)))
    corrected = session.scalars(
        select(Movement.reverses_id).join(Draw, Draw.movement_id == Movement.reverses_id)
        .where(Draw.patient_id == patient.id)
    )
    return PatientRecord(patient, clinic, treatments, frozenset(i for i in corrected if i is not None))


# --- the same reads, recorded in the access log ----------------------------------------------------------


def view_patient_search(session: Session, *, viewer: User, scope: Scope, text: str, now: dt.datetime,
                        limit: int = SEARCH_LIMIT) -> PatientSearch:
    """``search_patients`` for the Patients page, recorded with what was typed and the patients listed.
    Nothing typed lists nobody and records nothing."""
    found = search_patients(session, scope=scope, text=text, limit=limit)
    if text.strip():
        record_patient_search(session, viewer=viewer, view="patients_search", query=text.strip(),
                              patients=[m.patient for m in found.matches], now=now)
    return found


def view_patient_record(session: Session, *, viewer: User, scope: Scope, patient_id: int,
                        now: dt.datetime) -> PatientRecord:
    """``patient_record`` for the patient's page, recorded in the access log. Raises NotFound (another
    clinic's patient too) before anything is recorded."""
    record = patient_record(session, scope=scope, patient_id=patient_id)
    record_patient_view(session, viewer=viewer, patient=record.patient, view="patient_record", now=now)
    return record
