"""Adverse events: recorded against a treatment, linked through its draws to the exact containers and lots,
with the rescue hyaluronidase given for them; per-lot signals; the fields a regulator's report asks for.

Hyaluronidase drawn as an emergency (kit use, reason ``emergency``) in the event's treatment is the event's
rescue, never one of its suspects: recording the event links those draws as its rescues and leaves their
vials out of its containers, and the lots, the regulator's report and the lot signals never count a rescue
as a cause (``AdverseEventContainer.is_rescue``). A rescue drawn before the event was recorded, in its
treatment or a later one of the same patient, is linked to it afterwards (:func:`link_rescue_afterwards`).

A draw reversed after it was linked (cause or rescue) was never given: its link stays and the page and the API
show it marked reversed, but the lots, the regulator's report, the lot signals and ``?lot_id=`` never count it.

Any clinical role records an event; the safety lead and the admin read every event of their clinics,
everyone else the events they recorded or of treatments they injected. Links to containers and lots are
never deleted (DOMAIN.md: years of retention). Every function takes a Session and plain values, flushes and
never commits.
"""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import ColumnElement, Select, distinct, exists, func, or_, select
from sqlalchemy.orm import Session, aliased, joinedload, selectinload

from inventory.adverse_events.models import (
    EMERGENCY,
    AdverseEvent,
    AdverseEventContainer,
    AdverseEventRescue,
    EventKind,
    Outcome,
    PatientSex,
    Severity,
)
from inventory.errors import NotFound, ValidationError
from inventory.models import (
    AuditEvent,
    Clinic,
    Container,
    Draw,
    Lot,
    Movement,
    Product,
    ProductKind,
    Treatment,
    User,
)
from inventory.models.base import plain_quantity
from inventory.services import access_log
from inventory.services.clock import clinic_today, format_clinic_time, format_date
from inventory.services.permissions import Permission, Scope, can

KIND_LABELS: dict[EventKind, str] = {
    EventKind.VASCULAR_OCCLUSION: "Vascular occlusion",
    EventKind.PTOSIS: "Ptosis",
    EventKind.NODULE: "Nodule or granuloma",
    EventKind.INFECTION: "Infection",
    EventKind.ALLERGIC_REACTION: "Allergic reaction",
    EventKind.BRUISING_SWELLING: "Bruising or swelling beyond the usual",
    EventKind.MIGRATION: "Migration",
    EventKind.OTHER: "Other",
}
SEVERITY_LABELS = {s: s.value.capitalize() for s in Severity}
OUTCOME_LABELS = {
    Outcome.ONGOING: "Ongoing", Outcome.RECOVERING: "Recovering", Outcome.RESOLVED: "Resolved",
    Outcome.RESOLVED_WITH_SEQUELAE: "Resolved with sequelae", Outcome.UNKNOWN: "Unknown",
}
SEX_LABELS = {PatientSex.FEMALE: "Female", PatientSex.MALE: "Male", PatientSex.OTHER: "Other",
              PatientSex.UNKNOWN: "Unknown"}

MAX_DESCRIPTION = 4000
MAX_NOTES = 8000
MAX_ID = 2**31 - 1
MAX_DRAW_ID = 2**63 - 1  # draws have 64-bit ids
# A lot stands out when it has at least this many events and a rate at least this many times its
# product's rate over its other lots (or the product has no other lot with patients to compare with).
SIGNAL_MIN_EVENTS = 2
SIGNAL_RATIO = Decimal(2)

_REVERSAL = aliased(Movement, name="reversal")


def live_draw(draw_movement_id: ColumnElement[int] | object) -> ColumnElement[bool]:
    """True for a draw whose movement was not reversed: what the patient really received."""
    return ~exists().where(_REVERSAL.reverses_id == draw_movement_id)


# --- recording -------------------------------------------------------------------------------------------


