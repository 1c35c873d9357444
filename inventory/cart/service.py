"""At the cart: patients, treatments, reconstitution, draws, waste, closing and corrections.

Every function takes a Session and plain values, flushes and never commits; the
caller (a request, a CLI command, a test) commits once. Every operation that
changes stock locks what it changes first (the treatment, then its containers in
id order), re-checks the rules on the locked rows, and only then writes: a
refusal raises before anything is written, so the caller's transaction holds no
half-done work.

Movements name a treatment (``Movement.treatment_id``) when they belong to it:
its draws, the wastes recorded at it (the cart page's), the reversals of those and
the remainders its closing wasted.
What a patient received is the Draw rows whose movement was not reversed
(``reversal_exists``); emergency kit use is a draw with reason ``emergency``.
"""

from __future__ import annotations

import datetime as dt
import functools
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, Insert, and_, bindparam, case, exists, func, insert, or_, select
from sqlalchemy.orm import QueryableAttribute, Session, aliased, joinedload, make_transient_to_detached, selectinload

from inventory.errors import (
    AlreadyReconstituted,
    AlreadyReversed,
    ConfirmationRequired,
    ContainerInTransit,
    ContainerOtherPatient,
    DomainError,
    NotFound,
    NotReversible,
    PatientRefConflict,
    TreatmentClosed,
    UnknownContainer,
    ValidationError,
    WrongProductKind,
)
from inventory.models import (
    AuditEvent,
    Clinic,
    Container,
    ContainerState,
    Draw,
    Location,
    Movement,
    MovementKind,
    Patient,
    Product,
    ProductKind,
    Treatment,
    User,
)
from inventory.models.base import plain_quantity, utcnow
from inventory.models.base import QUANTITY_SCALE
from inventory import lifecycle
from inventory.adverse_events import service as adverse_events
from inventory.dosing import DoseWarning
from inventory.services import audit_chain, ledger, lot_guard
from inventory.cart import dose_limits
from inventory.clinical import service as clinical
from inventory.cold_chain import service as cold_chain
from inventory.services.barcodes import parse_scan
from inventory.services.catalog import product_for_gtin
from inventory.services.clock import clinic_today, format_clinic_time
from inventory.validators import check_date_of_birth, check_email, check_phone, check_text
from inventory.patient_refs import MAX_REF_KEY, ref_key
from inventory.services.permissions import Scope, get_in_scope

# --- fixed lists ---------------------------------------------------------------

AREAS: tuple[tuple[str, str], ...] = (
    ("glabella", "Glabella (frown lines)"),
    ("forehead", "Forehead"),
    ("crows_feet_left", "Crow's feet, left"),
    ("crows_feet_right", "Crow's feet, right"),
    ("bunny_lines", "Bunny lines"),
    ("masseter_left", "Masseter, left"),
    ("masseter_right", "Masseter, right"),
    ("dao", "Depressor anguli oris (DAO)"),
    ("mentalis", "Mentalis"),
    ("platysma", "Platysma"),
    ("lip", "Lips"),
    ("lip_flip", "Lip flip"),
    ("cheek", "Cheek"),
    ("chin", "Chin"),
    ("jawline", "Jawline"),
    ("tear_trough", "Tear trough"),
    ("nasolabial", "Nasolabial folds"),
    ("marionette", "Marionette lines"),
    ("temple", "Temple"),
    ("neck", "Neck"),
    ("other", "Other (describe)"),
)
AREA_VALUES: tuple[str, ...] = tuple(value for value, _ in AREAS)
AREA_LABELS: dict[str, str] = dict(AREAS)
# Where each family is usually injected: the cart offers these first (any area stays valid).
_USUAL_AREAS: dict[ProductKind, frozenset[str]] = {
    ProductKind.NEUROMODULATOR: frozenset({
        "glabella", "forehead", "crows_feet_left", "crows_feet_right", "bunny_lines", "masseter_left",
        "masseter_right", "dao", "mentalis", "platysma", "lip_flip", "neck", "other",
    }),
    ProductKind.FILLER: frozenset({
        "lip", "cheek", "chin", "jawline", "tear_trough", "nasolabial", "marionette", "temple", "neck", "other",
    }),
}

WASTE_REASONS: tuple[tuple[str, str], ...] = (
    ("beyond_use", "Past its beyond-use time"),
    ("dropped", "Dropped or broken"),
    ("contaminated", "Contaminated"),
    ("single_patient_remainder", "Single-patient remainder"),
    ("no_vacuum", "No vacuum when pierced"),
    ("expired", "Expired"),
    ("other", "Other (describe)"),
)
WASTE_REASON_VALUES: tuple[str, ...] = tuple(value for value, _ in WASTE_REASONS)

# Emergency kit use: the kits' readiness finds it as a draw movement with this reason.
EMERGENCY = "emergency"
DRAW_REASONS: tuple[str, ...] = (EMERGENCY,)

# Outside this range a diluent volume is a typo (DOMAIN.md "Reconstitution").
MIN_DILUENT_ML = Decimal("0.5")
MAX_DILUENT_ML = Decimal("10")
# Far above any container; keeps absurd input away from the database's NUMERIC(14, 4).
MAX_QUANTITY = Decimal("1000000")
_STEP = Decimal(1).scaleb(-QUANTITY_SCALE)  # 0.0001
MAX_TEXT = 200
# The waste reason a recall writes when a container is destroyed (recall/services.py): never reversed.
RECALL_DESTROYED = "recall_destroyed"
# Ids are INTEGER on PostgreSQL (movements BIGINT): a typed number beyond names nothing.
MAX_ID = 2**31 - 1
MAX_BIG_ID = 2**63 - 1


# --- results ---------------------------------------------------------------------


@dataclass
class DrawResult:
    draw: Draw
    container: Container
    warnings: list[DoseWarning] = field(default_factory=list)
    adverse_event_id: int | None = None  # the adverse event a rescue hyaluronidase dose treats


@dataclass
class ClosedTreatment:
    treatment: Treatment
    wasted: list[Movement] = field(default_factory=list)
    held: list[Container] = field(default_factory=list)
    # Remainders of a quarantined or recalled lot: not wasted, kept for the safety lead (lifecycle.is_set_aside).
    set_aside: list[Container] = field(default_factory=list)


@dataclass(frozen=True)
class DrawLine:
    draw: Draw
    is_reversed: bool


@dataclass(frozen=True)
class ProductTotal:
    """What one patient received of one product in a treatment. Never summed across products."""

    product: Product
    quantity: Decimal


@dataclass
class TreatmentSummary:
    treatment: Treatment
    draws: list[DrawLine]
    totals: list[ProductTotal]


# --- patients and treatments ------------------------------------------------------


