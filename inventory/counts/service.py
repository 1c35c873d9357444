"""Stock counts: a blind count sheet per location, and posting it through the ledger.

A manager starts a count sheet for one location and enters lines by scanning:
a Vialog label names one container (what is left in it is typed, blank meaning
"sealed and full"); a manufacturer's GS1 code, or a lot id, names a lot whose
*sealed* containers at the location are counted as whole containers. The sheet is
blind: nothing here returns what the ledger expects until the sheet is submitted.

A second manager reviews and posts it (the two-person rule: the counter may never
post their own count; the database refuses it too). Posting locks every container
it touches, captures what the ledger held on every line when that line was counted
(what was drawn, opened or moved between counting and posting is not the count's to
correct), and writes one ADJUST movement (reason ``count``, note ``count <id>``) of
that difference per container that differs, all in one savepoint: on any refusal or
failure nothing of the posting remains. A posted count is never edited; a later count
follows it.

Which sealed containers of a lot line are "missing" when fewer are found than the
ledger holds is unknowable; the most recently received (highest id) are taken, so
the choice is deterministic. More sealed containers than the ledger holds are
refused at posting: the extra ones are scanned by label (they may be recorded at
another location, or missing since an earlier count) or received.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from inventory import lifecycle
from inventory.errors import ContainerInTransit, DomainError, NotFound, UnreadableCode, ValidationError
from inventory.models import (
    Container,
    ContainerState,
    Location,
    Lot,
    Movement,
    MovementKind,
    Product,
    User,
)
from inventory.counts.models import Count, CountLine, CountStatus
from inventory.models.base import plain_quantity
from inventory.models.base import QUANTITY_SCALE
from inventory.services import ledger, lot_guard, scanning
from inventory.services.barcodes import normalise_lot_number, parse_scan, refuse_lost_separator
from inventory.services.catalog import product_for_gtin
from inventory.services.permissions import Scope, get_in_scope
from inventory.words import some_of

COUNT_REASON = "count"  # Movement.reason of every adjustment a count writes
MAX_COUNTED = Decimal("1000000")
MAX_CONTAINERS = 100_000
MAX_NOTE = 2000
MAX_ID = 2**31 - 1


# --- refusals --------------------------------------------------------------------------


class CountNotEditable(DomainError):
    """Lines are added, removed and submitted only while the count is a draft."""

    code = "count_not_editable"


class CountNotSubmitted(DomainError):
    code = "count_not_submitted"


class CounterMayNotPost(DomainError):
    """The two-person rule: whoever counted may not review and post the same count."""

    code = "counter_may_not_post"


class OtherCounter(DomainError):
    """A draft count sheet is filled in by the manager who started it."""

    code = "count_other_counter"


class ContainerElsewhere(DomainError):
    code = "container_elsewhere"


class CountEmpty(DomainError):
    code = "count_empty"


class CountOutdated(DomainError):
    """A line's container or lot was used after it was counted in a way the count cannot be applied to."""

    code = "count_outdated"


class CountSurplus(DomainError):
    """More sealed containers were counted than the ledger holds at the location."""

    code = "count_surplus"


# --- values ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LineSpec:
    """One line as entered: exactly one of ``code``, ``container`` or ``lot_id``.

    ``code`` is whatever the scanner typed (a Vialog label or a GS1 box code);
    ``container`` an id or label code; ``lot_id`` a lot. ``counted`` is in the
    product's base unit (blank on a container line: sealed and full); a lot line
    may give ``containers`` (sealed containers found) instead of, or with, ``counted``.
    """

    counted: Decimal | None = None
    code: str | None = None
    container: str | None = None
    lot_id: int | None = None
    containers: int | None = None


@dataclass(frozen=True)
class Adjustment:
    container: Container
    quantity: Decimal  # signed, base units


@dataclass
class LinePlan:
    """What posting a line would capture and write: the ledger as it stood when the line was counted."""

    line: CountLine
    product: Product
    lot: Lot
    container: Container | None
    counted: Decimal
    expected: Decimal
    containers_counted: int | None
    expected_containers: int | None
    adjustments: list[Adjustment] = field(default_factory=list)
    surplus: int = 0  # sealed containers counted beyond what the ledger held
    outdated: bool = False  # used since it was counted, in a way the count cannot be applied to
    # Another count corrected this line's container, or a container of its lot here, after the line was counted
    # (its movement's note, "count 12"): this sheet's view of it is older than the ledger's own correction.
    recounted_by: str | None = None

    @property
    def variance(self) -> Decimal:
        return self.counted - self.expected


