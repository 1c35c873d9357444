"""Emergency kits: readiness of every kit at once, checks, templates, contents, and the expiry watch.

A kit holds what the ledger says is at its location: there is no separate list of
contents to keep in step. Readiness is computed, never stored, except as the snapshot
a check records.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, case, exists, func, literal, or_, select, union_all
from sqlalchemy.orm import Session, aliased, joinedload

from inventory import lifecycle
from inventory.cold_chain.models import ContainerHold
from inventory.errors import DomainError, NotFound, UnknownProduct, ValidationError
from inventory.models import (
    AuditEvent,
    Clinic,
    Container,
    ContainerState,
    Location,
    LocationKind,
    Lot,
    LotStatus,
    Movement,
    MovementKind,
    Product,
    ProductKind,
    User,
)
from inventory.kits.models import Kit, KitCheck, KitRequirement, KitStatus, KitTemplate
from inventory.models.base import plain_quantity
from inventory.services import scanning
from inventory.transfers import moves as transfers
from inventory.services.clock import api_moment, clinic_today, format_date, to_clinic_time, typed_moment_utc
from inventory.services.permissions import Scope, get_in_scope
from inventory.words import counted, some_of

EMERGENCY = "emergency"  # Movement.reason of a draw made from a kit in an emergency
MAX_NOTES = 2000


class DuplicateName(DomainError):
    code = "duplicate_name"


class KitLocationTaken(DomainError):
    code = "location_has_kit"


class WrongLocationKind(DomainError):
    code = "wrong_location_kind"


class NotInKit(DomainError):
    code = "not_in_kit"




# --- readiness -----------------------------------------------------------------


class Reason(NamedTuple):  # a tuple, not a dataclass: a board of 1,000 kits makes thousands
    """Why a kit is not ready or expiring soon: words for people, ``data`` for machines."""

    code: str
    text: str
    data: dict[str, Any]
    severity: KitStatus  # NOT_READY or EXPIRING_SOON

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "text": self.text, "severity": self.severity.value, "data": self.data}


class RequirementLine(NamedTuple):
    """One requirement of a kit and what counts for it: a checklist line."""

    label: str
    need: Decimal
    have: Decimal
    unit: str | None
    product: str | None  # the product that counts: for a kind, the best single product
    min_days_to_expiry: int
    met: bool


@dataclass(frozen=True)
class KitReadiness:
    kit_id: int
    name: str
    clinic_id: int
    clinic_code: str
    timezone: str
    location_id: int
    location: str
    template_id: int
    template: str
    status: KitStatus
    reasons: list[Reason]
    last_check_at: dt.datetime | None
    last_checked_by: str | None
    lines: list[RequirementLine] = field(default_factory=list)

    @property
    def shown_reasons(self) -> list[Reason]:
        """``reasons`` for people (``grouped_reasons``): the API and the kit checks keep one per container."""
        return grouped_reasons(self.reasons)


# The reasons given once per container that does not count: several alike read as one line on a card.
_PER_CONTAINER = ("on_hold_inside", "not_counted_inside")
LABELS_SHOWN = 3


def grouped_reasons(reasons: Sequence[Reason]) -> list[Reason]:
    """``reasons`` with the per-container ones that say the same (10 vials on hold after one excursion) made one
    line where the first stood: "10 containers on hold after a temperature excursion (Botox Cosmetic 100 U:
    VL-1, VL-2, VL-3 and 7 more): they do not count; a safety lead releases or wastes them". Its ``data``
    lists the containers. A reason alone stays as it is."""
    alike: dict[tuple[str, str], list[Reason]] = defaultdict(list)
    for reason in reasons:
        if reason.code in _PER_CONTAINER:
            alike[reason.code, reason.data["why"]].append(reason)
    shown: list[Reason] = []
    for reason in reasons:
        if reason.code not in _PER_CONTAINER:
            shown.append(reason)
            continue
        group = alike.pop((reason.code, reason.data["why"]), None)
        if group is None:
            continue  # said with the first of its kind
        shown.append(group[0] if len(group) == 1 else _one_line(group))
    return shown


def _one_line(group: list[Reason]) -> Reason:
    first = group[0]
    labels = [r.data["label_code"] for r in group]
    products = list(dict.fromkeys(r.data["product"] for r in group))
    named = some_of(labels, LABELS_SHOWN)
    what = f"{', '.join(products)}: {named}" if len(products) <= 2 else named
    then = "a safety lead releases or wastes them" if first.code == "on_hold_inside" else "remove them"
    return Reason(first.code, f"{len(group)} containers {first.data['why']} ({what}): they do not count; {then}",
                  {"why": first.data["why"], "containers": [r.data for r in group]}, first.severity)


class _LotStock(NamedTuple):
    """What one lot adds to one kit: the live containers of that lot at the kit's location."""

    product_id: int
    product: str
    product_kind: ProductKind
    unit: str
    lot_id: int
    lot: str
    status: LotStatus
    expiry: dt.date
    remaining: Decimal
    containers: int


@dataclass(frozen=True)
class _Requirement:
    id: int
    template_id: int
    label: str
    product_id: int | None
    product: str | None
    unit: str | None
    product_kind: ProductKind | None
    min_quantity: Decimal
    min_days_to_expiry: int


class _LastCheck(NamedTuple):
    checked_at: dt.datetime
    seal_intact: bool
    checked_by: str


class _Lot(NamedTuple):
    """A lot some kit holds (the first fields of _LotStock): read once, shared by every kit holding it."""

    product_id: int
    product: str
    product_kind: ProductKind
    unit: str
    lot_id: int
    lot: str
    status: LotStatus
    expiry: dt.date


# What one kit holds: (lot id, remaining, containers) per lot, soonest expiry first. Kits stocked
# alike hold equal tuples, so this is also the key their contents are judged by.
_Held = tuple[tuple[int, Decimal, int], ...]


class WarningHorizon(NamedTuple):
    """How many days before counted stock stops counting a kit turns amber (``warning_horizon``)."""

    days: int  # the one that applies: the longer of the two below
    template_days: int
    clinic_days: int

    def only_the_clinics(self, days_ahead: int) -> bool:
        """Whether stock that stops counting in ``days_ahead`` days warns only because the kit's clinic asks for
        more notice than its template: then the reason says so."""
        return self.template_days < days_ahead <= self.days


def warning_horizon(template_days: int, clinic_days: int) -> WarningHorizon:
    """A kit warns at the longer of its template's warning days and its clinic's kit warning horizon: the cautious
    reading of both settings. A clinic that wants 60 days' notice gets it for every kit, and a template that asks
    more keeps it; neither shortens the other's."""
    return WarningHorizon(max(template_days, clinic_days), template_days, clinic_days)


class _Judgement(NamedTuple):
    """What a kit's contents say against its template on one day: the same for every kit holding the same."""

    inside: list[Reason]  # lots that must come out
    short: list[Reason]
    expiring: list[Reason]
    lines: list[RequirementLine]