def find_or_create_patient(
    session: Session,
    *,
    scope: Scope,
    clinic_id: int | None,
    external_ref: str,
    name: str | None = None,
    date_of_birth: dt.date | None = None,
    viewer: User | None = None,
    view: str = "patient_found",
) -> Patient:
    """The clinic's patient with this reference, created if new.

    ``clinic_id`` may be None when the caller works at exactly one clinic. A
    reference already on file under another name or date of birth is refused
    rather than reused, so a typo never records a treatment for the wrong person.
    A patient found for a ``viewer`` (whose answer shows the record: the API's find-or-add) is a look at
    the record, written to the access log as ``view``.
    Raises ValidationError, NotFound or PatientRefConflict.
    """
    clinic = _clinic_for(session, scope, clinic_id)
    ref = _required_text(external_ref, "external_ref", "The patient reference is missing.", max_length=64)
    name = _optional_text(name, "name", max_length=160)
    date_of_birth = check_date_of_birth(date_of_birth, today=clinic_today(utcnow(), clinic.timezone))
    patient = session.scalar(select(Patient).where(Patient.clinic_id == clinic.id, Patient.external_ref == ref))
    if patient is not None:
        if (name is not None and _same_name(name) != _same_name(patient.name)) or (
            date_of_birth is not None and patient.date_of_birth not in (None, date_of_birth)
        ):
            raise PatientRefConflict(
                f"Patient reference {ref} is already on file with another name or date of birth. "
                "Check the reference: a treatment must never be recorded for the wrong patient.",
                patient_id=patient.id,
                external_ref=ref,
            )
        if viewer is not None:
            clinical.record_patient_view(session, viewer=viewer, patient=patient, view=view, now=utcnow())
        return patient
    _refuse_stock_code_as_patient(session, ref, "external_ref")
    refuse_lookalike_ref(session, clinic.id, ref)
    if name is None:
        raise ValidationError(f"No patient {ref} on file yet: give the patient's name to add them.", field="name")
    _refuse_stock_code_as_patient(session, name, "name")
    _refuse_reference_as_name(session, clinic.id, name, ref)
    patient = Patient(clinic_id=clinic.id, external_ref=ref, name=name, date_of_birth=date_of_birth)
    session.add(patient)
    session.flush()
    return patient


_PATIENT_FIELDS = {"external_ref": ("reference", "Scan the patient's card or type the reference"),
                   "name": ("name", "Type the patient's name")}


def _refuse_stock_code_as_patient(session: Session, text: str, field: str) -> None:
    """A scanner types into whichever field has the focus: a vial's label or a box's barcode scanned before the
    treatment started lands in the patient's reference or name. Never made a new patient of (references already
    on file are found as before), or the code would stand on a recall's notification list as a person. A label is
    known by its form and check character alone: no query, and another clinic's vial says no more than a missing
    one. A bare product barcode is refused only when the catalog knows it (the catalog is the chain's, not a
    clinic's): a numeric reference may pass a GTIN's check digit."""
    try:
        code = parse_scan(text)
    except DomainError:
        return  # not a code Vialog reads: a patient's reference or name
    what, instead = _PATIENT_FIELDS[field]
    if code.kind == "container":
        raise ValidationError(
            f"{code.label_code} is a vial's Vialog label, not the patient's {what}. {instead} first, then scan "
            "the vial once the treatment has started.", field=field)
    if code.kind == "gs1" or (code.kind == "gtin" and code.gtin is not None and _in_catalog(session, code.gtin)):
        raise ValidationError(f"That is a box's barcode, not the patient's {what}. {instead}.", field=field)


def _refuse_reference_as_name(session: Session, clinic_id: int, name: str, ref: str) -> None:
    """A patient's card scanned into Name (a slow scanner's keys pass for typing) would add a person named
    "P-1002": refused when the name reads as the new reference itself or as a reference on file at the clinic.
    One seek of the key stored with each patient."""
    key = ref_key(name)
    if key == ref_key(ref):
        raise ValidationError(f"{name} is the patient's reference, not a name: type the new patient's name.",
                              field="name")
    if len(key) <= MAX_REF_KEY and session.scalar(
            select(Patient.external_ref).where(Patient.ref_key == key, Patient.clinic_id == clinic_id).limit(1)):
        raise ValidationError(
            f"{name} is the reference of a patient on file, not a name: to treat that patient, scan the card into "
            "the patient reference; for a new patient, type the name.", field="name")


def _in_catalog(session: Session, gtin: str) -> bool:
    try:
        product_for_gtin(session, gtin)
    except DomainError:
        return False
    return True


def refuse_lookalike_ref(session: Session, clinic_id: int, ref: str) -> None:
    """A new reference that differs from one on file only in case, spaces, dashes, dots, width or invisible
    characters ("p-1001", "P 1001", "P–1001", "Ｐ-1001" for P-1001) would split one patient's history in two,
    and her dose and interval checks with it. A new reference with an invisible character in it is refused too:
    a nurse could never tell it from the one she types next time. One seek of the key stored with each patient.
    Raises PatientRefConflict or ValidationError."""
    key = ref_key(ref)
    if len(key) > MAX_REF_KEY:
        raise ValidationError("The patient reference reads as too long a text: type it as on the patient's card.",
                              field="external_ref")
    # Every patient of the key (a few at most), the first on file named: ORDER BY id LIMIT 1 would have the
    # planner walk the patients in id order for the first of the key, not seek the key.
    existing = min(session.execute(select(Patient.id, Patient.external_ref).where(
        Patient.ref_key == key, Patient.clinic_id == clinic_id)).all(), key=lambda row: row.id, default=None)
    if existing is not None:
        raise PatientRefConflict(
            f"Patient reference {ref} looks like {existing.external_ref}, already on file: scan or type that "
            "reference to treat the same patient. A treatment must never split a patient's history in two.",
            patient_id=existing.id, external_ref=ref, field="external_ref",
        )
    invisible = next((character for character in ref if unicodedata.category(character) == "Cf"), None)
    if invisible is not None:
        raise ValidationError(
            f"The patient reference has an invisible character in it (U+{ord(invisible):04X}), most likely pasted "
            "with it. Type the reference by hand or scan the patient's card.", field="external_ref")


CONTACT_LIMITS = {"phone": 40, "email": 254, "address": 500}
CONTACT_LABELS = {"phone": "Phone", "email": "Email", "address": "Postal address"}
# What a recall needs of each to reach the patient: a number to dial, an address to write to (inventory/validators.py).
CONTACT_RULES = {"phone": check_phone, "email": check_email}


def update_contact(session: Session, *, actor: User, scope: Scope, patient_id: int, changes: dict[str, str | None],
                   now: dt.datetime) -> Patient:
    """Sets a patient's phone, email or address (the recall notification list and letters), each as typed,
    trimmed; a blank or None clears one. A phone must be a number a person can dial, an email an address a mail
    can be sent to; one stored before those rules and sent back unchanged (the page sends every field) stays.
    Recorded in the audit trail. Raises NotFound (another clinic's patient too) or ValidationError.
    """
    _ensure_id(patient_id, "patient")
    patient = get_in_scope(session, Patient, patient_id, scope, "patient")
    for name, value in changes.items():
        if name not in CONTACT_LIMITS:
            raise ValidationError(f"Unknown field {name}.", field=name)
        # A postal address takes its line breaks; a phone or an email is one line.
        text = check_text(value, what=CONTACT_LABELS[name], field=name, max_length=CONTACT_LIMITS[name],
                          multiline=name == "address") or None
        rule = CONTACT_RULES.get(name)
        if rule is not None and text is not None and text != getattr(patient, name):
            rule(text)
        setattr(patient, name, text)
    session.add(AuditEvent(at=now, actor_id=actor.id, clinic_id=patient.clinic_id, action="patient.contact_updated",
                           object_type="patient", object_id=str(patient.id), details={"fields": sorted(changes)}))
    session.flush()
    return patient


def find_patients(session: Session, *, scope: Scope, external_ref: str) -> list[Patient]:
    """Patients of the caller's clinics whose reference reads as ``external_ref``: whatever the case, spaces,
    dashes, dots, slashes, width or invisible characters ("p-2005", "P2005" and "P 2005" find P-2005), by the
    key that refuses a look-alike new reference (inventory/patient_refs.py), stored and indexed with each
    patient. A reference exactly as typed comes first, then by clinic; nothing typed finds nothing."""
    ref = external_ref.strip()
    key = ref_key(ref)
    if not key:
        return []
    stmt = (
        select(Patient)
        .where(Patient.ref_key == key)
        .order_by(case((Patient.external_ref == ref, 0), else_=1), Patient.clinic_id, Patient.id)
    )
    return list(session.scalars(scope.filter(stmt, Patient.clinic_id)))


