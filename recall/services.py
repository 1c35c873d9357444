"""The rules of recalls: quarantine and release of a lot, recall cases, and the access log.

Every function takes a Session and plain values, flushes and never commits. A lot's
status holds at every clinic at once (DOMAIN.md "Lots, expiry and recalls"), so
quarantine, release and recall act on the lot itself; the ledger refuses a
quarantined or recalled lot on every scan, reconstitution, draw, receipt and move
into a kit (``ledger.ensure_lot_usable``) from the commit on.

Each change is an AuditEvent (who, when, what) with these actions:
``lot.quarantined``, ``lot.released``, ``lot.recalled``, ``recall.opened``,
``recall.patient_updated``, ``recall.container_updated``, ``recall.closed``,
``recall.container_joined`` (stock back on an open case), ``recall.dose_reversed`` (a listed
patient's dose corrected while the case is open), ``recall.notification_carried`` (a patient an earlier case
already told about every dose she had from the new case's lots, listed as notified when it opens),
``recall.stock_after_close`` (stock back in a recalled lot
that no open case takes: a count found it after the lot's cases closed); and every look at patient data by trace
or export is one too:
``patient_data.viewed``, ``patient_data.exported``. The change log also lists ``watchlist.removed`` (written by
the counterfeit watch list), the step that must come before a watched lot's release.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, case as sql_case, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from inventory.errors import (
    ContainerInTransit,
    DomainError,
    Forbidden,
    LotQuarantined,
    LotRecalled,
    LotSuspect,
    NotFound,
    RecallOpenItems,
    ValidationError,
)
from inventory.models import (
    AuditEvent, Clinic, Container, ContainerState, Draw, Lot, LotStatus, Movement, MovementKind, Patient, Product,
    Treatment, User,
)
from inventory import lifecycle
from inventory.models.base import plain_quantity
from inventory.services import ledger, lot_guard
from inventory.admin import service as admin_users
from inventory.services.access_log import ACCESS_ACTIONS, EXPORTED, VIEWED, record_access
from inventory.counts.service import COUNT_REASON
from inventory.services.clock import format_clinic_time
from inventory.services.permissions import Scope
from inventory.transfers import scoping
from inventory.words import counted, listing
from recall import queries
from recall.models import (
    NotificationMethod,
    NotificationStatus,
    RecallCase,
    RecallClass,
    RecallContainer,
    RecallContainerStatus,
    RecallLot,
    RecallPatient,
    RecallSource,
    RecallStatus,
)

MAX_REASON = 2000
MAX_NOTE = 2000
MAX_LOTS_PER_CASE = 50
MAX_BULK = 500

# Change-log actions (AuditEvent.action); the access log's are inventory.services.access_log's.
CHANGE_ACTIONS = (
    "lot.quarantined", "lot.released", "lot.recalled", "recall.opened", "recall.patient_updated",
    "recall.container_updated", "recall.closed", "recall.container_joined", "recall.widened",
    "recall.dose_reversed", "recall.stock_after_close", "recall.notification_carried",
    # A watched lot is released only after its entry is taken off the watch list, with the reason (release):
    # that step belongs to the lot's story.
    "watchlist.removed",
)


# --- errors ----------------------------------------------------------------------------


class RecalledLotNotReleasable(LotRecalled):
    """A recalled lot is never used again: no release, no quarantine (code ``lot_recalled``)."""


class LotNotQuarantined(DomainError):
    code = "lot_not_quarantined"


class LotHeldElsewhere(Forbidden):
    """A clinic-level safety lead may not release a lot another clinic holds: the release applies at every clinic,
    so it would make that clinic's stock usable again in the middle of its own investigation."""

    code = "lot_held_elsewhere"


class LotInOpenRecall(DomainError):
    code = "lot_in_open_recall"


class RecallClosed(DomainError):
    code = "recall_closed"


class RecallItemDone(DomainError):
    """A container returned or destroyed has left stock through the ledger: that cannot be undone."""

    code = "recall_item_done"


class RecallItemWasted(DomainError):
    """A container the ledger shows wasted (a waste movement emptied it), or one a count found missing (a count's
    adjustment emptied it), cannot have been returned to the supplier: the case records it destroyed."""

    code = "recall_item_wasted"


# --- quarantine and release ---------------------------------------------------------------


def quarantine(session: Session, *, actor: User, lot_id: int, reason: str, now: dt.datetime,
               scope: Scope | None = None) -> Lot:
    """Stops every use of a lot at every location until a safety lead releases it.

    ``scope``: the caller's clinics, which must hold, have used, or have on its way to them the lot (None:
    chain level). Quarantining protects: a clinic may stop a lot about to be unpacked there.

    Raises ValidationError (no reason), NotFound, LotQuarantined (already quarantined)
    or RecalledLotNotReleasable (a recalled lot stays recalled).
    """
    reason = _required(reason, "reason", "Say why the lot is quarantined.", MAX_REASON)
    lot = _lock_lot(session, lot_id, scope)
    if lot.status is LotStatus.RECALLED:
        raise RecalledLotNotReleasable(
            f"Lot {lot.number} of {lot.product.name} is recalled: it stays out of use for good.", lot_id=lot.id
        )
    if lot.status is LotStatus.QUARANTINED:
        raise LotQuarantined(
            f"Lot {lot.number} of {lot.product.name} is already quarantined ({lot.status_reason}).",
            lot_id=lot.id, reason=lot.status_reason,
        )
    _set_status(session, lot, LotStatus.QUARANTINED, reason, actor=actor, now=now, action="lot.quarantined")
    return lot


def release(session: Session, *, actor: User, lot_id: int, reason: str, now: dt.datetime,
            scope: Scope | None = None) -> Lot:
    """Lets a quarantined lot be used again, with the reason on record (``scope`` as for quarantine).

    The release applies at every clinic, so a clinic-level safety lead releases only a lot no other clinic
    holds (``release_refusals``); otherwise a chain-level safety lead decides.

    A lot whose number is still on the counterfeit watch list stays quarantined: its boxes are refused
    on every scan, so its labels must be too (DOMAIN.md "Counterfeits"). The safety lead takes it off the
    list first, saying why, then releases it.

    Raises ValidationError (no reason), NotFound, RecalledLotNotReleasable (never for a
    recalled lot), LotNotQuarantined, LotHeldElsewhere (403: another clinic holds it) or LotSuspect (the lot
    is on the watch list).
    """
    reason = _required(reason, "reason", "Say why the lot may be used again.", MAX_REASON)
    lot = _lock_lot(session, lot_id, scope)
    if lot.status is LotStatus.RECALLED:
        raise RecalledLotNotReleasable(
            f"Lot {lot.number} of {lot.product.name} is recalled: a recalled lot is never released.",
            lot_id=lot.id,
        )
    if lot.status is not LotStatus.QUARANTINED:
        raise LotNotQuarantined(
            f"Lot {lot.number} of {lot.product.name} is not quarantined: there is nothing to release.",
            lot_id=lot.id,
        )
    if scope is not None:
        refusal = release_refusals(session, scope, [lot]).get(lot.id)
        if refusal is not None:
            raise refusal
    _refuse_watched(session, lot)
    _set_status(session, lot, LotStatus.ACTIVE, reason, actor=actor, now=now, action="lot.released")
    return lot


def release_refusals(session: Session, scope: Scope, lots: Sequence[Lot]) -> dict[int, LotHeldElsewhere]:
    """Per lot, why the ``scope``'s user may not release it: the clinics outside their own that hold stock of it
    or have it on its way to them (transfers.scoping.held_outside). Lots they may release are left out; a
    chain-level user may release any. The trace page asks this to offer the release or say why not."""
    outside = scoping.held_outside(session, scope, [lot.id for lot in lots])
    if not outside:
        return {}
    clinics = clinic_names(session)
    refusals = {}
    for lot in lots:
        if lot.id in outside:
            where = outside[lot.id]
            held = ", ".join(clinics[clinic_id].code for clinic_id in where.held)
            awaited = ", ".join(clinics[clinic_id].code for clinic_id in where.awaited)
            place = (f"also held at {held} and on its way to {awaited}" if held and awaited
                     else f"also held at {held}" if held else f"on its way to {awaited}")
            codes = [clinics[clinic_id].code for clinic_id in where.clinic_ids]
            refusals[lot.id] = LotHeldElsewhere(
                f"Lot {lot.number} of {lot.product.name} is {place}: only a chain-level "
                "safety lead can release it, since the release applies at every clinic.",
                lot_id=lot.id, clinic_ids=where.clinic_ids, clinic_codes=codes,
            )
    return refusals


def _refuse_watched(session: Session, lot: Lot) -> None:
    """Raises LotSuspect while a box of ``lot`` would be refused: the lot checks a feature registered with
    ``lot_guard.on_lot_named`` (the counterfeit watch list), asked under the lot's lock. Adding a lot to the
    watch list takes the same lock before it quarantines, so a release and a new entry never cross."""
    try:
        lot_guard.check_lot_named(session, lot.product, lot.number)
    except LotSuspect as error:
        source = error.details.get("source")
        raise LotSuspect(
            f"Lot {lot.number} of {lot.product.name} is on the counterfeit watch list"
            f"{f' ({source})' if source else ''}: it stays quarantined. Take it off the watch list first, "
            "saying why, then release it.",
            **(error.details | {"lot_id": lot.id}),
        ) from None