def readiness(
    session: Session, *, scope: Scope, now: dt.datetime, kit_ids: Iterable[int] | None = None,
    history: bool = False,
) -> list[KitReadiness]:
    """The readiness of every kit in ``scope`` (or of ``kit_ids``) at ``now``, ordered by clinic and name.

    Computed for all kits at once with seven queries whatever their number (kits, the
    requirements of their templates, the stock at their locations grouped by lot and
    those lots, the containers there that do not count, their last checks, their last
    uses: emergency draws, and any draw or waste since the checks they rely on), then
    evaluated in Python.

    What is read as of ``now``: always the last check at or before ``now`` (and the seal it
    found) and the draws, wastes and reversals recorded by then. The contents, holds, lot
    statuses and patient bindings are read as they stand (the cached state: fast, and right
    for the present), unless ``history`` is set for a past ``now`` (``readiness_at``): then
    they are rebuilt as recorded by ``now`` (``_past_stock_by_kit``; the stock in one query,
    plus one for the few containers that might not count and one for lots whose status
    changed since, when there are any) and kits created later are left out. Templates and
    clinic settings keep no history: a past moment is judged against today's requirements,
    check interval and warning horizon.

    Rules, in the clinic's own calendar (``today`` is the clinic's date at ``now``; a
    lot expiring on day D is usable through the end of D, so "expires in n days"
    means n = D - today):

    - Only stock that could serve the next patient counts: at the kit's location, sealed
      or in use but neither bound to a patient nor past its beyond-use time
      (``lifecycle.skipped_for_next_patient``; each skipped container is a reason), something
      left, lot active, and n >= the requirement's ``min_days_to_expiry`` (inclusive:
      a lot expiring exactly min days from today still counts).
    - A requirement by product sums that product's lots. A requirement by kind is met by
      one pool (``lifecycle.stock_pool``): the USP units of every product add up, IU with
      IU, and any other unit only within its own product; its reason names the best pool.
    - ``expiring_soon``: every requirement met, but a counted lot stops counting within
      the kit's warning horizon (inclusive): the longer of its template's ``warning_days``
      and its clinic's ``kit_warning_days`` (``warning_horizon``). It stops counting when n falls below
      the requirement's minimum, so the horizon is measured from that day, not from the
      expiry: hyaluronidase needed with 30 days' shelf life and a 30-day warning turns
      amber when it expires within 60 days, and has 30 days to be replaced before the
      kit turns red. With a minimum of 0 this is simply "expires within the horizon".
    - ``not_ready`` also when a live container of a quarantined, recalled or expired
      lot is inside (it must come out before someone grabs it); when the kit was never
      checked or the last check is more than ``check_interval_days`` calendar days ago
      (a check exactly that many days ago still holds for the whole of that day); when
      the last check found the seal broken; and when stock was used at the kit's location
      after the last check (a draw or a waste, whatever its reason, not reversed: "Used in
      an emergency" for a draw with reason 'emergency', "Used" otherwise), until it is
      restocked and checked again (``_use_reasons``).
    """
    kits = _scoped_kits(scope, kit_ids, created_by=now if history else None)
    kit_rows = session.execute(  # through the session, so that pending changes are flushed first
        select(
            kits.c.id, kits.c.name, kits.c.clinic_id, kits.c.location_id, kits.c.template_id,
            Clinic.code, Clinic.timezone, Location.name, KitTemplate.name, KitTemplate.check_interval_days,
            KitTemplate.warning_days, Clinic.kit_warning_days,  # the clinics come with their kits: no statement more
        )
        .join(Clinic, Clinic.id == kits.c.clinic_id)
        .join(Location, Location.id == kits.c.location_id)
        .join(KitTemplate, KitTemplate.id == kits.c.template_id)
        .order_by(Clinic.code, kits.c.name, kits.c.id)
    ).all()
    if not kit_rows:
        return []
    connection = session.connection()  # plain rows from here on: thousands of them, no ORM objects needed
    requirements = _requirements(connection, {row[4] for row in kit_rows})
    if history:
        skipped, lots, held_by_kit = _past_stock_by_kit(connection, kits, now)
    else:
        skipped, not_counted = _skipped_by_kit(connection, kits, now)
        lots, held_by_kit = _stock_by_kit(connection, kits, not_counted)
    last_checks = _last_checks(connection, kits, now)
    uses = _last_uses(connection, kits, now, since=_use_bound(kit_rows, last_checks, now))

    # Most kits share a template and hold the same lots in the same amounts (stocked alike, from
    # the region's current lots), so their contents are judged once per (template, horizon, day, contents):
    # the horizon is the template's or a clinic's (few), so this is still a handful of judgements.
    todays: dict[str, dt.date] = {}
    judged: dict[tuple[int, int, dt.date, _Held], _Judgement] = {}
    result = []
    for (kit_id, name, clinic_id, location_id, template_id, clinic_code, timezone, location, template,
         interval, warning_days, clinic_warning_days) in kit_rows:
        today = todays.get(timezone)
        if today is None:
            today = todays[timezone] = clinic_today(now, timezone)
        held = held_by_kit.get(kit_id, ())
        horizon = warning_horizon(warning_days, clinic_warning_days)
        key = (template_id, horizon.days, today, held)  # the template's own days come with its id
        judgement = judged.get(key)
        if judgement is None:
            judgement = judged[key] = _judge(
                requirements.get(template_id, []), [_LotStock(*lots[lot_id], remaining, count)
                                                    for lot_id, remaining, count in held],
                today, horizon,
            )
        last = last_checks.get(kit_id)
        reasons = _use_reasons(uses.get(kit_id), last, timezone)
        reasons += _seal_reasons(last, timezone)
        reasons += judgement.inside
        reasons += skipped.get(kit_id, [])
        reasons += judgement.short
        reasons += _check_reasons(last, today, interval, timezone)
        reasons += judgement.expiring
        if any(r.severity is KitStatus.NOT_READY for r in reasons):
            status = KitStatus.NOT_READY
        elif reasons:
            status = KitStatus.EXPIRING_SOON
        else:
            status = KitStatus.READY
        result.append(KitReadiness(
            kit_id=kit_id, name=name, clinic_id=clinic_id, clinic_code=clinic_code, timezone=timezone,
            location_id=location_id, location=location, template_id=template_id, template=template,
            status=status, reasons=reasons, last_check_at=last.checked_at if last else None,
            last_checked_by=last.checked_by if last else None, lines=list(judgement.lines),
        ))
    return result


def parse_moment(text: str) -> dt.datetime:
    """A moment as a person types it in ISO 8601: "2026-07-01T08:00Z", "2026-07-01T08:00+02:00", or with no
    time zone "2026-07-01T08:00" and "2026-07-01" (its midnight), left naive for ``readiness_at`` to read
    on each clinic's clock. Raises ValidationError."""
    text = (text or "").strip()
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"{text[:40]!r} is not a date and time: write it in ISO 8601, e.g. 2026-07-01T08:00Z, "
            "2026-07-01T08:00 (each clinic's own time) or 2026-07-01 (its midnight).", field="at",
        ) from None


def readiness_at(session: Session, *, scope: Scope, at: dt.datetime, now: dt.datetime) -> list[KitReadiness]:
    """The board as it stood at the past moment ``at``, from what had been recorded by then (``readiness``
    with ``history``: checks, emergency draws, contents, holds, lot statuses; templates as they are now),
    ordered by clinic and name.

    ``at`` with a time zone is one moment everywhere. Without one it is read on each clinic's own wall
    clock, as every time a person types ("08:00" is 08:00 in London and 08:00 in New York): the kits are
    then judged once per time zone of the clinics in scope (a few), never once per kit.

    Raises ValidationError for a moment still to come (later than ``now`` in some clinic): nothing is
    recorded for it yet, and judging today's contents and checks at a later date would be a forecast
    passed off as a record.
    """
    if at.tzinfo is not None:
        moments = [(_utc(at, "UTC"), scope, "")]
    else:
        zones: dict[str, set[int]] = defaultdict(set)
        for clinic_id, timezone in session.execute(scope.filter(select(Clinic.id, Clinic.timezone), Clinic.id)):
            zones[timezone].add(clinic_id)
        moments = [(_utc(at, timezone), Scope(frozenset(ids)), f" in {timezone}")
                   for timezone, ids in sorted(zones.items())]
    for moment, _, where in moments:
        if moment > now:
            raise ValidationError(
                f"{at.isoformat()}{where} is still to come: a past board goes up to now "
                f"({now.astimezone(dt.UTC):%Y-%m-%dT%H:%MZ}) at the latest.", field="at")
    board = [state for moment, clinics, _ in moments
             for state in readiness(session, scope=clinics, now=moment, history=True)]
    if len(moments) > 1:  # each call is in order; merged, they are put back in readiness's order
        board.sort(key=lambda state: (state.clinic_code, state.name, state.kit_id))
    return board