@dataclass(frozen=True)
class LineResult:
    """A line with what the ledger expected: captured at posting, or provisional before."""

    line: CountLine
    product: Product
    lot: Lot
    container: Container | None
    counted: Decimal
    expected: Decimal
    variance: Decimal
    containers_counted: int | None
    expected_containers: int | None
    is_provisional: bool
    # Before posting: why posting would refuse this line (``_ensure_postable``'s own words), so the reviewer sees it
    # on the review, not only after pressing Post.
    refused: str | None = None


# --- reading ---------------------------------------------------------------------------


def get_count(session: Session, count_id: int, scope: Scope) -> Count:
    """One count with its location and lines; another clinic's count answers as missing."""
    _ensure_id(count_id)
    count = session.scalar(
        select(Count)
        .where(Count.id == count_id)
        .options(
            joinedload(Count.location).joinedload(Location.clinic),
            joinedload(Count.counted_by),
            joinedload(Count.approved_by),
            selectinload(Count.lines).joinedload(CountLine.lot).joinedload(Lot.product),
            selectinload(Count.lines).joinedload(CountLine.container),
        )
    )
    if count is None or not scope.allows(count.clinic_id):
        raise NotFound(f"No count with id {count_id}.", id=count_id)
    return count


def list_counts(
    session: Session, *, scope: Scope, location_id: int | None = None, limit: int = 200
) -> list[Count]:
    """The caller's counts, newest first. Raises NotFound for a location outside the caller's clinics (or not on
    file), as the stock list does: an empty list would read as "never counted"."""
    stmt = (
        select(Count)
        .options(
            joinedload(Count.location).joinedload(Location.clinic),
            joinedload(Count.counted_by),
            joinedload(Count.approved_by),
            selectinload(Count.lines),
        )
        .order_by(Count.started_at.desc(), Count.id.desc())
        .limit(limit)
    )
    if location_id is not None:
        get_in_scope(session, Location, location_id, scope, "location")
        stmt = stmt.where(Count.location_id == location_id)
    return list(session.scalars(scope.filter(stmt, Count.clinic_id)))


# --- the count sheet ---------------------------------------------------------------------


def start_count(
    session: Session, *, actor: User, scope: Scope, location_id: int, now: dt.datetime, note: str | None = None
) -> Count:
    """Starts a blind count sheet for one location, counted by ``actor``.

    Raises NotFound (a location outside the caller's clinics) or ValidationError.
    """
    _ensure_id(location_id, "location")
    location = get_in_scope(session, Location, location_id, scope, "location")
    if not location.is_active:
        raise ValidationError(f"{location.name} is no longer in use: nothing to count there.", field="location_id")
    count = Count(
        clinic_id=location.clinic_id, location=location, status=CountStatus.DRAFT, counted_by_id=actor.id,
        started_at=now, note=_note(note),
    )
    session.add(count)
    session.flush()
    return count


def add_line(
    session: Session, *, actor: User, scope: Scope, count_id: int, spec: LineSpec, now: dt.datetime
) -> CountLine:
    """Adds a line to a draft count sheet; the same container or lot again replaces its line.

    Returns the line without anything the ledger expects (the sheet is blind).
    Raises NotFound, CountNotEditable, OtherCounter, UnreadableCode, BadCheckDigit,
    UnknownProduct, UnknownContainer, LotExpiryConflict (a box whose printed expiry is not its lot's),
    ContainerInTransit, ContainerElsewhere or ValidationError
    (among others: part of a sealed container, or a lot counted both by its box code and by labels).
    """
    count = _lock_count(session, count_id, scope)
    _ensure_draft(count)
    _ensure_counter(count, actor)
    return _add_line(session, count, scope, spec, now)


def remove_line(session: Session, *, actor: User, scope: Scope, count_id: int, line_id: int) -> None:
    """Removes a line from a draft count sheet. Raises NotFound, CountNotEditable or OtherCounter."""
    count = _lock_count(session, count_id, scope)
    _ensure_draft(count)
    _ensure_counter(count, actor)
    line = next((line for line in count.lines if line.id == line_id), None)
    if line is None:
        raise NotFound(f"Count {count.id} has no line {line_id}.", id=line_id)
    count.lines.remove(line)
    session.delete(line)
    session.flush()