def _set_status(session: Session, lot: Lot, status: LotStatus, reason: str, *, actor: User, now: dt.datetime,
                action: str, extra: dict[str, Any] | None = None) -> None:
    before = lot.status
    lot.status, lot.status_reason, lot.status_changed_at = status, reason, now
    session.add(AuditEvent(
        at=now, actor_id=actor.id, clinic_id=None, action=action, object_type="lot", object_id=str(lot.id),
        details={"lot_number": lot.number, "product": lot.product.name, "from": before.value, "to": status.value,
                 "reason": reason} | (extra or {}),
    ))
    session.flush()


def _lock_lot(session: Session, lot_id: int, scope: Scope | None = None) -> Lot:
    _ensure_id(lot_id, "lot")
    if scope is not None:
        scoping.ensure_lots(session, scope, [lot_id])  # held, used, or on its way to the caller's clinics
    lot = session.scalar(
        select(Lot).where(Lot.id == lot_id).options(joinedload(Lot.product))
        .with_for_update(of=Lot).execution_options(populate_existing=True)
    )
    if lot is None:
        raise NotFound(f"No lot with id {lot_id}.", id=lot_id)
    return lot


# --- recall cases ---------------------------------------------------------------------------


def open_recall(
    session: Session,
    *,
    actor: User,
    lot_ids: Sequence[int],
    reason: str,
    recall_class: str,
    source: str,
    now: dt.datetime,
    scope: Scope | None = None,
) -> RecallCase:
    """Opens a recall case: the lots become recalled, and the two work lists are built.

    The patient list holds every patient who received a dose from the lots (a draw not
    reversed), at every clinic; the container list every container of the lots still
    in stock (sealed, or opened with something left). A lot already recalled whose cases are
    all closed may be named again (a later notice, or stock found after its cases closed:
    ``uncovered_stock``): the new case lists what is in stock now. A patient an earlier case
    already told about every dose she had from these lots (``carried_over``) is listed as
    notified, as that case recorded it (how, by whom, when), and audited
    (``recall.notification_carried``): nobody calls her twice, and she does not keep the case
    open. Raises ValidationError, NotFound, or LotInOpenRecall (a lot already in an open case:
    work on that case).
    """
    reason = _required(reason, "reason", "Say why the lots are recalled.", MAX_REASON)
    klass = _choice(RecallClass, recall_class, "recall_class", "Choose the recall class: I, II or III.")
    origin = _choice(RecallSource, source, "source", "Choose the source: manufacturer, regulator or internal.")
    ids = list(dict.fromkeys(lot_ids))
    if not ids:
        raise ValidationError("Name at least one lot.", field="lot_ids")
    if len(ids) > MAX_LOTS_PER_CASE:
        raise ValidationError(f"At most {MAX_LOTS_PER_CASE} lots in one case.", field="lot_ids")
    if scope is not None:
        scoping.ensure_lots(session, scope, ids)  # only lots the caller's clinics hold, used, or have coming
    lots = [_lock_lot(session, lot_id) for lot_id in sorted(ids)]
    busy = session.execute(
        select(RecallLot.lot_id, RecallLot.case_id).join(RecallCase, RecallLot.case_id == RecallCase.id)
        .where(RecallLot.lot_id.in_(ids), RecallCase.status == RecallStatus.OPEN)
    ).first()
    if busy is not None:
        lot = next(lot for lot in lots if lot.id == busy[0])
        raise LotInOpenRecall(
            f"Lot {lot.number} of {lot.product.name} is already in open recall case {busy[1]}: work on that case.",
            lot_id=lot.id, case_id=busy[1],
        )

    # Only a lot an earlier case recalled can have patients told already (no other path recalls a lot).
    recalled_before = [lot.id for lot in lots if lot.status is LotStatus.RECALLED]
    case = RecallCase(reason=reason, recall_class=klass, source=origin, status=RecallStatus.OPEN,
                      opened_by_id=actor.id, opened_at=now)
    session.add(case)
    session.flush()
    for lot in lots:
        session.add(RecallLot(case_id=case.id, lot_id=lot.id, previous_status=lot.status))
        if lot.status is not LotStatus.RECALLED:
            _set_status(session, lot, LotStatus.RECALLED, reason, actor=actor, now=now, action="lot.recalled",
                        extra={"case_id": case.id})

    everywhere = Scope.everything()  # the case is chain-wide; each line carries its clinic
    doses = queries.dose_lines(session, everywhere, Draw.lot_id.in_(ids), lots=lots)
    patients = queries.patients_of(doses)
    # The depth follows the class: I and II notify every patient; III starts them as not required,
    # unless the safety lead widens the case (``widen``).
    start = NotificationStatus.NOT_REQUIRED if klass is RecallClass.III else NotificationStatus.PENDING
    told = earlier_notices(session, case.id, recalled_before) if recalled_before else {}
    given: dict[int, list[queries.DoseLine]] = {}
    for dose in doses:
        if not dose.is_reversed:
            given.setdefault(dose.patient.id, []).append(dose)
    carried = 0
    zones = clinic_names(session) if told else {}
    for p in patients:
        used = carried_over(given[p.id], told.get(p.id, []))
        if not used:
            session.add(RecallPatient(case_id=case.id, patient_id=p.id, clinic_id=p.clinic_id, status=start))
            continue
        session.add(_carried_line(case, p, used, zones[p.clinic_id].timezone))
        session.add(AuditEvent(
            at=now, actor_id=actor.id, clinic_id=p.clinic_id, action="recall.notification_carried",
            object_type="recall_case", object_id=str(case.id),
            details={"patient_id": p.id, "from_case_ids": sorted({n.case_id for n in used}),
                     "notified_at": used[-1].at.isoformat(), "notified_by_id": used[-1].by_id,
                     "notified_by": used[-1].by, "method": used[-1].method.value,
                     "lot_ids": sorted({d.lot_id for d in given[p.id]}), "draw_ids": [d.draw_id for d in given[p.id]]},
        ))
        carried += 1
    containers = [c for c in queries.container_lines(session, everywhere, Container.lot_id.in_(ids)) if c.is_live]
    session.add_all(
        RecallContainer(case_id=case.id, container_id=c.id, clinic_id=c.clinic.id,
                        status=RecallContainerStatus.OPEN)
        for c in containers
    )
    session.add(AuditEvent(
        at=now, actor_id=actor.id, clinic_id=None, action="recall.opened", object_type="recall_case",
        object_id=str(case.id),
        details={"lot_ids": sorted(ids), "lots": [f"{lot.product.name} {lot.number}" for lot in lots],
                 "recall_class": klass.value, "source": origin.value, "reason": reason,
                 "patients": len(patients), "containers": len(containers), "carried_over": carried},
    ))
    session.flush()
    return case


@dataclass(frozen=True)
class EarlierNotice:
    """A patient's line notified on an earlier case naming some of the same lots: what was done then."""

    case_id: int
    patient_id: int
    lot_ids: tuple[int, ...]  # the lots that case and the one asking share
    at: dt.datetime  # when the line was set notified
    method: NotificationMethod
    by_id: int | None
    by: str | None

    def covers(self, dose: queries.DoseLine) -> bool:
        """She was told about this dose: of a lot that case named, given by the time she was told."""
        return dose.lot_id in self.lot_ids and dose.at <= self.at


def earlier_notices(session: Session, case_id: int, lot_ids: Sequence[int], scope: Scope | None = None,
                    patient_ids: Sequence[int] | None = None) -> dict[int, list[EarlierNotice]]:
    """Per patient, oldest first, the notified lines of cases before ``case_id`` that name any of ``lot_ids``
    (of ``patient_ids``, or all; in ``scope``'s clinics, or all): one statement.

    A line carried over when its case opened (``carried_over``: set before the case's opening) only
    repeats the notice it came from, which is listed itself, so it is left out.
    """
    stmt = (
        select(RecallPatient.case_id, RecallPatient.patient_id, RecallLot.lot_id, RecallPatient.updated_at,
               RecallPatient.method, RecallPatient.updated_by_id, User.username, User.display_name)
        .join(RecallLot, RecallLot.case_id == RecallPatient.case_id)
        .join(RecallCase, RecallCase.id == RecallPatient.case_id)
        .outerjoin(User, RecallPatient.updated_by_id == User.id)
        .where(RecallLot.lot_id.in_(list(lot_ids)), RecallPatient.case_id < case_id,
               RecallPatient.status == NotificationStatus.NOTIFIED, RecallPatient.updated_at.is_not(None),
               RecallPatient.updated_at >= RecallCase.opened_at)
        .order_by(RecallPatient.updated_at, RecallPatient.case_id, RecallLot.lot_id)
    )
    if patient_ids is not None:
        stmt = stmt.where(RecallPatient.patient_id.in_(list(patient_ids)))
    if scope is not None:
        stmt = scope.filter(stmt, RecallPatient.clinic_id)
    lots: dict[tuple[int, int], list[int]] = {}
    facts: dict[tuple[int, int], tuple[Any, ...]] = {}
    for earlier_case, patient_id, lot_id, at, method, by_id, username, display_name in session.execute(stmt):
        lots.setdefault((earlier_case, patient_id), []).append(lot_id)
        facts[(earlier_case, patient_id)] = (at, method, by_id, display_name or username)
    found: dict[int, list[EarlierNotice]] = {}
    for (earlier_case, patient_id), (at, method, by_id, by) in facts.items():
        found.setdefault(patient_id, []).append(EarlierNotice(
            earlier_case, patient_id, tuple(lots[(earlier_case, patient_id)]), at, method, by_id, by))
    return found