class ClinicWithoutKit(NamedTuple):
    clinic_id: int
    clinic_code: str
    filler_containers: int  # sealed or in use, something left

    @property
    def why(self) -> str:
        """Why the clinic is not ready, without what to do: the Kits board says that as each reader may do it."""
        return (f"{counted(self.filler_containers, 'filler container')} here, and hyaluronidase is kept wherever "
                "filler is injected")

    @property
    def text(self) -> str:
        """Why, and what to do: the daily board's line and the API's ``reason``."""
        return f"{self.why}: make a kit (Kit templates, New kit) before the next filler treatment"


def clinics_without_a_kit(session: Session, *, scope: Scope) -> list[ClinicWithoutKit]:
    """The clinics of ``scope`` that hold filler and no emergency kit with hyaluronidase, by code: not ready,
    like a kit that is not (DOMAIN.md: hyaluronidase, the first treatment of a vascular occlusion, is kept in
    every room where filler is injected).

    Filler counts while one of its containers holds something at the clinic (sealed or in use). A kit counts
    when its template asks for hyaluronidase (by kind, or a hyaluronidase product), whatever its own
    readiness: ``readiness`` judges that. One statement, as it stands now."""
    required = aliased(Product)
    hyaluronidase_kit = (
        select(Kit.id)
        .join(KitRequirement, KitRequirement.template_id == Kit.template_id)
        .outerjoin(required, required.id == KitRequirement.product_id)
        .where(Kit.clinic_id == Clinic.id, or_(KitRequirement.product_kind == ProductKind.HYALURONIDASE,
                                               required.kind == ProductKind.HYALURONIDASE))
    )
    stmt = scope.filter(
        select(Clinic.id, Clinic.code, func.count(Container.id))
        .join(Container, Container.clinic_id == Clinic.id)
        .join(Product, Product.id == Container.product_id)
        .where(Product.kind == ProductKind.FILLER, Container.remaining > 0,
               Container.state.in_((ContainerState.SEALED, ContainerState.IN_USE)), ~exists(hyaluronidase_kit))
        .group_by(Clinic.id, Clinic.code),
        Clinic.id,
    )
    return [ClinicWithoutKit(*row) for row in session.execute(stmt.order_by(Clinic.code))]


def _utc(moment: dt.datetime, timezone: str) -> dt.datetime:
    try:
        return typed_moment_utc(moment, timezone)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00: before the first moment a datetime holds
        where = f" in {timezone}" if moment.tzinfo is None else ""
        raise ValidationError(f"{moment.replace(tzinfo=None).isoformat()}{where} is out of range.",
                              field="at") from None


def _judge(requirements: Sequence[_Requirement], lots: Sequence[_LotStock], today: dt.date,
           horizon: WarningHorizon) -> _Judgement:
    inside = _contents_reasons(lots, today)
    short, expiring, lines = _requirement_reasons(requirements, lots, today, horizon)
    return _Judgement(inside, short, expiring, lines)


def _scoped_kits(scope: Scope, kit_ids: Iterable[int] | None, created_by: dt.datetime | None = None) -> Any:
    """The kits asked for, as a subquery every other query joins (no per-kit query, no huge IN list);
    with ``created_by``, only those that existed then."""
    stmt = scope.filter(
        select(Kit.id, Kit.name, Kit.clinic_id, Kit.location_id, Kit.template_id), Kit.clinic_id
    )
    if kit_ids is not None:
        stmt = stmt.where(Kit.id.in_(list(kit_ids)))
    if created_by is not None:
        stmt = stmt.where(Kit.created_at <= created_by)
    return stmt.subquery("scoped_kits")


def _requirements(connection: Connection, template_ids: set[int]) -> dict[int, list[_Requirement]]:
    rows = connection.execute(
        select(KitRequirement.id, KitRequirement.template_id, KitRequirement.label, KitRequirement.product_id,
               Product.name, Product.base_unit, KitRequirement.product_kind, KitRequirement.min_quantity,
               KitRequirement.min_days_to_expiry)
        .outerjoin(Product, Product.id == KitRequirement.product_id)
        .where(KitRequirement.template_id.in_(template_ids))
        .order_by(KitRequirement.template_id, KitRequirement.id)
    )
    found: dict[int, list[_Requirement]] = defaultdict(list)
    for row in rows:  # the columns in _Requirement's order
        found[row.template_id].append(_Requirement(*row))
    return found


def _serves_next_patient(now: dt.datetime) -> tuple[Any, ...]:
    """lifecycle.skipped_for_next_patient as SQL: what a kit counts (the rule's words stay there)."""
    return (Container.on_hold_since.is_(None), Container.patient_id.is_(None),
            or_(Container.beyond_use_at.is_(None), Container.beyond_use_at > now))


def _stock_by_kit(connection: Connection, kits: Any, not_counted: dict[tuple[int, int], tuple[Decimal, int]]
                  ) -> tuple[dict[int, _Lot], dict[int, _Held]]:
    """The lots the kits hold, and per kit its stock that could serve the next patient summed by lot
    (one grouped query, then the few lots it names), each kit's lots soonest expiry first, then by
    product and number. The grouped query reads live stock only, from the small partial index
    ix_containers_live_location; the few containers that do not count (``not_counted``, per kit and lot)
    are taken off afterwards."""
    live = connection.execute(
        select(kits.c.id, Container.lot_id, func.sum(Container.remaining), func.count(Container.id))
        .select_from(Container)
        .join(kits, kits.c.location_id == Container.location_id)
        .where(Container.state.in_(lifecycle.LIVE_STATES), Container.remaining > 0)
        .group_by(kits.c.id, Container.lot_id)
    ).all()
    per_lot = []
    for kit_id, lot_id, remaining, count in live:
        skipped_remaining, skipped_count = not_counted.get((kit_id, lot_id), (Decimal(0), 0))
        if count > skipped_count:
            per_lot.append((kit_id, lot_id, remaining - skipped_remaining, count - skipped_count))
    return _held_lots(connection, per_lot)


def _held_lots(connection: Connection, per_lot: Sequence[tuple[int, int, Decimal, int]],
               at: dt.datetime | None = None) -> tuple[dict[int, _Lot], dict[int, _Held]]:
    """The lots named by ``per_lot`` ((kit, lot, remaining, containers) rows) and each kit's holding,
    soonest expiry first; with ``at``, each lot's status as it was then."""
    if not per_lot:
        return {}, {}
    rows = connection.execute(
        select(Lot.id, Lot.number, Lot.status, Lot.expiry, Product.id, Product.name, Product.kind,
               Product.base_unit, Lot.status_changed_at)
        .join(Product, Product.id == Lot.product_id)
        .where(Lot.id.in_({lot_id for _, lot_id, _, _ in per_lot}))
    ).all()
    then: dict[int, LotStatus] = {}
    if at is not None:
        then = _lot_statuses_at(connection, [row[0] for row in rows if row[8] is not None and row[8] > at], at)
    lots = {
        lot_id: _Lot(pid, pname, kind, unit, lot_id, number, then.get(lot_id, status), expiry)
        for lot_id, number, status, expiry, pid, pname, kind, unit, _ in rows
    }
    # Ranking the few lots once orders every kit's: (expiry, product, number) is unique per lot.
    ranked = sorted(lots.values(), key=lambda lot: (lot.expiry, lot.product, lot.lot))
    rank = {lot.lot_id: position for position, lot in enumerate(ranked)}
    held: dict[int, list[tuple[int, Decimal, int]]] = defaultdict(list)
    for kit_id, lot_id, remaining, count in sorted(per_lot, key=lambda row: rank[row[1]]):
        held[kit_id].append((lot_id, remaining, count))
    return lots, {kit_id: tuple(stock) for kit_id, stock in held.items()}


