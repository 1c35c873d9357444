"""The patient's record at the cart: what they received per molecule, the pre-treatment checklist,
and follow-ups (DOMAIN.md "Dose and interval checks").

Vialog already knows every unit each patient received; this module reads it back for the injector
before the next dose: totals per molecule over the last 90 days, the last session and the days since
it, fillers by type, area and date. The checklist stores the questions Vialog cannot know (blood
thinners, pregnancy, ...) beside what it does know. A treatment may carry a follow-up date; the
first treatment of a patient with a molecule gets the product's default (a toxin's 14-day review),
and the due follow-ups of a clinic are one list. Services flush, never commit.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, joinedload

from inventory import dosing, lifecycle
from inventory.errors import NotFound, ValidationError
from inventory.services import access_log
from inventory.models import (
    AuditEvent,
    Clinic,
    Container,
    Draw,
    Movement,
    Patient,
    Product,
    ProductKind,
    Treatment,
    User,
)
from inventory.services.clock import clinic_today, to_clinic_time
from inventory.services.permissions import Scope, get_in_scope

HISTORY_DAYS = 90
MAX_NOTES = 2000
MAX_FOLLOW_UP_DAYS = 731  # two years ahead: further is a typo
UPCOMING_DAYS = 7  # the follow-up list looks a week ahead unless told otherwise

# DOMAIN.md: the questions before a treatment that Vialog's own records cannot answer.
CHECKLIST_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("blood_thinners", "Blood thinners, including fish oil, vitamin E, ginkgo or garlic"),
    ("pregnant", "Pregnant or breastfeeding"),
    ("autoimmune", "An autoimmune condition"),
    ("recent_vaccine_or_infection", "A recent vaccine or infection"),
    ("dental_work_planned", "Dental work planned (keep filler a couple of weeks away)"),
)


@dataclass(frozen=True)
class MoleculeHistory:
    """One molecule the patient received: units add up per molecule, never across molecules; hyaluronidase
    once per unit pool (USP U, IU), never across them."""

    molecule: str
    unit: str
    units_last_90_days: Decimal
    sessions_last_90_days: int
    last_session_on: dt.date
    last_session_units: Decimal
    last_treatment_id: int
    days_since_last: int


@dataclass(frozen=True)
class FillerEntry:
    on: dt.date
    treatment_id: int
    product: str
    material: str | None
    gprime_category: str | None
    area: str
    ml: Decimal


@dataclass(frozen=True)
class PatientHistory:
    patient: Patient
    today: dt.date
    molecules: list[MoleculeHistory]
    fillers: list[FillerEntry]

    @property
    def days_since_last_toxin(self) -> dict[str, int]:
        return {m.molecule: m.days_since_last for m in self.molecules if m.molecule != "hyaluronidase"}


def get_patient(session: Session, patient_id: int, scope: Scope) -> Patient:
    return get_in_scope(session, Patient, patient_id, scope, "patient")


def patient_history(session: Session, *, scope: Scope, patient_id: int, now: dt.datetime,
                    before_treatment_id: int | None = None) -> PatientHistory:
    """What the patient received, in one statement; ``before_treatment_id`` leaves that treatment out
    (the checklist of a treatment shows what came before it). Raises NotFound."""
    patient = get_patient(session, patient_id, scope)
    timezone = session.get(Clinic, patient.clinic_id).timezone  # type: ignore[union-attr]
    today = clinic_today(now, timezone)
    reversed_ = exists().where(Movement.reverses_id == Draw.movement_id)
    stmt = (
        select(Draw.treatment_id, Draw.at, Draw.area, Draw.quantity, Draw.quantity_ml, Product.name,
               Product.kind, Product.molecule, Product.base_unit, Product.material, Product.gprime_category,
               Container.product_id)
        .join(Container, Container.id == Draw.container_id)
        .join(Product, Product.id == Container.product_id)
        .where(Draw.patient_id == patient.id, ~reversed_)
        .order_by(Draw.at.desc(), Draw.id.desc())
    )
    if before_treatment_id is not None:
        stmt = stmt.where(Draw.treatment_id != before_treatment_id)
    rows = session.execute(stmt).all()

    fillers: list[FillerEntry] = []
    # Per total (_total_of): the draws of each treatment (sessions), newest first.
    sessions: dict[tuple[str, int | str | None], dict[int, list[Any]]] = defaultdict(dict)
    for row in rows:
        day = to_clinic_time(row.at, timezone).date()
        if row.kind is ProductKind.FILLER:
            fillers.append(FillerEntry(
                on=day, treatment_id=row.treatment_id, product=row.name, material=row.material,
                gprime_category=row.gprime_category.value if row.gprime_category else None, area=row.area,
                ml=row.quantity_ml if row.quantity_ml is not None else row.quantity,
            ))
        elif row.molecule is not None and row.kind in (ProductKind.NEUROMODULATOR, ProductKind.HYALURONIDASE):
            sessions[_total_of(row)].setdefault(row.treatment_id, []).append((day, row))
    molecules = []
    for (molecule, _), by_treatment in sessions.items():
        last_id = next(iter(by_treatment))  # rows are newest first
        visits = _visits(by_treatment)
        last_draws = visits[0]
        last_day = max(day for day, _ in last_draws)
        recent = [draws for draws in visits if any((today - day).days < HISTORY_DAYS for day, _ in draws)]
        molecules.append(MoleculeHistory(
            molecule=molecule, unit=last_draws[0][1].base_unit,
            units_last_90_days=sum((row.quantity for draws in recent for day, row in draws
                                    if (today - day).days < HISTORY_DAYS), Decimal(0)),
            sessions_last_90_days=len(recent), last_session_on=last_day,
            last_session_units=sum((row.quantity for _, row in last_draws), Decimal(0)),
            last_treatment_id=last_id, days_since_last=(today - last_day).days,
        ))
    molecules.sort(key=lambda m: (m.days_since_last, m.molecule, m.unit))
    return PatientHistory(patient=patient, today=today, molecules=molecules, fillers=fillers)


def _total_of(row: Any) -> tuple[str, int | str | None]:
    """Which total a draw adds to. A toxin's units add up per molecule (DOMAIN.md "Dose and interval checks":
    Botox 50 U and 100 U together, Dysport never with Botox). Hyaluronidase is one molecule whose products'
    units add up only within their unit pool (lifecycle.stock_pool: USP U with USP U, IU with IU, any other
    unit only within its own product), so each pool is a total of its own."""
    if row.kind is ProductKind.HYALURONIDASE:
        return row.molecule, lifecycle.stock_pool(row.product_id, row.base_unit)
    return row.molecule, None


def _visits(by_treatment: dict[int, list[Any]]) -> list[list[Any]]:
    """The treatments' draws as visits, newest first: treatments that began within dosing.SESSION_WINDOW of a
    visit's first draw are that visit (a second treatment opened the same day), as the dose checks count a
    session; each visit's draws as (day, row), newest first."""
    starts = sorted(by_treatment, key=lambda tid: min(row.at for _, row in by_treatment[tid]))
    visits: list[tuple[dt.datetime, list[Any]]] = []
    for tid in starts:
        began = min(row.at for _, row in by_treatment[tid])
        if visits and began - visits[-1][0] < dosing.SESSION_WINDOW:
            visits[-1][1].extend(by_treatment[tid])
        else:
            visits.append((began, list(by_treatment[tid])))
    return [sorted(draws, key=lambda d: d[1].at, reverse=True) for _, draws in reversed(visits)]