def carried_over(doses: Sequence[queries.DoseLine], notices: Sequence[EarlierNotice]) -> list[EarlierNotice]:
    """The earlier notices that told a patient about every one of ``doses`` (her doses, not reversed, from a
    new case's lots), oldest first and the newest last; none when a dose was not covered (of a lot no earlier
    case named, or given after she was told): then she is to be told again."""
    used: dict[int, EarlierNotice] = {}
    for dose in doses:
        covering = [n for n in notices if n.covers(dose)]
        if not covering:
            return []
        newest = max(covering, key=lambda n: (n.at, -n.case_id))
        used[newest.case_id] = newest
    return sorted(used.values(), key=lambda n: (n.at, -n.case_id))


def untold(doses: Sequence[queries.DoseLine], notices: Sequence[EarlierNotice]) -> list[queries.DoseLine]:
    """The doses (not reversed) no earlier notice covers."""
    return [d for d in doses if not d.is_reversed and not any(n.covers(d) for n in notices)]


def _carried_line(case: RecallCase, patient: queries.PatientRef, used: Sequence[EarlierNotice],
                  timezone: str) -> RecallPatient:
    """A patient line that takes over what an earlier case recorded: notified, how, by whom and when (so its
    ``updated_at`` is before the case opened, which is what marks it carried over), and a note saying so."""
    last = used[-1]
    cases = ", ".join(str(n.case_id) for n in used)
    note = (f"Notified in recall case {last.case_id} on {format_clinic_time(last.at, timezone)} by {last.by or 'unknown'}"
            f" ({last.method.value.replace('_', ' ')}): carried over when recall case {case.id} opened"
            + (f" (told in recall cases {cases})." if len(used) > 1 else "."))
    return RecallPatient(case_id=case.id, patient_id=patient.id, clinic_id=patient.clinic_id,
                         status=NotificationStatus.NOTIFIED, method=last.method, note=note,
                         updated_by_id=last.by_id, updated_at=last.at)


def carried_from(case: RecallCase, line: RecallPatient, notices: Sequence[EarlierNotice]) -> EarlierNotice | None:
    """The earlier notice a line still carries: notified with that notice's moment and method, set before this
    case opened (anything set on this case is set after). None once the line was worked on this case."""
    if (line.status is not NotificationStatus.NOTIFIED or line.updated_at is None
            or line.updated_at >= case.opened_at):
        return None
    return next((n for n in reversed(notices) if n.at == line.updated_at and n.method is line.method), None)


def get_case(session: Session, case_id: int) -> RecallCase:
    """A case with its lots and their products; raises NotFound."""
    _ensure_id(case_id, "recall case")
    case = session.scalar(
        select(RecallCase).where(RecallCase.id == case_id)
        .options(selectinload(RecallCase.lots).joinedload(RecallLot.lot).joinedload(Lot.product),
                 joinedload(RecallCase.opened_by), joinedload(RecallCase.closed_by))
    )
    if case is None:
        raise NotFound(f"No recall case with id {case_id}.", id=case_id)
    return case


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    # Of the patients done, those never told: a Class I list "done" with unreachable patients must say so.
    unreachable: int = 0
    not_required: int = 0

    @property
    def notified(self) -> int:
        return self.done - self.unreachable - self.not_required

    @property
    def open(self) -> int:
        return self.total - self.done


@dataclass(frozen=True)
class CaseSummary:
    case: RecallCase
    patients: Progress  # notified or unreachable, of all, in the viewer's clinics
    containers: Progress  # returned or destroyed, of all, in the viewer's clinics


def list_cases(session: Session, scope: Scope) -> list[CaseSummary]:
    """Every case, open ones first, with progress over the lines of the viewer's clinics: three statements."""
    cases = list(session.scalars(
        select(RecallCase)
        .options(selectinload(RecallCase.lots).joinedload(RecallLot.lot).joinedload(Lot.product),
                 joinedload(RecallCase.opened_by))
        .order_by(sql_case((RecallCase.status == RecallStatus.OPEN, 0), else_=1), RecallCase.opened_at.desc(),
                  RecallCase.id.desc())
    ))
    patients = _progress(session, lambda stmt: scope.filter(stmt, RecallPatient.clinic_id), RecallPatient,
                         RecallPatient.status != NotificationStatus.PENDING,
                         unreachable=RecallPatient.status == NotificationStatus.UNREACHABLE,
                         not_required=RecallPatient.status == NotificationStatus.NOT_REQUIRED)
    # The lines case_view lists: the viewer's clinics', and those of containers on their way to them.
    containers = _progress(session, lambda stmt: scoping.filter_containers(
        scope, stmt, RecallContainer.container_id, RecallContainer.clinic_id,
    ), RecallContainer, RecallContainer.status != RecallContainerStatus.OPEN)
    empty = Progress(0, 0)
    return [CaseSummary(c, patients.get(c.id, empty), containers.get(c.id, empty)) for c in cases]


def _progress(session: Session, visible: Callable[[Select[Any]], Select[Any]], model: Any, done: Any,
              **counted: Any) -> dict[int, Progress]:
    """Per case, the lines of ``model`` that ``visible`` keeps, done and in all (and each of ``counted``)."""
    stmt = select(model.case_id, func.count(model.id).filter(done), func.count(model.id),
                  *(func.count(model.id).filter(condition) for condition in counted.values())).group_by(model.case_id)
    return {case_id: Progress(d, t, **dict(zip(counted, rest, strict=True)))
            for case_id, d, t, *rest in session.execute(visible(stmt))}


@dataclass(frozen=True)
class PatientLine:
    line: RecallPatient
    patient: queries.PatientRef
    clinic: queries.ClinicRef
    doses: list[queries.DoseLine]
    # Earlier cases' notifications of this patient about some of the case's lots, oldest first.
    earlier: list[EarlierNotice] = field(default_factory=list)
    # The one this line's status was carried over from when the case opened (None once worked on this case).
    carried_from: EarlierNotice | None = None

    @property
    def received_none(self) -> bool:
        return received_none(self.doses)

    @property
    def note(self) -> str | None:
        """The line's note as shown (``current_note``)."""
        return current_note(self.line, self.clinic.timezone)

    @property
    def untold(self) -> list[queries.DoseLine]:
        """Doses (not reversed) no earlier notification covered: what she has not been told about."""
        return untold(self.doses, self.earlier)


def received_none(doses: Sequence[queries.DoseLine]) -> bool:
    """Every dose listed from a case's lots was reversed: the patient received none of them, and may be set not
    required in any class (``update_patient`` asks the database again, at every clinic)."""
    return bool(doses) and all(d.is_reversed for d in doses)


@dataclass(frozen=True)
class ContainerLine:
    line: RecallContainer
    container: queries.ContainerLine
    # Found missing by a count (``found_missing``): like a wasted one, it cannot have gone back to the supplier.
    missing: bool = False

    @property
    def may_be_returned(self) -> bool:
        """What ``update_container`` accepts as "returned": not a container the ledger shows thrown away or lost."""
        return self.container.state is not ContainerState.DISCARDED and not self.missing


@dataclass
class CaseView:
    """A case with the lines of the viewer's clinics, each patient with the doses they received."""

    case: RecallCase
    patients: list[PatientLine]
    containers: list[ContainerLine]
    open_elsewhere: int = 0  # open lines of other clinics than the viewer's: they keep the case open too
    # A closed case's lots with stock back on a shelf that no open case takes (``uncovered_stock``).
    uncovered: list[UncoveredLot] = field(default_factory=list)

    @property
    def patient_progress(self) -> Progress:
        statuses = [p.line.status for p in self.patients]
        return Progress(sum(1 for s in statuses if s is not NotificationStatus.PENDING), len(statuses),
                        unreachable=statuses.count(NotificationStatus.UNREACHABLE),
                        not_required=statuses.count(NotificationStatus.NOT_REQUIRED))

    @property
    def container_progress(self) -> Progress:
        return Progress(sum(1 for c in self.containers if c.line.status is not RecallContainerStatus.OPEN),
                        len(self.containers))