def start_treatment(
    session: Session, *, actor: User, scope: Scope, patient_id: int, location_id: int, now: dt.datetime
) -> Treatment:
    """Opens a treatment of a patient in a room of the same clinic, injected by ``actor``.

    Raises NotFound (a patient or location outside the caller's clinics) or
    ValidationError (an inactive location, or patient and location in different clinics).
    """
    location = get_in_scope(session, Location, location_id, scope, "location")
    patient = get_in_scope(session, Patient, patient_id, scope, "patient")
    if not location.is_active:
        raise ValidationError(f"{location.name} is no longer in use: choose another room.", field="location_id")
    if patient.clinic_id != location.clinic_id:
        raise ValidationError(
            f"{location.name} is at another clinic than this patient's record: "
            "treat the patient at their own clinic.",
            field="location_id",
        )
    treatment = Treatment(
        clinic_id=patient.clinic_id, patient=patient, location=location, injector_id=actor.id, started_at=now
    )
    session.add(treatment)
    session.flush()
    return treatment


def continue_or_start_treatment(
    session: Session, *, actor: User, scope: Scope, patient_id: int, location_id: int, now: dt.datetime,
    separate: bool = False,
) -> tuple[Treatment, bool]:
    """The cart's start: the patient's open treatment at the room's clinic, continued when it was started today
    there (her single-patient vials of this session stay usable), or a new one opened; ``separate``: a new one, as
    the nurse asked. Returns the treatment and whether it was opened now.

    A treatment open since an earlier day (the cart marks it "open since ...") is an earlier visit left open, not
    this one: today's doses go into a treatment of today's, as the dose checks count them by their own time
    (dosing.SESSION_WINDOW), and its vials stay bound to it until it is closed.

    Two starts for one patient at the same moment (two tabs, two nurses) would each find none open and open
    two: the patient's row is locked first, so the second waits for the first to commit and continues its
    treatment. The same errors as start_treatment.
    """
    location = get_in_scope(session, Location, location_id, scope, "location")
    _ensure_id(patient_id, "patient")
    get_in_scope(session, Patient, patient_id, scope, "patient")  # hers to treat before anything is locked
    # FOR NO KEY UPDATE: starts wait for each other, a draw that names the patient (a key share) does not.
    session.execute(select(Patient.id).where(Patient.id == patient_id).with_for_update(key_share=True))
    if not separate:
        already = open_treatment_of(session, scope=scope, patient_id=patient_id, clinic_id=location.clinic_id)
        timezone = location.clinic.timezone
        if already is not None and clinic_today(already.started_at, timezone) == clinic_today(now, timezone):
            return already, False
    return start_treatment(session, actor=actor, scope=scope, patient_id=patient_id, location_id=location_id,
                           now=now), True


def get_treatment(session: Session, treatment_id: int, scope: Scope) -> Treatment:
    """One treatment with its patient, location and draws; raises NotFound outside the caller's clinics."""
    _ensure_id(treatment_id, "treatment")
    treatment = session.scalar(
        select(Treatment)
        .where(Treatment.id == treatment_id)
        .options(
            joinedload(Treatment.patient),
            joinedload(Treatment.location),
            selectinload(Treatment.draws).joinedload(Draw.container).joinedload(Container.lot),
            selectinload(Treatment.draws).joinedload(Draw.container).joinedload(Container.product),
        )
    )
    if treatment is None or not scope.allows(treatment.clinic_id):
        raise NotFound(f"No treatment with id {treatment_id}.", id=treatment_id)
    return treatment


def open_treatments(session: Session, *, scope: Scope, location_id: int | None = None, limit: int | None = None,
                    before_id: int | None = None) -> list[Treatment]:
    """Open treatments in the caller's clinics, newest first, with patient and location loaded: at most
    ``limit``, and only those after ``before_id`` in that order (the last one of the previous page)."""
    stmt = (
        select(Treatment)
        .where(Treatment.closed_at.is_(None))
        .options(joinedload(Treatment.patient), joinedload(Treatment.location))
        .order_by(Treatment.started_at.desc(), Treatment.id.desc())
        .limit(limit)
    )
    if location_id is not None:
        stmt = stmt.where(Treatment.location_id == location_id)
    last = None if before_id is None else session.scalar(select(Treatment.started_at).where(Treatment.id == before_id))
    if last is not None:  # no such treatment (a hand-typed link): from the newest
        stmt = stmt.where(or_(Treatment.started_at < last, and_(Treatment.started_at == last, Treatment.id < before_id)))
    return list(session.scalars(scope.filter(stmt, Treatment.clinic_id)))


@dataclass(frozen=True)
class OpenTreatmentPage:
    treatments: list[Treatment]
    total: int  # open in the caller's clinics, this page's included
    next_before: int | None  # the ``before_id`` of the next page; None on the last


def open_treatment_page(session: Session, *, scope: Scope, limit: int, before_id: int | None = None) -> OpenTreatmentPage:
    """One page of ``open_treatments`` and how many are open in all. A treatment left open since an earlier day
    stays listed (closing it is what ends its single-patient vials' binding); a clinic that forgets many does
    not get a cart page that lists them all."""
    found = open_treatments(session, scope=scope, limit=limit + 1, before_id=before_id)
    total = session.scalar(scope.filter(
        select(func.count()).select_from(Treatment).where(Treatment.closed_at.is_(None)), Treatment.clinic_id))
    shown = found[:limit]
    return OpenTreatmentPage(shown, total or 0, shown[-1].id if len(found) > limit else None)


def open_treatment_of(session: Session, *, scope: Scope, patient_id: int, clinic_id: int) -> Treatment | None:
    """The patient's latest open treatment at this clinic, if any: the cart continues it rather than open a
    second one, whose single-patient vials would then be "another session's" (start_treatment itself, as the
    API calls it, always opens one)."""
    stmt = (
        select(Treatment)
        .where(Treatment.patient_id == patient_id, Treatment.clinic_id == clinic_id, Treatment.closed_at.is_(None))
        .options(joinedload(Treatment.patient), joinedload(Treatment.location))
        .order_by(Treatment.started_at.desc(), Treatment.id.desc())
        .limit(1)
    )
    return session.scalar(scope.filter(stmt, Treatment.clinic_id))


def treatment_summary(session: Session, treatment_id: int, scope: Scope) -> TreatmentSummary:
    """A treatment, its draws (each marked if reversed) and the patient's total per product."""
    treatment = get_treatment(session, treatment_id, scope)
    reversed_draws = reversed_ids(session, (d.movement_id for d in treatment.draws))
    lines = [DrawLine(draw, draw.movement_id in reversed_draws) for draw in treatment.draws]
    totals: dict[int, ProductTotal] = {}
    for line in lines:
        if line.is_reversed:
            continue
        product = line.draw.container.product
        before = totals.get(product.id, ProductTotal(product, Decimal(0)))
        totals[product.id] = ProductTotal(product, before.quantity + line.draw.quantity)
    return TreatmentSummary(treatment, lines, list(totals.values()))


# --- reconstitution ------------------------------------------------------------------