def submit(session: Session, *, actor: User, scope: Scope, count_id: int, now: dt.datetime) -> Count:
    """The counter says the sheet is complete; it now waits for a second manager.

    Raises NotFound, CountNotEditable, OtherCounter or CountEmpty.
    """
    count = _lock_count(session, count_id, scope)
    _ensure_draft(count)
    _ensure_counter(count, actor)
    if not count.lines:
        raise CountEmpty("This count sheet has no lines yet: scan what you count first.", count_id=count.id)
    count.status = CountStatus.SUBMITTED
    count.counted_at = now
    session.flush()
    return count


def reopen(session: Session, *, actor: User, scope: Scope, count_id: int) -> Count:
    """A reviewer sends a submitted count back to its counter as a draft.

    Raises NotFound, CountNotSubmitted, CountNotEditable (posted) or CounterMayNotPost
    (the counter cannot review their own count, and so cannot send it back either).
    """
    count = _lock_count(session, count_id, scope)
    _ensure_reviewable(count, actor)
    count.status = CountStatus.DRAFT
    count.counted_at = None
    session.flush()
    return count


def create_submitted(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    location_id: int,
    lines: Sequence[LineSpec],
    now: dt.datetime,
    note: str | None = None,
) -> Count:
    """A whole count sheet at once (the API): started, filled and submitted by ``actor``.

    The same container or lot twice is refused rather than merged, as is a lot counted both by a lot line and
    by container lines (``_add_line`` refuses that on any sheet). Raises what
    ``start_count``, ``add_line`` and ``submit`` raise.
    """
    count = start_count(session, actor=actor, scope=scope, location_id=location_id, now=now, note=note)
    seen: set[tuple[str, int]] = set()
    for index, spec in enumerate(lines):
        line = _add_line(session, count, scope, spec, now, field_prefix=f"lines.{index}.")
        key = ("container", line.container_id) if line.container_id is not None else ("lot", line.lot_id)
        if key in seen:
            raise ValidationError(
                f"Line {index + 1} counts the same {key[0]} as an earlier line: give each one once.",
                field=f"lines.{index}",
            )
        seen.add(key)
    return submit(session, actor=actor, scope=scope, count_id=count.id, now=now)


def _add_line(
    session: Session, count: Count, scope: Scope, spec: LineSpec, now: dt.datetime, field_prefix: str = ""
) -> CountLine:
    given = [name for name in ("code", "container", "lot_id") if getattr(spec, name) not in (None, "")]
    if len(given) != 1:
        raise ValidationError("Scan a label or box code, or give a container or a lot: exactly one.",
                              field=f"{field_prefix}container")
    container: Container | None = None
    lot: Lot | None = None
    scanned = None
    if spec.code:
        scanned = spec.code.strip()[:200]
        container, lot = _resolve_code(session, scanned, scope)
    elif spec.container:
        container = scanning.container_by_ref(session, spec.container, scope)
    else:
        assert spec.lot_id is not None
        _ensure_id(spec.lot_id, "lot")
        lot = session.get(Lot, spec.lot_id)
        if lot is None:
            raise NotFound(f"No lot with id {spec.lot_id}.", id=spec.lot_id)

    if container is not None:
        return _container_line(session, count, container, spec, now, scanned, field_prefix)
    assert lot is not None
    return _lot_line(session, count, lot, spec, now, scanned, field_prefix)


def _resolve_code(session: Session, code: str, scope: Scope) -> tuple[Container | None, Lot | None]:
    """A Vialog label names a container; a GS1 box code names a lot (any status: stock is counted as it is)."""
    parsed = parse_scan(code)
    if parsed.kind == "container":
        assert parsed.label_code is not None
        return scanning.container_by_label(session, parsed.label_code, scope), None
    assert parsed.gtin is not None
    product = product_for_gtin(session, parsed.gtin)
    if not parsed.lot:
        raise UnreadableCode(
            f"This code names {product.name} but no lot: scan the box's code with its lot, or the Vialog label.",
            gtin=parsed.gtin,
        )
    lot = session.scalar(
        select(Lot).where(Lot.product_id == product.id, Lot.number_key == normalise_lot_number(parsed.lot))
    )
    if lot is None:
        refuse_lost_separator(parsed)  # a lot on file was confirmed at receiving; an unknown one may be misread
        raise NotFound(
            f"Lot {parsed.lot} of {product.name} was never received: receive the box before counting it.",
            lot=parsed.lot,
        )
    # A box whose printed expiry is not its lot's is a counterfeit sign, never counted as that lot's stock.
    scanning.ensure_box_expiry_is_lots(parsed, lot)
    return None, lot