def record(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    treatment_id: int,
    kind: str,
    onset_date: dt.date,
    severity: str,
    outcome: str,
    description: str,
    now: dt.datetime,
    container_ids: Collection[int] | None = None,
    follow_up_notes: str | None = None,
    patient_sex: str | None = None,
) -> AdverseEvent:
    """Records an event against a treatment and links it to the containers the treatment drew from that may
    have caused it: all of them, or the ``container_ids`` the nurse picked (each one the treatment drew from).
    Hyaluronidase the treatment drew as an emergency is the event's rescue, not a cause: its vials are left
    out, and its draws not yet the rescue of another event become this event's rescues.

    Raises NotFound (a treatment outside the caller's clinics) or ValidationError (naming an emergency
    hyaluronidase vial among ``container_ids`` included).
    """
    treatment = _treatment(session, treatment_id, scope)
    values = _values(kind=kind, severity=severity, outcome=outcome, patient_sex=patient_sex)
    description = _text(description, "description", MAX_DESCRIPTION, required="Describe what happened.") or ""
    follow_up_notes = _text(follow_up_notes, "follow_up_notes", MAX_NOTES)
    _check_onset(onset_date, treatment, now)
    drawn = drawn_containers(session, treatment.id)
    rescues = emergency_rescues(session, treatment.id)
    rescue_vials = {d.container_id for d in rescues}
    suspects = [c for c in drawn if c.id not in rescue_vials]
    if container_ids is None:
        chosen = suspects
    else:
        picked = set(container_ids)
        unknown = sorted(picked - {c.id for c in drawn})
        if unknown:
            raise ValidationError(
                "Choose among the containers this treatment drew from.", field="container_ids", container_ids=unknown
            )
        named_rescues = [c for c in drawn if c.id in picked and c.id in rescue_vials]
        if named_rescues:
            raise ValidationError(
                f"{_containers_in_words(named_rescues)} drawn as an emergency in this treatment: hyaluronidase "
                "from the kit is recorded as the event's rescue, never as its cause. Leave it out of the linked "
                "containers.",
                field="container_ids", container_ids=[c.id for c in named_rescues],
            )
        chosen = [c for c in suspects if c.id in picked]
    event = AdverseEvent(
        clinic_id=treatment.clinic_id, treatment_id=treatment.id, patient_id=treatment.patient_id,
        onset_date=onset_date, description=description, follow_up_notes=follow_up_notes, recorded_by_id=actor.id,
        recorded_at=now, **values,
    )
    session.add(event)
    session.flush()
    for container in chosen:
        session.add(AdverseEventContainer(adverse_event_id=event.id, container_id=container.id,
                                          lot_id=container.lot_id))
    # A rescue treats one event: a dose already linked to another event of this treatment stays with it.
    taken = rescued_events(session, [d.id for d in rescues])
    claimed = [d for d in rescues if d.id not in taken]
    _audit(session, event, actor, now, "adverse_event.recorded", {
        "treatment_id": treatment.id, "patient_id": treatment.patient_id, "kind": event.kind.value,
        "severity": event.severity.value, "outcome": event.outcome.value, "onset_date": onset_date.isoformat(),
        "container_ids": [c.id for c in chosen], "lot_ids": sorted({c.lot_id for c in chosen}),
        "rescue_draw_ids": [d.id for d in claimed],
    })
    for rescue in claimed:
        link_rescue(session, event=event, draw=rescue, actor=actor, now=now)
    session.flush()
    session.refresh(event)
    return event