def _skipped_by_kit(connection: Connection, kits: Any, now: dt.datetime
                   ) -> tuple[dict[int, list[Reason]], dict[tuple[int, int], tuple[Decimal, int]]]:
    """Containers in a kit that do not count, each named with why (few: opened stock rarely sits in a
    kit), and what they hold per kit and lot (taken off the kit's stock)."""
    rows = connection.execute(
        select(kits.c.id, Container.label_code, Product.name, Container.patient_id, Container.beyond_use_at,
               Container.remaining, Product.base_unit, Container.on_hold_since, Container.lot_id)
        .select_from(Container)
        .join(kits, kits.c.location_id == Container.location_id)
        .join(Product, Product.id == Container.product_id)
        .where(Container.state.in_(lifecycle.LIVE_STATES), Container.remaining > 0,
               ~and_(*_serves_next_patient(now)))
        .order_by(kits.c.id, Container.label_code)
    )
    found: dict[int, list[Reason]] = defaultdict(list)
    not_counted: dict[tuple[int, int], tuple[Decimal, int]] = {}
    for kit_id, label, product, patient_id, beyond_use_at, remaining, unit, on_hold_since, lot_id in rows:
        held_remaining, held_count = not_counted.get((kit_id, lot_id), (Decimal(0), 0))
        not_counted[kit_id, lot_id] = (held_remaining + remaining, held_count + 1)
        why = lifecycle.skipped_for_next_patient(
            on_hold=on_hold_since is not None, bound_to_patient=patient_id is not None,
            beyond_use_at=beyond_use_at, now=now)
        found[kit_id].append(_not_counted_reason(label, product, why, remaining, unit, on_hold_since is not None))
    return found, not_counted


def _not_counted_reason(label: str, product: str, why: str | None, remaining: Decimal, unit: str,
                        on_hold: bool) -> Reason:
    return Reason(
        "on_hold_inside" if on_hold else "not_counted_inside",
        f"{product} {label} is {why}: it does not count; "
        + ("a safety lead releases or wastes it" if on_hold else "remove it"),
        {"label_code": label, "product": product, "why": why, "remaining": plain_quantity(remaining), "unit": unit},
        KitStatus.NOT_READY,
    )


def _past_stock_by_kit(connection: Connection, kits: Any, at: dt.datetime
                       ) -> tuple[dict[int, list[Reason]], dict[int, _Lot], dict[int, _Held]]:
    """``_skipped_by_kit`` and ``_stock_by_kit`` for a past moment, from what was recorded by ``at``
    (``_stock_at``): the stock summed by kit and lot in one grouped query, except the few containers that
    might not count (opened, reconstituted or ever held), which come out one by one and are judged here.

    A hold is a ContainerHold open at ``at``; a patient binding counts from ``opened_at``; a lot's status
    is the one it had then (``_held_lots``). Not kept, and so read as it is now: a binding undone since
    (its only draw reversed), and a hold with no hold record.
    """
    stock = _stock_at(kits, at)
    rows = connection.execute(
        select(kits.c.id, stock.c.lot_id, stock.c.doubtful, func.sum(stock.c.remaining), func.count())
        .select_from(stock)
        .join(kits, kits.c.location_id == stock.c.location_id)
        .group_by(kits.c.id, stock.c.lot_id, stock.c.doubtful)
    ).all()
    doubtful = {row[2] for row in rows if row[2] is not None}
    found: dict[int, Any] = {}
    if doubtful:
        held_then = exists().where(
            ContainerHold.container_id == Container.id, ContainerHold.held_at <= at,
            or_(ContainerHold.resolved_at.is_(None), ContainerHold.resolved_at > at),
        )
        found = {row[0]: row for row in connection.execute(
            select(Container.id, Container.label_code, Product.name, Product.base_unit, Container.patient_id,
                   Container.opened_at, Container.beyond_use_at, Container.on_hold_since, held_then)
            .join(Product, Product.id == Container.product_id)
            .where(Container.id.in_(doubtful))
        )}
    skipped: dict[int, list[tuple[str, Reason]]] = defaultdict(list)
    counted: dict[tuple[int, int], tuple[Decimal, int]] = {}
    for kit_id, lot_id, container_id, remaining, count in rows:
        if container_id is not None:
            _, label, product, unit, patient_id, opened_at, beyond_use_at, on_hold_since, held = found[container_id]
            on_hold = bool(held) or (on_hold_since is not None and on_hold_since <= at)
            why = lifecycle.skipped_for_next_patient(
                on_hold=on_hold, bound_to_patient=patient_id is not None and (opened_at is None or opened_at <= at),
                beyond_use_at=beyond_use_at, now=at)
            if why is not None:
                skipped[kit_id].append((label, _not_counted_reason(label, product, why, remaining, unit, on_hold)))
                continue
        have, containers = counted.get((kit_id, lot_id), (Decimal(0), 0))
        counted[kit_id, lot_id] = (have + remaining, containers + count)
    lots, held_by_kit = _held_lots(
        connection, [(kit_id, lot_id, have, count) for (kit_id, lot_id), (have, count) in counted.items()], at)
    return ({kit_id: [reason for _, reason in sorted(reasons, key=lambda pair: pair[0])]
             for kit_id, reasons in skipped.items()}, lots, held_by_kit)


def _stock_at(kits: Any, at: dt.datetime) -> Any:
    """The containers that held something at the kits' locations at ``at``, from the ledger:
    (container_id, location_id, lot_id, remaining, doubtful), ``doubtful`` being the container's id when it
    might not serve the next patient (opened, reconstituted or ever held), else NULL.

    A container's place and balance at ``at`` are its last movement's by then (the reading of
    cold_chain.containers_present: after a TRANSFER_OUT it is on its way). Only the containers that moved
    at a kit's location after ``at`` need that look back (anything that happens to a container in a kit is
    recorded there first, and anything that arrived since arrived there), found through the location
    index. Every other container in a kit now was there, as it is, at ``at``, and is read from the live
    stock index as the present board reads it. So a past board costs the present one plus what moved in
    the kits since ``at``, never a pass over the whole ledger.
    """
    since = (
        select(Movement.container_id)
        .join(kits, kits.c.location_id == Movement.location_id)
        .where(Movement.at > at)
    )
    doubtful = case(
        (or_(Container.patient_id.is_not(None), Container.beyond_use_at.is_not(None),
             Container.on_hold_since.is_not(None), exists().where(ContainerHold.container_id == Container.id)),
         Container.id),
        else_=None,
    )
    unchanged = (
        select(Container.id.label("container_id"), Container.location_id, Container.lot_id,
               Container.remaining.label("remaining"), doubtful.label("doubtful"))
        .join(kits, kits.c.location_id == Container.location_id)
        .where(Container.state.in_(lifecycle.LIVE_STATES), Container.remaining > 0,
               ~exists().where(Movement.container_id == Container.id, Movement.at > at))
    )
    position = func.row_number().over(
        partition_by=Movement.container_id, order_by=(Movement.at.desc(), Movement.id.desc())
    )
    last = (
        select(Movement.container_id, Movement.location_id, Movement.lot_id, Movement.kind, Movement.balance_after,
               position.label("position"))
        .where(Movement.container_id.in_(since), Movement.at <= at)
        .subquery("last_movements")
    )
    changed = (
        select(last.c.container_id, last.c.location_id, last.c.lot_id, last.c.balance_after, doubtful)
        .join(Container, Container.id == last.c.container_id)
        .where(last.c.position == 1, last.c.balance_after > 0, last.c.kind != MovementKind.TRANSFER_OUT)
    )
    return union_all(unchanged, changed).subquery("stock_at")