def case_view(session: Session, case_id: int, scope: Scope) -> CaseView:
    """A case and its lines in the caller's clinics: a fixed handful of statements."""
    case = get_case(session, case_id)
    lot_ids = [rl.lot_id for rl in case.lots]
    lines = list(session.scalars(scope.filter(
        select(RecallPatient).where(RecallPatient.case_id == case.id)
        .options(joinedload(RecallPatient.patient), joinedload(RecallPatient.updated_by))
        .order_by(RecallPatient.clinic_id, RecallPatient.id),
        RecallPatient.clinic_id,
    )))
    on_list = {line.patient_id for line in lines}
    doses: dict[int, list[queries.DoseLine]] = {}
    for dose in queries.dose_lines(session, scope, Draw.lot_id.in_(lot_ids), lots=[rl.lot for rl in case.lots]):
        if dose.patient.id in on_list:
            doses.setdefault(dose.patient.id, []).append(dose)
    clinics = clinic_names(session)
    # Earlier cases can only have told anyone about a lot recalled before this case.
    notices = (earlier_notices(session, case.id, lot_ids, scope)
               if lines and any(rl.previous_status is LotStatus.RECALLED for rl in case.lots) else {})
    patients = [
        PatientLine(line, _patient_ref(line), clinics[line.clinic_id], doses.get(line.patient_id, []),
                    notices.get(line.patient_id, []), carried_from(case, line, notices.get(line.patient_id, [])))
        for line in lines
    ]

    # A line keeps the clinic its container left until it arrives: the clinic it travels to sees it coming.
    boxes = list(session.scalars(scoping.filter_containers(scope,
        select(RecallContainer).where(RecallContainer.case_id == case.id)
        .options(joinedload(RecallContainer.updated_by)).order_by(RecallContainer.clinic_id, RecallContainer.id),
        RecallContainer.container_id, RecallContainer.clinic_id,
    )))
    where = {c.id: c for c in queries.container_lines(
        session, scope, Container.id.in_([b.container_id for b in boxes])
    )} if boxes else {}
    emptied = [b.container_id for b in boxes
               if b.status is RecallContainerStatus.OPEN and where[b.container_id].remaining == 0]
    missing = found_missing(session, emptied)
    containers = [ContainerLine(b, where[b.container_id], b.container_id in missing) for b in boxes]
    counts = open_counts(session, case.id)
    mine = (sum(1 for p in patients if p.line.status is NotificationStatus.PENDING)
            + sum(1 for c in containers if c.line.status is RecallContainerStatus.OPEN))
    # An open case takes every container of its lots back in stock (``join_open_cases``); a closed one cannot.
    uncovered = [] if case.is_open else uncovered_stock(session, scope, lot_ids)
    return CaseView(case, patients, containers, counts["patients_pending"] + counts["containers_open"] - mine,
                    uncovered)


def patient_line(session: Session, case: RecallCase, line: RecallPatient, scope: Scope) -> PatientLine:
    """One line of a case as ``case_view`` shows it: the patient's doses from the case's lots in the caller's
    clinics, and what earlier cases did."""
    lot_ids = [rl.lot_id for rl in case.lots]
    doses = queries.dose_lines(session, scope, and_(Draw.lot_id.in_(lot_ids), Draw.patient_id == line.patient_id),
                               lots=[rl.lot for rl in case.lots])
    clinic = session.get(Clinic, line.clinic_id)
    assert clinic is not None
    notices = (earlier_notices(session, case.id, lot_ids, scope, [line.patient_id]).get(line.patient_id, [])
               if any(rl.previous_status is LotStatus.RECALLED for rl in case.lots) else [])
    return PatientLine(line, _patient_ref(line), queries.ClinicRef(clinic.id, clinic.code, clinic.name,
                                                                   clinic.timezone),
                       doses, notices, carried_from(case, line, notices))


def _patient_ref(line: RecallPatient) -> queries.PatientRef:
    patient = line.patient
    return queries.PatientRef(patient.id, patient.clinic_id, patient.external_ref, patient.name,
                              patient.date_of_birth)


def update_patient(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    case_id: int,
    patient_id: int,
    status: str,
    now: dt.datetime,
    method: str | None = None,
    note: str | None = None,
) -> RecallPatient:
    """Records how a patient on the list was (or could not be) told.

    ``notified`` needs a method (phone, email, letter, in_person); ``pending`` clears it.
    The line's note is what ``note`` says when it is sent (the page sends its field, which shows the note before
    saving; empty clears it). Not sent (None: an API call without one), the note stays while the status stays, and
    is cleared when the status changes, so an unreachable line never reads "spoke to her" (the audit event keeps
    the old note, ``note_before``). The reversal's instruction (``TELL_AGAIN``) left as is or sent back becomes
    ``told_again``'s history once the line is worked again.
    ``not_required`` is the Class III default; in a Class I or II case it is only for a patient
    who received none of the case's lots (every dose she had from them was reversed since).
    Raises ValidationError (also for ``not_required`` of a patient with a dose that stands),
    NotFound (not on this case's list, or another clinic's patient) or RecallClosed.
    """
    new = _choice(NotificationStatus, status, "status", "Choose pending, notified, unreachable or not required.")
    how = _choice(NotificationMethod, method, "method", "Choose phone, email, letter or in_person.") \
        if method not in (None, "") else None
    sent, note = note is not None, _optional(note, "note", MAX_NOTE)
    if new is NotificationStatus.NOTIFIED and how is None:
        raise ValidationError("Say how the patient was notified: phone, email, letter or in person.", field="method")
    if new is NotificationStatus.PENDING:
        how = None
    case = _open_case(session, case_id)
    _ensure_id(patient_id, "patient")
    line = session.scalar(
        select(RecallPatient).where(RecallPatient.case_id == case.id, RecallPatient.patient_id == patient_id)
        .with_for_update().execution_options(populate_existing=True)
    )
    if line is None or not scope.allows(line.clinic_id):
        raise NotFound(f"Patient {patient_id} is not on the list of recall case {case.id}.", patient_id=patient_id)
    if new is NotificationStatus.NOT_REQUIRED and case.recall_class is not RecallClass.III:
        _refuse_if_received(session, case, line)
    before, note_before = line.status, line.note
    if note == TELL_AGAIN or (not sent and line.note == TELL_AGAIN):
        kept = line.note  # the reversal's instruction, sent back by the page or left as it is
    elif sent:
        kept = note  # what the page's field, or the API's note, holds: empty clears it
    else:
        kept = line.note if new is before else None  # an old note would say what no longer is
    if kept == TELL_AGAIN and new is not NotificationStatus.PENDING:
        # The reversal's instruction is done once the line is worked again: the note keeps it as history.
        clinic = session.get(Clinic, line.clinic_id)
        assert clinic is not None
        kept = note = told_again(new, how, now, clinic.timezone)
    line.status, line.method, line.note = new, how, kept
    line.updated_by_id, line.updated_at = actor.id, now
    session.add(AuditEvent(
        at=now, actor_id=actor.id, clinic_id=line.clinic_id, action="recall.patient_updated",
        object_type="recall_case", object_id=str(case.id),
        details={"patient_id": patient_id, "from": before.value, "to": new.value,
                 "method": how.value if how else None, "note": note}
        | ({"note_before": note_before} if note_before is not None and kept != note_before else {}),
    ))
    session.flush()
    return line


def _refuse_if_received(session: Session, case: RecallCase, line: RecallPatient) -> None:
    """A Class I or II case notifies every patient who received one of its lots. A patient whose every dose from
    them was reversed (recorded in error, then corrected) received none, and may be left out: asked of the
    database, at every clinic, under the line's lock, which a reversal on the case takes too
    (``_record_reversed_dose``). No dose is added meanwhile: the lots are recalled."""
    lot_ids = list(session.scalars(select(RecallLot.lot_id).where(RecallLot.case_id == case.id)))
    given = [d for d in queries.dose_lines(session, Scope.everything(), and_(
        Draw.lot_id.in_(lot_ids), Draw.patient_id == line.patient_id)) if not d.is_reversed]
    if not given:
        return
    first, day = given[0], given[0].local_at.date()
    ml = f" ({plain_quantity(first.quantity_ml)} mL)" if first.quantity_ml and first.base_unit != "mL" else ""
    more = f" (and {counted(len(given) - 1, 'more dose')})" if len(given) > 1 else ""
    raise ValidationError(
        f"{first.patient.name} received {plain_quantity(first.quantity)} {first.base_unit}{ml} of {first.product} "
        f"lot {first.lot_number} on {day.day} {day:%B %Y}{more}, a dose that was not reversed: a Class "
        f"{case.recall_class.value} recall notifies every patient who received its lots. Not required is only for "
        "a patient whose every dose from them was reversed.",
        field="status", patient_id=line.patient_id, draw_ids=[d.draw_id for d in given],
    )