def _container_line(
    session: Session, count: Count, container: Container, spec: LineSpec, now: dt.datetime, scanned: str | None,
    field_prefix: str,
) -> CountLine:
    product = container.product
    if container.state is ContainerState.IN_TRANSIT:
        raise ContainerInTransit(
            f"This {product.name} ({container.label_code}) is on its way to another clinic: it cannot be counted "
            "until that clinic receives it, and is counted there.",
            container_id=container.id,
        )
    if container.clinic_id != count.clinic_id or container.location_id != count.location_id:
        raise ContainerElsewhere(
            f"{product.name} ({container.label_code}) is recorded at {_place(container.location, count.location)}, "
            f"not {count.location.name}: count it there, or move it here first.",
            container_id=container.id,
        )
    if spec.containers is not None:
        raise ValidationError("A scanned container is one container: give what is left in it.",
                              field=f"{field_prefix}containers")
    if any(line.container_id is None and line.lot_id == container.lot_id for line in count.lines):
        raise ValidationError(
            f"{product.name} ({container.label_code}) is of lot {container.lot.number}, which this sheet already "
            "counts by its box code: counted both ways, it would be counted twice. Count a lot either by its "
            "boxes or by each label, not both: to count it by label, remove the lot's line, then scan every one "
            "of its labels here.",
            field=_line_field(field_prefix), lot_id=container.lot_id, container_id=container.id,
        )
    if spec.counted is None and lifecycle.is_opened(container):
        # Blank means "sealed and full": never assume it of a container that was opened.
        raise ValidationError(
            f"{product.name} ({container.label_code}) has been opened: type what is left in it, then scan it again.",
            field=f"{field_prefix}counted",
        )
    counted = container.initial_quantity if spec.counted is None else _counted(spec.counted, f"{field_prefix}counted")
    if counted > container.initial_quantity:
        raise ValidationError(
            f"A {product.name} holds at most {plain_quantity(container.initial_quantity)} {product.base_unit}: "
            f"{plain_quantity(counted)} cannot be left in it.",
            field=f"{field_prefix}counted",
        )
    # Part of a sealed vial or syringe gone means it was opened outside Vialog: never posted as one in use.
    lifecycle.ensure_counted_whole_if_sealed(container, counted, field=f"{field_prefix}counted")
    line = next((line for line in count.lines if line.container_id == container.id), None)
    if line is None:
        line = CountLine(container=container, container_id=container.id, lot_id=container.lot_id,
                         lot=container.lot, counted=counted, entered_at=now)
        count.lines.append(line)
    line.counted = counted
    line.containers_counted = _sealed_and_full(container, counted)
    line.scanned_code = scanned
    line.entered_at = now
    session.flush()
    return line


def _lot_line(
    session: Session, count: Count, lot: Lot, spec: LineSpec, now: dt.datetime, scanned: str | None,
    field_prefix: str,
) -> CountLine:
    labelled = [line.container.label_code for line in count.lines
                if line.container is not None and line.lot_id == lot.id]
    if labelled:
        raise ValidationError(
            f"Lot {lot.number} of {lot.product.name} is already counted by label on this sheet "
            f"({_listed(labelled)}): counted both ways, those would be counted twice. Count a lot either by its "
            "boxes or by each label, not both: scan the labels of the rest of this lot too, or remove those lines "
            "to count the lot by its boxes.",
            field=_line_field(field_prefix), lot_id=lot.id,
        )
    per = lot.product.quantity_per_container
    containers = spec.containers
    if containers is not None and not 0 <= containers <= MAX_CONTAINERS:
        raise ValidationError(f"Count between 0 and {MAX_CONTAINERS} sealed containers.",
                              field=f"{field_prefix}containers")
    if spec.counted is not None:
        counted = _counted(spec.counted, f"{field_prefix}counted")
        whole = counted / per
        if whole != whole.to_integral_value():
            raise ValidationError(
                f"Sealed {lot.product.name} is counted in whole containers of {plain_quantity(per)} {lot.product.base_unit}: "
                f"{plain_quantity(counted)} is not a whole number of them. With an opened one, count this lot by each "
                "label instead (Left blank for a sealed one, what is left for an opened one).",
                field=f"{field_prefix}counted",
            )
        if containers is not None and containers != int(whole):
            raise ValidationError(
                f"{containers} sealed containers hold {plain_quantity(per * containers)} {lot.product.base_unit}, "
                f"not {plain_quantity(counted)}.",
                field=f"{field_prefix}counted",
            )
        containers = int(whole)
    if containers is None:
        raise ValidationError("Say how many sealed containers of this lot you found.",
                              field=f"{field_prefix}containers")
    line = next((line for line in count.lines if line.container_id is None and line.lot_id == lot.id), None)
    if line is None:
        line = CountLine(lot_id=lot.id, lot=lot, counted=per * containers, entered_at=now)
        count.lines.append(line)
    line.counted = per * containers
    line.containers_counted = containers
    line.scanned_code = scanned
    line.entered_at = now
    session.flush()
    return line