def _lot_statuses_at(connection: Connection, lot_ids: Sequence[int], at: dt.datetime) -> dict[int, LotStatus]:
    """The status each of these lots (changed since ``at``) had at ``at``: the "from" of its first status
    change after it, as audited (quarantine, release and recall all record one; the audit index by object
    finds them). A lot with none keeps its status."""
    if not lot_ids:
        return {}
    statuses = {status.value for status in LotStatus}
    found: dict[int, LotStatus] = {}
    for object_id, details in connection.execute(
        select(AuditEvent.object_id, AuditEvent.details)
        .where(AuditEvent.object_type == "lot", AuditEvent.object_id.in_([str(i) for i in lot_ids]),
               AuditEvent.at > at)
        .order_by(AuditEvent.at, AuditEvent.id)
    ):
        was = (details or {}).get("from")
        if was in statuses and (details or {}).get("to") in statuses:
            found.setdefault(int(object_id), LotStatus(was))
    return found


def _last_checks(connection: Connection, kits: Any, now: dt.datetime) -> dict[int, _LastCheck]:
    """Each kit's last check at or before ``now``: a check recorded later is not yet known then."""
    position = func.row_number().over(
        partition_by=KitCheck.kit_id, order_by=(KitCheck.checked_at.desc(), KitCheck.id.desc())
    )
    ranked = (
        select(KitCheck.kit_id, KitCheck.checked_at, KitCheck.seal_intact, KitCheck.checked_by_id,
               position.label("position"))
        .join(kits, kits.c.id == KitCheck.kit_id)
        .where(KitCheck.checked_at <= now)
        .subquery("ranked_checks")
    )
    rows = connection.execute(
        select(ranked.c.kit_id, ranked.c.checked_at, ranked.c.seal_intact, User.display_name, User.username)
        .join(User, User.id == ranked.c.checked_by_id)
        .where(ranked.c.position == 1)
    )
    return {kit_id: _LastCheck(at, seal, display or username) for kit_id, at, seal, display, username in rows}


_USED = (MovementKind.DRAW, MovementKind.WASTE)  # what takes stock out of a kit where it stands


class _Uses(NamedTuple):
    """A kit's last uses by ``now``, none reversed by then: its last emergency draw, and since ``_use_bound``
    its last draw and its last waste (of whatever reason)."""

    emergency_at: dt.datetime | None = None
    drawn_at: dt.datetime | None = None
    wasted_at: dt.datetime | None = None


def _use_bound(kit_rows: Sequence[Any], last_checks: dict[int, _LastCheck], now: dt.datetime) -> dt.datetime | None:
    """From when draws and wastes at the kits' locations matter: the earliest check some kit still relies on.

    A kit used after its last check is not ready until checked again (``_use_reasons``). A kit never checked,
    or checked longer ago than its interval (a calendar day and a clock change of margin: the check rule counts
    clinic dates), is not ready for that already and its next check clears both, so the look goes back at most
    one check interval: a few days of a few kit locations, read through ix_movements_location_at."""
    bounds = [max(last.checked_at, now - dt.timedelta(days=interval + 2))
              for kit_id, *_, interval, _warning, _clinic_warning in kit_rows if (last := last_checks.get(kit_id)) is not None]
    return min(bounds, default=None)


def _last_uses(connection: Connection, kits: Any, now: dt.datetime, since: dt.datetime | None) -> dict[int, _Uses]:
    """Each kit's ``_Uses`` by ``now``, in one statement: the emergency draws of all time (the small partial index
    ix_movements_emergency_location_at), and every draw and waste after ``since`` (None: none looked for)."""
    reversal = aliased(Movement)
    kept = ~exists().where(reversal.reverses_id == Movement.id, reversal.at <= now)
    emergency = (
        select(kits.c.id, literal("emergency").label("use"), func.max(Movement.at).label("at"))
        .select_from(Movement)
        .join(kits, kits.c.location_id == Movement.location_id)
        .where(Movement.kind == MovementKind.DRAW, Movement.reason == EMERGENCY, Movement.at <= now, kept)
        .group_by(kits.c.id)
    )
    stmt: Any = emergency
    if since is not None:
        # Asked per kit and kind (a correlated subquery), so each kit's location is read through
        # ix_movements_location_at from ``since``: joined as a whole, the planner may rather walk every movement
        # of the window (150 ms at 900,000 movements, `bench kits`).
        def last(kind: MovementKind) -> Any:
            return (
                select(func.max(Movement.at))
                .where(Movement.location_id == kits.c.location_id, Movement.kind == kind, Movement.at > since,
                       Movement.at <= now, kept)
                .scalar_subquery()
            )
        stmt = union_all(emergency, *(select(kits.c.id, literal(kind.value).label("use"), last(kind).label("at"))
                                      for kind in _USED))
    found: dict[int, dict[str, dt.datetime]] = defaultdict(dict)
    for kit_id, use, at in connection.execute(stmt):
        if at is not None:  # a kit not used since: no row of its emergency draws, a NULL of the others
            found[kit_id][use] = at
    return {kit_id: _Uses(uses.get("emergency"), uses.get(MovementKind.DRAW.value), uses.get(MovementKind.WASTE.value))
            for kit_id, uses in found.items()}


def _date(moment: dt.datetime, timezone: str) -> str:
    return to_clinic_time(moment, timezone).date().isoformat()


def _use_reasons(uses: _Uses | None, last: _LastCheck | None, timezone: str) -> list[Reason]:
    """A kit used since its last check (or never checked) must be restocked and checked before it is ready again:
    whatever a draw's reason says, stock taken from an emergency kit is stock it no longer holds, and what is left
    of an opened vial may not be the next patient's."""
    if uses is None:
        return []
    checked_at = last.checked_at if last is not None else None
    drawn_at = uses.emergency_at
    if drawn_at is not None and (checked_at is None or drawn_at > checked_at):
        day = _date(drawn_at, timezone)
        shown = format_date(to_clinic_time(drawn_at, timezone).date())
        return [Reason("emergency_use", f"Used in an emergency on {shown}: restock and check",
                       {"drawn_at": api_moment(drawn_at), "date": day}, KitStatus.NOT_READY)]
    used = [(at, kind) for at, kind in ((uses.drawn_at, MovementKind.DRAW), (uses.wasted_at, MovementKind.WASTE))
            if at is not None and (checked_at is None or at > checked_at)]
    if not used:
        return []
    at, kind = max(used)
    what = "drawn from it, not recorded as an emergency" if kind is MovementKind.DRAW else "wasted from it"
    shown = format_date(to_clinic_time(at, timezone).date())
    return [Reason("kit_used", f"Used on {shown} (stock {what}): restock and check",
                   {"used_at": api_moment(at), "date": _date(at, timezone), "movement_kind": kind.value},
                   KitStatus.NOT_READY)]


