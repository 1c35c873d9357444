"""Reconciliation: what the ledger says happened to each lot at each location over a period.

Per product, lot and location, for the dates ``start``..``end`` (inclusive, in each
clinic's own time zone)::

    expected closing = opening + received - drawn - wasted + adjusted
                       + transfers in - transfers out - returned

``opening`` is the balance before the period; the other terms are the period's
movements by what they count as. A reversal counts as what it reverses, with its own
sign: a reversed draw reduces ``drawn``, a reversed waste reduces ``wasted``. Count
corrections are ledger ADJUST movements, so they are in ``adjusted`` and the expected
closing is always the ledger's balance at the end of the period.

Stock sent to another clinic (a TRANSFER_OUT of a Transfer) that had arrived nowhere
at the period's end is shown beside them as ``in transit at end``, on the sender's row
(the location it left from): sent before the period's end, neither received at the
destination nor called back or returned to the source by then (its TRANSFER_IN, if
any, is later). It is not part of the expected closing, since it is on no shelf here:
it explains, for the sender, where the stock that went out is.

When a count was posted in the period, the row also shows the last such count for
that lot and location: what was counted, what the ledger held when each line was
counted, and ``variance = counted - expected at count`` (what that count corrected).
A count need not cover every container of the lot there: the row says how many of
them it covered (each container counted by its label, and the sealed ones a line by
lot covered) of how many the ledger held there when the count was made, so a row
whose count covered one vial of two never reads as the whole lot counted.
Sealed stock is also reported in containers: sealed containers at the start and the
end of the period (a container is sealed while it holds its full quantity and was
never reconstituted or drawn from), and sealed containers counted and expected.

Everything is computed in the database, one statement per clinic for all of a row's
figures, bounded by the period: balances are worked back from the containers' current
balances through the movements since the period began (or, for a period early in the
ledger, summed from its start), so a recent month never reads years of ledger. Nothing
loops over movements in Python. The rows stream in the report's order as plain tuples
(``reconciliation_lines``), which the workbook writes as they come; ``reconcile`` adds
the ORM objects the pages and the API show. Units of different products are never
added: rows are per product, and totals are per product only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple, Unpack
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    null,
    or_,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session, aliased, joinedload

from inventory import lifecycle
from inventory.errors import NotFound, ValidationError
from inventory.models import Clinic, Container, Location, Lot, Movement, MovementKind, Product, Receipt, User
from inventory.counterfeit.models import Supplier
from inventory.counts.models import Count, CountLine, CountStatus
from inventory.transfers.models import Transfer, TransferItem, TransferItemMissing, TransferStatus
from inventory.models.base import Quantity, UTCDateTime
from inventory.services.permissions import Scope, get_in_scope

MAX_PERIOD_DAYS = 1100  # three years and a bit: a longer export is a mistake, not a report
ZERO = Decimal(0)

# What each movement kind counts as in a reconciliation (a reversal: what it reverses).
CATEGORY: dict[MovementKind, str] = {
    MovementKind.RECEIVE: "received",
    MovementKind.DRAW: "drawn",
    MovementKind.WASTE: "wasted",
    MovementKind.ADJUST: "adjusted",
    MovementKind.TRANSFER_IN: "transfer in",
    MovementKind.TRANSFER_OUT: "transfer out",
    MovementKind.RETURN: "returned",
    MovementKind.RECONSTITUTE: "reconstituted",
}

# The reconciliation's columns: (attribute, movement kind, sign). A column is the
# period's signed sum of its kind's movements times the sign: draws are negative in
# the ledger and positive in "drawn".
FLOW_COLUMNS: tuple[tuple[str, MovementKind, int], ...] = (
    ("received", MovementKind.RECEIVE, 1),
    ("drawn", MovementKind.DRAW, -1),
    ("wasted", MovementKind.WASTE, -1),
    ("adjusted", MovementKind.ADJUST, 1),
    ("transfers_in", MovementKind.TRANSFER_IN, 1),
    ("transfers_out", MovementKind.TRANSFER_OUT, -1),
    ("returned", MovementKind.RETURN, -1),
)
# How each column enters the expected closing.
CLOSING_SIGN: dict[str, int] = {
    "received": 1, "drawn": -1, "wasted": -1, "adjusted": 1, "transfers_in": 1, "transfers_out": -1, "returned": -1,
}


# --- the period ------------------------------------------------------------------------


FIRST_REPORT_DAY = dt.date(2000, 1, 1)
LAST_REPORT_DAY = dt.date(2999, 12, 31)


@dataclass(frozen=True)
class Period:
    """Calendar dates, both included, read in each clinic's own time zone."""

    start: dt.date
    end: dt.date

    @classmethod
    def of(cls, start: dt.date | None, end: dt.date | None) -> Period:
        """Raises ValidationError for a missing, reversed or overlong period."""
        if start is None or end is None:
            raise ValidationError("Give the period: from and to dates (YYYY-MM-DD).", field="from")
        if end < start:
            raise ValidationError("The period ends before it starts: swap the dates.", field="to")
        for name, day in (("from", start), ("to", end)):
            # The day after the period must exist in every time zone: 9999-12-31 is no business date.
            if not FIRST_REPORT_DAY <= day <= LAST_REPORT_DAY:
                raise ValidationError(f"Choose dates between {FIRST_REPORT_DAY.isoformat()} and "
                                      f"{LAST_REPORT_DAY.isoformat()}.", field=name)
        if (end - start).days + 1 > MAX_PERIOD_DAYS:
            raise ValidationError(f"Choose a period of at most {MAX_PERIOD_DAYS} days.", field="to")
        return cls(start, end)

    def bounds(self, timezone: str) -> tuple[dt.datetime, dt.datetime]:
        """The period as UTC moments [first, after) for a clinic in ``timezone``."""
        zone = ZoneInfo(timezone)
        first = dt.datetime.combine(self.start, dt.time(0), tzinfo=zone)
        after = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
        return first.astimezone(dt.UTC), after.astimezone(dt.UTC)

    def months(self, timezone: str) -> list[tuple[str, dt.datetime, dt.datetime]]:
        """Each calendar month the period touches as ("YYYY-MM", first, after) in UTC, clipped to the period."""
        zone = ZoneInfo(timezone)
        result = []
        day = self.start
        while day <= self.end:
            next_month = (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
            last = min(next_month - dt.timedelta(days=1), self.end)
            first_at = dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
            after_at = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=zone).astimezone(dt.UTC)
            result.append((day.strftime("%Y-%m"), first_at, after_at))
            day = next_month
        return result

    def __str__(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


# --- results ---------------------------------------------------------------------------


@dataclass
class ReconciliationRow:
    clinic: Clinic
    location: Location
    product: Product
    lot: Lot
    opening: Decimal = ZERO
    received: Decimal = ZERO
    drawn: Decimal = ZERO
    wasted: Decimal = ZERO
    adjusted: Decimal = ZERO
    transfers_in: Decimal = ZERO
    transfers_out: Decimal = ZERO
    returned: Decimal = ZERO
    closing: Decimal = ZERO  # the ledger's balance at the end of the period, as a check
    movements: int = 0  # movements in the period
    sealed_opening: int = 0
    sealed_closing: int = 0
    count_id: int | None = None
    counted_at: dt.datetime | None = None
    posted_at: dt.datetime | None = None
    counted: Decimal | None = None
    expected_at_count: Decimal | None = None
    sealed_counted: int | None = None
    sealed_expected_at_count: int | None = None
    # Sent from here to another clinic and arrived nowhere by the period's end: not in expected closing.
    in_transit_at_end: Decimal = ZERO
    # Of the lot's containers here, those the count covered, and those the ledger held here when it was made.
    containers_counted: int | None = None
    containers_at_count: int | None = None
    supplier: str | None = None  # who delivered the lot to this clinic, in words (``suppliers_of``)

    @property
    def partly_counted(self) -> bool:
        """The count covered only some of the lot's containers here: its figures are theirs, not the lot's."""
        return is_partly_counted(self.containers_counted, self.containers_at_count)

    @property
    def count_coverage_note(self) -> str | None:
        return count_coverage_note(self.containers_counted, self.containers_at_count)

    @property
    def expected_closing(self) -> Decimal:
        return self.opening + sum((getattr(self, name) * sign for name, sign in CLOSING_SIGN.items()), ZERO)

    @property
    def variance(self) -> Decimal | None:
        if self.counted is None or self.expected_at_count is None:
            return None
        return self.counted - self.expected_at_count

    @property
    def sealed_variance(self) -> int | None:
        if self.sealed_counted is None or self.sealed_expected_at_count is None:
            return None
        return self.sealed_counted - self.sealed_expected_at_count

    @property
    def has_variance(self) -> bool:
        return bool(self.variance) or bool(self.sealed_variance)

    @property
    def unit(self) -> str:
        return self.product.base_unit

    @property
    def sort_key(self) -> tuple[Any, ...]:
        return (self.product.name, self.lot.expiry, self.lot.number, self.clinic.code, self.location.name)


def is_partly_counted(containers_counted: int | None, containers_at_count: int | None) -> bool:
    return containers_counted is not None and containers_at_count is not None \
        and containers_counted < containers_at_count


def count_coverage_note(containers_counted: int | None, containers_at_count: int | None) -> str | None:
    """ "partly counted: 1 of 2 containers" for a row whose count covered only some of the lot's containers there
    (the page, the workbook and the CSV say it in the same words); None otherwise."""
    if not is_partly_counted(containers_counted, containers_at_count):
        return None
    return f"partly counted: {containers_counted} of {containers_at_count} containers"


@dataclass
class ProductTotals:
    """One product's totals over the rows shown. Only ever one product: units never mix.

    The count figures (counted, expected at count, variance) add up the counted rows only,
    and are None when no row was counted: a total of 0 would read "counted, nothing missing".
    """

    product: Product
    rows: list[ReconciliationRow] = field(default_factory=list)

    def total(self, name: str) -> Decimal:
        return sum((getattr(row, name) for row in self.rows), ZERO)

    @property
    def counted_rows(self) -> list[ReconciliationRow]:
        return [row for row in self.rows if row.counted is not None]

    @property
    def rows_counted(self) -> int:
        return len(self.counted_rows)

    @property
    def partly_counted(self) -> bool:
        return 0 < self.rows_counted < len(self.rows)

    def counted_total(self, name: str) -> Decimal | None:
        """``name`` ("counted", "expected_at_count" or "variance") over the counted rows; None if none was."""
        values = [getattr(row, name) for row in self.counted_rows]
        if not values:
            return None
        return sum((value for value in values if value is not None), ZERO)

    def total_variance(self) -> Decimal | None:
        return self.counted_total("variance")


@dataclass
class Reconciliation:
    period: Period
    clinics: list[Clinic]
    location: Location | None
    rows: list[ReconciliationRow]

    def by_product(self) -> list[ProductTotals]:
        groups: dict[int, ProductTotals] = {}
        for row in self.rows:
            groups.setdefault(row.product.id, ProductTotals(row.product)).rows.append(row)
        return sorted(groups.values(), key=lambda g: g.product.name)

    @property
    def where(self) -> str:
        return where_text(self.clinics, self.location)


def where_text(clinics: list[Clinic], location: Location | None) -> str:
    """What a report covers, in words: one location, or the clinics."""
    if location is not None:
        return f"{location.clinic.name} · {location.name}"
    return ", ".join(c.name for c in clinics) or "no clinic"


@dataclass(frozen=True, slots=True)  # a chain's year has tens of thousands
class UsageRow:
    """What was drawn (net of reversed draws) of one product in one month by one injector."""

    month: str
    product: Product
    injector: User
    quantity: Decimal


# --- where -------------------------------------------------------------------------------


def clinics_and_location(
    session: Session, scope: Scope, location_id: int | None
) -> tuple[list[Clinic], Location | None]:
    """The clinics a report covers: the location's, or every clinic of the caller.

    Raises NotFound for a location outside the caller's clinics. A scope of one clinic (one asked for, or the
    caller's only one) says which: "LON has no location with id 8", true of another clinic's location and of none.
    """
    if location_id is not None:
        if not 1 <= location_id <= 2**31 - 1:
            raise NotFound(f"No location with id {location_id}.", id=location_id)
        try:
            location = get_in_scope(session, Location, location_id, scope, "location")
        except NotFound:
            clinics = scope.clinics(session) if scope.clinic_ids is not None and len(scope.clinic_ids) == 1 else []
            if len(clinics) != 1:
                raise
            code = clinics[0].code
            raise NotFound(f"{code} has no location with id {location_id}: choose one of {code}'s locations, or "
                           "leave the location out.", id=location_id) from None
        return [location.clinic], location
    return scope.clinics(session), None


def location_at_another_clinic(
    session: Session, scope: Scope, *, clinic_id: int | None, location_id: int | None
) -> Location | None:
    """The caller's location ``location_id`` when it is at another of the caller's clinics than ``clinic_id``:
    a report of that clinic cannot cover it. None when it is that clinic's, when either is not given, or when
    either is not the caller's (the report then answers NotFound, as for one that does not exist)."""
    if clinic_id is None or location_id is None or not scope.allows(clinic_id):
        return None
    if not 1 <= clinic_id <= 2**31 - 1 or session.get(Clinic, clinic_id) is None:
        return None
    location = session.get(Location, location_id) if 1 <= location_id <= 2**31 - 1 else None
    if location is None or location.clinic_id == clinic_id or not scope.allows(location.clinic_id):
        return None
    return location


# --- the reconciliation -------------------------------------------------------------------


class ReconciliationLine(NamedTuple):
    """One reconciliation row as plain values, no ORM instances: what the workbook streams."""

    product_id: int
    product: str
    unit: str
    lot_id: int
    lot: str
    expiry: dt.date
    clinic_id: int
    clinic: str  # the clinic's code
    timezone: str  # the clinic's
    location_id: int
    location: str
    opening: Decimal
    received: Decimal
    drawn: Decimal
    wasted: Decimal
    adjusted: Decimal
    transfers_in: Decimal
    transfers_out: Decimal
    returned: Decimal
    closing: Decimal
    movements: int
    sealed_opening: int
    sealed_closing: int
    count_id: int | None
    counted_at: dt.datetime | None
    posted_at: dt.datetime | None
    counted: Decimal | None
    expected_at_count: Decimal | None
    sealed_counted: int | None
    sealed_expected_at_count: int | None
    in_transit_at_end: Decimal
    containers_counted: int | None  # of the lot's containers here, those the count covered
    containers_at_count: int | None  # those the ledger held here when the count was made (at least the above)


# The figures a line hands to a ReconciliationRow, by name.
LINE_FIGURES = ReconciliationLine._fields[ReconciliationLine._fields.index("opening"):]


def line_order(line: ReconciliationLine) -> tuple[Any, ...]:
    """The report's order: product, lot (by expiry), clinic, location; ids only break ties."""
    return (line.product, line.expiry, line.lot, line.clinic, line.location, line.lot_id, line.location_id)


def reconcile(
    session: Session, *, scope: Scope, period: Period, location_id: int | None = None
) -> Reconciliation:
    """The reconciliation rows for the caller's clinics, or one location of them.

    Rows with no stock before the period, no movement in it, no count and nothing in
    transit at its end are left out.
    Raises NotFound for a location outside the caller's clinics.
    """
    clinics, location = clinics_and_location(session, scope, location_id)
    lines = list(reconciliation_lines(session, clinics=clinics, period=period, location_id=location_id))
    names = _Names(session, lot_ids={line.lot_id for line in lines},
                   location_ids={line.location_id for line in lines})
    suppliers = suppliers_of(session, clinic_ids={line.clinic_id for line in lines},
                             lot_ids={line.lot_id for line in lines})
    by_id = {clinic.id: clinic for clinic in clinics}
    rows = []
    for line in lines:
        lot = names.lots[line.lot_id]
        rows.append(ReconciliationRow(
            clinic=by_id[line.clinic_id], location=names.locations[line.location_id], product=lot.product, lot=lot,
            supplier=suppliers.get((line.lot_id, line.clinic_id)),
            **{name: getattr(line, name) for name in LINE_FIGURES},
        ))
    return Reconciliation(period, clinics, location, rows)


def suppliers_of(
    session: Session, *, clinic_ids: Iterable[int], lot_ids: Iterable[int] | None = None
) -> dict[tuple[int, int], str]:
    """Who delivered each lot to each clinic, in words, by (lot id, clinic id): two statements, for reports.

    The supplier belongs to the receipt, at the clinic that received the delivery. Stock that came
    from another clinic of the chain keeps it: a container keeps its receipt when it travels, so a
    lot a clinic took in by transfer names the supplier of the first clinic's receipt, "Northfield
    Medical Wholesale (via transfer from LON)". Several are listed, received ones first. Receipts
    from before suppliers were recorded add nothing: a lot with none is missing (the report says
    "not recorded"). ``lot_ids`` narrows the look-up to the lots a report shows; None reads every
    lot of the clinics (the workbook, whose rows stream past).
    """
    clinics = sorted(set(clinic_ids))
    if not clinics:
        return {}
    lots = None if lot_ids is None else sorted(set(lot_ids))
    if lots == []:
        return {}
    received = (
        select(Receipt.lot_id, Receipt.clinic_id, Supplier.name)
        .join(Supplier, Supplier.id == Receipt.supplier_id)
        .where(Receipt.clinic_id.in_(clinics))
        .distinct()
    )
    sender = aliased(Clinic, name="sender")
    # Received transfers only: a consignment still on the road, refused or called back is no stock here; nor is
    # a container the destination declared missing in transit (it never arrived).
    transferred = (
        select(Container.lot_id, Transfer.to_clinic_id, Supplier.name, sender.code)
        .select_from(Transfer)
        .join(TransferItem, TransferItem.transfer_id == Transfer.id)
        .join(Container, Container.id == TransferItem.container_id)
        .join(Receipt, Receipt.id == Container.receipt_id)
        .join(Supplier, Supplier.id == Receipt.supplier_id)
        .join(sender, sender.id == Transfer.from_clinic_id)
        .where(Transfer.to_clinic_id.in_(clinics), Transfer.status == TransferStatus.RECEIVED,
               ~select(TransferItemMissing.item_id).where(TransferItemMissing.item_id == TransferItem.id).exists())
        .distinct()
    )
    if lots is not None:
        received = received.where(Receipt.lot_id.in_(lots))
        transferred = transferred.where(Container.lot_id.in_(lots))
    direct: dict[tuple[int, int], set[str]] = {}
    for lot_id, clinic_id, name in session.execute(received):
        direct.setdefault((lot_id, clinic_id), set()).add(name)
    via: dict[tuple[int, int], set[tuple[str, str]]] = {}
    for lot_id, clinic_id, name, code in session.execute(transferred):
        via.setdefault((lot_id, clinic_id), set()).add((name, code))
    return {
        key: ", ".join([*sorted(direct.get(key, ())),
                        *(f"{name} (via transfer from {code})" for name, code in sorted(via.get(key, ())))])
        for key in direct.keys() | via.keys()
    }


def reconciliation_lines(
    session: Session, *, clinics: list[Clinic], period: Period, location_id: int | None = None,
    chunk: int = 1000,
) -> Iterator[ReconciliationLine]:
    """The rows of ``clinics`` (or of one location of them) in the report's order, streamed.

    One statement per clinic (each clinic has its own period bounds), each sorted by the
    database in the report's order and merged here as they stream in: the rows of a
    chain's year are written as they come and never sit in memory together. Merging
    keeps every clinic's stream open at once, so each fetches its share of ``chunk``
    rows at a time: the rows waiting in memory stay about ``chunk`` for any number of
    clinics (fetching 2,000 rows from each of 100 clinics would hold all of them).
    """
    share = max(chunk // max(len(clinics), 1), 20)
    streams = [_clinic_lines(session, clinic, period, location_id, share) for clinic in clinics]
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=line_order)


class _Names:
    """Lots (with products) and locations for a set of ids: one query each, not one per row."""

    def __init__(self, session: Session, *, lot_ids: set[int], location_ids: set[int]) -> None:
        self.lots = {
            lot.id: lot
            for lot in session.scalars(select(Lot).where(Lot.id.in_(lot_ids)).options(joinedload(Lot.product)))
        } if lot_ids else {}
        self.locations = {
            loc.id: loc
            for loc in session.scalars(
                select(Location).where(Location.id.in_(location_ids)).options(joinedload(Location.clinic))
            )
        } if location_ids else {}


_ORIGINAL = aliased(Movement, name="original")


def _of_reversed(column: Any) -> ColumnElement[Any]:
    """``column`` (of ``_ORIGINAL``) of the movement a reversal reverses: a primary-key probe, which a CASE on
    the kind runs for reversals only. Never an outer join of the ledger to itself: PostgreSQL may hash the
    whole ledger for one (0.1 s of a clinic-month's export at 300,000 movements, and growing with them)."""
    return select(column).where(_ORIGINAL.id == Movement.reverses_id).scalar_subquery()


def category_kind() -> ColumnElement[Any]:
    """A movement's kind for reporting: a reversal takes the kind of what it reverses."""
    return case((Movement.kind == MovementKind.REVERSAL, _of_reversed(_ORIGINAL.kind)), else_=Movement.kind)


# Holding stock: the only containers whose balance is not zero (the predicate of
# ix_containers_live_location; ledger.record leaves an emptied container empty or discarded and
# turns one that holds stock again in use, and a container in transit holds nothing).
_HOLDING = and_(Container.state.in_(lifecycle.LIVE_STATES), Container.remaining > 0)
# A container stops being sealed at its first reconstitution or draw (reversed or not).
_OPENING_KINDS = (MovementKind.RECONSTITUTE, MovementKind.DRAW)
_FLOWS = tuple(name for name, _, _ in FLOW_COLUMNS)
_SIGNS = {name: sign for name, _, sign in FLOW_COLUMNS}
_LEDGER_FIGURES = ("opening", *_FLOWS, "closing", "movements", "sealed_opening", "sealed_closing")
_COUNT_FIGURES = ("count_id", "counted_at", "posted_at", "counted", "expected_at_count", "sealed_counted",
                  "sealed_expected_at_count", "containers_counted", "containers_at_count")
_TRANSIT_FIGURES = ("in_transit_at_end",)


def _no_count_figures() -> list[ColumnElement[Any]]:
    """The count columns of a UNION ALL part that has no count: typed NULLs, in ``_COUNT_FIGURES`` order."""
    types: tuple[Any, ...] = (Integer, UTCDateTime(), UTCDateTime(), Quantity(), Quantity(), Integer, Integer,
                              Integer, Integer)
    return [type_coerce(null(), kind).label(name) for name, kind in zip(_COUNT_FIGURES, types, strict=True)]


def _zero() -> ColumnElement[Any]:
    """A typed quantity 0, so a UNION's columns keep the Quantity type (SQLite stores ten-thousandths)."""
    return type_coerce(literal_column("0"), Quantity())


def _clinic_lines(
    session: Session, clinic: Clinic, period: Period, location_id: int | None, chunk: int
) -> Iterator[ReconciliationLine]:
    first, after = period.bounds(clinic.timezone)
    stmt = _lines_stmt(one_location=location_id is not None,
                       from_start=_nearer_the_start(session, clinic.id, first, after),
                       byte_order=session.get_bind().dialect.name == "postgresql")
    params = {"clinic_id": clinic.id, "first": first, "after": after, "location_id": location_id}
    with _planned_without_jit(session):
        result = session.execute(stmt, params, execution_options={"yield_per": chunk})
    for r in result:
        has_count = r.count_id is not None
        # mypy cannot tell how many values the starred generator gives (one per flow), hence the ignores.
        yield ReconciliationLine(  # type: ignore[call-arg]
            r.product_id, r.product, r.unit, r.lot_id, r.lot, r.expiry, clinic.id, clinic.code, clinic.timezone,
            r.location_id, r.location, r.opening or ZERO,
            *((getattr(r, name) or ZERO) * _SIGNS[name] for name in _FLOWS),  # type: ignore[arg-type]
            r.closing or ZERO, int(r.movements or 0), int(r.sealed_opening or 0), int(r.sealed_closing or 0),
            r.count_id, r.counted_at, r.posted_at, r.counted, r.expected_at_count,
            int(r.sealed_counted or 0) if has_count else None,
            int(r.sealed_expected_at_count or 0) if has_count else None,
            r.in_transit_at_end or ZERO,
            *_coverage(r.containers_counted, r.containers_at_count, has_count),
        )


def _coverage(counted: int | None, at_count: int | None, has_count: bool) -> tuple[int | None, int | None]:
    """Containers counted and held at count, or (None, None) for a row without a count. A container counted
    that the ledger no longer held there at the count's moment (emptied between its line and the sheet's
    submission) still counts as held: a count never covers more than all of the lot there."""
    if not has_count:
        return None, None
    covered = int(counted or 0)
    return covered, max(int(at_count or 0), covered)


@contextlib.contextmanager
def _planned_without_jit(session: Session) -> Iterator[None]:
    """Statements planned inside run without PostgreSQL's JIT compilation.

    The reconciliation's cost estimate counts the sealed-container probe for every
    container, though its CASE runs it for the few at full quantity; the estimate then
    passes ``jit_above_cost`` and compiling took longer (about 70 ms a clinic) than
    running the statement (30 to 50 ms). The setting is put back right after: a
    streamed result is planned when it is opened.
    """
    if session.get_bind().dialect.name != "postgresql":
        yield
        return
    previous = session.scalar(text("SELECT current_setting('jit')"))
    session.execute(text("SELECT set_config('jit', 'off', true)"))
    yield
    # Not in a finally: after an error the transaction is aborted, and its end resets the setting.
    session.execute(text("SELECT set_config('jit', :previous, true)"), {"previous": previous})


def _nearer_the_start(session: Session, clinic_id: int, first: dt.datetime, after: dt.datetime) -> bool:
    """Whether the clinic's ledger up to the period's end spans less time than the ledger since it
    began: then summing from the start reads fewer rows than working back from today's balances.
    Two index probes (the first and last movement), taken as a proxy for the rows either way reads."""
    earliest = select(func.min(Movement.at)).where(Movement.clinic_id == clinic_id).scalar_subquery()
    latest = select(func.max(Movement.at)).where(Movement.clinic_id == clinic_id).scalar_subquery()
    start, end = session.execute(select(earliest, latest)).one()
    if start is None or end is None:
        return False
    return after - start < end - first


# The statements' parameters: one statement (of the few shapes below) serves every clinic and
# period, built once and compiled once, not per clinic.
_CLINIC = bindparam("clinic_id", type_=Integer())
_LOCATION = bindparam("location_id", type_=Integer())
_FIRST = bindparam("first", type_=UTCDateTime())  # the period's first moment
_AFTER = bindparam("after", type_=UTCDateTime())  # the first moment after it


@functools.cache
def _lines_stmt(*, one_location: bool, from_start: bool, byte_order: bool) -> Select[Any]:
    """Every figure of one clinic's rows, sorted as the report shows them.

    Ledger figures (``_ledger_figures``), the last counts (``_last_counts``) and the stock
    in transit at the end (``_in_transit_at_end``) are three parts of one UNION ALL, added
    up per lot and location, so a lot only counted, or only on the road, still gets its
    row. Text is sorted byte-wise ("C" on PostgreSQL, SQLite's default): the order Python
    gives the same strings, which merging clinics relies on.
    """
    parts = union_all(
        _ledger_figures(one_location=one_location, from_start=from_start),
        _last_counts(one_location=one_location),
        _in_transit_at_end(one_location=one_location),
    ).subquery("parts")
    per_key = (
        select(
            parts.c.lot_id, parts.c.location_id,
            *(func.sum(parts.c[name]).label(name) for name in _LEDGER_FIGURES),
            *(func.max(parts.c[name]).label(name) for name in _COUNT_FIGURES),
            *(func.sum(parts.c[name]).label(name) for name in _TRANSIT_FIGURES),
        )
        .group_by(parts.c.lot_id, parts.c.location_id)
        .subquery("per_key")
    )
    shown = or_(per_key.c.opening != 0, per_key.c.movements > 0, per_key.c.count_id.is_not(None),
                per_key.c.sealed_opening > 0, per_key.c.sealed_closing > 0, per_key.c.in_transit_at_end != 0)

    def bytewise(column: Any) -> Any:
        return column.collate("C") if byte_order else column

    return (
        select(
            Product.id.label("product_id"), Product.name.label("product"), Product.base_unit.label("unit"),
            per_key.c.lot_id, Lot.number.label("lot"), Lot.expiry, per_key.c.location_id,
            Location.name.label("location"),
            *(per_key.c[name] for name in (*_LEDGER_FIGURES, *_COUNT_FIGURES, *_TRANSIT_FIGURES)),
        )
        .select_from(per_key)
        .join(Lot, Lot.id == per_key.c.lot_id)
        .join(Product, Product.id == Lot.product_id)
        .join(Location, Location.id == per_key.c.location_id)
        .where(shown)
        .order_by(bytewise(Product.name), Lot.expiry, bytewise(Lot.number), bytewise(Location.name),
                  per_key.c.lot_id, per_key.c.location_id)
    )


def _ledger_figures(*, one_location: bool, from_start: bool) -> Select[Any]:
    """Per lot and location: opening and closing balances, the period's flows, sealed containers.

    One pass over one clinic's movements, added up per container and place, gives a
    container's balance there at the period's start and at its end, its flows in between
    and its number of movements; per lot and location those add up to the row's figures.
    A container is sealed at moment T when its balance there is its full quantity and
    nothing reconstituted or drew from it before T (an index probe of its few movements,
    made only for containers at full quantity).

    The balances come from whichever end of the ledger is nearer the period:

    - from the end (``from_start`` false, the usual case: recent periods): a container's
      stock is all at its current place (a transfer moves its whole balance, so its
      movements anywhere else add up to zero), so its balance at a place at moment T is
      what it holds there now (its cached ``remaining``, written with every movement and
      proved equal to the ledger's sum by ``vialog check``) minus its movements there
      from T on. Reads the containers holding stock now and the movements since the
      period started, never the years before it.
    - from the start: the sum of its movements there before T, reading the ledger up to
      the period's end (a period early in the ledger's history).
    """
    kind = category_kind()
    no_flows = [*(_zero().label(name) for name in _FLOWS), literal_column("0", Integer).label("movements")]

    def movements(at_first: Any, at_after: Any, *when: ColumnElement[bool], flows: bool = False) -> Select[Any]:
        """Movements ``when``, each with what it adds to the balance at each edge (and to the flows).

        Outside the period only balances count: those movements are added up per container
        and place right away (the ledger after a recent period, or before an old one, may be
        much longer than the period itself).
        """
        where = [Movement.clinic_id == _CLINIC, *when]
        if one_location:
            where.append(Movement.location_id == _LOCATION)
        if not flows:
            return (
                select(Movement.container_id, Movement.location_id, func.sum(at_first).label("at_first"),
                       func.sum(at_after).label("at_after"), *no_flows)
                .where(*where)
                .group_by(Movement.container_id, Movement.location_id)
            )
        return (
            select(
                Movement.container_id, Movement.location_id, at_first.label("at_first"), at_after.label("at_after"),
                *(case((kind == movement_kind, Movement.quantity), else_=_zero()).label(name)
                  for name, movement_kind, _ in FLOW_COLUMNS),
                literal_column("1", Integer).label("movements"),
            )
            .where(*where)
        )

    q, minus_q, none = Movement.quantity, -Movement.quantity, _zero()
    during = (Movement.at >= _FIRST, Movement.at < _AFTER)
    if from_start:
        parts = [
            movements(q, q, Movement.at < _FIRST),
            movements(none, q, *during, flows=True),
        ]
    else:
        held = select(
            Container.id.label("container_id"), Container.location_id.label("location_id"),
            Container.remaining.label("at_first"), Container.remaining.label("at_after"), *no_flows,
        ).where(Container.clinic_id == _CLINIC, _HOLDING)
        if one_location:
            held = held.where(Container.location_id == _LOCATION)
        parts = [
            held,
            movements(minus_q, none, *during, flows=True),
            movements(minus_q, minus_q, Movement.at >= _AFTER),
        ]
    rows = union_all(*parts).subquery("ledger")
    per_place = (
        select(rows.c.container_id, rows.c.location_id,
               *(func.sum(rows.c[name]).label(name) for name in ("at_first", "at_after", *_FLOWS, "movements")))
        .group_by(rows.c.container_id, rows.c.location_id)
        .subquery("per_place")
    )
    # When the container was first reconstituted or drawn from: read (an index probe of its few
    # movements) only for a container at its full quantity at that edge, the only ones that can be
    # sealed. A scalar subquery, not EXISTS: PostgreSQL may turn an EXISTS into a hash of every
    # opening movement of the whole ledger.
    opening_move = aliased(Movement, name="opening_move")
    opened_at = (
        select(func.min(opening_move.at))
        .where(opening_move.container_id == per_place.c.container_id, opening_move.kind.in_(_OPENING_KINDS))
        .scalar_subquery()
    )

    def sealed(balance: Any, moment: Any) -> ColumnElement[Any]:
        # Nested, so that the probe runs only for a container at its full quantity.
        untouched = case((or_(opened_at.is_(None), opened_at >= moment), 1), else_=0)
        return case((balance == Container.initial_quantity, untouched), else_=0)

    return (
        select(
            Container.lot_id, per_place.c.location_id,
            func.sum(per_place.c.at_first).label("opening"),
            *(func.sum(per_place.c[name]).label(name) for name in _FLOWS),
            func.sum(per_place.c.at_after).label("closing"),
            func.sum(per_place.c.movements).label("movements"),
            func.sum(sealed(per_place.c.at_first, _FIRST)).label("sealed_opening"),
            func.sum(sealed(per_place.c.at_after, _AFTER)).label("sealed_closing"),
            *_no_count_figures(),
            _zero().label("in_transit_at_end"),
        )
        .select_from(per_place)
        .join(Container, Container.id == per_place.c.container_id)
        .group_by(Container.lot_id, per_place.c.location_id)
    )


def _last_counts(*, one_location: bool) -> Select[Any]:
    """Per lot and location, the last count posted in the period that counted it (zero ledger figures).

    With it, how many of the lot's containers there it covered (a container line covers its
    container; a lot line the sealed ones the ledger held there, its expected containers) and how
    many the ledger held there when the count was submitted: each of the lot's containers whose
    movements at that location up to that moment add up to more than nothing (a probe of each
    container's few movements, for the few counted rows only).
    """
    rank = func.row_number().over(
        partition_by=(Count.location_id, CountLine.lot_id), order_by=(Count.posted_at.desc(), Count.id.desc())
    )
    per_count = (
        select(
            Count.id.label("count_id"), Count.location_id, CountLine.lot_id, Count.counted_at, Count.posted_at,
            func.sum(CountLine.counted).label("counted"),
            func.sum(CountLine.expected).label("expected_at_count"),
            func.sum(CountLine.containers_counted).label("sealed_counted"),
            func.sum(CountLine.expected_containers).label("sealed_expected_at_count"),
            func.sum(case((CountLine.container_id.is_not(None), 1),
                          else_=func.coalesce(CountLine.expected_containers, 0))).label("containers_counted"),
            rank.label("rank"),
        )
        .join(CountLine, CountLine.count_id == Count.id)
        .where(Count.clinic_id == _CLINIC, Count.status == CountStatus.POSTED,
               Count.posted_at >= _FIRST, Count.posted_at < _AFTER)
        .group_by(Count.id, Count.location_id, CountLine.lot_id, Count.counted_at, Count.posted_at)
    )
    if one_location:
        per_count = per_count.where(Count.location_id == _LOCATION)
    ranked = per_count.subquery("ranked")
    held_container = aliased(Container, name="held_container")
    held_move = aliased(Movement, name="held_move")
    balance_then = (
        select(func.sum(held_move.quantity))
        .where(held_move.container_id == held_container.id, held_move.location_id == ranked.c.location_id,
               held_move.at <= ranked.c.counted_at)
        # The row's own count, two levels up: left to auto-correlation, ``ranked`` became a FROM of its own here,
        # and a container was judged at the moment of every count of the period (held at an earlier one: held).
        .correlate(held_container, ranked)
        .scalar_subquery()
    )
    containers_at_count = (
        select(func.count()).select_from(held_container)
        .where(held_container.lot_id == ranked.c.lot_id, balance_then > 0)
        .scalar_subquery()
    )
    figures = {name: ranked.c[name] for name in _COUNT_FIGURES if name != "containers_at_count"}
    figures["containers_at_count"] = containers_at_count.label("containers_at_count")
    return select(
        ranked.c.lot_id, ranked.c.location_id,
        *(_zero().label(name) for name in ("opening", *_FLOWS, "closing")),
        *(literal_column("0", Integer).label(name) for name in ("movements", "sealed_opening", "sealed_closing")),
        *(figures[name] for name in _COUNT_FIGURES),
        _zero().label("in_transit_at_end"),
    ).where(ranked.c.rank == 1)


def _in_transit_at_end(*, one_location: bool) -> Select[Any]:
    """Per container sent from the clinic to another and not arrived anywhere at the period's end: its lot,
    the location it left from and the quantity that left (zero ledger figures, no count).

    Read from the ledger rows a transfer's items name, not from the transfer's status: the
    TRANSFER_OUT was written before the period's end, and the TRANSFER_IN that ended the
    journey (received at the destination, or called back or returned to the source) is
    missing or later. Driven by the clinic's transfers sent before the end (an index on
    the sending clinic): a clinic sends consignments, not movements, so they are few,
    and each item costs two primary-key probes.
    """
    sent = aliased(Movement, name="sent")
    arrived = aliased(Movement, name="arrived")
    stmt = (
        select(
            sent.lot_id, sent.location_id,
            *(_zero().label(name) for name in ("opening", *_FLOWS, "closing")),
            *(literal_column("0", Integer).label(name) for name in ("movements", "sealed_opening", "sealed_closing")),
            *_no_count_figures(),
            TransferItem.quantity.label("in_transit_at_end"),
        )
        .select_from(Transfer)
        .join(TransferItem, TransferItem.transfer_id == Transfer.id)
        .join(sent, sent.id == TransferItem.out_movement_id)
        .outerjoin(arrived, arrived.id == TransferItem.in_movement_id)
        # sent_at is the TRANSFER_OUT's moment (send writes both), and indexed per sending clinic.
        .where(Transfer.from_clinic_id == _CLINIC, Transfer.sent_at < _AFTER,
               or_(arrived.id.is_(None), arrived.at >= _AFTER))
    )
    if one_location:
        stmt = stmt.where(sent.location_id == _LOCATION)
    return stmt


# --- usage -------------------------------------------------------------------------------


def usage(session: Session, *, scope: Scope, period: Period, location_id: int | None = None) -> list[UsageRow]:
    """Units or mL drawn per product, month (clinic time) and injector; reversed draws taken off.

    A reversed draw counts against the injector of the draw it reverses, in the month
    the reversal was recorded (as the ledger and the reconciliation count it).
    """
    clinics, _ = clinics_and_location(session, scope, location_id)
    totals: dict[tuple[str, int, int], Decimal] = {}
    for clinic in clinics:
        for month, product_id, injector_id, quantity in _usage_rows(session, clinic, period, location_id):
            key = (month, product_id, injector_id)
            totals[key] = totals.get(key, ZERO) + quantity
    products = _by_id(session, Product, {k[1] for k in totals})
    users = _by_id(session, User, {k[2] for k in totals})
    rows = [UsageRow(month, products[p], users[u], q) for (month, p, u), q in totals.items()]
    return sorted(rows, key=lambda r: (r.month, r.product.name, r.injector.label))


def _usage_rows(
    session: Session, clinic: Clinic, period: Period, location_id: int | None
) -> Iterable[tuple[str, int, int, Decimal]]:
    first, after = period.bounds(clinic.timezone)
    month = case(*((and_(Movement.at >= s, Movement.at < e), label) for label, s, e in period.months(clinic.timezone)))
    injector = case((Movement.kind == MovementKind.REVERSAL, _of_reversed(_ORIGINAL.actor_id)),
                    else_=Movement.actor_id)
    inner = (
        select(month.label("month"), Movement.product_id, injector.label("injector_id"), Movement.quantity)
        .where(Movement.clinic_id == clinic.id, Movement.at >= first, Movement.at < after,
               category_kind() == MovementKind.DRAW)
    )
    if location_id is not None:
        inner = inner.where(Movement.location_id == location_id)
    drawn = inner.subquery("drawn")
    stmt = (
        select(drawn.c.month, drawn.c.product_id, drawn.c.injector_id, func.sum(drawn.c.quantity))
        .group_by(drawn.c.month, drawn.c.product_id, drawn.c.injector_id)
    )
    for month_label, product_id, injector_id, quantity in session.execute(stmt):
        yield month_label, product_id, injector_id, -(quantity or ZERO)


def _by_id(session: Session, model: Any, ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    return {obj.id: obj for obj in session.scalars(select(model).where(model.id.in_(ids)))}


# --- streams for exports ------------------------------------------------------------------


def movements_stmt(clinic: Clinic, period: Period, location_id: int | None) -> Select[Any]:
    """Every ledger row of one clinic in the period, oldest first, with what a reader needs."""
    first, after = period.bounds(clinic.timezone)
    stmt = (
        select(
            Movement.at, Location.name.label("location"), Product.name.label("product"), Product.base_unit,
            Lot.number.label("lot"), Container.label_code, Movement.kind,
            category_kind().label("category"), Movement.quantity,
            func.coalesce(func.nullif(User.display_name, ""), User.username).label("who"),
            Movement.reason, Movement.note, Movement.treatment_id, Movement.id, Movement.reverses_id,
            Movement.lot_id, Movement.location_id, Movement.product_id,
        )
        .join(Location, Location.id == Movement.location_id)
        .join(Product, Product.id == Movement.product_id)
        .join(Lot, Lot.id == Movement.lot_id)
        .join(Container, Container.id == Movement.container_id)
        .join(User, User.id == Movement.actor_id)
        .where(Movement.clinic_id == clinic.id, Movement.at >= first, Movement.at < after)
        .order_by(Movement.at, Movement.id)
    )
    if location_id is not None:
        stmt = stmt.where(Movement.location_id == location_id)
    return stmt


def count_lines_stmt(clinic: Clinic, period: Period, location_id: int | None) -> Select[Unpack[tuple[Any, ...]]]:
    """Every line of every count of one clinic posted in the period, with its variance."""
    first, after = period.bounds(clinic.timezone)
    counter = aliased(User, name="counter")
    approver = aliased(User, name="approver")
    stmt = (
        select(
            Count.id.label("count_id"), Count.counted_at, Count.posted_at,
            func.coalesce(func.nullif(counter.display_name, ""), counter.username).label("counted_by"),
            func.coalesce(func.nullif(approver.display_name, ""), approver.username).label("approved_by"),
            Location.name.label("location"), Product.name.label("product"), Product.base_unit,
            Lot.number.label("lot"), Container.label_code, CountLine.counted, CountLine.expected,
            CountLine.variance, CountLine.containers_counted, CountLine.expected_containers,
            Count.location_id, CountLine.lot_id,
        )
        .join(CountLine, CountLine.count_id == Count.id)
        .join(Location, Location.id == Count.location_id)
        .join(Lot, Lot.id == CountLine.lot_id)
        .join(Product, Product.id == Lot.product_id)
        .join(counter, counter.id == Count.counted_by_id)
        .join(approver, approver.id == Count.approved_by_id)
        .outerjoin(Container, Container.id == CountLine.container_id)
        .where(Count.clinic_id == clinic.id, Count.status == CountStatus.POSTED,
               Count.posted_at >= first, Count.posted_at < after)
        .order_by(Count.posted_at, Count.id, CountLine.id)
    )
    if location_id is not None:
        stmt = stmt.where(Count.location_id == location_id)
    return stmt