# --- the access log: every look at a patient's record -------------------------------------------

def record_patient_view(session: Session, *, viewer: User, patient: Patient, view: str,
                        now: dt.datetime) -> AuditEvent:
    """One access-log entry: ``viewer`` opened ``patient``'s record in ``view`` (e.g. "patient_record")."""
    return access_log.record_access(session, viewer=viewer, action=access_log.VIEWED, object_type="patient",
                                    object_id=str(patient.id), clinic_id=patient.clinic_id, now=now,
                                    details={"view": view, "patient_ids": [patient.id]})


def record_patient_search(session: Session, *, viewer: User, view: str, query: str, patients: list[Patient],
                          now: dt.datetime) -> AuditEvent:
    """One access-log entry for a search: what was typed and the patients it showed (as the lot trace
    records its lots and patients). Patients of several clinics may be shown, so no one clinic is named."""
    return access_log.record_access(session, viewer=viewer, action=access_log.VIEWED, object_type="patient",
                                    object_id=None, now=now,
                                    details={"view": view, "query": query, "patient_ids": [p.id for p in patients],
                                             "patients": len(patients)})


def view_patient_history(session: Session, *, viewer: User, scope: Scope, patient_id: int,
                         now: dt.datetime) -> PatientHistory:
    """The API's GET /patients/<id>/history: the history, recorded in the access log. Raises NotFound
    (another clinic's patient too), before anything is recorded."""
    history = patient_history(session, scope=scope, patient_id=patient_id, now=now)
    record_patient_view(session, viewer=viewer, patient=history.patient, view="patient_history_api", now=now)
    return history


