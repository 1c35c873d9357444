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

When a count was posted in the period, the row also shows the last such count for
that lot and location: what was counted, what the ledger expected when the count was
posted, and ``variance = counted - expected at count`` (what that count corrected).
Sealed stock is also reported in containers: sealed containers at the start and the
end of the period (a container is sealed while it holds its full quantity and was
never reconstituted or drawn from), and sealed containers counted and expected.

Everything is computed in the database with GROUP BY, one query per clinic for each
kind of figure; nothing loops over movements in Python. Units of different products
are never added: rows are per product, and totals are per product only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, select
from sqlalchemy.orm import Session, aliased, joinedload

from inventory.errors import NotFound, ValidationError
from inventory.models import (
    Clinic,
    Container,
    Count,
    CountLine,
    CountStatus,
    Location,
    Lot,
    Movement,
    MovementKind,
    Product,
    User,
)
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


@dataclass
class ProductTotals:
    """One product's totals over the rows shown. Only ever one product: units never mix."""

    product: Product
    rows: list[ReconciliationRow] = field(default_factory=list)

    def total(self, name: str) -> Decimal:
        return sum((getattr(row, name) for row in self.rows), ZERO)

    def total_variance(self) -> Decimal:
        return sum((row.variance for row in self.rows if row.variance is not None), ZERO)


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
        if self.location is not None:
            return f"{self.location.clinic.name} · {self.location.name}"
        return ", ".join(c.name for c in self.clinics) or "no clinic"


@dataclass(frozen=True)
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

    Raises NotFound for a location outside the caller's clinics.
    """
    if location_id is not None:
        if not 1 <= location_id <= 2**31 - 1:
            raise NotFound(f"No location with id {location_id}.", id=location_id)
        location = get_in_scope(session, Location, location_id, scope, "location")
        return [location.clinic], location
    clinics = session.scalars(scope.filter(select(Clinic), Clinic.id).order_by(Clinic.code))
    return list(clinics), None


# --- the reconciliation -------------------------------------------------------------------


def reconcile(
    session: Session, *, scope: Scope, period: Period, location_id: int | None = None
) -> Reconciliation:
    """The reconciliation rows for the caller's clinics, or one location of them.

    Rows with no stock before the period, no movement in it and no count are left out.
    Raises NotFound for a location outside the caller's clinics.
    """
    clinics, location = clinics_and_location(session, scope, location_id)
    rows: dict[tuple[int, int], ReconciliationRow] = {}
    raw: list[tuple[Clinic, dict[str, Any]]] = []
    for clinic in clinics:
        first, after = period.bounds(clinic.timezone)
        for values in _movement_totals(session, clinic.id, first, after, location_id):
            raw.append((clinic, values))
        for values in _sealed_containers(session, clinic.id, first, location_id, "sealed_opening"):
            raw.append((clinic, values))
        for values in _sealed_containers(session, clinic.id, after, location_id, "sealed_closing"):
            raw.append((clinic, values))
        for values in _last_counts(session, clinic.id, first, after, location_id):
            raw.append((clinic, values))

    names = _Names(session, lot_ids={v["lot_id"] for _, v in raw}, location_ids={v["location_id"] for _, v in raw})
    for clinic, values in raw:
        key = (values.pop("lot_id"), values.pop("location_id"))
        row = rows.get(key)
        if row is None:
            lot = names.lots[key[0]]
            row = rows[key] = ReconciliationRow(clinic=clinic, location=names.locations[key[1]],
                                                product=lot.product, lot=lot)
        for name, value in values.items():
            setattr(row, name, value)
    shown = [
        row for row in rows.values()
        if row.opening != 0 or row.movements or row.count_id is not None or row.sealed_opening or row.sealed_closing
    ]
    return Reconciliation(period, clinics, location, sorted(shown, key=lambda r: r.sort_key))


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


def category_kind(original: type[Movement] | Any) -> ColumnElement[Any]:
    """A movement's kind for reporting: a reversal takes the kind of what it reverses."""
    return case((Movement.kind == MovementKind.REVERSAL, original.kind), else_=Movement.kind)


def _movement_totals(
    session: Session, clinic_id: int, first: dt.datetime, after: dt.datetime, location_id: int | None
) -> Iterator[dict[str, Any]]:
    original = aliased(Movement, name="original")
    kind = category_kind(original)
    in_period = and_(Movement.at >= first, Movement.at < after)

    def total(*conditions: ColumnElement[bool]) -> Any:
        return func.sum(case((and_(*conditions), Movement.quantity)))

    columns = [
        total(Movement.at < first).label("opening"),
        *(total(in_period, kind == movement_kind).label(name) for name, movement_kind, _ in FLOW_COLUMNS),
        func.sum(Movement.quantity).label("closing"),
        func.count(case((in_period, Movement.id))).label("movements"),
    ]
    stmt = (
        select(Movement.lot_id, Movement.location_id, *columns)
        .outerjoin(original, original.id == Movement.reverses_id)
        .where(Movement.clinic_id == clinic_id, Movement.at < after)
        .group_by(Movement.lot_id, Movement.location_id)
    )
    if location_id is not None:
        stmt = stmt.where(Movement.location_id == location_id)
    signs = {name: sign for name, _, sign in FLOW_COLUMNS}
    for row in session.execute(stmt).mappings():
        values = dict(row)
        for name in ("opening", "closing", *signs):
            values[name] = (values[name] or ZERO) * signs.get(name, 1)
        yield values