def _seal_reasons(last: _LastCheck | None, timezone: str) -> list[Reason]:
    if last is None or last.seal_intact:
        return []
    day = format_date(to_clinic_time(last.checked_at, timezone).date())
    return [Reason("seal_broken", f"Seal found broken at the last check on {day}: check the contents and reseal",
                   {"checked_at": api_moment(last.checked_at), "checked_by": last.checked_by}, KitStatus.NOT_READY)]


def _contents_reasons(lots: Sequence[_LotStock], today: dt.date) -> list[Reason]:
    reasons = []
    for lot in lots:
        if lot.status is LotStatus.ACTIVE and lot.expiry >= today:
            continue
        data = {"product": lot.product, "lot": lot.lot, "lot_id": lot.lot_id, "containers": lot.containers,
                "expiry": lot.expiry.isoformat(), "status": lot.status.value}
        if lot.status is not LotStatus.ACTIVE:
            reasons.append(Reason(f"{lot.status.value}_inside",
                                  f"Contains {lot.status.value} lot {lot.lot} of {lot.product}: remove it",
                                  data, KitStatus.NOT_READY))
        else:
            reasons.append(Reason("expired_inside",
                                  f"Contains expired lot {lot.lot} of {lot.product} "
                                  f"(expired {format_date(lot.expiry)}): remove it",
                                  data, KitStatus.NOT_READY))
    return reasons


def _requirement_reasons(
    requirements: Sequence[_Requirement], lots: Sequence[_LotStock], today: dt.date, horizon: WarningHorizon
) -> tuple[list[Reason], list[Reason], list[RequirementLine]]:
    """(shortfalls, expiring, checklist lines) for one kit."""
    short: list[Reason] = []
    expiring: dict[int, Reason] = {}
    lines: list[RequirementLine] = []
    by_product: dict[int, list[_LotStock]] = defaultdict(list)
    by_kind: dict[ProductKind, list[_LotStock]] = defaultdict(list)
    for lot in lots:
        if lot.status is LotStatus.ACTIVE:
            by_product[lot.product_id].append(lot)
            by_kind[lot.product_kind].append(lot)
    for req in requirements:
        if req.product_id is not None:
            matching = by_product[req.product_id]
        else:
            # A requirement names a product or a kind (check ck_kit_requirements_product_or_kind).
            assert req.product_kind is not None
            matching = by_kind[req.product_kind]
        # Stock adds up within a pool: one product, or every product counted in a pharmacopoeial unit
        # (1 Hylenex + 1 Amphadase + 1 Vitrase vial make 700 USP U; lifecycle.stock_pool).
        counted_by_pool: dict[int | str, list[_LotStock]] = {}
        totals: dict[int | str, Decimal] = {}
        for lot in matching:
            if (lot.expiry - today).days >= req.min_days_to_expiry:
                pool = lifecycle.stock_pool(lot.product_id, lot.unit)
                counted_by_pool.setdefault(pool, []).append(lot)
                totals[pool] = totals.get(pool, Decimal(0)) + lot.remaining
        # The best pool: most stock, then name, for a stable answer.
        best = max(totals, key=lambda pool: (totals[pool], _products(counted_by_pool[pool])), default=None)
        have = totals[best] if best is not None else Decimal(0)
        best_lots = counted_by_pool[best] if best is not None else []
        lines.append(RequirementLine(
            label=req.label, need=req.min_quantity, have=have, unit=best_lots[0].unit if best_lots else req.unit,
            product=_products(best_lots) if best_lots else req.product, min_days_to_expiry=req.min_days_to_expiry,
            met=have >= req.min_quantity,
        ))
        if have >= req.min_quantity:
            for lot in best_lots:
                reason = _expiring_reason(req, lot, today, horizon)
                if reason is not None:
                    known = expiring.get(lot.lot_id)
                    if known is None or reason.data["counts_until"] < known.data["counts_until"]:
                        expiring[lot.lot_id] = reason
            continue
        too_soon = [lot for lot in matching if 0 <= (lot.expiry - today).days < req.min_days_to_expiry]
        others = [(totals[pool], counted_by_pool[pool]) for pool in totals if pool != best]
        short.append(_shortfall(req, have, best_lots, others, too_soon, today))
    return short, sorted(expiring.values(), key=lambda r: (r.data["counts_until"], r.data["product"])), lines


# How a requirement by kind adds stock up (lifecycle.stock_pool), in words: "IU and USP U each add up across ...";
# the board's reasons and the templates page say it alike.
POOLING = (f"{' and '.join(sorted(lifecycle.POOLED_UNITS))} each add up across products, "
            "any other unit only within its product")


def _products(lots: Sequence[_LotStock]) -> str:
    """The products some lots are of, as people read them: "Amphadase + Hylenex"."""
    return " + ".join(sorted({lot.product for lot in lots}))


def _shortfall(req: _Requirement, have: Decimal, best_lots: list[_LotStock],
               others: Sequence[tuple[Decimal, list[_LotStock]]],
               too_soon: list[_LotStock], today: dt.date) -> Reason:
    unit = best_lots[0].unit if best_lots else req.unit
    product = _products(best_lots) if best_lots else req.product
    need = plain_quantity(req.min_quantity)
    if unit is not None:
        text = f"{req.label}: {plain_quantity(have)} {unit} of {need} {unit}"
    else:  # a kind with nothing that counts: no product, so no unit to name; the pooling rule instead
        text = f"{req.label}: none that counts; needs {need} in one unit ({POOLING})"
    if req.product_kind is not None and best_lots:
        # Stock of another pool (IU beside USP U, another product's own unit) is never added to the best one.
        apart = ", ".join(f"{plain_quantity(amount)} {lots[0].unit} of {_products(lots)}" for amount, lots in others)
        text += f" ({product}; not added to it: {apart})" if apart else f" ({product})"
    if too_soon:
        notes = ", ".join(
            f"{lot.product} lot {lot.lot} expires in {(lot.expiry - today).days} days" for lot in too_soon
        )
        text += f"; too close to expiry to count (needs {req.min_days_to_expiry} days): {notes}"
    data = {
        "requirement": req.label, "requirement_id": req.id, "have": plain_quantity(have), "need": need, "unit": unit,
        "short_by": plain_quantity(req.min_quantity - have), "product": product,
        "product_kind": req.product_kind.value if req.product_kind else None,
        "min_days_to_expiry": req.min_days_to_expiry,
        "too_close_to_expiry": [{"product": lot.product, "lot": lot.lot, "expiry": lot.expiry.isoformat(),
                                 "days": (lot.expiry - today).days} for lot in too_soon],
    }
    return Reason("requirement_short", text, data, KitStatus.NOT_READY)


def _expiring_reason(req: _Requirement, lot: _LotStock, today: dt.date, horizon: WarningHorizon) -> Reason | None:
    days = (lot.expiry - today).days
    ahead = days - req.min_days_to_expiry  # days until it stops counting
    if ahead > horizon.days:
        return None
    counts_until = lot.expiry - dt.timedelta(days=req.min_days_to_expiry)
    when = "today" if days == 0 else "tomorrow" if days == 1 else f"in {days} days"
    # The last parenthesis says why the warning is early when only the clinic's longer horizon gives it.
    by_clinic = horizon.only_the_clinics(ahead)
    why = f"; this clinic warns {horizon.clinic_days} days ahead" if by_clinic else ""
    if req.min_days_to_expiry:
        text = (f"{lot.product} lot {lot.lot} expires {when} ({format_date(lot.expiry)}); it counts for this kit "
                f"until {format_date(counts_until)} ({req.label} needs {req.min_days_to_expiry} days of shelf "
                f"life{why})")
    else:
        text = f"{lot.product} lot {lot.lot} expires {when} ({format_date(lot.expiry)}{why})"
    data = {"requirement": req.label, "product": lot.product, "lot": lot.lot, "lot_id": lot.lot_id,
            "expiry": lot.expiry.isoformat(), "days": days, "counts_until": counts_until.isoformat(),
            "min_days_to_expiry": req.min_days_to_expiry, "warning_days": horizon.days,
            "warned_by": "clinic" if by_clinic else "template"}
    return Reason("expiring", text, data, KitStatus.EXPIRING_SOON)


