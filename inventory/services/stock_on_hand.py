"""Stock on hand: what the caller's clinics hold, one row per product, lot and location, a page at a time.

The Stock page and ``GET /api/v1/stock`` read it here, narrowed by clinic, location, product kind, a filler's G'
(firmness) category, a search on product name, brand or lot number, held stock only, and stock set aside for the
safety lead only (recalled or quarantined lots, containers on hold). A row counts the live containers (sealed or in use) of
one lot at one location: never units of two products added together.

Pages are read by keyset, never by offset: a cursor names the row a page follows (or, going back, precedes) by
its lot and location, and the next page is the rows after that row's place in the one order (product kind,
product name, lot expiry, lot id, location name, location id). Stock drawn or received between two pages
therefore never shows a row twice nor skips one that was there all along.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, or_, select, tuple_
from sqlalchemy.orm import Session

from inventory import MAX_DATABASE_ID, lifecycle
from inventory.errors import DomainError, NotFound, ValidationError
from inventory.models import (
    Clinic,
    Container,
    ContainerState,
    GPrimeCategory,
    Location,
    Lot,
    Product,
    ProductGtin,
    ProductKind,
)
from inventory.services.barcodes import normalise_lot_number, parse_scan
from inventory.services.clock import clinic_today
from inventory.services.permissions import Scope

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
MAX_SEARCH_LENGTH = 80
# More words than anyone types into "Product or lot": each is one more condition on every lot.
MAX_SEARCH_WORDS = 8
# Locations offered at once without a clinic chosen: a chain of 100 clinics with 100 kits each would put
# 10,000 options into every Stock page. Beyond it the page asks for a clinic first.
MAX_LOCATION_CHOICES = 250
# What separates the words of a search: white space, but not GS (U+001D). str.split() takes GS for white space,
# yet it is what a scanner types between the fields of a box's GS1 code: the code it is part of is one code.
_WORD_BREAK = re.compile(r"[^\S\x1d]+")

_NOT_A_CURSOR = "This is not a cursor of the stock list: use the one the last page gave, or none for the first page."

# The list's one order; a row's place in it is its cursor's (unique: a lot and a location are one row).
SORT_KEY = (Product.kind, Product.name, Lot.expiry, Lot.id, Location.name, Location.id)


@dataclass(frozen=True)
class StockFilters:
    """What narrows the list. ``q``: words each found, ignoring case, in the product's name or brand or in the
    lot number (read as lots are matched, by ``lots.number_key``: spaces dropped, upper case, so "ab 12"
    finds lot AB12). ``gprime_category``: only fillers of that G' (firmness) category (DOMAIN.md: "reports and
    pickers can filter by it"); a kind other than filler with it matches nothing, and is refused.
    ``held_only``: only containers on hold after a temperature excursion. ``set_aside_only``: only stock no one
    may use until the safety lead decides: the containers of a recalled or quarantined lot
    (``lifecycle.SET_ASIDE_STATUSES``, the rule of ``lifecycle.is_set_aside``) and the containers on hold. With
    either, each row counts those containers alone."""

    clinic_id: int | None = None
    location_id: int | None = None
    kind: ProductKind | None = None
    gprime_category: GPrimeCategory | None = None
    q: str = ""
    held_only: bool = False
    set_aside_only: bool = False

    @property
    def narrowed(self) -> bool:
        return bool(self.clinic_id or self.location_id or self.kind or self.gprime_category or self.q
                    or self.held_only or self.set_aside_only)


@dataclass(frozen=True)
class LabelLine:
    """One live container of a row: its label, for a look or a reprint."""

    label_code: str
    state: ContainerState
    remaining: Decimal
    on_hold: bool


@dataclass(frozen=True)
class StockRow:
    product: Product
    lot: Lot
    location: Location
    clinic: Clinic
    sealed: int
    opened: int
    remaining: Decimal
    on_hold: int
    expired: bool  # an active lot past its expiry day in the clinic's own zone: it may not be used
    labels: list[LabelLine]


@dataclass(frozen=True)
class StockPage:
    rows: list[StockRow]
    offset: int  # the first row's place in the whole list, from 0 (shown as "rows 101-200")
    next_cursor: str | None
    previous_cursor: str | None
    total: int | None  # rows matching the filters on every page; None unless asked for


@dataclass(frozen=True)
class Cursor:
    """The row a page follows (or, ``backward``, precedes), named by its lot and location.

    ``offset`` is the place of the first row of the page it leads to: shown, never used to read. Stock that
    comes or goes on earlier pages meanwhile leaves it a row or two off, never the rows themselves."""

    backward: bool
    lot_id: int
    location_id: int
    offset: int

    _FORM = re.compile(r"([ab])(\d{1,10})\.(\d{1,10})\.(\d{1,9})")

    def token(self) -> str:
        return f"{'b' if self.backward else 'a'}{self.lot_id}.{self.location_id}.{self.offset}"

    @classmethod
    def parse(cls, token: str) -> Cursor:
        """Raises ValidationError for anything this list did not hand out."""
        match = cls._FORM.fullmatch(token.strip())
        if match is None:
            raise ValidationError(_NOT_A_CURSOR, field="cursor")
        direction, lot_id, location_id, offset = match.groups()
        if not (_an_id(int(lot_id)) and _an_id(int(location_id))):
            raise ValidationError(_NOT_A_CURSOR, field="cursor")
        return cls(direction == "b", int(lot_id), int(location_id), int(offset))


@dataclass(frozen=True)
class FilterChoices:
    """What the page's selects offer. ``locations``: those of the clinic chosen (or of the caller's only
    clinic), else of every clinic in scope unless there are more than MAX_LOCATION_CHOICES
    (``locations_need_clinic``)."""

    clinics: list[Clinic]
    locations: list[Location]
    locations_need_clinic: bool

    @property
    def location_groups(self) -> list[tuple[Clinic, list[Location]]]:
        """The locations offered, by clinic in the clinics' order."""
        groups: dict[int, list[Location]] = defaultdict(list)
        for location in self.locations:
            groups[location.clinic_id].append(location)
        return [(clinic, groups[clinic.id]) for clinic in self.clinics if clinic.id in groups]