def reconstitute(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    container_id: int,
    diluent_ml: Decimal,
    now: dt.datetime,
    diluent_name: str | None = None,
    diluent_lot: str | None = None,
    treatment_id: int | None = None,
) -> Container:
    """Records that a vial of powder was mixed with ``diluent_ml`` of diluent.

    Sets the concentration (vial units / diluent mL) and the beyond-use time, and
    appends a RECONSTITUTE movement of quantity 0 so the history shows it.
    Mixed at a treatment (``treatment_id``, the cart page's), that treatment is checked
    first: one of the caller's clinics, still open; nothing is mixed otherwise.
    Raises ValidationError, NotFound, TreatmentClosed, WrongProductKind, AlreadyReconstituted,
    ContainerEmpty, LotExpired, LotQuarantined, LotRecalled or ContainerOnHold.
    """
    diluent_ml = _quantity(diluent_ml, "diluent_ml")
    if not MIN_DILUENT_ML <= diluent_ml <= MAX_DILUENT_ML:
        raise ValidationError(
            f"{plain_quantity(diluent_ml)} mL of diluent is outside {plain_quantity(MIN_DILUENT_ML)} to {plain_quantity(MAX_DILUENT_ML)} mL: "
            "check the volume you drew up.",
            field="diluent_ml",
        )
    diluent_name = _optional_text(diluent_name, "diluent_name", max_length=120)
    diluent_lot = _diluent_lot(_optional_text(diluent_lot, "diluent_lot", max_length=120))

    if treatment_id is not None:
        _ensure_open(_lock_treatment(session, treatment_id, scope))
    container = _lock_container(session, container_id, scope)
    product = container.product
    if not product.requires_reconstitution:
        raise WrongProductKind(
            f"{product.name} comes ready to use and is never reconstituted.", container_id=container.id
        )
    if container.is_reconstituted:
        assert container.reconstituted_at is not None
        raise AlreadyReconstituted(
            f"This {product.name} ({container.label_code}) was already reconstituted at "
            f"{_when(container.reconstituted_at, container.clinic.timezone)}: draw from it, do not add diluent again.",
            container_id=container.id,
        )
    lifecycle.ensure_has_stock(container)
    lifecycle.ensure_lot_usable(container.lot, now=now, timezone=container.clinic.timezone)
    lifecycle.ensure_not_on_hold(container, "reconstitute it")

    container.diluent_ml = diluent_ml
    container.concentration_u_per_ml = (product.quantity_per_container / diluent_ml).quantize(
        _STEP, rounding=ROUND_HALF_UP
    )
    container.diluent_name = diluent_name or product.labelled_diluent
    container.diluent_lot = diluent_lot
    container.reconstituted_at = now
    container.reconstituted_by_id = actor.id
    container.beyond_use_at = (
        now + dt.timedelta(hours=product.beyond_use_hours) if product.beyond_use_hours is not None else None
    )
    container.state = ContainerState.IN_USE
    ledger.record(
        session, container, kind=MovementKind.RECONSTITUTE, quantity=Decimal(0), actor=actor, at=now,
        reason="reconstituted", note=f"{plain_quantity(diluent_ml)} mL {container.diluent_name or 'diluent'}",
    )
    session.flush()
    return container


def _diluent_lot(text: str | None) -> str | None:
    """The diluent's lot as typed, or read off the diluent box's GS1 code scanned into the field. A vial's
    Vialog label scanned there (the scanner types into whichever field has the focus) is refused: stored as the
    diluent's lot, it would start the vial's beyond-use clock on a mix nobody made."""
    if text is None:
        return None
    try:
        code = parse_scan(text)
    except DomainError:
        code = None  # not a code Vialog reads: a lot as printed
    if code is not None and code.kind == "container":
        raise ValidationError(
            f"{code.label_code} is a vial's Vialog label, not the diluent's lot. Nothing was reconstituted: scan "
            "vials into the scan field, and type the diluent's lot as printed on it.", field="diluent_lot")
    if code is not None and code.kind == "gs1":
        if not code.lot:
            raise ValidationError("That box's barcode carries no lot: type the diluent's lot as printed on it.",
                                  field="diluent_lot")
        text = code.lot
    if len(text) > 40:
        raise ValidationError("Keep the diluent's lot under 40 characters.", field="diluent_lot")
    return text


# --- draws ------------------------------------------------------------------------


def draw(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    treatment_id: int,
    container_id: int,
    quantity: Decimal,
    unit: str,
    area: str,
    now: dt.datetime,
    area_detail: str | None = None,
    reason: str | None = None,
    confirm: Collection[str] = (),
    confirm_reason: str | None = None,
    adverse_event_id: int | None = None,
) -> DrawResult:
    """Draws a dose from a container for the treatment's patient, in one area.

    ``unit`` is the product's base unit, "U" for a product counted in units, or
    "mL" (converted with the vial's concentration). The first draw from a
    single-patient container binds it to this patient and treatment. The dose is
    checked per patient and molecule (inventory/dosing.py): above a typical range it
    is recorded with a warning; above a label or cumulative limit, or a re-treatment
    too soon, it needs each warning's code in ``confirm`` and a ``confirm_reason``,
    stored with the draw and in the audit trail. A hyaluronidase dose may name the
    ``adverse_event_id`` it treats (the same patient's event): the event then shows it.
    Raises ValidationError, NotFound, TreatmentClosed, UnknownContainer,
    ContainerEmpty, LotExpired, LotQuarantined, LotRecalled, ContainerOnHold, NotReconstituted,
    BeyondUse, ContainerOtherPatient, ConfirmationRequired or InsufficientQuantity.
    """
    quantity = _quantity(quantity, "quantity")
    area, area_detail = _area(area, area_detail)
    if reason is not None and reason not in DRAW_REASONS:
        raise ValidationError("A draw's reason is empty, or 'emergency' for emergency kit use.", field="reason")
    confirm_reason = _optional_text(confirm_reason, "confirm_reason", max_length=MAX_TEXT)

    treatment, container, movement_id = _lock_for_draw(session, treatment_id, container_id, scope)
    lifecycle.ensure_drawable(container, treatment, now)
    dose = lifecycle.dose(container, quantity, unit)
    lifecycle.ensure_enough(container, dose.quantity)  # what cannot be drawn needs no confirmation
    assessment = dose_limits.assess(
        session, product=container.product, clinic_id=treatment.clinic_id, patient_id=treatment.patient_id,
        treatment_id=treatment.id, area=area, units=dose.quantity, now=now, timezone=container.clinic.timezone,
        area_name=AREA_LABELS[area].lower() if area in AREA_LABELS else None,
    )
    warnings = assessment.warnings
    confirmed = _confirmed(warnings, confirm, confirm_reason)
    rescued = None if adverse_event_id is None else adverse_events.rescue_target(
        session, scope=scope, event_id=adverse_event_id, product=container.product, patient_id=treatment.patient_id
    )

    # The hot path writes its three rows with Core statements (docs/performance.md): the movement hashed
    # once by ledger.append with the container's balance, state and patient, and the draw with its seal.
    record = Draw(
        treatment_id=treatment.id, container_id=container.id, area=area,
        area_detail=area_detail, quantity=dose.quantity, quantity_ml=dose.quantity_ml,
        concentration_u_per_ml=dose.concentration_u_per_ml, entered_unit=dose.entered_unit, reason=reason,
        injector_id=actor.id, at=now, lot_id=container.lot_id, patient_id=treatment.patient_id,
        clinic_id=treatment.clinic_id, dose_warnings=",".join(w.code for w in warnings) or None,
        confirmed_warnings=",".join(confirmed) or None, confirm_reason=confirm_reason if confirmed else None,
    )
    draft = ledger.ContainerDraft(container)
    lifecycle.open_for(draft, patient_id=treatment.patient_id, treatment_id=treatment.id, now=now)
    appended = ledger.append(
        session, draft, kind=MovementKind.DRAW, quantity=-dose.quantity, actor_id=actor.id, at=now,
        reason=reason, treatment_id=treatment.id, movement_id=movement_id, along=functools.partial(_draw_row, record),
    )
    record.id = appended.along_id
    make_transient_to_detached(record)  # saved: the unit of work never flushes it a second time
    session.add(record)
    clinical.default_follow_up(session, treatment, container.product, seen_earlier=assessment.seen_earlier_treatment)
    if confirmed:
        session.add(AuditEvent(
            at=now, actor_id=actor.id, clinic_id=treatment.clinic_id, action="draw.dose_confirmed",
            object_type="draw", object_id=str(record.id),
            details={"treatment_id": treatment.id, "patient_id": treatment.patient_id, "confirmed": confirmed,
                     "reason": confirm_reason, "warnings": [w.message for w in warnings]},
        ))
        session.flush()
    if rescued is not None:
        adverse_events.link_rescue(session, event=rescued, draw=record, actor=actor, now=now)
    return DrawResult(record, container, warnings, adverse_event_id)