def _sealed_containers(
    session: Session, clinic_id: int, moment: dt.datetime, location_id: int | None, label: str
) -> Iterator[dict[str, Any]]:
    """Sealed containers per lot and location just before ``moment``, from the ledger alone.

    A container's balance at a location is the sum of its movements there (a transfer
    leaves zero behind); it is sealed while that balance is its full quantity and it
    was never reconstituted or drawn from.
    """
    per_place = (
        select(Movement.container_id, Movement.location_id, func.sum(Movement.quantity).label("balance"))
        .where(Movement.clinic_id == clinic_id, Movement.at < moment)
        .group_by(Movement.container_id, Movement.location_id)
    )
    if location_id is not None:
        per_place = per_place.where(Movement.location_id == location_id)
    place = per_place.subquery("place")
    opening_move = aliased(Movement, name="opening_move")
    opened = exists().where(
        opening_move.container_id == Container.id,
        opening_move.at < moment,
        opening_move.kind.in_((MovementKind.RECONSTITUTE, MovementKind.DRAW)),
    )
    stmt = (
        select(Container.lot_id, place.c.location_id, func.count().label(label))
        .join(place, place.c.container_id == Container.id)
        .where(place.c.balance == Container.initial_quantity, ~opened)
        .group_by(Container.lot_id, place.c.location_id)
    )
    for row in session.execute(stmt).mappings():
        yield dict(row)


def _last_counts(
    session: Session, clinic_id: int, first: dt.datetime, after: dt.datetime, location_id: int | None
) -> Iterator[dict[str, Any]]:
    """Per lot and location, the last count posted in the period that counted it."""
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
            rank.label("rank"),
        )
        .join(CountLine, CountLine.count_id == Count.id)
        .where(Count.clinic_id == clinic_id, Count.status == CountStatus.POSTED,
               Count.posted_at >= first, Count.posted_at < after)
        .group_by(Count.id, Count.location_id, CountLine.lot_id, Count.counted_at, Count.posted_at)
    )
    if location_id is not None:
        per_count = per_count.where(Count.location_id == location_id)
    ranked = per_count.subquery("ranked")
    stmt = select(*(c for c in ranked.c if c.name != "rank")).where(ranked.c.rank == 1)
    for row in session.execute(stmt).mappings():
        values = dict(row)
        values["sealed_counted"] = int(values["sealed_counted"] or 0)
        values["sealed_expected_at_count"] = int(values["sealed_expected_at_count"] or 0)
        yield values


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
    original = aliased(Movement, name="original")
    first, after = period.bounds(clinic.timezone)
    month = case(*((and_(Movement.at >= s, Movement.at < e), label) for label, s, e in period.months(clinic.timezone)))
    injector = case((Movement.kind == MovementKind.REVERSAL, original.actor_id), else_=Movement.actor_id)
    inner = (
        select(month.label("month"), Movement.product_id, injector.label("injector_id"), Movement.quantity)
        .outerjoin(original, original.id == Movement.reverses_id)
        .where(Movement.clinic_id == clinic.id, Movement.at >= first, Movement.at < after,
               category_kind(original) == MovementKind.DRAW)
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
    original = aliased(Movement, name="original")
    first, after = period.bounds(clinic.timezone)
    stmt = (
        select(
            Movement.at, Location.name.label("location"), Product.name.label("product"), Product.base_unit,
            Lot.number.label("lot"), Container.label_code, Movement.kind,
            category_kind(original).label("category"), Movement.quantity,
            func.coalesce(func.nullif(User.display_name, ""), User.username).label("who"),
            Movement.reason, Movement.note, Movement.treatment_id, Movement.id, Movement.reverses_id,
            Movement.lot_id, Movement.location_id, Movement.product_id,
        )
        .join(Location, Location.id == Movement.location_id)
        .join(Product, Product.id == Movement.product_id)
        .join(Lot, Lot.id == Movement.lot_id)
        .join(Container, Container.id == Movement.container_id)
        .join(User, User.id == Movement.actor_id)
        .outerjoin(original, original.id == Movement.reverses_id)
        .where(Movement.clinic_id == clinic.id, Movement.at >= first, Movement.at < after)
        .order_by(Movement.at, Movement.id)
    )
    if location_id is not None:
        stmt = stmt.where(Movement.location_id == location_id)
    return stmt


def count_lines_stmt(clinic: Clinic, period: Period, location_id: int | None) -> Select[Any]:
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