def stock_on_hand(
    session: Session,
    scope: Scope,
    *,
    now: dt.datetime,
    filters: StockFilters = StockFilters(),
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
    count: bool = False,
) -> StockPage:
    """One page of the live stock in ``scope`` that matches ``filters``, with each row's labels (read in one
    statement for the whole page). ``count`` also counts the rows on every page (one statement more).

    Raises NotFound for a clinic or location the caller does not work at (answered as for one that does not
    exist: never an empty list that reads "no stock"), ValidationError for a limit outside 1-500, a search
    too long, a G' category with a kind other than filler, a location not at the clinic named, or a cursor the
    list did not hand out.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"Show 1 to {MAX_LIMIT} rows a page.", field="limit")
    ensure_gprime_applies(filters.kind, filters.gprime_category)
    words = search_words(filters.q)
    shown = _shown(session, scope, filters)
    at = Cursor.parse(cursor) if cursor else None
    groups = _groups(shown, filters, words, scanned_lots(shown, filters.q))
    counted = groups.subquery("stock_groups")
    # Counted first, by lot and location over the narrow container rows; only the groups then meet their
    # product, lot and location (a chain's 36,000 containers are 6,000 groups).
    stmt = (
        select(Product, Lot, Location, Clinic, counted.c.sealed, counted.c.opened, counted.c.remaining,
               counted.c.on_hold)
        .select_from(counted)
        .join(Lot, Lot.id == counted.c.lot_id)
        .join(Product, Product.id == Lot.product_id)
        .join(Location, Location.id == counted.c.location_id)
        .join(Clinic, Clinic.id == Location.clinic_id)
    )
    if at is not None:
        key = _sort_key_of(session, at)
        stmt = stmt.where(tuple_(*SORT_KEY) < key if at.backward else tuple_(*SORT_KEY) > key)
    order = [column.desc() for column in SORT_KEY] if at is not None and at.backward else list(SORT_KEY)
    found = list(session.execute(stmt.order_by(*order).limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]

    if at is not None and at.backward:
        if not found:  # the rows before it went (used up, moved): the list starts again
            return stock_on_hand(session, scope, now=now, filters=filters, limit=limit, count=count)
        found.reverse()
        offset = at.offset if more else 0
        has_previous, has_next = more, True
    else:
        offset = at.offset if at is not None else 0
        has_previous, has_next = at is not None and bool(found), more

    labels = _labels(session, shown, [(lot.id, location.id) for _, lot, location, *_ in found], filters)
    todays: dict[str, dt.date] = {}
    rows = []
    for product, lot, location, clinic, sealed, opened, remaining, on_hold in found:
        today = todays.setdefault(clinic.timezone, clinic_today(now, clinic.timezone))
        rows.append(StockRow(product, lot, location, clinic, sealed, opened, remaining, on_hold,
                             expired=lot.expiry < today, labels=labels.get((lot.id, location.id), [])))
    first, last = (rows[0], rows[-1]) if rows else (None, None)
    return StockPage(
        rows=rows, offset=offset,
        next_cursor=Cursor(False, last.lot.id, last.location.id, offset + len(rows)).token()
        if has_next and last else None,
        previous_cursor=Cursor(True, first.lot.id, first.location.id, max(0, offset - limit)).token()
        if has_previous and first else None,
        total=session.scalar(select(func.count()).select_from(groups.subquery())) if count else None,
    )


def gprime_applies(kind: ProductKind | None) -> bool:
    """Whether a G' (firmness) category can narrow stock of ``kind``: fillers', or every kind's (it then keeps
    the fillers of that category)."""
    return kind is None or kind is ProductKind.FILLER


def ensure_gprime_applies(kind: ProductKind | None, gprime_category: GPrimeCategory | None) -> None:
    """Raises ValidationError for a G' category asked of a kind that has none (only a filler has one): it
    would match nothing, and read as "no stock"."""
    if gprime_category is not None and not gprime_applies(kind):
        assert kind is not None  # gprime_applies: every kind but filler is one
        raise ValidationError(
            f"Only fillers have a G′ (firmness) category, not {kind.value} products: choose the filler kind "
            "or all kinds, or leave the G′ category out.", field="gprime_category")


def search_text(text: str) -> str:
    """``text`` as a search box keeps it: trimmed, each run of white space one space, a GS separator kept (so a
    box's code scanned with its separators is still read as that code)."""
    return _WORD_BREAK.sub(" ", text).strip()


def search_words(text: str) -> list[str]:
    """The words of a search, each matched on its own. Raises ValidationError for a search too long."""
    text = text.strip()
    if len(text) > MAX_SEARCH_LENGTH:
        raise ValidationError(f"Search with at most {MAX_SEARCH_LENGTH} characters.", field="q")
    words = list(dict.fromkeys(text.split()))
    if len(words) > MAX_SEARCH_WORDS:
        raise ValidationError(f"Search with at most {MAX_SEARCH_WORDS} words.", field="q")
    return words


def filter_choices(session: Session, scope: Scope, *, clinic_id: int | None = None,
                   location_id: int | None = None) -> FilterChoices:
    """The clinics in scope, and the locations to offer: those of ``clinic_id``, else of the clinic
    ``location_id`` is at, else of every clinic in scope when there are few enough. Retired locations hold no
    stock and are left out, unless chosen. Raises nothing: a choice outside scope offers nothing of it."""
    clinics = scope.clinics(session)
    chosen = session.get(Location, location_id) if location_id is not None and _an_id(location_id) else None
    if chosen is not None and not scope.allows(chosen.clinic_id):
        chosen = None
    within = clinic_id if clinic_id is not None else chosen.clinic_id if chosen is not None else None
    if within is None and len(clinics) == 1:
        within = clinics[0].id
    stmt = select(Location).where(Location.is_active)
    if within is not None:
        allowed = _an_id(within) and scope.allows(within)
        stmt = stmt.where(Location.clinic_id == within) if allowed else stmt.where(false())
    else:
        stmt = scope.filter(stmt, Location.clinic_id)
    codes = {clinic.id: clinic.code for clinic in clinics}
    locations = list(session.scalars(stmt.limit(MAX_LOCATION_CHOICES + 1)))
    need_clinic = within is None and len(locations) > MAX_LOCATION_CHOICES
    if need_clinic:
        locations = []
    if chosen is not None and chosen not in locations and (within is None or chosen.clinic_id == within):
        locations.append(chosen)
    locations.sort(key=lambda loc: (codes.get(loc.clinic_id, ""), loc.name, loc.id))
    return FilterChoices(clinics=clinics, locations=locations, locations_need_clinic=need_clinic)


# --- the statements -------------------------------------------------------------------------------------


def scanned_lots(scope: Scope, text: str) -> Select[int] | None:
    """The lots a code scanned into the search names, or None for text that is no code Vialog reads (searched
    as words): a scanner types into the search box as into any field. A Vialog label names its container's lot
    (a container of another clinic, none); a box's GS1 code its product's lot of that number; a bare product
    code every lot of the product. GS separators are part of a code, not breaks between words."""
    text = text.strip()
    if not text or _WORD_BREAK.search(text):
        return None
    try:
        code = parse_scan(text)
    except DomainError:
        return None  # a word, a lot number typed as printed: the words' search
    if code.kind == "container":
        return scope.filter(select(Container.lot_id).where(Container.label_code == code.label_code),
                            Container.clinic_id)
    lots = select(Lot.id).where(Lot.product_id.in_(select(ProductGtin.product_id).where(ProductGtin.gtin == code.gtin)))
    return lots if code.lot is None else lots.where(Lot.number_key == normalise_lot_number(code.lot))


def _groups(scope: Scope, filters: StockFilters, words: list[str],
            scanned: Select[int] | None = None) -> Select[int, int, int, int, Decimal, int]:
    """The live containers in ``scope`` (already kept to the clinic asked for) that match, counted by lot and
    location: one row of the list each. ``scanned``: the lots a code in the search names, in place of its words."""
    stmt = (
        select(
            Container.lot_id, Container.location_id,
            func.count(Container.id).filter(Container.state == ContainerState.SEALED).label("sealed"),
            func.count(Container.id).filter(Container.state == ContainerState.IN_USE).label("opened"),
            func.sum(Container.remaining).label("remaining"),
            # Held after a temperature excursion: still stock, but no one may use it until the safety lead decides.
            func.count(Container.id).filter(Container.on_hold_since.is_not(None)).label("on_hold"),
        )
        .where(Container.state.in_(lifecycle.LIVE_STATES))
        .group_by(Container.lot_id, Container.location_id)
    )
    if filters.location_id is not None:
        stmt = stmt.where(Container.location_id == filters.location_id)
    stmt = stmt.where(*_containers_counted(filters))
    if scanned is not None:
        stmt = stmt.where(Container.lot_id.in_(scanned))
        words = []
    if filters.kind is not None or filters.gprime_category is not None or words:
        # What the product and lot decide, as the lots that qualify: a few dozen rows, never each container's.
        lots = select(Lot.id).join(Product, Product.id == Lot.product_id)
        if filters.kind is not None:
            lots = lots.where(Product.kind == filters.kind)
        if filters.gprime_category is not None:
            lots = lots.where(Product.kind == ProductKind.FILLER, Product.gprime_category == filters.gprime_category)
        for word in words:
            lots = lots.where(or_(
                Product.name.icontains(word, autoescape=True),
                Product.brand.icontains(word, autoescape=True),
                Lot.number_key.contains(normalise_lot_number(word), autoescape=True),
            ))
        stmt = stmt.where(Container.lot_id.in_(lots))
    return scope.filter(stmt, Container.clinic_id)


def _containers_counted(filters: StockFilters) -> list[ColumnElement[bool]]:
    """What a live container must be to count in a row (and show its label) under ``held_only`` and
    ``set_aside_only``: the one place both the counts and the labels read it, so a row never counts a container
    it does not list."""
    on_hold = Container.on_hold_since.is_not(None)
    conditions: list[ColumnElement[bool]] = []
    if filters.held_only:
        conditions.append(on_hold)
    if filters.set_aside_only:
        # A lot's status, as the lots set aside: a handful of rows, never each container's lot joined.
        set_aside_lots = select(Lot.id).where(Lot.status.in_(lifecycle.SET_ASIDE_STATUSES))
        conditions.append(or_(on_hold, Container.lot_id.in_(set_aside_lots)))
    return conditions


def _shown(session: Session, scope: Scope, filters: StockFilters) -> Scope:
    """``scope`` kept to the clinic asked for; raises NotFound for a clinic or location outside it (as for one
    that does not exist) and ValidationError for a location not at the clinic asked for."""
    shown = scope.narrowed_to(session, filters.clinic_id)
    if filters.location_id is not None:
        location = session.get(Location, filters.location_id) if _an_id(filters.location_id) else None
        if location is None or not scope.allows(location.clinic_id):
            raise NotFound(f"No location with id {filters.location_id}.", id=filters.location_id)
        if not shown.allows(location.clinic_id):
            clinic = session.get(Clinic, filters.clinic_id)
            assert clinic is not None  # narrowed_to found it
            raise ValidationError(
                f"{location.name} is at {location.clinic.code}, not at {clinic.code}: choose one of "
                f"{clinic.code}'s locations, or leave the location out.", field="location_id")
    return shown


def _an_id(number: int) -> bool:
    return 1 <= number <= MAX_DATABASE_ID


def _sort_key_of(session: Session, at: Cursor) -> tuple[Any, ...]:
    """The row's place in SORT_KEY, as its lot and location read now (a product renamed since keeps the order
    the list has now)."""
    key = session.execute(
        select(*SORT_KEY).select_from(Lot).join(Product, Product.id == Lot.product_id)
        .join(Location, Location.id == at.location_id).where(Lot.id == at.lot_id)
    ).one_or_none()
    if key is None:
        raise ValidationError(_NOT_A_CURSOR, field="cursor")
    return tuple(key)


def _labels(session: Session, scope: Scope, rows: list[tuple[int, int]],
            filters: StockFilters) -> dict[tuple[int, int], list[LabelLine]]:
    """The live containers behind these rows (lot, location), in one statement: never one per row."""
    if not rows:
        return {}
    stmt = (
        select(Container.lot_id, Container.location_id, Container.label_code, Container.state, Container.remaining,
               Container.on_hold_since.is_not(None))
        .where(Container.state.in_(lifecycle.LIVE_STATES), tuple_(Container.lot_id, Container.location_id).in_(rows))
        .where(*_containers_counted(filters))
        .order_by(Container.label_code)
    )
    labels: dict[tuple[int, int], list[LabelLine]] = defaultdict(list)
    for lot_id, location_id, label_code, state, remaining, on_hold in session.execute(
            scope.filter(stmt, Container.clinic_id)):
        labels[lot_id, location_id].append(LabelLine(label_code, state, remaining, bool(on_hold)))
    return labels