def _draw_row(record: Draw, movement_id: int) -> tuple[Insert, dict[str, Any]]:
    """The draw's INSERT for ``ledger.append`` to write with its movement, sealed first (as the ORM's listener
    would) now that the movement's id, which the seal binds, is known."""
    record.movement_id = movement_id
    record.row_seal = audit_chain.seal_new(record)
    record.created_at = utcnow()  # given, not left to the column's default: the WITH would leave it empty
    return _INSERT_DRAW, {key: getattr(record, key) for key in _DRAW_SET}


# Every column a draw is written with; its id comes from the database.
_DRAW_SET = tuple(column.key for column in Draw.__table__.columns if column.key != "id")
_INSERT_DRAW = insert(Draw).returning(Draw.id)  # built once; the values come as execute parameters


def _confirmed(warnings: list[DoseWarning], confirm: Collection[str], reason: str | None) -> list[str]:
    """The codes this draw needs confirmed, once the injector confirmed each with a reason.

    Raises ConfirmationRequired (nothing is written) while any is unconfirmed or the reason is missing.
    """
    needed = [w for w in warnings if w.needs_confirmation]
    if not needed:
        return []
    if any(w.code not in confirm for w in needed) or not reason:
        all_confirmed = all(w.code in confirm for w in needed)
        raise ConfirmationRequired(
            "This dose needs your confirmation: " + " ".join(w.message for w in needed)
            + (" Say why this dose (confirm_reason) to record it, or change the dose." if all_confirmed else
               " Confirm each warning with a reason to record it, or change the dose."),
            warnings=[{"code": w.code, "message": w.message} for w in needed],
            # The dose's other warnings (a typical range passed), so the injector weighs them all before
            # confirming, not one after recording; they need no confirmation of their own.
            notes=[{"code": w.code, "message": w.message} for w in warnings if not w.needs_confirmation],
            reason_missing=all_confirmed,
        )
    return [w.code for w in needed]


def areas_for(product: Product) -> list[tuple[str, str]]:
    """The treatment areas to offer for a product, in the order of :data:`AREAS`."""
    usual = _USUAL_AREAS.get(product.kind)
    return [(value, label) for value, label in AREAS if usual is None or value in usual]


# --- waste ------------------------------------------------------------------------


def waste(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    container_id: int,
    reason: str,
    now: dt.datetime,
    quantity: Decimal | None = None,
    note: str | None = None,
    treatment_id: int | None = None,
) -> Movement:
    """Takes ``quantity`` (None: everything left) out of a container as waste.

    Wasted at a treatment (``treatment_id``, the cart page's), the waste belongs to it and
    names it: the treatment is checked first (one of the caller's clinics, still open) and
    the container must be its clinic's and not opened for another patient, whose waste
    belongs to her own treatment; nothing is wasted otherwise.

    A container of a quarantined or recalled lot, and one on hold, is the safety lead's
    to deal with (``lifecycle.ensure_may_waste``): anyone else is refused (recalled stock
    is returned or destroyed on its recall case, quarantined stock kept as evidence), and
    the safety lead's waste that empties a held one ends its hold with this reason. An
    expired lot is wasted by anyone. A vial with no vacuum also flags its lot for the
    safety lead (a sign of a counterfeit). Raises ValidationError, NotFound, TreatmentClosed,
    UnknownContainer, ContainerOtherPatient, ContainerEmpty, LotRecalled, LotQuarantined,
    ContainerOnHold or InsufficientQuantity.
    """
    # The treatment first, locked before its container as a draw and the closing lock them.
    treatment = _lock_treatment(session, treatment_id, scope) if treatment_id is not None else None
    if treatment is not None:
        _ensure_open(treatment)
    if reason not in WASTE_REASON_VALUES:
        raise ValidationError(
            f"Choose a reason for the waste: {', '.join(WASTE_REASON_VALUES)}.", field="reason"
        )
    note = _optional_text(note, "note", max_length=MAX_TEXT)
    if reason == "other" and note is None:
        raise ValidationError("Say in a note why this was wasted.", field="note")
    if quantity is not None:
        quantity = _quantity(quantity, "quantity")

    container = _lock_container(session, container_id, scope)
    if treatment is not None:
        ensure_may_waste_at(container, treatment)
    lifecycle.ensure_has_stock(container, doing="waste")
    lifecycle.ensure_may_waste(container, decides_holds=cold_chain.may_decide_holds(actor))
    if quantity is not None:
        lifecycle.ensure_whole_if_sealed(container, quantity)
    movement = _waste_locked(session, container, actor=actor, now=now, reason=reason, quantity=quantity, note=note,
                             treatment_id=treatment_id)
    if reason == "no_vacuum":
        _flag_no_vacuum(session, container, actor=actor, now=now)
    session.flush()
    return movement


def ensure_may_waste_at(container: Container, treatment: Treatment) -> None:
    """A waste recorded at a treatment is of its clinic's stock, and never of a container opened for another
    patient: that waste would stand in this patient's treatment. The cart page asks it before offering its waste
    form. Raises UnknownContainer or ContainerOtherPatient."""
    if container.clinic_id != treatment.clinic_id:
        raise UnknownContainer(
            f"{container.label_code} is stock of another clinic than this treatment: waste it at its own clinic.",
            container_id=container.id,
        )
    if container.patient_id is not None and container.patient_id != treatment.patient_id:
        what = "syringe" if container.product.kind is ProductKind.FILLER else "vial"
        raise ContainerOtherPatient(
            f"This {container.product.name} {what} ({container.label_code}) was opened for another patient: "
            "waste it in that patient's treatment, not in this one.",
            container_id=container.id,
        )


def _waste_locked(
    session: Session,
    container: Container,
    *,
    actor: User,
    now: dt.datetime,
    reason: str,
    quantity: Decimal | None = None,
    note: str | None = None,
    treatment_id: int | None = None,
) -> Movement:
    amount = quantity if quantity is not None else container.remaining
    movement = ledger.record(
        session, container, kind=MovementKind.WASTE, quantity=-amount, actor=actor, at=now, reason=reason,
        note=note, treatment_id=treatment_id,
    )
    lifecycle.settle(container)  # part of a sealed container is gone: it is open now
    return movement


def _flag_no_vacuum(session: Session, container: Container, *, actor: User, now: dt.datetime) -> None:
    session.add(
        AuditEvent(
            at=now, actor_id=actor.id, clinic_id=container.clinic_id, action="lot.flagged_no_vacuum",
            object_type="lot", object_id=str(container.lot_id),
            details={
                "container_id": container.id, "label_code": container.label_code,
                "lot_number": container.lot.number, "product": container.product.name,
            },
        )
    )