def _check_reasons(last: _LastCheck | None, today: dt.date, interval: int, timezone: str) -> list[Reason]:
    if last is None:
        return [Reason("never_checked", f"Never checked; checked every {interval} days",
                       {"check_interval_days": interval}, KitStatus.NOT_READY)]
    days = (today - to_clinic_time(last.checked_at, timezone).date()).days
    if days <= interval:
        return []
    return [Reason("check_overdue", f"Last check {days} days ago; checked every {interval} days",
                   {"days": days, "check_interval_days": interval, "checked_at": api_moment(last.checked_at),
                    "checked_by": last.checked_by}, KitStatus.NOT_READY)]


# --- checks ---------------------------------------------------------------------


def record_check(
    session: Session, *, actor: User, scope: Scope, kit_id: int, seal_intact: bool, notes: str, now: dt.datetime
) -> KitCheck:
    """Records a check of a kit and the readiness it has with that check counted.

    The snapshot therefore never says "never checked" or "check overdue", but does say
    "seal found broken" and whatever the contents lack. Raises NotFound or ValidationError.
    """
    kit = get_kit(session, kit_id, scope)
    notes = (notes or "").strip()
    if len(notes) > MAX_NOTES:
        raise ValidationError(f"Notes are at most {MAX_NOTES} characters.", field="notes")
    check = KitCheck(kit_id=kit.id, checked_by_id=actor.id, checked_at=now, seal_intact=seal_intact, notes=notes,
                     status=KitStatus.NOT_READY, reasons=[])
    session.add(check)
    session.flush()
    (state,) = readiness(session, scope=Scope.everything(), now=now, kit_ids=[kit.id])
    check.status = state.status
    check.reasons = [reason.as_dict() for reason in state.reasons]
    session.flush()
    return check


def recent_checks(session: Session, kit: Kit, limit: int = 20) -> list[KitCheck]:
    return list(session.scalars(
        select(KitCheck).where(KitCheck.kit_id == kit.id).options(joinedload(KitCheck.checked_by))
        .order_by(KitCheck.checked_at.desc(), KitCheck.id.desc()).limit(limit)
    ))


# --- templates and kits -----------------------------------------------------------


@dataclass(frozen=True)
class RequirementSpec:
    """One requirement as asked for: exactly one of ``product_id`` and ``product_kind``."""

    label: str
    min_quantity: Decimal
    product_id: int | None = None
    product_kind: ProductKind | None = None
    min_days_to_expiry: int = 0


def create_template(
    session: Session, *, name: str, description: str = "", check_interval_days: int = 7, warning_days: int = 30,
    requirements: Sequence[RequirementSpec],
) -> KitTemplate:
    """Creates a kit template. Raises ValidationError, UnknownProduct or DuplicateName."""
    name = name.strip()
    if not name or len(name) > 120:
        raise ValidationError("Give the template a name of 1 to 120 characters.", field="name")
    if check_interval_days < 1 or warning_days < 0:
        raise ValidationError("Checks are at least 1 day apart and the warning is 0 days or more.",
                              field="check_interval_days")
    if not requirements:
        raise ValidationError("A kit template needs at least one requirement.", field="requirements")
    # Case is no difference a reader sees on a list ("Vascular occlusion kit", "vascular occlusion kit").
    if session.scalar(select(KitTemplate.id).where(func.lower(KitTemplate.name) == name.lower())) is not None:
        raise DuplicateName(f"A kit template named {name!r} already exists.", name=name)
    template = KitTemplate(name=name, description=(description or "").strip(),
                           check_interval_days=check_interval_days, warning_days=warning_days)
    for number, spec in enumerate(requirements, start=1):
        template.requirements.append(_requirement(session, spec, number))
    session.add(template)
    session.flush()
    return template


def _requirement(session: Session, spec: RequirementSpec, number: int) -> KitRequirement:
    where = f"requirements.{number}"
    label = spec.label.strip()
    if not label or len(label) > 120:
        raise ValidationError(f"Requirement {number}: give a label of 1 to 120 characters.", field=where)
    if (spec.product_id is None) == (spec.product_kind is None):
        raise ValidationError(f"Requirement {number} ({label}): name a product or a product kind, not both.",
                              field=where)
    if spec.min_quantity <= 0 or spec.min_days_to_expiry < 0:
        raise ValidationError(f"Requirement {number} ({label}): the quantity must be above 0 and the days "
                              "to expiry 0 or more.", field=where)
    if spec.product_id is not None and session.get(Product, spec.product_id) is None:
        raise UnknownProduct(f"Requirement {number} ({label}): no product with id {spec.product_id}.",
                             product_id=spec.product_id)
    return KitRequirement(label=label, product_id=spec.product_id, product_kind=spec.product_kind,
                          min_quantity=spec.min_quantity, min_days_to_expiry=spec.min_days_to_expiry)


def list_templates(session: Session) -> list[KitTemplate]:
    return list(session.scalars(
        select(KitTemplate)
        .options(joinedload(KitTemplate.requirements).joinedload(KitRequirement.product))
        .order_by(KitTemplate.name)
    ).unique())


def create_kit(
    session: Session, *, scope: Scope, template_id: int, name: str, location_id: int | None = None,
    clinic_id: int | None = None,
) -> Kit:
    """Creates a kit at an existing location of kind 'kit', or at a new one named after it in ``clinic_id``.

    Raises NotFound, ValidationError, WrongLocationKind, KitLocationTaken or DuplicateName.
    """
    name = name.strip()
    if not name or len(name) > 120:
        raise ValidationError("Give the kit a name of 1 to 120 characters.", field="name")
    template = session.get(KitTemplate, template_id)
    if template is None:
        raise NotFound(f"No kit template with id {template_id}.", id=template_id)
    if location_id is not None:
        location = get_in_scope(session, Location, location_id, scope, "location")
        if location.kind is not LocationKind.KIT:
            raise WrongLocationKind(f"{location.name} is a {location.kind.value}, not a kit location.",
                                    location_id=location.id)
        if session.scalar(select(Kit.id).where(Kit.location_id == location.id)) is not None:
            raise KitLocationTaken(f"{location.name} already holds a kit.", location_id=location.id)
    elif clinic_id is not None:
        if not scope.allows(clinic_id) or session.get(Clinic, clinic_id) is None:
            raise NotFound(f"No clinic with id {clinic_id}.", id=clinic_id)
        if session.scalar(select(Location.id).where(Location.clinic_id == clinic_id, Location.name == name)):
            raise DuplicateName(f"This clinic already has a location named {name!r}.", name=name)
        location = Location(clinic_id=clinic_id, name=name, kind=LocationKind.KIT)
        session.add(location)
        session.flush()
    else:
        raise ValidationError("Give the kit's location, or the clinic to create one in.", field="location_id")
    if session.scalar(select(Kit.id).where(Kit.clinic_id == location.clinic_id, Kit.name == name)) is not None:
        raise DuplicateName(f"This clinic already has a kit named {name!r}.", name=name)
    kit = Kit(clinic_id=location.clinic_id, template_id=template.id, name=name, location_id=location.id)
    session.add(kit)
    session.flush()
    return kit