# --- the pre-treatment checklist ----------------------------------------------------------------


def _treatment(session: Session, treatment_id: int, scope: Scope) -> Treatment:
    treatment = session.scalar(
        select(Treatment).where(Treatment.id == treatment_id)
        .options(joinedload(Treatment.patient), joinedload(Treatment.location))
    )
    if treatment is None or not scope.allows(treatment.clinic_id):
        raise NotFound(f"No treatment with id {treatment_id}.", id=treatment_id)
    return treatment


def get_treatment(session: Session, treatment_id: int, scope: Scope) -> Treatment:
    return _treatment(session, treatment_id, scope)


def save_checklist(session: Session, *, actor: User, scope: Scope, treatment_id: int, answers: dict[str, Any],
                   now: dt.datetime) -> Treatment:
    """Stores the answers (every question yes or no, notes optional) with who answered and when; the
    answers may be corrected later, each time audited. Raises NotFound or ValidationError."""
    treatment = _treatment(session, treatment_id, scope)
    stored: dict[str, Any] = {}
    for key, _ in CHECKLIST_QUESTIONS:
        value = answers.get(key)
        if not isinstance(value, bool):
            raise ValidationError(f"Answer every question yes or no: {key.replace('_', ' ')} is missing.",
                                  field=key)
        stored[key] = value
    notes = answers.get("notes") or ""
    if not isinstance(notes, str) or len(notes) > MAX_NOTES:
        raise ValidationError(f"Notes are text of at most {MAX_NOTES} characters.", field="notes")
    unknown = set(answers) - {key for key, _ in CHECKLIST_QUESTIONS} - {"notes"}
    if unknown:
        raise ValidationError(f"Not a checklist question: {', '.join(sorted(unknown))}.", field="answers")
    stored["notes"] = notes.strip()
    treatment.checklist = {"answers": stored, "answered_by": actor.display_name or actor.username,
                           "answered_at": now.isoformat()}
    session.add(AuditEvent(at=now, actor_id=actor.id, clinic_id=treatment.clinic_id, action="treatment.checklist",
                           object_type="treatment", object_id=str(treatment.id), details={"answers": stored}))
    session.flush()
    return treatment


def checklist_flags(treatment: Treatment) -> list[str]:
    """The questions answered yes, in words: what the injector must weigh before going on."""
    answers = (treatment.checklist or {}).get("answers") or {}
    return [text for key, text in CHECKLIST_QUESTIONS if answers.get(key) is True]


# --- follow-ups -----------------------------------------------------------------------------------


def set_follow_up(session: Session, *, actor: User, scope: Scope, treatment_id: int,
                  follow_up_on: dt.date | None, now: dt.datetime) -> Treatment:
    """Sets (or clears, with None) the follow-up date; a new date makes it due again. Raises NotFound
    or ValidationError."""
    treatment = _treatment(session, treatment_id, scope)
    if follow_up_on is not None:
        started = _treatment_day(session, treatment)
        if follow_up_on < started:
            raise ValidationError("A follow-up cannot be before the treatment.", field="follow_up_on")
        if (follow_up_on - started).days > MAX_FOLLOW_UP_DAYS:
            raise ValidationError("A follow-up more than two years ahead: check the date.", field="follow_up_on")
    treatment.follow_up_on = follow_up_on
    treatment.follow_up_done_at = None
    session.add(AuditEvent(at=now, actor_id=actor.id, clinic_id=treatment.clinic_id, action="treatment.follow_up",
                           object_type="treatment", object_id=str(treatment.id),
                           details={"follow_up_on": follow_up_on.isoformat() if follow_up_on else None}))
    session.flush()
    return treatment