def beyond_use_containers(session: Session, *, scope: Scope, now: dt.datetime) -> list[Container]:
    """Opened containers that may no longer be drawn and still hold something, the longest past first: a
    reconstituted powder or a punctured ready-to-use liquid past its beyond-use time, and a filler syringe
    kept for its patient after its treatment closed whose hold time is over (``lifecycle.use_ended_at``)."""
    opened_in = aliased(Treatment)
    kept_syringe = and_(Container.beyond_use_at.is_(None), Container.opened_at.is_not(None),
                        Product.kind == ProductKind.FILLER, opened_in.closed_at.is_not(None))
    stmt = (
        select(Container)
        .join(Product, Container.product_id == Product.id)
        .outerjoin(opened_in, Container.opened_treatment_id == opened_in.id)
        .where(
            or_(Container.beyond_use_at <= now, kept_syringe),
            Container.remaining > Decimal(0),
            Container.state.not_in((ContainerState.EMPTY, ContainerState.DISCARDED)),
        )
        .options(joinedload(Container.product), joinedload(Container.lot), joinedload(Container.location))
    )
    found = [c for c in session.scalars(scope.filter(stmt, Container.clinic_id)) if _use_ended(c, now)]
    return sorted(found, key=lambda c: (lifecycle.use_ended_at(c), c.id))


def _use_ended(container: Container, now: dt.datetime) -> bool:
    ended = lifecycle.use_ended_at(container)
    return ended is not None and ended <= now


def waste_beyond_use(
    session: Session, *, actor: User, scope: Scope, now: dt.datetime, container_ids: Iterable[int] | None = None
) -> list[Movement]:
    """Wastes what is left in containers past beyond-use, in one step (reason ``beyond_use``).

    Without ``container_ids`` every such container in the caller's clinics is wasted, but for one of
    a quarantined or recalled lot when the caller does not decide holds: it stays, set aside for the
    safety lead (``lifecycle.ensure_lot_may_be_wasted``). Raises NotFound, LotRecalled or LotQuarantined
    for such a container named by someone else, or ValidationError for a named container that is not
    past its beyond-use time with something left; then nothing is wasted.
    """
    if container_ids is None:
        ids = sorted(c.id for c in beyond_use_containers(session, scope=scope, now=now))
    else:
        ids = sorted(set(container_ids))
    locked = [_lock_container(session, cid, scope) for cid in ids]
    # Re-checked on the locked rows: another nurse may have wasted one since the list was read.
    due = [c for c in locked if _is_past_use_with_remainder(session, c, now)]
    decides_holds = cold_chain.may_decide_holds(actor)
    if container_ids is None:
        due = [c for c in due if decides_holds or not lifecycle.is_set_aside(c)]
    if container_ids is not None and len(due) != len(locked):
        not_due = [c.label_code for c in locked if c not in due]
        raise ValidationError(
            f"Not past beyond-use (or a syringe's hold) with something left: {', '.join(not_due)}. Nothing was wasted.",
            field="container_ids",
            label_codes=not_due,
        )
    for container in due:  # a held one is wasted too (its hold stays): the lot's state is the safety lead's
        lifecycle.ensure_lot_may_be_wasted(container, decides_holds=decides_holds)
    movements = [_waste_past_use(session, c, actor=actor, now=now) for c in due]
    session.flush()
    return movements


def _waste_past_use(session: Session, container: Container, *, actor: User, now: dt.datetime) -> Movement:
    if container.beyond_use_at is not None:
        return _waste_locked(session, container, actor=actor, now=now, reason="beyond_use")
    # A syringe kept for its patient: what its treatment's close would have wasted, had there been no hold.
    hold_ended = lifecycle.hold_ends_at(container)
    assert hold_ended is not None  # only a syringe whose hold is over is due here
    ended = format_clinic_time(hold_ended, container.clinic.timezone)
    return _waste_locked(session, container, actor=actor, now=now, reason="single_patient_remainder",
                         note=f"kept for the patient until {ended}: the hold is over",
                         treatment_id=container.opened_treatment_id)


def _is_past_use_with_remainder(session: Session, container: Container, now: dt.datetime) -> bool:
    if container.remaining <= 0 or container.state in (ContainerState.EMPTY, ContainerState.DISCARDED):
        return False
    if container.beyond_use_at is not None:
        return container.beyond_use_at <= now
    # A filler syringe's hold starts when the treatment it was opened in closes; until then it is that treatment's.
    opened_in = session.get(Treatment, container.opened_treatment_id) if container.opened_treatment_id else None
    return opened_in is not None and opened_in.is_closed and _use_ended(container, now)


# --- closing a treatment ------------------------------------------------------------


def close_treatment(
    session: Session, *, actor: User, scope: Scope, treatment_id: int, now: dt.datetime
) -> ClosedTreatment:
    """Closes a treatment and deals with what single-patient rules leave behind.

    Each single-patient container this patient drew from in this treatment that
    still holds something is wasted (reason ``single_patient_remainder``), except a
    filler syringe the clinic lets be held for the same patient (filler_hold_days),
    which is kept until its hold time is over. Multi-patient vials stay in use. The
    remainder of a quarantined or recalled lot is wasted only when the safety lead or an admin
    closes (the one rule of ``lifecycle.ensure_lot_may_be_wasted``); closed by anyone else, it
    stays in the container, set aside for the safety lead (``set_aside``), who returns or
    destroys it on the recall case or keeps it as evidence, and the closing nurse is told so.
    Closing is never refused for it. Raises NotFound or TreatmentClosed.
    """
    treatment = _lock_treatment(session, treatment_id, scope)
    _ensure_open(treatment)
    result = ClosedTreatment(treatment)
    decides_holds = cold_chain.may_decide_holds(actor)
    for container_id in _containers_drawn_in(session, treatment):
        container = _lock_container(session, container_id, scope)
        if not _holds_remainder_for(container, treatment):
            continue
        if lifecycle.is_set_aside(container) and not decides_holds:
            result.set_aside.append(container)
            continue
        if container.product.kind is ProductKind.FILLER and lifecycle.is_held(container, now):
            result.held.append(container)
            continue
        result.wasted.append(
            _waste_locked(
                session, container, actor=actor, now=now, reason="single_patient_remainder",
                note=f"left when treatment {treatment.id} closed", treatment_id=treatment.id,
            )
        )
    treatment.closed_at = now
    treatment.closed_by_id = actor.id
    session.flush()
    return result


def _containers_drawn_in(session: Session, treatment: Treatment) -> list[int]:
    # A held syringe can be opened in an earlier treatment and drawn from in this one.
    drawn = select(Movement.container_id).where(
        Movement.treatment_id == treatment.id, Movement.kind == MovementKind.DRAW
    )
    opened = select(Container.id).where(Container.opened_treatment_id == treatment.id)
    ids = set(session.scalars(drawn)) | set(session.scalars(opened))
    # A container since sent to another clinic (its draw reversed, or a shared vial a count found full)
    # holds nothing for this patient, and is not the closing nurse's to lock: leave it out.
    here = select(Container.id).where(Container.id.in_(ids), Container.clinic_id == treatment.clinic_id)
    return sorted(session.scalars(here)) if ids else []


def _holds_remainder_for(container: Container, treatment: Treatment) -> bool:
    return (
        container.product.is_single_patient
        and container.patient_id == treatment.patient_id
        and container.remaining > 0
        and container.state not in (ContainerState.EMPTY, ContainerState.DISCARDED)
    )


# --- corrections ---------------------------------------------------------------------

_REVERSIBLE = frozenset({MovementKind.DRAW, MovementKind.WASTE})