def update_container(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    case_id: int,
    container_id: int,
    status: str,
    now: dt.datetime,
    note: str | None = None,
) -> RecallContainer:
    """Records that a container on the list was returned or destroyed, and takes it out of stock.

    What is left in it leaves through the ledger: a RETURN movement for a container sent
    back, a WASTE movement (reason ``recall_destroyed``) for one destroyed. That is final.
    A container the ledger shows wasted (``discarded``: a waste emptied it, at the cart, by the beyond-use waste or
    on hold), or one a count found missing (a count's adjustment emptied it), is not marked returned:
    RecallItemWasted, mark it destroyed.
    Raises ValidationError, NotFound, RecallClosed, RecallItemDone, RecallItemWasted or ContainerInTransit (on the
    road: it is settled where it arrives).
    """
    new = _choice(RecallContainerStatus, status, "status", "Choose returned or destroyed.")
    if new is RecallContainerStatus.OPEN:
        raise ValidationError("A container is marked returned or destroyed; that cannot be undone.", field="status")
    note = _optional(note, "note", MAX_NOTE)
    case = _open_case(session, case_id)
    _ensure_id(container_id, "container")
    line = session.scalar(
        select(RecallContainer).where(RecallContainer.case_id == case.id, RecallContainer.container_id == container_id)
        .with_for_update().execution_options(populate_existing=True)
    )
    # The case lists a container on its way to the caller's clinics for them too (case_view): the same line here.
    coming = line is not None and not scope.allows(line.clinic_id) and scoping.is_incoming(session, scope,
                                                                                            container_id)
    if line is None or not (scope.allows(line.clinic_id) or coming):
        raise NotFound(f"Container {container_id} is not on the list of recall case {case.id}.",
                       container_id=container_id)
    if line.status is not RecallContainerStatus.OPEN:
        raise RecallItemDone(
            f"This container was already marked {line.status.value}: it has left stock.",
            container_id=container_id, status=line.status.value,
        )
    # An incoming container is still the sender's: locked as such, and refused below as on the road.
    container = ledger.lock_container(session, container_id, Scope.everything() if coming else scope)
    if container.state is ContainerState.IN_TRANSIT:
        # On the road it holds nothing in any ledger: marked returned or destroyed now, nothing would leave stock
        # and the box would arrive later as stock again. Its clinics settle where it is first.
        raise ContainerInTransit(_on_the_road(session, container, new), container_id=container_id)
    if new is RecallContainerStatus.RETURNED and container.state is ContainerState.DISCARDED:
        _refuse_return_of_wasted(session, container)
    elif new is RecallContainerStatus.RETURNED and container.remaining == 0:
        _refuse_return_of_missing(session, container)
    if container.remaining > 0:
        kind, reason = ((MovementKind.RETURN, "recall_returned") if new is RecallContainerStatus.RETURNED
                        else (MovementKind.WASTE, "recall_destroyed"))
        ledger.record(session, container, kind=kind, quantity=-container.remaining, actor=actor, at=now,
                      reason=reason, note=f"recall case {case.id}" + (f": {note}" if note else ""))
    elif container.state is ContainerState.SEALED:  # pragma: no cover - a sealed container always holds something
        container.state = ContainerState.EMPTY
    line.status, line.note, line.updated_by_id, line.updated_at = new, note, actor.id, now
    session.add(AuditEvent(
        at=now, actor_id=actor.id, clinic_id=line.clinic_id, action="recall.container_updated",
        object_type="recall_case", object_id=str(case.id),
        details={"container_id": container_id, "label_code": container.label_code, "to": new.value, "note": note},
    ))
    session.flush()
    return line


def _refuse_return_of_wasted(session: Session, container: Container) -> None:
    """Raises RecallItemWasted for a discarded container, which cannot have gone back to the supplier, naming the
    waste that emptied it (the last waste that left it holding nothing: a reversal's pair may follow an earlier
    one)."""
    wasted = session.scalar(
        select(Movement).where(Movement.container_id == container.id, Movement.kind == MovementKind.WASTE,
                               Movement.balance_after == 0)
        .order_by(Movement.id.desc()).limit(1)
    )
    by = when = ""
    if wasted is not None:
        who = session.get(User, wasted.actor_id)
        by = f" by {who.label}" if who is not None else ""
        when = f" on {format_clinic_time(wasted.at, container.clinic.timezone)}" + (
            f" (reason {wasted.reason})" if wasted.reason else "")
    raise RecallItemWasted(
        f"{container.product.name} ({container.label_code}) was wasted{by}{when}: the ledger shows it thrown "
        "away, so it cannot have been returned to the supplier. Mark it destroyed.",
        container_id=container.id, movement_id=wasted.id if wasted is not None else None,
        wasted_at=wasted.at.isoformat() if wasted is not None else None,
        reason=wasted.reason if wasted is not None else None,
    )


def found_missing(session: Session, container_ids: Sequence[int]) -> dict[int, Movement]:
    """Of these empty containers, those a count found missing, each with the count's adjustment that emptied it:
    their last change of stock was a count's adjustment that left them holding nothing (a later count that found
    one again would have refilled it). Any other empty container (used up) may be returned. One statement."""
    if not container_ids:
        return {}
    latest = (
        select(func.max(Movement.id)).where(Movement.container_id.in_(list(container_ids)), Movement.quantity != 0)
        .group_by(Movement.container_id)
    )
    return {m.container_id: m for m in session.scalars(select(Movement).where(Movement.id.in_(latest)))
            if m.kind is MovementKind.ADJUST and m.reason == COUNT_REASON and m.balance_after == 0}


def _refuse_return_of_missing(session: Session, container: Container) -> None:
    """Raises RecallItemWasted for an empty container a count found missing (``found_missing``)."""
    emptied = found_missing(session, [container.id]).get(container.id) if container.remaining == 0 else None
    if emptied is None:
        return
    count_id = emptied.note.removeprefix("count ") if emptied.note else ""
    who = session.get(User, emptied.actor_id)
    by = f" by {who.label}" if who is not None else ""
    count = f"count {count_id}" if count_id.isdigit() else "a count"
    raise RecallItemWasted(
        f"{container.product.name} ({container.label_code}) was found missing by {count} (posted{by} on "
        f"{format_clinic_time(emptied.at, container.clinic.timezone)}): the ledger shows nothing left of it, so it "
        "cannot have been returned to the supplier. Mark it destroyed, with a note that it went missing (if it "
        "turns up, count it again first: it is back in stock and may then be returned).",
        container_id=container.id, movement_id=emptied.id, missing=True,
        count_id=int(count_id) if count_id.isdigit() else None, missing_at=emptied.at.isoformat(),
        reason=emptied.reason,
    )


def _on_the_road(session: Session, container: Container, new: RecallContainerStatus) -> str:
    """Why a container in transit is not marked yet, and where it will be: the same words at both ends."""
    name = f"{container.product.name} ({container.label_code})"
    transit = queries.open_transfers(session, [container.id]).get(container.id)
    if transit is None:  # pragma: no cover - a container in transit always travels with an open transfer
        return (f"{name} is on its way to another clinic: have the sender call it back or the destination receive "
                f"it (or refuse it and the sender record its return), then mark it {new.value}.")
    source, destination = transit.from_clinic.code, transit.to_clinic.code
    if transit.is_going_back:
        return (f"{name} was refused at {destination} and is on its way back to {source} (transfer "
                f"#{transit.transfer_id}): once {source} records its return, mark it {new.value} there.")
    return (f"{name} is on its way to another clinic, from {source} to {destination} (transfer "
            f"#{transit.transfer_id}): once {destination} receives it (or refuses it and {source} records its "
            f"return), or {source} calls it back, mark it {new.value}.")


def widen(session: Session, *, actor: User, case_id: int, now: dt.datetime) -> int:
    """Notifies every patient of a Class III case after all: each line not required becomes pending.

    Returns how many lines changed. Raises NotFound or RecallClosed.
    """
    case = _open_case(session, case_id, lock=True)
    lines = list(session.scalars(
        select(RecallPatient).where(RecallPatient.case_id == case.id,
                                    RecallPatient.status == NotificationStatus.NOT_REQUIRED)
        .with_for_update().execution_options(populate_existing=True)
    ))
    for line in lines:
        line.status, line.updated_by_id, line.updated_at = NotificationStatus.PENDING, actor.id, now
    session.add(AuditEvent(
        at=now, actor_id=actor.id, clinic_id=None, action="recall.widened", object_type="recall_case",
        object_id=str(case.id), details={"patients": len(lines), "patient_ids": [line.patient_id for line in lines]},
    ))
    session.flush()
    return len(lines)


def update_containers(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    case_id: int,
    container_ids: Sequence[int],
    status: str,
    now: dt.datetime,
    note: str | None = None,
) -> list[RecallContainer]:
    """Marks many containers of a case returned or destroyed at once (``update_container`` for each, in id
    order): all of them or, on the first refusal, none. Raises what update_container raises, or
    ValidationError for an empty or overlong list."""
    ids = sorted(set(container_ids))
    if not ids:
        raise ValidationError("Choose at least one container.", field="container_ids")
    if len(ids) > MAX_BULK:
        raise ValidationError(f"At most {MAX_BULK} containers at a time.", field="container_ids")
    return [update_container(session, actor=actor, scope=scope, case_id=case_id, container_id=container_id,
                             status=status, now=now, note=note) for container_id in ids]