def get_kit(session: Session, kit_id: int, scope: Scope) -> Kit:
    """A kit of the caller's clinics; another clinic's kit answers NotFound like a missing one."""
    return get_in_scope(session, Kit, kit_id, scope, "kit")


def list_kits(session: Session, scope: Scope) -> list[Kit]:
    stmt = scope.filter(select(Kit), Kit.clinic_id).options(
        joinedload(Kit.clinic), joinedload(Kit.location), joinedload(Kit.template)
    )
    return list(session.scalars(stmt.join(Kit.clinic).order_by(Clinic.code, Kit.name)))


def kits_per_template(session: Session, scope: Scope) -> dict[int, tuple[int, int]]:
    """How many of the caller's kits each template makes, and at how many clinics, by template id: one statement
    (the templates page names them; the Kits board lists each kit)."""
    stmt = scope.filter(select(Kit.template_id, func.count(Kit.id), func.count(Kit.clinic_id.distinct()))
                        .group_by(Kit.template_id), Kit.clinic_id)
    return {template_id: (kits, clinics) for template_id, kits, clinics in session.execute(stmt)}


def free_kit_locations(session: Session, scope: Scope) -> list[Location]:
    """Active locations of kind 'kit' that hold no kit yet."""
    stmt = scope.filter(
        select(Location).where(
            Location.kind == LocationKind.KIT, Location.is_active, ~exists().where(Kit.location_id == Location.id)
        ),
        Location.clinic_id,
    )
    return list(session.scalars(stmt.order_by(Location.clinic_id, Location.name)))


# --- contents ---------------------------------------------------------------------


def contents(session: Session, kit: Kit) -> list[Container]:
    """The live containers at the kit's location: what the ledger says the kit holds."""
    return list(session.scalars(
        select(Container)
        .join(Container.lot).join(Container.product)
        .where(Container.location_id == kit.location_id, Container.state.in_(lifecycle.LIVE_STATES))
        .options(joinedload(Container.lot).joinedload(Lot.product), joinedload(Container.product))
        .order_by(Product.kind, Product.name, Lot.expiry, Container.label_code)
    ))


@dataclass(frozen=True)
class ContentsLot:
    """The containers of one lot inside a kit, for a checklist that reads lot by lot."""

    product: Product
    lot: Lot
    containers: list[Container]

    @property
    def remaining(self) -> Decimal:
        return sum((c.remaining for c in self.containers), Decimal(0))


def contents_by_lot(containers: Sequence[Container]) -> list[ContentsLot]:
    """Groups ``contents()`` by lot, keeping its order (kind, product, expiry)."""
    groups: dict[int, ContentsLot] = {}
    for container in containers:
        group = groups.setdefault(container.lot_id, ContentsLot(container.product, container.lot, []))
        group.containers.append(container)
    return list(groups.values())


def add_to_kit(
    session: Session, *, actor: User, scope: Scope, kit_id: int, container_ref: str | int, now: dt.datetime
) -> Container:
    """Moves a container (id or label code) into the kit. Raises what move_container raises,
    and UnknownContainer for a code that is not one of the caller's containers."""
    kit = get_kit(session, kit_id, scope)
    container = scanning.container_by_ref(session, container_ref, scope)
    return transfers.move_container(
        session, actor=actor, scope=scope, container_id=container.id, to_location_id=kit.location_id, now=now,
        reason="kit restock", note=f"into kit {kit.name}",
    )


def remove_from_kit(
    session: Session, *, actor: User, scope: Scope, kit_id: int, container_ref: str | int, to_location_id: int,
    now: dt.datetime,
) -> Container:
    """Moves a container out of the kit to another location of the clinic, whatever its lot's state.

    Raises NotInKit, and what move_container raises."""
    kit = get_kit(session, kit_id, scope)
    container = scanning.container_by_ref(session, container_ref, scope)
    if container.location_id != kit.location_id:
        raise NotInKit(f"{container.product.name} ({container.label_code}) is not in {kit.name}.",
                       container_id=container.id, kit_id=kit.id)
    return transfers.move_container(
        session, actor=actor, scope=scope, container_id=container.id, to_location_id=to_location_id, now=now,
        reason="removed from kit", note=f"out of kit {kit.name}",
    )


# --- expiry watch -------------------------------------------------------------------


@dataclass(frozen=True)
class ExpiringLot:
    """One lot of one product at one location: never summed with another product."""

    product_id: int
    product: str
    product_kind: ProductKind
    unit: str
    lot_id: int
    lot: str
    expiry: dt.date
    days_left: int
    containers: int
    remaining: Decimal


@dataclass(frozen=True)
class LocationExpiry:
    location_id: int
    location: str
    location_kind: LocationKind
    clinic_id: int
    clinic_code: str
    lots: list[ExpiringLot] = field(default_factory=list)


EXPIRY_WINDOWS = (30, 60, 90)  # the page's quick choices
MAX_EXPIRY_DAYS = 366  # how far ahead a window may look, on the page and in the API
MAX_EXPIRY_DAYS = 366


def expiring_stock(session: Session, *, scope: Scope, now: dt.datetime, days: int) -> list[LocationExpiry]:
    """Usable stock that expires within ``days`` (inclusive) of today in its clinic, by location.

    Usable: sealed or in use, something left, lot active and not yet expired (a lot
    expiring today is usable through today: 0 days left). Lots are soonest first
    within a location, and locations by their soonest lot. Raises ValidationError.
    """
    if not 0 <= days <= MAX_EXPIRY_DAYS:
        raise ValidationError(f"Look 0 to {MAX_EXPIRY_DAYS} days ahead.", field="days")
    # Clinic dates differ from the UTC date by at most a day either way; trimmed exactly below.
    utc_today = now.astimezone(dt.UTC).date()
    stmt = (
        select(
            Location.id, Location.name, Location.kind, Clinic.id, Clinic.code, Clinic.timezone,
            Product.id, Product.name, Product.kind, Product.base_unit, Lot.id, Lot.number, Lot.expiry,
            func.count(Container.id), func.sum(Container.remaining),
        )
        .select_from(Container)
        .join(Location, Location.id == Container.location_id)
        .join(Clinic, Clinic.id == Container.clinic_id)
        .join(Lot, Lot.id == Container.lot_id)
        .join(Product, Product.id == Container.product_id)
        .where(
            Container.state.in_(lifecycle.LIVE_STATES), Container.remaining > 0, Lot.status == LotStatus.ACTIVE,
            Lot.expiry >= utc_today - dt.timedelta(days=1), Lot.expiry <= utc_today + dt.timedelta(days=days + 1),
        )
        .group_by(Location.id, Location.name, Location.kind, Clinic.id, Clinic.code, Clinic.timezone,
                  Product.id, Product.name, Product.kind, Product.base_unit, Lot.id, Lot.number, Lot.expiry)
        .order_by(Lot.expiry, Product.name, Lot.number)
    )
    places: dict[int, LocationExpiry] = {}
    for (loc_id, loc_name, loc_kind, clinic_id, clinic_code, timezone, pid, pname, kind, unit, lot_id, number,
         expiry, count, remaining) in session.execute(scope.filter(stmt, Container.clinic_id)):
        days_left = (expiry - clinic_today(now, timezone)).days
        if not 0 <= days_left <= days:
            continue
        place = places.setdefault(loc_id, LocationExpiry(loc_id, loc_name, loc_kind, clinic_id, clinic_code))
        place.lots.append(ExpiringLot(pid, pname, kind, unit, lot_id, number, expiry, days_left, count, remaining))
    return sorted(places.values(), key=lambda p: (p.lots[0].expiry, p.clinic_code, p.location))