def update(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    event_id: int,
    now: dt.datetime,
    changes: dict[str, object],
) -> AdverseEvent:
    """Changes an event's kind, onset, severity, outcome, description, follow-up notes or the patient's sex.
    Its treatment and links stay. Raises NotFound or ValidationError."""
    event = get_event(session, viewer=actor, scope=scope, event_id=event_id)
    allowed = {"kind", "onset_date", "severity", "outcome", "description", "follow_up_notes", "patient_sex"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"These cannot be changed: {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    before: dict[str, object] = {}
    for name, value in changes.items():
        if name in ("kind", "severity", "outcome", "patient_sex"):
            if value is None and name != "patient_sex":
                raise ValidationError(f"{name}: give a value.", field=name)
            value = _values(**{name: value}).get(name) if value is not None else None
        elif name == "onset_date":
            if not isinstance(value, dt.date):
                raise ValidationError("onset_date: give a date.", field=name)
            _check_onset(value, event.treatment, now)
        elif name == "description":
            value = _text(value, name, MAX_DESCRIPTION, required="Describe what happened.")  # type: ignore[arg-type]
        else:
            value = _text(value, name, MAX_NOTES)  # type: ignore[arg-type]
        old = getattr(event, name)
        if old != value:
            before[name] = _plain(old)
            setattr(event, name, value)
    if before:
        event.updated_at = now
        _audit(session, event, actor, now, "adverse_event.updated",
               {"before": before, "after": {name: _plain(getattr(event, name)) for name in before}})
    session.flush()
    return event


def rescue_target(session: Session, *, scope: Scope, event_id: int, product: Product,
                  patient_id: int) -> AdverseEvent:
    """The event a hyaluronidase dose for ``patient_id`` may be linked to, checked before the draw is written.

    Raises NotFound (an event outside the caller's clinics) or ValidationError (not hyaluronidase, another patient).
    """
    _ensure_id(event_id, "adverse event")
    event = session.get(AdverseEvent, event_id)
    if event is None or not scope.allows(event.clinic_id):
        raise NotFound(f"No adverse event with id {event_id}.", id=event_id)
    _ensure_hyaluronidase(product, field="adverse_event_id")
    if event.patient_id != patient_id:
        raise ValidationError("This adverse event is another patient's: link the rescue to this patient's event.",
                              field="adverse_event_id")
    return event


def link_rescue_afterwards(session: Session, *, actor: User, scope: Scope, event_id: int, draw_id: int,
                           now: dt.datetime) -> AdverseEvent:
    """Links a hyaluronidase dose already drawn (in the event's treatment or a later one of the same patient,
    say an emergency drawn before anyone recorded the event) to the event as its rescue; the vial is then no
    longer read as one of the event's suspects. Linking the event's own rescue again changes nothing.

    Raises NotFound (an event the caller may not read, a draw outside their clinics) or ValidationError (not
    hyaluronidase, another patient's, drawn before the event's treatment, reversed, or another event's rescue).
    """
    event = get_event(session, viewer=actor, scope=scope, event_id=event_id)
    _ensure_id(draw_id, "draw", MAX_DRAW_ID)
    dose = session.scalar(select(Draw).where(Draw.id == draw_id)
                          .options(joinedload(Draw.container).joinedload(Container.product)))
    if dose is None or not scope.allows(dose.clinic_id):
        raise NotFound(f"No draw with id {draw_id}.", id=draw_id)
    _ensure_hyaluronidase(dose.container.product, field="draw_id")
    if dose.patient_id != event.patient_id:
        raise ValidationError("This dose was given to another patient: link a dose this patient received.",
                              field="draw_id")
    if dose.at < event.treatment.started_at:
        raise ValidationError("This dose was drawn before the event's treatment: it cannot have treated the event.",
                              field="draw_id")
    if session.scalar(select(exists().where(Movement.reverses_id == dose.movement_id))):
        raise ValidationError("This draw was reversed: the patient never received it.", field="draw_id")
    taken = rescued_events(session, [dose.id]).get(dose.id)
    if taken == event.id:
        return event
    if taken is not None:
        raise ValidationError(f"This dose is already the rescue of adverse event {taken}.", field="draw_id",
                              adverse_event_id=taken)
    link_rescue(session, event=event, draw=dose, actor=actor, now=now)
    # Its vial may have been read as a cause when the event was loaded: read the links again.
    for link in event.links:
        session.expire(link)
    session.expire(event, ["rescues"])
    return get_event(session, viewer=actor, scope=scope, event_id=event.id)


def _ensure_hyaluronidase(product: Product, *, field: str) -> None:
    if product.kind is not ProductKind.HYALURONIDASE:
        raise ValidationError(
            f"Only hyaluronidase is linked to an adverse event as its rescue, not {product.name}.", field=field,
        )


def link_rescue(session: Session, *, event: AdverseEvent, draw: Draw, actor: User, now: dt.datetime) -> None:
    """Links a hyaluronidase draw to the adverse event it treats (checked first by :func:`rescue_target`)."""
    product = draw.container.product
    session.add(AdverseEventRescue(adverse_event_id=event.id, draw_id=draw.id))
    _audit(session, event, actor, now, "adverse_event.rescue_linked",
           {"draw_id": draw.id, "container_id": draw.container_id, "quantity": str(draw.quantity),
            "base_unit": product.base_unit})
    session.flush()


# --- reading ---------------------------------------------------------------------------------------------


def drawn_containers(session: Session, treatment_id: int) -> list[Container]:
    """The containers a treatment really drew from (reversed draws left out, rescue hyaluronidase included:
    :func:`emergency_rescues` tells which)."""
    ids = select(Draw.container_id).where(Draw.treatment_id == treatment_id, live_draw(Draw.movement_id))
    return list(session.scalars(
        select(Container).where(Container.id.in_(ids))
        .options(joinedload(Container.product), joinedload(Container.lot))
        .order_by(Container.id)
    ))


def emergency_rescues(session: Session, treatment_id: int) -> list[Draw]:
    """The hyaluronidase a treatment drew as an emergency (kit use) and the patient received: rescues of an
    event of that treatment, never its suspects."""
    return list(session.scalars(
        select(Draw).join(Container, Container.id == Draw.container_id).join(Product)
        .where(Draw.treatment_id == treatment_id, Draw.reason == EMERGENCY, live_draw(Draw.movement_id),
               Product.kind == ProductKind.HYALURONIDASE)
        .options(joinedload(Draw.container).joinedload(Container.product),
                 joinedload(Draw.container).joinedload(Container.lot))
        .order_by(Draw.id)
    ))


def rescued_events(session: Session, draw_ids: Collection[int]) -> dict[int, int]:
    """draw id -> the adverse event it is the rescue of, for those of ``draw_ids`` that are one."""
    if not draw_ids:
        return {}
    return {draw_id: event_id for draw_id, event_id in session.execute(
        select(AdverseEventRescue.draw_id, AdverseEventRescue.adverse_event_id)
        .where(AdverseEventRescue.draw_id.in_(list(draw_ids))))}


def rescue_candidates(session: Session, *, scope: Scope, event: AdverseEvent) -> list[Draw]:
    """Hyaluronidase doses the event's patient received from its treatment on and that treat no event yet:
    what may be linked to the event afterwards, oldest first."""
    linked = select(AdverseEventRescue.draw_id)
    return list(session.scalars(scope.filter(
        select(Draw).join(Container, Container.id == Draw.container_id).join(Product)
        .where(Draw.patient_id == event.patient_id, Draw.at >= event.treatment.started_at,
               Product.kind == ProductKind.HYALURONIDASE, live_draw(Draw.movement_id), Draw.id.not_in(linked))
        .options(joinedload(Draw.container).joinedload(Container.product), joinedload(Draw.injector))
        .order_by(Draw.at, Draw.id),
        Draw.clinic_id,
    )))


def visible(viewer: User, scope: Scope, stmt: Select, *, injector: bool = True) -> Select:
    """Events the viewer may read: all of their clinics' for a safety lead or admin; otherwise those they
    recorded or of a treatment they injected."""
    stmt = scope.filter(stmt, AdverseEvent.clinic_id)
    if can(viewer, Permission.RECALL):
        return stmt
    mine = AdverseEvent.recorded_by_id == viewer.id
    if injector:
        mine = or_(mine, AdverseEvent.treatment_id.in_(select(Treatment.id).where(Treatment.injector_id == viewer.id)))
    return stmt.where(mine)


def _loaded(stmt: Select) -> Select:
    return stmt.options(
        joinedload(AdverseEvent.treatment).joinedload(Treatment.location),
        joinedload(AdverseEvent.patient),
        joinedload(AdverseEvent.recorded_by),
        selectinload(AdverseEvent.links).joinedload(AdverseEventContainer.container).joinedload(Container.product),
        selectinload(AdverseEvent.links).joinedload(AdverseEventContainer.lot),
        selectinload(AdverseEvent.rescues).joinedload(AdverseEventRescue.draw).joinedload(Draw.container)
        .joinedload(Container.product),
        selectinload(AdverseEvent.rescues).joinedload(AdverseEventRescue.draw).joinedload(Draw.injector),
    )


def get_event(session: Session, *, viewer: User, scope: Scope, event_id: int) -> AdverseEvent:
    """One event the viewer may read, with its links and rescues; raises NotFound otherwise."""
    _ensure_id(event_id, "adverse event")
    event = session.scalar(_loaded(visible(viewer, scope, select(AdverseEvent).where(AdverseEvent.id == event_id))))
    if event is None:
        raise NotFound(f"No adverse event with id {event_id}.", id=event_id)
    return event


def list_events(session: Session, *, viewer: User, scope: Scope, lot_id: int | None = None,
                treatment_id: int | None = None, limit: int = 500) -> list[AdverseEvent]:
    """Events the viewer may read, newest onset first; by lot or by treatment when asked."""
    stmt = select(AdverseEvent)
    if lot_id is not None:  # the events the lot may have caused: not as a rescue, nor only in reversed draws
        stmt = stmt.where(AdverseEvent.id.in_(
            select(AdverseEventContainer.adverse_event_id)
            .where(AdverseEventContainer.lot_id == lot_id, ~AdverseEventContainer.is_rescue,
                   ~AdverseEventContainer.is_reversed)))
    if treatment_id is not None:
        stmt = stmt.where(AdverseEvent.treatment_id == treatment_id)
    stmt = stmt.order_by(AdverseEvent.onset_date.desc(), AdverseEvent.id.desc()).limit(limit)
    return list(session.scalars(_loaded(visible(viewer, scope, stmt))).unique())


def events_by_lot(session: Session, *, viewer: User, scope: Scope,
                  lot_ids: Collection[int]) -> dict[int, list[AdverseEvent]]:
    """The events each of ``lot_ids`` may have caused, as ``list_events(lot_id=)`` reads them (not as a rescue,
    nor only in reversed draws), newest onset first: for the lot's trace and its recall case, two statements
    for any number of lots."""
    if not lot_ids:
        return {}
    links = session.execute(
        select(AdverseEventContainer.lot_id, AdverseEventContainer.adverse_event_id).distinct()
        .where(AdverseEventContainer.lot_id.in_(lot_ids), ~AdverseEventContainer.is_rescue,
               ~AdverseEventContainer.is_reversed)).all()
    if not links:
        return {}
    events = {event.id: event for event in session.scalars(visible(viewer, scope, select(AdverseEvent).where(
        AdverseEvent.id.in_({event_id for _, event_id in links}))))}
    by_lot: defaultdict[int, list[AdverseEvent]] = defaultdict(list)
    for lot_id, event_id in links:
        if event_id in events:
            by_lot[lot_id].append(events[event_id])
    for found in by_lot.values():
        found.sort(key=lambda event: (event.onset_date, event.id), reverse=True)
    return dict(by_lot)


def events_for_patient(session: Session, *, viewer: User, scope: Scope, patient_id: int) -> list[AdverseEvent]:
    stmt = select(AdverseEvent).where(AdverseEvent.patient_id == patient_id).order_by(AdverseEvent.onset_date.desc())
    return list(session.scalars(_loaded(visible(viewer, scope, stmt))).unique())


def open_events_for_patient(session: Session, *, scope: Scope, patient_id: int) -> list[AdverseEvent]:
    """The patient's events that a rescue may treat (not resolved), newest first, for the cart's draw form."""
    stmt = scope.filter(
        select(AdverseEvent).where(
            AdverseEvent.patient_id == patient_id,
            AdverseEvent.outcome.in_((Outcome.ONGOING, Outcome.RECOVERING, Outcome.UNKNOWN)),
        ).order_by(AdverseEvent.recorded_at.desc(), AdverseEvent.id.desc()),
        AdverseEvent.clinic_id,
    )
    return list(session.scalars(stmt))


def lots_of(event: AdverseEvent) -> list[Lot]:
    """The lots that may have caused the event: those the patient received from its suspects (a rescue's lot
    is not one, nor a lot whose every draw in the treatment was reversed)."""
    seen: dict[int, Lot] = {}
    for link in event.given_suspect_links:
        seen.setdefault(link.lot_id, link.lot)
    return list(seen.values())


# --- lot signals -----------------------------------------------------------------------------------------


@dataclass
class LotSignal:
    lot: Lot
    product: Product
    patients: int
    events: int
    by_kind: dict[str, int]
    by_severity: dict[str, int]
    product_other_patients: int = 0
    product_other_events: int = 0
    event_ids: list[int] = field(default_factory=list)
    serious_events: int = 0  # serious in the regulators' sense (:func:`seriousness_of`), not only by severity

    @property
    def rate(self) -> Decimal | None:
        return _rate(self.events, self.patients)

    @property
    def product_other_rate(self) -> Decimal | None:
        return _rate(self.product_other_events, self.product_other_patients)

    @property
    def has_serious(self) -> bool:
        return self.serious_events > 0

    @property
    def is_unusual(self) -> bool:
        """Enough events, at a rate well above the same product's other lots (or with none to compare)."""
        if self.events < SIGNAL_MIN_EVENTS or self.rate is None:
            return False
        other = self.product_other_rate
        return other is None or other == 0 or self.rate >= SIGNAL_RATIO * other


def _rate(events: int, patients: int) -> Decimal | None:
    if patients <= 0:
        return None
    return (Decimal(events) / Decimal(patients)).quantize(Decimal("0.0001"))


def lot_signals(session: Session, *, scope: Scope) -> list[LotSignal]:
    """Per lot with an event: the patients it reached (live draws), its events by kind and severity, its rate
    (events per patient reached) and its product's rate over the product's other lots. Unusual lots first,
    then by rate. Counted within the caller's clinics."""
    reached = session.execute(scope.filter(
        select(Draw.lot_id, func.count(distinct(Draw.patient_id)))
        .where(live_draw(Draw.movement_id)).group_by(Draw.lot_id),
        Draw.clinic_id,
    )).all()
    patients_by_lot = {lot_id: count for lot_id, count in reached}
    rows = session.execute(scope.filter(
        select(AdverseEventContainer.lot_id, AdverseEvent.id, AdverseEvent.kind, AdverseEvent.severity)
        .join(AdverseEvent, AdverseEvent.id == AdverseEventContainer.adverse_event_id)
        # A rescue treated the event, and a reversed draw never reached the patient: neither is its cause.
        .where(~AdverseEventContainer.is_rescue, ~AdverseEventContainer.is_reversed)
        .distinct(),
        AdverseEvent.clinic_id,
    )).all()
    events_by_lot: dict[int, dict[int, tuple[EventKind, Severity]]] = defaultdict(dict)
    for lot_id, event_id, kind, severity in rows:
        events_by_lot[lot_id][event_id] = (kind, severity)
    lot_ids = set(patients_by_lot) | set(events_by_lot)
    if not events_by_lot:
        return []
    event_ids = {event_id for events in events_by_lot.values() for event_id in events}
    rescued = set(session.scalars(
        select(AdverseEventRescue.adverse_event_id)
        .where(AdverseEventRescue.adverse_event_id.in_(sorted(event_ids)), ~AdverseEventRescue.is_reversed)
    ))
    lots = {lot.id: lot for lot in session.scalars(
        select(Lot).where(Lot.id.in_(lot_ids)).options(joinedload(Lot.product)))}
    per_product_patients: Counter[int] = Counter()
    per_product_events: Counter[int] = Counter()
    for lot_id in lot_ids:
        product_id = lots[lot_id].product_id
        per_product_patients[product_id] += patients_by_lot.get(lot_id, 0)
        per_product_events[product_id] += len(events_by_lot.get(lot_id, {}))
    signals = []
    for lot_id, events in events_by_lot.items():
        lot = lots[lot_id]
        patients, count = patients_by_lot.get(lot_id, 0), len(events)
        signals.append(LotSignal(
            lot=lot, product=lot.product, patients=patients, events=count,
            by_kind=dict(Counter(kind.value for kind, _ in events.values())),
            by_severity=dict(Counter(severity.value for _, severity in events.values())),
            product_other_patients=per_product_patients[lot.product_id] - patients,
            product_other_events=per_product_events[lot.product_id] - count,
            event_ids=sorted(events),
            serious_events=sum(seriousness_of(kind=kind, severity=severity, rescued=event_id in rescued).is_serious
                               for event_id, (kind, severity) in events.items()),
        ))
    return sorted(signals, key=lambda s: (not s.is_unusual, -(s.rate or 0), -s.events, s.product.name, s.lot.number))


# --- seriousness -----------------------------------------------------------------------------------------------

# Seriousness is the regulators' word, not the reporter's severity (a "severe" bruise is intense, not serious):
# FDA MedWatch and the UK Yellow Card call an event serious when it was fatal or life-threatening, led to
# hospitalisation, a disability or permanent damage, or required intervention to prevent permanent impairment or
# damage. Vialog derives it from what its own records show (below); what they cannot show (a hospital stay, a
# death, a lasting disability: no outcome records them) the reporter gives by choosing the severity "serious",
# which is kept. Nothing the reporter chooses un-marks what these criteria make serious.
REPORTER_SAID_SERIOUS = "marked serious by the reporter"
# Filler in an artery starves the skin (necrosis) or the retina (blindness) within hours: an occlusion always
# needs emergency treatment to prevent permanent damage, however it turns out, so it is serious by its nature.
OCCLUSION_IS_SERIOUS = ("vascular occlusion: needs emergency treatment to prevent permanent damage (skin necrosis, "
                        "loss of sight)")
# Vialog has no anaphylaxis kind: an allergic reaction graded severe is the closest it records to one, and
# anaphylaxis is life-threatening. A mild or moderate (local) reaction is left to the reporter.
SEVERE_ALLERGY_IS_SERIOUS = "severe allergic reaction: read as anaphylaxis, which is life-threatening"
# A hyaluronidase dose linked to the event (and given: a reversed draw never was) is the intervention that
# prevents permanent damage: the filler had to be dissolved.
RESCUE_IS_SERIOUS = "hyaluronidase given to reverse it: intervention to prevent permanent damage"
NOT_SERIOUS = ("no criterion on record (death, threat to life, hospitalisation, disability or permanent damage, "
               "intervention to prevent it): if one applies, set the severity to Serious")


@dataclass(frozen=True)
class Seriousness:
    """Whether an event is serious in the regulators' sense, and why (every criterion it meets)."""

    is_serious: bool
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return "; ".join(self.reasons) if self.is_serious else NOT_SERIOUS


def seriousness_of(*, kind: EventKind, severity: Severity, rescued: bool) -> Seriousness:
    """The one rule: an event of ``kind`` graded ``severity``, treated (``rescued``) or not with hyaluronidase."""
    reasons = []
    if severity is Severity.SERIOUS:
        reasons.append(REPORTER_SAID_SERIOUS)
    if kind is EventKind.VASCULAR_OCCLUSION:
        reasons.append(OCCLUSION_IS_SERIOUS)
    if kind is EventKind.ALLERGIC_REACTION and severity in (Severity.SEVERE, Severity.SERIOUS):
        reasons.append(SEVERE_ALLERGY_IS_SERIOUS)
    if rescued:
        reasons.append(RESCUE_IS_SERIOUS)
    return Seriousness(bool(reasons), tuple(reasons))


def seriousness(event: AdverseEvent) -> Seriousness:
    """The event's seriousness from its kind, severity and the rescue doses it was given."""
    return seriousness_of(kind=event.kind, severity=event.severity, rescued=bool(event.given_rescues))


# What the report and the event's page say of a product whose manufacturer the catalog does not hold: the
# regulator asks for it, so a blank would go unnoticed into the form.
MANUFACTURER_MISSING = "manufacturer not on file: add it in the catalog"


def manufacturer_words(product: Product) -> str:
    return (product.manufacturer or "").strip() or MANUFACTURER_MISSING


# --- regulator report --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuspectProduct:
    product: str
    brand: str
    manufacturer: str  # or MANUFACTURER_MISSING, never a blank
    gtin: str
    lot: str
    expiry: dt.date
    quantity: str
    areas: str
    given_on: dt.date | None
    label_code: str


@dataclass(frozen=True)
class RegulatorReport:
    """The fields FDA MedWatch (3500) and the UK Yellow Card ask for, from Vialog's own records."""

    event_id: int
    clinic: str
    reporter: str
    patient_identifier: str
    patient_age: int | None
    patient_sex: str
    event: str
    description: str
    severity: str
    is_serious: bool
    serious_reason: str  # the criteria it meets, or what to do when none on record applies
    onset_date: dt.date
    treatment_date: dt.date
    outcome: str
    follow_up: str
    products: list[SuspectProduct]
    rescue: list[str]
    report_date: dt.date

    def lines(self) -> list[tuple[str, str]]:
        """(field, value) in the forms' order, ready to copy."""
        lines = [
            ("Report date", self.report_date.isoformat()), ("Reporter", f"{self.reporter}, {self.clinic}"),
            ("Patient identifier", self.patient_identifier),
            ("Patient age at onset", "" if self.patient_age is None else f"{self.patient_age} years"),
            ("Patient sex", self.patient_sex), ("Adverse event", self.event),
            ("Serious", "yes" if self.is_serious else "no"), ("Seriousness criteria", self.serious_reason),
            ("Severity", self.severity),
            ("Date of treatment (exposure)", self.treatment_date.isoformat()),
            ("Date of onset", self.onset_date.isoformat()), ("Outcome", self.outcome),
            ("Description", self.description),
        ]
        for number, p in enumerate(self.products, start=1):
            lines += [
                (f"Suspect product {number}", p.product + (f" ({p.brand})" if p.brand else "")),
                (f"Product {number} manufacturer", p.manufacturer),
                (f"Product {number} GTIN", p.gtin), (f"Product {number} lot", p.lot),
                (f"Product {number} expiry", p.expiry.isoformat()),
                (f"Product {number} dose and site", f"{p.quantity} into {p.areas}"),
            ]
        if self.rescue:
            lines.append(("Treatment of the event", "; ".join(self.rescue)))
        if self.follow_up:
            lines.append(("Follow-up", self.follow_up))
        return lines


CSV_FIELDS = (
    "event_id", "report_date", "clinic", "reporter", "patient_identifier", "patient_age", "patient_sex", "event",
    "serious", "serious_reason", "severity", "treatment_date", "onset_date", "outcome", "description", "product", "brand",
    "manufacturer", "gtin", "lot", "expiry", "dose", "site", "rescue", "follow_up",
)


def regulator_report(session: Session, event: AdverseEvent, *, now: dt.datetime) -> RegulatorReport:
    treatment = event.treatment
    clinic = session.get(Clinic, event.clinic_id)
    assert clinic is not None
    # One row per product that may have caused it and the patient received; the rescue goes apart, and a
    # reversed draw (cause or rescue) was never given, so it is neither a product nor a line of the treatment.
    suspects = event.given_suspect_links
    draws = list(session.scalars(
        select(Draw).where(Draw.treatment_id == treatment.id, live_draw(Draw.movement_id),
                           Draw.container_id.in_([link.container_id for link in suspects]))
        .options(joinedload(Draw.container).joinedload(Container.product).selectinload(Product.gtins),
                 joinedload(Draw.container).joinedload(Container.lot))
        .order_by(Draw.id)
    )) if suspects else []
    products = []
    for link in suspects:
        container = link.container
        mine = [d for d in draws if d.container_id == container.id]
        total = sum((d.quantity for d in mine), Decimal(0))
        gtins = container.product.gtins
        products.append(SuspectProduct(
            product=container.product.name, brand=container.product.brand,
            manufacturer=manufacturer_words(container.product), gtin=gtins[0].gtin if gtins else "",
            lot=link.lot.number, expiry=link.lot.expiry,
            quantity=f"{plain_quantity(total)} {container.product.base_unit}",
            areas=", ".join(dict.fromkeys(d.area_detail or d.area.replace("_", " ") for d in mine)) or "-",
            given_on=clinic_today(mine[0].at, clinic.timezone) if mine else None,
            label_code=container.label_code,
        ))
    rescue = [
        f"{plain_quantity(r.draw.quantity)} {r.draw.container.product.base_unit} {r.draw.container.product.name} "
        f"at {format_clinic_time(r.draw.at, clinic.timezone)} by {r.draw.injector.label}"
        for r in event.given_rescues
    ]
    serious = seriousness(event)
    birth = event.patient.date_of_birth
    age = None if birth is None else event.onset_date.year - birth.year - (
        (event.onset_date.month, event.onset_date.day) < (birth.month, birth.day))
    return RegulatorReport(
        event_id=event.id, clinic=clinic.name, reporter=event.recorded_by.label,
        patient_identifier=event.patient.external_ref, patient_age=age,
        patient_sex=SEX_LABELS[event.patient_sex] if event.patient_sex else "Not recorded",
        event=KIND_LABELS[event.kind], description=event.description, severity=SEVERITY_LABELS[event.severity],
        is_serious=serious.is_serious, serious_reason=str(serious), onset_date=event.onset_date,
        treatment_date=clinic_today(treatment.started_at, clinic.timezone), outcome=OUTCOME_LABELS[event.outcome],
        follow_up=event.follow_up_notes or "", products=products, rescue=rescue,
        report_date=clinic_today(now, clinic.timezone),
    )


def report_csv(report: RegulatorReport) -> str:
    """One row per suspect product (one row with empty product fields when none is linked)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_FIELDS)
    common = [report.event_id, report.report_date.isoformat(), report.clinic, report.reporter,
              report.patient_identifier, "" if report.patient_age is None else report.patient_age, report.patient_sex,
              report.event, "yes" if report.is_serious else "no", report.serious_reason, report.severity,
              report.treatment_date.isoformat(), report.onset_date.isoformat(), report.outcome, report.description]
    tail = ["; ".join(report.rescue), report.follow_up]
    rows: list[SuspectProduct | None] = list(report.products) or [None]
    for p in rows:
        product = ([p.product, p.brand, p.manufacturer, p.gtin, p.lot, p.expiry.isoformat(), p.quantity, p.areas]
                   if p else [""] * 8)
        writer.writerow([_safe_cell(v) for v in [*common, *product, *tail]])
    return out.getvalue()


def record_export(session: Session, event: AdverseEvent, *, viewer: User, now: dt.datetime, what: str) -> None:
    """Patient data leaving Vialog is recorded (DESIGN.md): who, when, which event, in the access log with every
    other export of patient data (the report carries the patient's reference, age and sex)."""
    access_log.record_access(session, viewer=viewer, action=access_log.EXPORTED, object_type="adverse_event",
                             object_id=str(event.id), clinic_id=event.clinic_id, now=now,
                             details={"what": what, "patient_ids": [event.patient_id]})


def _safe_cell(value: object) -> object:
    """A cell a spreadsheet will not run as a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


# --- checks --------------------------------------------------------------------------------------------------


def _treatment(session: Session, treatment_id: int, scope: Scope) -> Treatment:
    _ensure_id(treatment_id, "treatment")
    treatment = session.scalar(select(Treatment).where(Treatment.id == treatment_id)
                               .options(joinedload(Treatment.location)))
    if treatment is None or not scope.allows(treatment.clinic_id):
        raise NotFound(f"No treatment with id {treatment_id}.", id=treatment_id)
    return treatment


def _check_onset(onset_date: dt.date, treatment: Treatment, now: dt.datetime) -> None:
    timezone = treatment.location.clinic.timezone
    treated_on = clinic_today(treatment.started_at, timezone)
    if onset_date < treated_on:
        raise ValidationError(
            f"The onset ({format_date(onset_date)}) is before the treatment ({format_date(treated_on)}).",
            field="onset_date",
        )
    if onset_date > clinic_today(now, timezone):
        raise ValidationError("The onset date is in the future.", field="onset_date")


# Each choice's question and its answers as the forms word them: a refusal names them so, never by code.
_CHOICES: dict[str, tuple[str, type[enum.Enum], dict]] = {
    "kind": ("What happened", EventKind, KIND_LABELS), "severity": ("Severity", Severity, SEVERITY_LABELS),
    "outcome": ("Outcome", Outcome, OUTCOME_LABELS), "patient_sex": ("Patient sex", PatientSex, SEX_LABELS),
}


def _values(**given: object) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, raw in given.items():
        if raw is None:
            values[name] = None
            continue
        question, choice, labels = _CHOICES[name]
        text = str(raw).strip()
        try:
            values[name] = choice(text)
        except ValueError:
            if not text:
                raise ValidationError(f"{question}: choose one.", field=name) from None
            raise ValidationError(
                f"{question}: choose one of {', '.join(labels.values())}.", field=name
            ) from None
    return values


def _text(value: str | None, name: str, limit: int, *, required: str | None = None) -> str | None:
    text = (value or "").strip() if isinstance(value, str) or value is None else None
    if text is None:
        raise ValidationError(f"{name}: give text.", field=name)
    if "\x00" in text:
        raise ValidationError(f"{name}: contains a NUL character.", field=name)
    if len(text) > limit:
        raise ValidationError(f"{name}: at most {limit} characters.", field=name)
    if not text and required:
        raise ValidationError(required, field=name)
    return text or None


def _plain(value: object) -> object:
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    return value


def _audit(session: Session, event: AdverseEvent, actor: User, now: dt.datetime, action: str,
           details: dict[str, object]) -> None:
    session.add(AuditEvent(at=now, actor_id=actor.id, clinic_id=event.clinic_id, action=action,
                           object_type="adverse_event", object_id=str(event.id), details=details))


def _containers_in_words(containers: list[Container]) -> str:
    words = [f"{c.product.name} {c.label_code} (lot {c.lot.number})" for c in containers]
    return words[0] + " was" if len(words) == 1 else ", ".join(words) + " were"


def _ensure_id(value: int, what: str, highest: int = MAX_ID) -> None:
    if not 1 <= value <= highest:
        raise NotFound(f"No {what} with id {value}.", id=value)