def reverse(
    session: Session, *, actor: User, scope: Scope, movement_id: int, reason: str, now: dt.datetime,
    treatment_id: int | None = None,
) -> Movement:
    """Corrects a mistaken draw or waste with a REVERSAL movement that puts its quantity back.

    The original stays in the ledger; ``is_reversed`` tells that it was corrected.
    A draw that was a container's only one releases the container from its patient
    (a wrong vial scanned was never opened for that patient).
    A reversal that would leave the container holding more than it was received with
    (a count has corrected it since) is refused. Units put back into a container already out
    of use (wasted, emptied, returned) were in it when it went: a second movement in the same
    transaction sends them after it (``_leave_as_it_went``), so it stays out of use and holds
    nothing; only undoing the movement that took it out of use brings it back. Likewise a
    single-patient remainder the treatment's closing would have wasted is wasted (a draw that
    emptied the vial, reversed after the closing). Features are asked before anything is
    written (``lot_guard.check_reversal``): a recall refuses a correction that would change
    what a closed case recorded, and flags one that changes what a notified patient was told.
    Corrected at a treatment (``treatment_id``, the cart page's, open or closed), the movement
    must be one of that treatment's (NotFound otherwise, nothing written).
    Raises ValidationError, NotFound, NotReversible, AlreadyReversed, ContainerInTransit, or
    what a feature's check raises (``recall_closed``, ``lot_recalled``).
    """
    reason = _required_text(reason, "reason", "Say why this is being reversed.", max_length=MAX_TEXT)
    if treatment_id is not None:
        _ensure_id(treatment_id, "treatment")
        _visible(session.get(Treatment, treatment_id), treatment_id, scope)
    _ensure_id(movement_id, "movement", MAX_BIG_ID)
    original = get_in_scope(session, Movement, movement_id, scope, "movement")
    if treatment_id is not None and original.treatment_id != treatment_id:
        raise NotFound(f"No draw or waste with id {movement_id} in treatment {treatment_id}.", id=movement_id)
    if original.kind not in _REVERSIBLE:
        raise NotReversible(
            "Only a draw or a waste can be reversed" + (
                ": a reversal cannot itself be reversed, record the draw or waste again."
                if original.kind is MovementKind.REVERSAL else "; correct other stock with a count."
            ),
            movement_id=original.id,
            kind=original.kind.value,
        )
    if original.reason == RECALL_DESTROYED:
        raise NotReversible(
            "This container was destroyed for a recall: that cannot be reversed.", movement_id=original.id,
        )
    # Putting stock back takes the lot's lock first (a recall opening waits, or is seen and joined);
    # locking the container serialises corrections of its movements: checked, then written.
    lot = lot_guard.lock_lot(session, original.lot_id)
    container = ledger.lock_container(session, original.container_id, scope)
    if is_reversed(session, original):
        raise AlreadyReversed(
            f"This {original.kind.value} was already reversed: it can be corrected only once.",
            movement_id=original.id,
        )
    if container.state is ContainerState.IN_TRANSIT:
        # It holds nothing in any clinic's ledger until it is received: put nothing back into it.
        raise ContainerInTransit(
            f"This {container.product.name} ({container.label_code}) is on its way to another clinic: "
            "correct this once that clinic has received it.",
            container_id=container.id,
            movement_id=original.id,
        )
    if container.remaining - original.quantity > container.initial_quantity:
        # A count has set what is left since (it found the dose or the waste back): a second correction
        # would leave more in the container than it ever held.
        raise NotReversible(
            f"Putting back {plain_quantity(-original.quantity)} {container.product.base_unit} would leave more in this "
            f"{container.product.name} ({container.label_code}) than it held when received: a count has "
            "corrected it since. Correct it with a count.",
            movement_id=original.id,
            container_id=container.id,
        )
    lot_guard.check_reversal(session, lot, container, original, actor=actor, now=now)
    out_of_use = None if container.state in lifecycle.LIVE_STATES else container.state
    emptied_by = _what_emptied(session, container) if out_of_use is not None else None
    takes_back = lifecycle.takes_stock_back(
        container, undoes_what_emptied_it=emptied_by is not None and emptied_by.id == original.id)
    reversal = ledger.record(
        session, container, kind=MovementKind.REVERSAL, quantity=-original.quantity, actor=actor, at=now,
        reason="correction", note=reason, treatment_id=original.treatment_id, reverses=original,
    )
    session.flush()
    if original.kind is MovementKind.DRAW:
        _release_if_never_used(session, container)
    lifecycle.settle(container)
    if out_of_use is not None and not takes_back:
        _leave_as_it_went(session, container, emptied_by, reversal, was=out_of_use, actor=actor, now=now)
    elif out_of_use is not None and original.kind is MovementKind.DRAW and _closing_wastes(
            session, container, original, now):
        _waste_locked(
            session, container, actor=actor, now=now, reason="single_patient_remainder",
            quantity=reversal.quantity, treatment_id=original.treatment_id,
            note=f"put back by reversal {reversal.id} after treatment {original.treatment_id} closed",
        )
    else:
        lot_guard.stock_added(session, lot, [container], actor=actor, now=now)
    session.flush()
    return reversal


def _what_emptied(session: Session, container: Container) -> Movement | None:
    """The movement that left this container (out of use) holding nothing: a waste, a return, a count or its last
    draw. Passed over: the pairs that corrections wrote since, a reversal and the movement that sent its units
    straight after the container (same quantity, moment and actor)."""
    found: Movement | None = None
    for movement in session.scalars(
        select(Movement).where(Movement.container_id == container.id).order_by(Movement.id.desc())
    ):
        if found is not None:
            if not (movement.kind is MovementKind.REVERSAL and movement.quantity == -found.quantity
                    and movement.at == found.at and movement.actor_id == found.actor_id):
                return found
            found = None  # a correction's pair: what emptied the container is older
        elif movement.balance_after > 0:
            return None
        elif movement.quantity < 0:
            found = movement
    return found


def _leave_as_it_went(session: Session, container: Container, emptied_by: Movement | None, reversal: Movement, *,
                      was: ContainerState, actor: User, now: dt.datetime) -> Movement:
    """Sends what ``reversal`` put back into a container out of use after it: wasted with the reason of the waste
    that took it out of use (the closing's ``single_patient_remainder``, ``beyond_use``...), or returned as it
    was; ``other`` for a container drawn or counted empty. It holds nothing again, and stays out of use."""
    if emptied_by is not None and emptied_by.kind in (MovementKind.WASTE, MovementKind.RETURN) and emptied_by.reason:
        kind, why, treatment_id = emptied_by.kind, emptied_by.reason, emptied_by.treatment_id
    else:
        kind, why, treatment_id = MovementKind.WASTE, "other", None
    went = "wasted" if kind is MovementKind.WASTE else "returned"
    movement = ledger.record(
        session, container, kind=kind, quantity=-reversal.quantity, actor=actor, at=now, reason=why,
        note=f"put back by reversal {reversal.id} into a container already {was.value}: {went} with it",
        treatment_id=treatment_id,
    )
    lifecycle.settle(container)
    return movement


def _closing_wastes(session: Session, container: Container, original: Movement, now: dt.datetime) -> bool:
    """A draw that emptied a single-patient container, reversed after its treatment closed: the units were in it
    when the treatment closed, and closing wastes such a remainder (unless a filler syringe is held)."""
    treatment = session.get(Treatment, original.treatment_id) if original.treatment_id is not None else None
    return (
        treatment is not None and treatment.is_closed and _holds_remainder_for(container, treatment)
        and not (container.product.kind is ProductKind.FILLER and lifecycle.is_held(container, now))
    )


def is_reversed(session: Session, movement: Movement) -> bool:
    return session.scalar(select(reversal_exists(movement.id))) or False