def complete_follow_up(session: Session, *, actor: User, scope: Scope, treatment_id: int,
                       now: dt.datetime) -> Treatment:
    """Marks the follow-up done. Raises NotFound, or ValidationError when none is set."""
    treatment = _treatment(session, treatment_id, scope)
    if treatment.follow_up_on is None:
        raise ValidationError("This treatment has no follow-up to mark done.", field="follow_up_done")
    if treatment.follow_up_done_at is None:
        treatment.follow_up_done_at = now  # by whom: the audit event below
        session.add(AuditEvent(at=now, actor_id=actor.id, clinic_id=treatment.clinic_id,
                               action="treatment.follow_up_done", object_type="treatment",
                               object_id=str(treatment.id), details=None))
        session.flush()
    return treatment


def reopen_follow_up(session: Session, *, actor: User, scope: Scope, treatment_id: int,
                     now: dt.datetime) -> Treatment:
    """Undoes a "done" mark (ticked by mistake, or the patient did not come): the follow-up is due again on its
    date. When and by whom it had been marked done stays in the audit trail. Nothing to undo changes nothing.
    Raises NotFound, or ValidationError when no follow-up is set."""
    treatment = _treatment(session, treatment_id, scope)
    if treatment.follow_up_on is None:
        raise ValidationError("This treatment has no follow-up to reopen.", field="follow_up_done")
    if treatment.follow_up_done_at is not None:
        done_at, treatment.follow_up_done_at = treatment.follow_up_done_at, None
        session.add(AuditEvent(at=now, actor_id=actor.id, clinic_id=treatment.clinic_id,
                               action="treatment.follow_up_reopened", object_type="treatment",
                               object_id=str(treatment.id),
                               details={"follow_up_on": treatment.follow_up_on.isoformat(),
                                        "done_at": done_at.isoformat()}))
        session.flush()
    return treatment


def _treatment_day(session: Session, treatment: Treatment) -> dt.date:
    """The treatment's date in its clinic. The clinic usually comes from the identity map (a draw loaded it
    with the locked container, a clinic user's scope with the user): no query then."""
    clinic = session.get(Clinic, treatment.clinic_id)
    assert clinic is not None  # a foreign key
    return clinic_today(treatment.started_at, clinic.timezone)


def default_due_before(today: dt.date) -> dt.date:
    """How far the follow-up list looks when nobody says: a week ahead."""
    return today + dt.timedelta(days=UPCOMING_DAYS)


def follow_ups_due_before(session: Session, *, scope: Scope, now: dt.datetime) -> dt.date:
    """The follow-up list's default window: a week from the caller's clinic's own date (not UTC's). With clinics on
    several clocks, from the date furthest ahead, so no clinic's week is cut short (one behind it sees a day more)."""
    todays = [clinic_today(now, clinic.timezone) for clinic in scope.clinics(session)]
    return default_due_before(max(todays, default=now.date()))


def due_follow_ups(session: Session, *, scope: Scope, due_before: dt.date) -> list[Treatment]:
    """Follow-ups not yet done whose date is on or before ``due_before``, soonest first."""
    stmt = (
        select(Treatment)
        .where(Treatment.follow_up_on.is_not(None), Treatment.follow_up_on <= due_before,
               Treatment.follow_up_done_at.is_(None))
        .options(joinedload(Treatment.patient), joinedload(Treatment.location), joinedload(Treatment.injector))
        .order_by(Treatment.follow_up_on, Treatment.id)
    )
    return list(session.scalars(scope.filter(stmt, Treatment.clinic_id)))


def default_follow_up(session: Session, treatment: Treatment, product: Product, *, seen_earlier: bool = False) -> None:
    """A patient's first treatment with a molecule gets the product's follow-up (a toxin's review at
    14 days), unless a date is already set. Called after each draw: ``seen_earlier`` says the caller has
    already seen a draw of the molecule in another treatment (the dose checks' history), which spares
    the query for a returning patient."""
    if seen_earlier or treatment.follow_up_on is not None or not product.follow_up_days or product.molecule is None:
        return
    earlier = session.scalar(
        select(Draw.id)
        .join(Container, Container.id == Draw.container_id)
        .join(Product, Product.id == Container.product_id)
        .where(Draw.patient_id == treatment.patient_id, Draw.treatment_id != treatment.id,
               Product.molecule == product.molecule)
        .limit(1)
    )
    if earlier is None:
        started = _treatment_day(session, treatment)
        treatment.follow_up_on = started + dt.timedelta(days=product.follow_up_days)