# --- review and posting ------------------------------------------------------------------


def results(session: Session, count: Count) -> list[LineResult]:
    """Every line with what the ledger expected: captured if posted, else provisional (now).

    Never call this for a draft on a counter's screen: the sheet is blind.
    """
    if count.is_posted:
        return [
            LineResult(
                line=line, product=line.lot.product, lot=line.lot, container=line.container, counted=line.counted,
                expected=line.expected if line.expected is not None else Decimal(0),
                variance=line.variance if line.variance is not None else Decimal(0),
                containers_counted=line.containers_counted, expected_containers=line.expected_containers,
                is_provisional=False,
            )
            for line in count.lines
        ]
    plans = _plan(session, count, _containers_of(session, count, lock=False))
    return [
        LineResult(
            line=p.line, product=p.product, lot=p.lot, container=p.container, counted=p.counted, expected=p.expected,
            variance=p.variance, containers_counted=p.containers_counted, expected_containers=p.expected_containers,
            is_provisional=True, refused=_why_not_postable(count, p),
        )
        for p in plans
    ]


def _why_not_postable(count: Count, plan: LinePlan) -> str | None:
    try:
        _ensure_postable(count, plan)
    except DomainError as refusal:
        return refusal.message.removesuffix(" Nothing was adjusted.")  # nothing is, before posting
    return None


def not_on_sheet(session: Session, count: Count) -> list[Container]:
    """Live containers at the count's location that no line covers: shown to the reviewer.

    A partial count is allowed (a count may cover only some lots); posting leaves these alone.
    """
    container_ids = {line.container_id for line in count.lines if line.container_id is not None}
    sealed_lots = {line.lot_id for line in count.lines if line.container_id is None}
    stmt = (
        select(Container)
        .where(Container.location_id == count.location_id, Container.state.in_(lifecycle.LIVE_STATES))
        .options(joinedload(Container.product), joinedload(Container.lot))
        .order_by(Container.product_id, Container.lot_id, Container.id)
    )
    return [
        c for c in session.scalars(stmt)
        if c.id not in container_ids and not (c.state is ContainerState.SEALED and c.lot_id in sealed_lots)
    ]


def post(session: Session, *, actor: User, scope: Scope, count_id: int, now: dt.datetime) -> Count:
    """A second manager posts a submitted count: one ADJUST per differing container, in one go.

    Locks the count and every container it touches, captures expected quantities and
    variances on every line, writes the adjustments and marks the count posted, all
    inside one savepoint. Raises NotFound, CountNotSubmitted, CountNotEditable (already
    posted), CounterMayNotPost, ContainerInTransit, ContainerElsewhere, CountOutdated or CountSurplus; nothing is
    written then.
    """
    count = _lock_count(session, count_id, scope)
    _ensure_reviewable(count, actor)
    # The lots' row locks before the containers': a count that finds stock again may race a recall.
    lots = lot_guard.lock_lots(session, {line.lot_id for line in count.lines if line.container_id is None}
                               | set(lot_guard.lot_ids_of(session, (line.container_id for line in count.lines
                                                                    if line.container_id is not None))))
    plans = _plan(session, count, _containers_of(session, count, lock=True))
    for plan in plans:
        _ensure_postable(count, plan)
    with session.begin_nested():
        gained: dict[int, list[Container]] = {}
        for plan in plans:
            for adjustment in plan.adjustments:
                _adjust(session, adjustment, actor=actor, count=count, now=now)
                if adjustment.quantity > 0:
                    gained.setdefault(adjustment.container.lot_id, []).append(adjustment.container)
            line = plan.line
            line.counted = plan.counted
            line.expected = plan.expected
            line.variance = plan.variance
            line.containers_counted = plan.containers_counted
            line.expected_containers = plan.expected_containers
        count.status = CountStatus.POSTED
        count.approved_by_id = actor.id
        count.approved_by = actor
        count.posted_at = now
        session.flush()
        for lot_id, containers in sorted(gained.items()):
            lot_guard.stock_added(session, lots[lot_id], containers, actor=actor, now=now)
    return count