def open_counts(session: Session, case_id: int) -> dict[str, int]:
    """What keeps a case open, over every clinic: patients pending, containers open, and containers of
    its lots back in stock without an open line (which the stock hook never leaves; a guard all the same)."""
    pending = session.scalar(select(func.count(RecallPatient.id)).where(
        RecallPatient.case_id == case_id, RecallPatient.status == NotificationStatus.PENDING))
    boxes = session.scalar(select(func.count(RecallContainer.id)).where(
        RecallContainer.case_id == case_id, RecallContainer.status == RecallContainerStatus.OPEN))
    open_line = (select(RecallContainer.id).where(
        RecallContainer.case_id == case_id, RecallContainer.container_id == Container.id,
        RecallContainer.status == RecallContainerStatus.OPEN).exists())
    back = session.scalar(select(func.count(Container.id)).where(
        Container.lot_id.in_(select(RecallLot.lot_id).where(RecallLot.case_id == case_id)),
        (Container.state.in_(lifecycle.HELD_STATES)) | (Container.remaining > 0),
        ~open_line,
    ))
    return {"patients_pending": pending or 0, "containers_open": boxes or 0, "containers_back_in_stock": back or 0}


def join_open_cases(session: Session, lot: Lot, containers: Sequence[Container], actor: User,
                    now: dt.datetime) -> None:
    """Stock of a lot came back or arrived (lot_guard hook, the lot locked): it joins every open case of the lot.

    A container not on the case's list gets an open line; one marked returned or destroyed that holds
    stock again is opened again; a line follows its container to the clinic that now holds it. The
    case rows are locked, so a closing case either waits and then sees the stock, or is already closed.

    Stock that reaches a recalled lot with no open case (a count finds a vial after the lot's cases
    closed) is not refused: the count records what is on the shelf, and the lot keeps it out of use.
    (A correction saying the same is refused before it gets here, ``check_reversal``: it changes a record,
    not what a shelf holds.)
    A closed case's record is final, so it joins no case; the safety lead is told instead
    (``recall.stock_after_close``, and ``uncovered_stock`` on the recall pages) and decides, typically
    by opening a new case on the lot, which lists it.
    """
    cases = list(session.scalars(
        select(RecallCase).join(RecallLot, RecallLot.case_id == RecallCase.id)
        .where(RecallLot.lot_id == lot.id, RecallCase.status == RecallStatus.OPEN)
        .order_by(RecallCase.id).with_for_update(of=RecallCase).execution_options(populate_existing=True)
    ))
    if not any(case.is_open for case in cases):  # none, or closed while this waited for its lock
        if lot.status is LotStatus.RECALLED:
            _record_stock_outside_cases(session, lot, containers, actor, now)
        return
    for case in cases:
        if not case.is_open:  # closed while this waited for its lock
            continue
        lines = {line.container_id: line for line in session.scalars(
            select(RecallContainer).where(RecallContainer.case_id == case.id,
                                          RecallContainer.container_id.in_([c.id for c in containers]))
            .with_for_update().execution_options(populate_existing=True)
        )}
        for container in containers:
            line = lines.get(container.id)
            if line is None:
                session.add(RecallContainer(case_id=case.id, container_id=container.id,
                                            clinic_id=container.clinic_id, status=RecallContainerStatus.OPEN))
                what = "joined"
            elif line.status is not RecallContainerStatus.OPEN:
                line.status, line.clinic_id, line.updated_by_id, line.updated_at = (
                    RecallContainerStatus.OPEN, container.clinic_id, actor.id, now)
                line.note = "back in stock: return or destroy it again"
                what = "reopened"
            elif line.clinic_id != container.clinic_id:
                line.clinic_id = container.clinic_id
                what = "moved"
            else:
                continue
            session.add(AuditEvent(
                at=now, actor_id=actor.id, clinic_id=container.clinic_id, action="recall.container_joined",
                object_type="recall_case", object_id=str(case.id),
                details={"container_id": container.id, "label_code": container.label_code, "lot_id": lot.id,
                         "how": what},
            ))
    session.flush()


def _record_stock_outside_cases(session: Session, lot: Lot, containers: Sequence[Container], actor: User,
                                now: dt.datetime) -> None:
    closed = list(session.scalars(select(RecallLot.case_id).where(RecallLot.lot_id == lot.id)
                                  .order_by(RecallLot.case_id)))
    for container in containers:
        session.add(AuditEvent(
            at=now, actor_id=actor.id, clinic_id=container.clinic_id, action="recall.stock_after_close",
            object_type="lot", object_id=str(lot.id),
            details={"container_id": container.id, "label_code": container.label_code, "lot_id": lot.id,
                     "lot_ids": [lot.id], "case_ids": closed, "remaining": plain_quantity(container.remaining)},
        ))
    session.flush()


@dataclass(frozen=True)
class UncoveredLot:
    """A recalled lot with containers in stock that no open case lists: nobody is asked to return or destroy
    them. The lot keeps them out of use; a new case on the lot takes them back."""

    lot: Lot
    containers: list[queries.ContainerLine]
    cases: list[RecallCase]  # the lot's cases, all closed, newest first (none for a lot recalled without one)


def uncovered_stock(session: Session, scope: Scope, lot_ids: Sequence[int] | None = None) -> list[UncoveredLot]:
    """Containers of recalled lots (of ``lot_ids``, or any) still in stock in the viewer's clinics without an
    open line on an open case, by lot: one statement, and two more when there are some."""
    recalled = select(Lot.id).where(Lot.status == LotStatus.RECALLED)
    if lot_ids is not None:
        recalled = recalled.where(Lot.id.in_(list(lot_ids)))
    covered = (select(RecallContainer.id).join(RecallCase, RecallContainer.case_id == RecallCase.id)
               .where(RecallContainer.container_id == Container.id,
                      RecallContainer.status == RecallContainerStatus.OPEN, RecallCase.status == RecallStatus.OPEN)
               .exists())
    found = queries.container_lines(session, scope, and_(
        Container.lot_id.in_(recalled),
        or_(Container.state.in_(lifecycle.HELD_STATES), Container.remaining > 0),  # ContainerLine.is_live
        ~covered,
    ))
    if not found:
        return []
    by_lot: dict[int, list[queries.ContainerLine]] = {}
    for line in found:
        by_lot.setdefault(line.lot_id, []).append(line)
    lots = sorted(queries.lots_by_ids(session, by_lot), key=lambda lot: (lot.product.name, lot.number, lot.id))
    cases = cases_for_lots(session, [lot.id for lot in lots])
    return [UncoveredLot(lot, by_lot[lot.id], cases.get(lot.id, [])) for lot in lots]


def check_reversal(session: Session, lot: Lot, container: Container, original: Movement, actor: User,
                   now: dt.datetime) -> None:
    """A draw or a waste of ``container`` is about to be corrected (lot_guard hook: the lot and the container
    locked, nothing written yet). Stock put back into a recalled lot, and a dose taken off a listed patient's
    record, must land on an open case, never past one.

    A closed case's record is final: a container it lists as returned or destroyed never holds stock again,
    and a dose of a patient on its list is never withdrawn, so either correction is refused, as is stock put
    back into a recalled lot that no open case would take: the safety lead decides. Otherwise the stock joins
    the open case afterwards (``join_open_cases``), and a reversed dose is recorded on each open case that
    lists its patient; a patient already notified is pending again, since what they were told has changed.
    Closing a case takes its lots' locks, which the caller holds, so no case of the lot opens or closes meanwhile.

    Raises RecallClosed (``recall_closed``) or LotRecalled (a lot recalled without any case).
    """
    if lot.status is not LotStatus.RECALLED:
        return  # a quarantined lot keeps every container out of use, the corrected one too, until released
    cases = list(session.scalars(
        select(RecallCase).join(RecallLot, RecallLot.case_id == RecallCase.id)
        .where(RecallLot.lot_id == lot.id).order_by(RecallCase.id).execution_options(populate_existing=True)
    ))
    closed = [case.id for case in cases if not case.is_open]
    open_cases = [case.id for case in cases if case.is_open]
    patient_id = (session.scalar(select(Treatment.patient_id).where(Treatment.id == original.treatment_id))
                  if original.kind is MovementKind.DRAW and original.treatment_id is not None else None)
    ask = "Nothing was changed: ask the safety lead."
    details = {"lot_id": lot.id, "container_id": container.id, "movement_id": original.id}
    if closed:
        box = session.scalar(select(RecallContainer).where(
            RecallContainer.case_id.in_(closed), RecallContainer.container_id == container.id,
        ).order_by(RecallContainer.case_id.desc()).limit(1))
        if box is not None:
            raise RecallClosed(
                f"{container.product.name} {container.label_code} is recorded as {box.status.value} on recall case "
                f"{box.case_id}, which is closed: it cannot take stock back. {ask}", case_id=box.case_id, **details,
            )
        listed = session.scalar(select(RecallPatient).where(
            RecallPatient.case_id.in_(closed), RecallPatient.patient_id == patient_id,
        ).order_by(RecallPatient.case_id.desc()).limit(1)) if patient_id is not None else None
        if listed is not None:
            raise RecallClosed(
                f"This dose of lot {lot.number} is on the patient list of recall case {listed.case_id}, which is "
                f"closed (patient {listed.status.value.replace('_', ' ')}): reversing it would change what the "
                f"case recorded. {ask}", case_id=listed.case_id, patient_id=patient_id, **details,
            )
    if not open_cases:
        if closed:
            raise RecallClosed(
                f"Lot {lot.number} of {lot.product.name} is recalled and its recall case {closed[-1]} is closed: "
                f"stock put back into it would be tracked by no case. {ask}", case_id=closed[-1], **details,
            )
        raise LotRecalled(f"Lot {lot.number} of {lot.product.name} is recalled: no stock goes back into it. {ask}",
                          **details)
    if patient_id is not None:
        _record_reversed_dose(session, open_cases, patient_id, lot, container, original, actor, now)