def doses_given(session: Session, treatment_ids: Iterable[int]) -> dict[int, int]:
    """How many draws of each of these treatments stand (a reversed draw was never given): one statement."""
    ids = list(treatment_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(Draw.treatment_id, func.count(Draw.id))
        .where(Draw.treatment_id.in_(ids), ~reversal_exists(Draw.movement_id)).group_by(Draw.treatment_id))
    return {treatment_id: count for treatment_id, count in rows}


def reversed_ids(session: Session, movement_ids: Iterable[int]) -> set[int]:
    """Which of these movements have been reversed (for traces and histories)."""
    ids = list(movement_ids)
    if not ids:
        return set()
    return set(session.scalars(select(Movement.reverses_id).where(Movement.reverses_id.in_(ids))))


def reversal_exists(movement_id: QueryableAttribute[int] | int) -> ColumnElement[bool]:
    """An EXISTS clause, true when the movement has a reversal; negate it for live draws."""
    return exists().where(_REVERSAL.reverses_id == movement_id)


# Built once: an alias of the 17-column movements table costs more to construct than the statement.
_REVERSAL = aliased(Movement, name="reversal")


def _release_if_never_used(session: Session, container: Container) -> None:
    live_draws = session.scalar(
        select(Draw.id).where(Draw.container_id == container.id, ~reversal_exists(Draw.movement_id)).limit(1)
    )
    if live_draws is None:
        container.patient_id = None
        container.opened_treatment_id = None
        container.opened_at = None


# --- shared checks ---------------------------------------------------------------------


def _lock_treatment(session: Session, treatment_id: int, scope: Scope) -> Treatment:
    """Loads and locks a treatment, so a draw and its closing never interleave."""
    _ensure_id(treatment_id, "treatment")
    return _visible(session.scalar(_LOCK_TREATMENT, {"treatment_id": treatment_id}), treatment_id, scope)


def _lock_for_draw(
    session: Session, treatment_id: int, container_id: int, scope: Scope
) -> tuple[Treatment, Container, int | None]:
    """The open treatment and the container of a draw, locked in one statement: the treatment first, as
    closing it does before its containers (so the two never wait for each other the wrong way round), the
    container with its lot as ledger.lock_container does; and the id its movement will take where the
    database reserves one (ledger.NextMovementId). The same errors as locking each in turn."""
    _ensure_id(treatment_id, "treatment")
    row = None
    if 1 <= container_id <= MAX_ID:
        row = session.execute(_LOCK_FOR_DRAW, {"treatment_id": treatment_id, "container_id": container_id}).first()
    if row is None:  # one of them does not exist: lock each in turn, which says which
        treatment = _lock_treatment(session, treatment_id, scope)
        _ensure_open(treatment)
        return treatment, _drawn_container(session, container_id, scope), None
    treatment = _visible(row[0], treatment_id, scope)
    _ensure_open(treatment)
    container = ledger.locked_container(*row[1:5])
    if not scope.allows(container.clinic_id):
        raise _unknown_container(container_id)
    return treatment, container, row[-1]


def _drawn_container(session: Session, container_id: int, scope: Scope) -> Container:
    try:
        return _lock_container(session, container_id, scope)
    except NotFound:
        raise _unknown_container(container_id) from None


def _unknown_container(container_id: int) -> UnknownContainer:
    # A dose's container is what the nurse scanned or typed: answered as a scan would be.
    return UnknownContainer(f"No container with id {container_id}.", id=container_id)


def _visible(treatment: Treatment | None, treatment_id: int, scope: Scope) -> Treatment:
    if treatment is None or not scope.allows(treatment.clinic_id):
        raise NotFound(f"No treatment with id {treatment_id}.", id=treatment_id)
    return treatment


# Built once, as the container's lock is (ledger.lock_container): every draw runs the second, closing a
# treatment (and a draw naming a missing row) the first.
_LOCK_TREATMENT = (
    select(Treatment).where(Treatment.id == bindparam("treatment_id")).with_for_update()
    .execution_options(populate_existing=True)
)
# The treatment's patient is locked too, so that two draws for one patient (two treatments, two vials) take turns:
# each dose check then sees the other's dose, committed (a session's total, the label's maximum). FOR NO KEY
# UPDATE, as a start locks it (continue_or_start_treatment): draws and starts wait for each other, a row that only
# names the patient (a key share: a treatment, a recall's notification) does not. No statement of its own: the
# draw's hot path (docs/performance.md).
_LOCK_FOR_DRAW = (
    ledger.lock_statement(Treatment).add_columns(ledger.NextMovementId())
    .join(Patient, Patient.id == Treatment.patient_id)
    .where(Treatment.id == bindparam("treatment_id"))
    .suffix_with("FOR NO KEY UPDATE OF patients", dialect="postgresql")
)


def _lock_container(session: Session, container_id: int, scope: Scope) -> Container:
    _ensure_id(container_id, "container")
    return ledger.lock_container(session, container_id, scope)


def _ensure_id(value: int, what: str, limit: int = MAX_ID) -> None:
    if not 1 <= value <= limit:
        raise NotFound(f"No {what} with id {value}.", id=value)


def _ensure_open(treatment: Treatment) -> None:
    if treatment.is_closed:
        assert treatment.closed_at is not None
        raise TreatmentClosed(
            f"Treatment {treatment.id} was closed at {_when(treatment.closed_at, treatment.location.clinic.timezone)}: "
            "start a new treatment.",
            treatment_id=treatment.id,
        )


def _clinic_for(session: Session, scope: Scope, clinic_id: int | None) -> Clinic:
    if clinic_id is not None:
        clinic = session.get(Clinic, clinic_id)
        if clinic is None or not scope.allows(clinic.id):
            raise NotFound(f"No clinic with id {clinic_id}.", id=clinic_id)
        return clinic
    clinics: list[Clinic] = list(session.scalars(scope.filter(select(Clinic), Clinic.id).limit(2)))
    if len(clinics) != 1:
        raise ValidationError("You work at several clinics: say which one (clinic_id).", field="clinic_id")
    return clinics[0]


def _quantity(value: Decimal, name: str) -> Decimal:
    """A positive decimal with at most four decimal places (the ledger's precision)."""
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        problem = "give a number above zero"  # the field named once: in the message, not again in its problem
        raise ValidationError(f"{name}: {problem}.", field=name, fields=[{"field": name, "problem": problem}])
    if value > MAX_QUANTITY:
        raise ValidationError(f"{name}: {value} is far too large; check the number.", field=name)
    if value != value.quantize(_STEP):
        raise ValidationError(f"{name}: at most {QUANTITY_SCALE} decimal places.", field=name)
    return value


def _area(area: str, detail: str | None) -> tuple[str, str | None]:
    area = (area or "").strip()
    if area not in AREA_LABELS:
        raise ValidationError(f"Choose a treatment area from the list, not {area!r}.", field="area")
    detail = _optional_text(detail, "area_detail", max_length=120)
    if area == "other" and detail is None:
        raise ValidationError("Describe the area when you choose 'other'.", field="area_detail")
    return area, detail


def _optional_text(value: str | None, name: str, *, max_length: int, multiline: bool = False) -> str | None:
    return check_text(value, what=name, field=name, max_length=max_length, multiline=multiline) or None


def _required_text(value: str | None, name: str, missing: str, *, max_length: int) -> str:
    text = _optional_text(value, name, max_length=max_length)
    if text is None:
        raise ValidationError(missing, field=name)
    return text


def _same_name(name: str) -> str:
    return " ".join(name.casefold().split())




def _when(moment: dt.datetime, timezone: str) -> str:
    """A moment as the clinic's wall clock shows it: "15 Jun 2026 10:30"."""
    return format_clinic_time(moment, timezone)