def adjustments_of(session: Session, count: Count) -> list[Movement]:
    """The ADJUST movements a posted count wrote."""
    stmt = (
        select(Movement)
        .where(Movement.kind == MovementKind.ADJUST, Movement.reason == COUNT_REASON,
               Movement.note == count_note(count.id), Movement.clinic_id == count.clinic_id)
        .options(joinedload(Movement.container).joinedload(Container.product))
        .order_by(Movement.id)
    )
    return list(session.scalars(stmt))


def count_note(count_id: int) -> str:
    return f"count {count_id}"


def _containers_of(session: Session, count: Count, *, lock: bool) -> dict[int, Container]:
    """Every container a count touches: its container lines', its lot lines' sealed ones here, and any other
    container of those lots that moved since its line was counted (it may have been here, sealed, then)."""
    container_ids = [line.container_id for line in count.lines if line.container_id is not None]
    lot_ids = [line.lot_id for line in count.lines if line.container_id is None]
    conditions: list[ColumnElement[bool]] = []
    if container_ids:
        conditions.append(Container.id.in_(container_ids))
    if lot_ids:
        conditions.append(and_(Container.lot_id.in_(lot_ids), Container.location_id == count.location_id,
                               Container.state == ContainerState.SEALED))
        earliest = min(line.entered_at for line in count.lines if line.container_id is None)
        conditions.append(Container.id.in_(
            select(Movement.container_id).where(Movement.lot_id.in_(lot_ids), Movement.at > earliest)))
    if not conditions:
        return {}
    stmt = (
        select(Container)
        .where(or_(*conditions))
        .options(joinedload(Container.product), joinedload(Container.lot), joinedload(Container.location))
        .order_by(Container.id)
        .execution_options(populate_existing=True)
    )
    if lock:
        stmt = stmt.with_for_update(of=Container)
    return {c.id: c for c in session.scalars(stmt).unique()}


@dataclass(frozen=True)
class _Since:
    """What the ledger recorded of a container after a count line was entered."""

    quantity: Decimal  # the sum of those movements: the balance then was remaining - quantity
    first_kind: MovementKind | None  # None: nothing moved since
    first_location_id: int | None
    recounted_by: str | None = None  # the note ("count 12") of another count's adjustment since, at the place

    @property
    def moved(self) -> bool:
        return self.first_kind is not None

    @property
    def existed_here_then(self) -> bool:
        # A receipt or a transfer's arrival after the count: the container was not at the first
        # movement's location when the line was counted. Any other movement happens where it was.
        return self.first_kind not in (MovementKind.RECEIVE, MovementKind.TRANSFER_IN)


def _movements_since(session: Session, count: Count, containers: dict[int, Container]) -> dict[int, list[Movement]]:
    """The movements of the count's containers recorded after the earliest line was entered, per container."""
    if not containers or not count.lines:
        return {}
    earliest = min(line.entered_at for line in count.lines)
    stmt = (
        select(Movement)
        .where(Movement.container_id.in_(list(containers)), Movement.at > earliest)
        .order_by(Movement.container_id, Movement.id)
    )
    since: dict[int, list[Movement]] = {}
    for movement in session.scalars(stmt):
        since.setdefault(movement.container_id, []).append(movement)
    return since


def _since(movements: list[Movement], entered_at: dt.datetime, location_id: int) -> _Since:
    after = [m for m in movements if m.at > entered_at]
    first = after[0] if after else None
    # Counts are the one source of ADJUST: another sheet of this place, posted since this line was counted.
    recounted = next((m.note or "another count" for m in after
                      if m.kind is MovementKind.ADJUST and m.location_id == location_id), None)
    return _Since(sum((m.quantity for m in after), Decimal(0)),
                  first.kind if first else None, first.location_id if first else None, recounted)


def _sealed_then(container: Container, balance_then: Decimal, entered_at: dt.datetime) -> bool:
    """Whether the container was sealed when the line was entered: full, and neither mixed nor opened by then."""
    return (balance_then == container.initial_quantity
            and (container.reconstituted_at is None or container.reconstituted_at > entered_at)
            and (container.opened_at is None or container.opened_at > entered_at))