# A notified patient's line whose dose was reversed on an open case is pending again with this note, an
# instruction; once the line is worked again it is done, and ``told_again`` says what was done instead.
TELL_AGAIN = "a dose was reversed after the patient was notified: tell them what changed"


def told_again(status: NotificationStatus, method: NotificationMethod | None, at: dt.datetime,
               timezone: str) -> str:
    """The note of a line the reversal's instruction was done on: what happened, as history (the audit events
    keep the reversal and each notice)."""
    when = format_clinic_time(at, timezone)
    if status is NotificationStatus.NOTIFIED and method is not None:
        how = "in person" if method is NotificationMethod.IN_PERSON else f"by {method.value}"
        done = f"notified again {how} on {when}"
    elif status is NotificationStatus.UNREACHABLE:
        done = f"could not be reached to be told again ({when})"
    else:
        done = f"set {status.value.replace('_', ' ')} on {when}"
    return f"a dose was reversed after the first notice; {done}"


def current_note(line: RecallPatient, timezone: str) -> str | None:
    """A line's note as pages, the API and exports show it: the reversal's instruction only while the line is
    pending. A line worked before ``update_patient`` settled the instruction may still carry it: it reads as
    done, as of the line's last change."""
    if line.note == TELL_AGAIN and line.status is not NotificationStatus.PENDING and line.updated_at is not None:
        return told_again(line.status, line.method, line.updated_at, timezone)
    return line.note


def _record_reversed_dose(session: Session, case_ids: Sequence[int], patient_id: int, lot: Lot,
                          container: Container, original: Movement, actor: User, now: dt.datetime) -> None:
    lines = list(session.scalars(
        select(RecallPatient).where(RecallPatient.case_id.in_(case_ids), RecallPatient.patient_id == patient_id)
        .order_by(RecallPatient.id).with_for_update().execution_options(populate_existing=True)
    ))
    for line in lines:
        before, method, note = line.status, line.method, line.note
        if before is NotificationStatus.NOTIFIED:
            line.status, line.method, line.updated_by_id, line.updated_at = (
                NotificationStatus.PENDING, None, actor.id, now)
            line.note = TELL_AGAIN
        session.add(AuditEvent(
            at=now, actor_id=actor.id, clinic_id=line.clinic_id, action="recall.dose_reversed",
            object_type="recall_case", object_id=str(line.case_id),
            details={"patient_id": patient_id, "movement_id": original.id, "container_id": container.id,
                     "label_code": container.label_code, "lot_id": lot.id,
                     "quantity": plain_quantity(-original.quantity), "from": before.value, "to": line.status.value,
                     "method": method.value if method else None, "note": note},
        ))
    session.flush()


def close_case(session: Session, *, actor: User, case_id: int, now: dt.datetime) -> RecallCase:
    """Closes a case whose two lists are done; its lots stay recalled for good.

    Raises NotFound, RecallClosed, or RecallOpenItems with the counts of what is open.
    """
    # Its lots' locks first (the order every stock path takes: lot, then case), so stock arriving now
    # either joins the case before it closes or waits until it is closed.
    lot_guard.lock_lots(session, session.scalars(select(RecallLot.lot_id).where(RecallLot.case_id == case_id))
                        if 1 <= case_id <= queries.MAX_ID else [])
    case = _open_case(session, case_id, lock=True)
    counts = open_counts(session, case.id)
    if any(counts.values()):
        raise RecallOpenItems(_still_open(case.id, counts), case_id=case.id, **counts)
    case.status, case.closed_by_id, case.closed_at = RecallStatus.CLOSED, actor.id, now
    session.add(AuditEvent(
        at=now, actor_id=actor.id, clinic_id=None, action="recall.closed", object_type="recall_case",
        object_id=str(case.id), details={"lot_ids": [rl.lot_id for rl in case.lots]},
    ))
    session.flush()
    return case


def _still_open(case_id: int, counts: dict[str, int]) -> str:
    """What keeps a case open (``open_counts``), naming only what is: "1 patient to notify: finish that list
    first", "1 patient to notify and 3 containers to return or destroy: finish both lists first"."""
    pending, boxes, back = counts["patients_pending"], counts["containers_open"], counts["containers_back_in_stock"]
    parts = [f"{counted(n, noun)} {what}" for n, noun, what in (
        (pending, "patient", "to notify"), (boxes, "container", "to return or destroy"),
        (back, "container", "back in stock")) if n]
    lists = bool(pending) + bool(boxes or back)
    return (f"Recall case {case_id} still has {listing(parts)}: "
            f"{'finish both lists first' if lists == 2 else 'finish that list first'}.")