def _plan(session: Session, count: Count, containers: dict[int, Container]) -> list[LinePlan]:
    """Each line against the ledger as it stood when the line was counted, not at posting: a dose drawn or a
    vial opened between counting and posting is neither undone nor taken for a count's variance."""
    on_lines = {line.container_id for line in count.lines if line.container_id is not None}
    since_by_container = _movements_since(session, count, containers)
    plans = []
    for line in count.lines:
        if line.container_id is not None:
            container = containers[line.container_id]
            since = _since(since_by_container.get(container.id, []), line.entered_at, count.location_id)
            expected = container.remaining - since.quantity
            variance = line.counted - expected
            plans.append(LinePlan(
                line=line, product=container.product, lot=container.lot, container=container, counted=line.counted,
                expected=expected,
                containers_counted=line.containers_counted,
                expected_containers=1 if _sealed_then(container, expected, line.entered_at) else 0,
                adjustments=[Adjustment(container, variance)] if variance != 0 else [],
                # A correction recorded since (a reversal) may already have made good part of the difference:
                # a count that would then leave less than nothing, or more than the container holds, is stale.
                outdated=not 0 <= container.remaining + variance <= container.initial_quantity,
                recounted_by=since.recounted_by,
            ))
            continue
        # The lot's containers that were here and sealed when the line was counted: those unchanged since,
        # and those opened, moved or used since (they were found: someone took them out afterwards).
        unchanged: list[Container] = []
        changed: list[Container] = []
        recounted_by: str | None = None
        for c in containers.values():
            if c.lot_id != line.lot_id or c.id in on_lines:
                continue
            since = _since(since_by_container.get(c.id, []), line.entered_at, count.location_id)
            if since.existed_here_then and since.first_location_id == count.location_id:
                # Here when the line was counted, and written off (or found) by another count since: not taken out
                # after this sheet found it.
                recounted_by = recounted_by or since.recounted_by
            if not since.moved:
                if c.location_id == count.location_id and c.state is ContainerState.SEALED:
                    unchanged.append(c)
            elif (since.existed_here_then and since.first_location_id == count.location_id
                  and _sealed_then(c, c.remaining - since.quantity, line.entered_at)):
                changed.append(c)
        found = line.containers_counted or 0
        sealed_then = len(unchanged) + len(changed)
        kept = max(found - len(changed), 0)
        missing = unchanged[kept:]
        per = line.lot.product.quantity_per_container
        plans.append(LinePlan(
            line=line, product=line.lot.product, lot=line.lot, container=None,
            # What the found containers held; the extra ones, if any, at the catalog's size.
            counted=sum((c.initial_quantity for c in [*changed, *unchanged][:found]), Decimal(0))
            + per * max(found - sealed_then, 0),
            expected=sum((c.initial_quantity for c in [*changed, *unchanged]), Decimal(0)),
            containers_counted=found, expected_containers=sealed_then,
            adjustments=[Adjustment(c, -c.remaining) for c in reversed(missing) if c.remaining != 0],
            surplus=max(found - sealed_then, 0),
            # Fewer found than were opened or moved since: the sheet cannot say which were missing.
            outdated=found < len(changed),
            recounted_by=recounted_by,
        ))
    return plans


def _ensure_postable(count: Count, plan: LinePlan) -> None:
    container = plan.container
    if container is not None and container.state is ContainerState.IN_TRANSIT:
        raise ContainerInTransit(
            f"{plan.product.name} ({container.label_code}) was sent on its way to another clinic after it was "
            "counted: send the count back to the counter, or start another count.",
            container_id=container.id,
        )
    if container is not None and container.location_id != count.location_id:
        raise ContainerElsewhere(
            f"{plan.product.name} ({container.label_code}) was moved after it was counted (now "
            f"{_place(container.location, count.location)}): send the count back to the counter, or start another "
            "count.",
            container_id=container.id,
        )
    what = (f"{plan.product.name} ({container.label_code})" if container is not None
            else f"{plan.product.name} of lot {plan.lot.number}")
    if plan.recounted_by is not None:
        # Posting it would correct again what the other count corrected (a missing syringe written off twice).
        raise CountOutdated(
            f"{what} was corrected by {plan.recounted_by} after this sheet counted it: this sheet no longer "
            f"says what is on the shelf now. Send the count back to the counter to count it again, or remove "
            "that line. Nothing was adjusted.",
            lot_id=plan.lot.id, container_id=container.id if container is not None else None,
        )
    if plan.outdated:
        raise CountOutdated(
            f"{what} was used after it was counted, and the count no longer fits what is left. Send the count "
            "back to the counter to count it again, or remove that line. Nothing was adjusted.",
            lot_id=plan.lot.id, container_id=container.id if container is not None else None,
        )
    if plan.surplus:
        raise CountSurplus(
            f"{plan.containers_counted} sealed {plan.product.name} of lot {plan.lot.number} were counted at "
            f"{count.location.name}, but Vialog held {plan.expected_containers} there then. Send the count back to "
            "the counter to scan the labels of the extra ones (Vialog may hold them at another place), or receive "
            "them if they never were; then post again. Nothing was adjusted.",
            lot_id=plan.lot.id, counted=plan.containers_counted, expected=plan.expected_containers,
        )


def _line_field(field_prefix: str) -> str:
    """The field a refusal of a whole line names: the line on the API (``lines.1``), the scan on the page."""
    return field_prefix.removesuffix(".") or "code"


def _listed(label_codes: list[str], most: int = 5) -> str:
    return some_of(label_codes, most)


def _place(location: Location, count_location: Location) -> str:
    """A location as the counter tells it apart from the count's: with its clinic when that differs."""
    if location.clinic_id == count_location.clinic_id:
        return location.name
    return f"{location.clinic.name} · {location.name}"


def _adjust(session: Session, adjustment: Adjustment, *, actor: User, count: Count, now: dt.datetime) -> None:
    container = adjustment.container
    ledger.record(session, container, kind=MovementKind.ADJUST, quantity=adjustment.quantity, actor=actor, at=now,
                  reason=COUNT_REASON, note=count_note(count.id))
    lifecycle.settle(container)


def _sealed_and_full(container: Container, counted: Decimal) -> int:
    return 1 if container.state is ContainerState.SEALED and counted == container.initial_quantity else 0


def _ensure_reviewable(count: Count, actor: User) -> None:
    if count.status is CountStatus.POSTED:
        raise CountNotEditable(
            f"Count {count.id} was posted already; a posted count is never changed. Start another count.",
            count_id=count.id,
        )
    if count.status is not CountStatus.SUBMITTED:
        raise CountNotSubmitted(
            f"Count {count.id} is still being counted: the counter submits it first.", count_id=count.id
        )
    if count.counted_by_id == actor.id:
        raise CounterMayNotPost(
            f"You counted count {count.id} yourself: another manager must review and post it (two-person rule).",
            count_id=count.id,
        )


def _lock_count(session: Session, count_id: int, scope: Scope) -> Count:
    _ensure_id(count_id)
    count = session.scalar(
        select(Count)
        .where(Count.id == count_id)
        .with_for_update(of=Count)
        .execution_options(populate_existing=True)
    )
    if count is None or not scope.allows(count.clinic_id):
        raise NotFound(f"No count with id {count_id}.", id=count_id)
    return count


def _ensure_draft(count: Count) -> None:
    if count.status is CountStatus.DRAFT:
        return
    if count.status is CountStatus.POSTED:
        raise CountNotEditable(
            f"Count {count.id} was posted; a posted count is never changed. Start another count.", count_id=count.id
        )
    raise CountNotEditable(
        f"Count {count.id} was submitted for review and can no longer be changed; a reviewer can send it back.",
        count_id=count.id,
    )


def _ensure_counter(count: Count, actor: User) -> None:
    if count.counted_by_id != actor.id:
        raise OtherCounter(
            f"Count {count.id} is being counted by {count.counted_by.label}: start your own count sheet.",
            count_id=count.id,
        )


def _ensure_id(value: int, what: str = "count") -> None:
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"No {what} with id {value}.", id=value)


def _counted(value: Decimal | str | int, field_name: str) -> Decimal:
    try:
        quantity = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValidationError(f"{value!r} is not a number.", field=field_name) from None
    if not quantity.is_finite() or quantity < 0 or quantity > MAX_COUNTED:
        raise ValidationError(f"Count between 0 and {plain_quantity(MAX_COUNTED)}.", field=field_name)
    if quantity != quantity.quantize(Decimal(1).scaleb(-QUANTITY_SCALE)):
        raise ValidationError(f"Use at most {QUANTITY_SCALE} decimal places.", field=field_name)
    return quantity


def _note(note: str | None) -> str | None:
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationError(f"Keep the note under {MAX_NOTE} characters.", field="note")
    return note or None