def _open_case(session: Session, case_id: int, *, lock: bool = False) -> RecallCase:
    _ensure_id(case_id, "recall case")
    stmt = select(RecallCase).where(RecallCase.id == case_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    case = session.scalar(stmt)
    if case is None:
        raise NotFound(f"No recall case with id {case_id}.", id=case_id)
    if not case.is_open:
        raise RecallClosed(f"Recall case {case.id} is closed: nothing on it changes any more.", case_id=case.id)
    return case


# --- traces with their access records ---------------------------------------------------------------


def trace_lots(session: Session, *, viewer: User, scope: Scope, lots: Sequence[Lot], now: dt.datetime,
               query: str | None = None) -> list[queries.LotTrace]:
    """The traces of these lots, recorded in the access log (who, when, which lots and patients)."""
    traces = queries.lot_traces(session, lots, scope)
    patients = sorted({p.id for t in traces for p in t.patients})
    record_access(session, viewer=viewer, action=VIEWED, object_type="lot",
                  object_id=",".join(str(lot.id) for lot in lots)[:40], now=now,
                  details={"view": "lot_trace", "lot_ids": [lot.id for lot in lots], "query": query,
                           "patient_ids": patients, "patients": len(patients)})
    return traces


def trace_patient(session: Session, *, viewer: User, scope: Scope, patient_id: int,
                  now: dt.datetime) -> queries.PatientTrace:
    """Every lot a patient received, recorded in the access log."""
    trace = queries.patient_trace(session, patient_id, scope)
    record_access(session, viewer=viewer, action=VIEWED, object_type="patient", object_id=str(patient_id),
                  clinic_id=trace.patient.clinic_id, now=now,
                  details={"view": "patient_lots", "patient_ids": [patient_id],
                           "lot_ids": [pl.lot.id for pl in trace.lots]})
    return trace


def view_case(session: Session, *, viewer: User, scope: Scope, case_id: int, now: dt.datetime) -> CaseView:
    """A case with its patient list, recorded in the access log."""
    view = case_view(session, case_id, scope)
    record_access(session, viewer=viewer, action=VIEWED, object_type="recall_case", object_id=str(case_id),
                  now=now, details={"view": "recall_case", "patient_ids": [p.patient.id for p in view.patients],
                                    "patients": len(view.patients)})
    return view


def view_patient(session: Session, *, viewer: User, scope: Scope, case_id: int, patient_id: int,
                 now: dt.datetime) -> PatientLine:
    """One patient's line of a case, as the case's list shows it (``patient_line``), recorded in the access log.

    Raises NotFound for a case that does not exist, or a patient not on its list in the caller's clinics."""
    case = get_case(session, case_id)
    _ensure_id(patient_id, "patient")
    line = session.scalar(
        select(RecallPatient).where(RecallPatient.case_id == case.id, RecallPatient.patient_id == patient_id)
        .options(joinedload(RecallPatient.patient), joinedload(RecallPatient.updated_by))
    )
    if line is None or not scope.allows(line.clinic_id):
        raise NotFound(f"Patient {patient_id} is not on the list of recall case {case.id}.", patient_id=patient_id)
    found = patient_line(session, case, line, scope)
    record_access(session, viewer=viewer, action=VIEWED, object_type="patient", object_id=str(patient_id),
                  clinic_id=line.clinic_id, now=now,
                  details={"view": "recall_patient", "case_id": case.id, "patient_ids": [patient_id]})
    return found


def update_case(session: Session, *, actor: User, case_id: int, status: str, now: dt.datetime) -> RecallCase:
    """What may change on a case itself once it is open, as the case page allows: its status, to ``closed``
    (``close_case``: only once both lists are done). Its lots, reason, class and source are the notice's, fixed
    when it opened (a new notice is a new case; a Class III case notifies everyone through ``widen``), and a
    closed case is never opened again: its lots stay recalled for good.

    Raises ValidationError for any other status, and what ``close_case`` raises."""
    if status != RecallStatus.CLOSED.value:
        raise ValidationError("A recall case only closes, once both of its lists are done: send status closed. A "
                              "closed case is never opened again.", field="status")
    return close_case(session, actor=actor, case_id=case_id, now=now)


def cases_for_lots(session: Session, lot_ids: Sequence[int]) -> dict[int, list[RecallCase]]:
    """The recall cases naming each of these lots, newest first: one statement."""
    if not lot_ids:
        return {}
    found: dict[int, list[RecallCase]] = {}
    rows = session.execute(
        select(RecallLot.lot_id, RecallCase).join(RecallCase, RecallLot.case_id == RecallCase.id)
        .where(RecallLot.lot_id.in_(list(lot_ids))).order_by(RecallCase.opened_at.desc(), RecallCase.id.desc())
    )
    for lot_id, case in rows:
        found.setdefault(lot_id, []).append(case)
    return found


def clinic_names(session: Session) -> dict[int, queries.ClinicRef]:
    """Every clinic by id (a chain has a handful): for headings and log lines."""
    return {c.id: queries.ClinicRef(c.id, c.code, c.name, c.timezone)
            for c in session.scalars(select(Clinic).order_by(Clinic.code))}


LOG_PAGE = 200


@dataclass(frozen=True)
class LogEntry:
    event: AuditEvent
    actor: str | None


def log_users(session: Session, scope: Scope) -> list[User]:
    """The users whose entries a viewer of ``scope`` reads as her clinics' own, and whom the log's "Who" filter
    offers: the users an admin of those clinics manages (the admin's one rule, inventory.admin.service:
    users who work only at her clinics); everyone for a chain-level viewer."""
    return admin_users.list_users(session, scope)


def access_log(session: Session, *, scope: Scope, actions: Iterable[str] = ACCESS_ACTIONS, limit: int = LOG_PAGE,
               before_id: int | None = None, actor_id: int | None = None, patient_id: int | None = None,
               since: dt.datetime | None = None, until: dt.datetime | None = None) -> list[LogEntry]:
    """The newest access-log (or change-log) entries first, with who, filtered by who acted, which patient's
    data, and when ([since, until)).

    A chain-level viewer reads every entry. A clinic-level one (an admin of London) reads her clinics' own: an
    entry at one of her clinics, or one at no clinic (a search, a lot trace: they span clinics) made by a user
    who works only at her clinics (``log_users``); and never one naming a patient of another clinic, whose id
    in the patient filter answers as an unknown one's (nothing).

    Who, when and the clinic rule filter in the database; a patient is found in each entry's details (the patient
    ids an entry names), so the patient filter and a clinic-level viewer's read the log in pages of ``_SCAN``
    until ``limit`` entries match.
    """
    stmt = (
        select(AuditEvent, User.username, User.display_name)
        .outerjoin(User, AuditEvent.actor_id == User.id)
        .where(AuditEvent.action.in_(list(actions)))
        .order_by(AuditEvent.id.desc())
    )
    if scope.clinic_ids is not None:
        if patient_id is not None and not _patients_in_scope(session, {patient_id}, scope):
            return []
        stmt = stmt.where(or_(
            AuditEvent.clinic_id.in_(sorted(scope.clinic_ids)),
            and_(AuditEvent.clinic_id.is_(None), AuditEvent.actor_id.in_([u.id for u in log_users(session, scope)])),
        ))
    if actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)
    if patient_id is None and scope.clinic_ids is None:
        if before_id is not None:
            stmt = stmt.where(AuditEvent.id < before_id)
        return [LogEntry(event, display or username) for event, username, display in session.execute(stmt.limit(limit))]
    found: list[LogEntry] = []
    cursor = before_id
    for _ in range(_SCAN_PAGES):
        page = list(session.execute((stmt.where(AuditEvent.id < cursor) if cursor else stmt).limit(_SCAN)))
        entries = [LogEntry(event, display or username) for event, username, display in page
                   if patient_id is None or patient_id in names_patients(event)]
        if scope.clinic_ids is not None:
            ours = _patients_in_scope(session, {i for e in entries for i in names_patients(e.event)}, scope)
            entries = [e for e in entries if names_patients(e.event) <= ours]
        found += entries
        if len(found) >= limit or len(page) < _SCAN:
            break
        cursor = page[-1][0].id
    return found[:limit]


def _patients_in_scope(session: Session, patient_ids: set[int], scope: Scope) -> set[int]:
    """Those of ``patient_ids`` who are patients of the scope's clinics: a statement per thousand ids."""
    ids = sorted(i for i in patient_ids if 1 <= i <= queries.MAX_ID)
    ours: set[int] = set()
    for start in range(0, len(ids), 1000):
        ours.update(session.scalars(scope.filter(
            select(Patient.id).where(Patient.id.in_(ids[start:start + 1000])), Patient.clinic_id)))
    return ours


_SCAN = 500
_SCAN_PAGES = 40  # a patient filter reads at most 20,000 entries back per page of results


def names_patients(event: AuditEvent) -> set[int]:
    """The patient ids an access- or change-log entry names."""
    details = event.details or {}
    ids = {i for i in details.get("patient_ids") or [] if isinstance(i, int)}
    if isinstance(details.get("patient_id"), int):
        ids.add(details["patient_id"])
    if event.object_type == "patient" and (event.object_id or "").isdigit():
        ids.add(int(event.object_id or 0))
    return ids


@dataclass(frozen=True)
class LogNames:
    """Names for the ids log entries carry: patients (name and reference) and lots (product and number)."""

    patients: dict[int, str]
    lots: dict[int, str]


def log_names(session: Session, entries: Sequence[LogEntry], scope: Scope) -> LogNames:
    """The names of the patients (of the viewer's clinics) and lots the entries name: two statements."""
    patient_ids = {i for entry in entries for i in names_patients(entry.event)}
    lot_ids = {i for entry in entries for i in (entry.event.details or {}).get("lot_ids") or [] if isinstance(i, int)}
    patients = {pid: f"{name} ({ref})" for pid, name, ref in session.execute(scope.filter(
        select(Patient.id, Patient.name, Patient.external_ref).where(Patient.id.in_(sorted(patient_ids))),
        Patient.clinic_id))} if patient_ids else {}
    lots = {lid: f"{product} {number}" for lid, number, product in session.execute(
        select(Lot.id, Lot.number, Product.name).join(Product, Lot.product_id == Product.id)
        .where(Lot.id.in_(sorted(lot_ids))))} if lot_ids else {}
    return LogNames(patients, lots)


# --- small checks -------------------------------------------------------------------------------


def _required(value: str | None, name: str, missing: str, max_length: int) -> str:
    text = _optional(value, name, max_length)
    if text is None:
        raise ValidationError(missing, field=name)
    return text


def _optional(value: str | None, name: str, max_length: int) -> str | None:
    text = (value or "").strip()
    if len(text) > max_length:
        raise ValidationError(f"{name}: at most {max_length} characters.", field=name)
    return text or None


def _choice(enum_cls: Any, value: Any, name: str, message: str) -> Any:
    try:
        return enum_cls(value)
    except ValueError:
        raise ValidationError(message, field=name) from None


def _ensure_id(value: int, what: str) -> None:
    if not 1 <= value <= queries.MAX_ID:
        raise NotFound(f"No {what} with id {value}.", id=value)


__all__ = [
    "ACCESS_ACTIONS", "CHANGE_ACTIONS", "EXPORTED", "VIEWED", "CaseSummary", "CaseView", "ContainerLine", "EarlierNotice", "LogEntry",
    "LotHeldElsewhere", "LotInOpenRecall", "TELL_AGAIN", "carried_from", "current_note", "told_again", "carried_over", "earlier_notices", "patient_line", "untold",
    "LotNotQuarantined", "PatientLine", "Progress", "RecallClosed", "RecallItemDone", "RecalledLotNotReleasable",
    "LogNames", "UncoveredLot", "access_log", "case_view", "check_reversal", "log_names", "log_users", "names_patients",
    "close_case", "get_case", "join_open_cases", "list_cases", "open_counts", "open_recall", "quarantine",
    "received_none", "record_access", "release", "release_refusals", "trace_lots", "trace_patient", "uncovered_stock", "update_container",
    "update_case", "update_containers", "update_patient", "view_case", "view_patient", "widen",
]
