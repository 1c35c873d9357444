"""Temperature excursions, the holds they put on containers, and how a safety lead ends each hold.

An excursion at a temperature-sensitive location holds the temperature-sensitive containers that were kept
there at any moment between its start and its end, as the movement ledger tells (not only what is there now: a
vial moved to the cart an hour after the fridge failed was in it). A container is held when the excursion left
its product's storage range (``storage_range``: a toxin kept at 2-8 °C is held by 14 °C, a filler kept at
2-25 °C is not); the others are listed as not held, with why. A hold is a fact of the container (``on_hold_since``,
``hold_reason``) that the lifecycle rules read (inventory/lifecycle.py ``ensure_not_on_hold``): draws,
reconstitution and moves refuse it, kits do not count it, counts still see it.

Ending a hold is the safety lead's decision (``may_decide_holds``): a nurse may not waste a held container at
the cart (``lifecycle.ensure_may_waste``). Stock that leaves a held container by a rule rather than a choice (a
closing treatment's single-patient remainder, the beyond-use waste, a count that finds it gone) leaves it on
hold, emptied, for the safety lead to confirm as wasted (``end_hold_when_emptied``, ``waste_held``).

One excursion per span of time at a place (``record_excursion``): an excursion whose span shares a moment with
one recorded at the same location is the same excursion. Within it (span and temperatures), it is already recorded
and nothing is written (ExcursionAlreadyRecorded: the same readings imported again, a by-hand entry repeated, a
form sent twice); reaching beyond it (a longer log, a reading further out), it widens the recorded one, which then
holds what the wider excursion holds. The location's row is locked first, so two requests at once do the same.

Every function takes a Session and plain values, flushes and never commits.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from inventory import lifecycle
from inventory.cold_chain.models import ContainerHold, Excursion, ExcursionSource, HoldOutcome
from inventory.errors import ContainerEmpty, DomainError, NotFound, ValidationError
from inventory.models import (
    AuditEvent,
    Container,
    ContainerState,
    Location,
    Lot,
    Movement,
    MovementKind,
    Product,
    ProductKind,
    User,
)
from inventory.models.base import plain_quantity
from inventory.services import ledger
from inventory.services.clock import api_moment, format_clinic_time, to_clinic_time
from inventory.services.permissions import Permission, Scope, can, get_in_scope

# The label range of refrigerated toxins and hyaluronidase (DOMAIN.md): outside it is an excursion.
LOW_C = Decimal(2)
HIGH_C = Decimal(8)
# Plausible readings of a clinic fridge's logger; outside is a typo or a broken probe.
MIN_READING_C = Decimal(-40)
MAX_READING_C = Decimal(60)
MAX_NOTE = 500
MAX_REASON = 200
MAX_READINGS = 100_000
WASTE_REASON = "cold_chain"  # the waste movement's reason when a safety lead wastes a held container
MAX_ID = 2**31 - 1
# Who ends a hold (release or waste): the permission of the release and waste-held endpoints. A manager records
# excursions (COLD_CHAIN) but does not judge the stock they held.
DECIDES_HOLDS = Permission.RECALL


def may_decide_holds(user: User) -> bool:
    """Whether ``user`` may end a hold: release a held container, or waste it (the safety lead, the admin)."""
    return can(user, DECIDES_HOLDS)


class LocationNotRefrigerated(DomainError):
    """A box whose label keeps it at 2-8 °C, received where no excursion would hold it."""

    code = "location_not_refrigerated"
    status = 409


class ExcursionAlreadyRecorded(DomainError):
    """An excursion within one recorded at the same location already (its span and temperatures): the same
    readings imported again, a by-hand entry repeated, a form sent twice. Nothing is written."""

    code = "excursion_already_recorded"
    status = 409


class NotOnHold(DomainError):
    """Only a container on hold can be released from it."""

    code = "not_on_hold"


class HoldsNotEnded(DomainError):
    """A release or waste of several held containers at once (``end_holds``) that one or more of them refused
    (emptied, not on hold, not in the caller's clinics, on its way elsewhere): nothing was written. ``details``:
    ``refused``, each with ``container_id``, ``code`` and ``message``, as the single release or waste answers."""

    code = "holds_not_ended"
    status = 409


# An excursion is recorded when it is found: one that ends later than now (a device's clock a little ahead
# aside) or started more than a year ago is a typo in the date, and it would hold a year of stock.
CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_LOOK_BACK = dt.timedelta(days=366)


@dataclass(frozen=True)
class StorageRange:
    """The temperatures a product may be kept at, °C; None: no bound on that side."""

    low_c: Decimal | None
    high_c: Decimal | None

    def is_left_by(self, min_c: Decimal, max_c: Decimal) -> bool:
        """Whether an excursion from ``min_c`` to ``max_c`` went below or above this range."""
        return (self.low_c is not None and min_c < self.low_c) or (self.high_c is not None and max_c > self.high_c)

    def __str__(self) -> str:
        if self.low_c is None:
            return f"up to {plain_quantity(self.high_c)} °C" if self.high_c is not None else "at any temperature"
        if self.high_c is None:
            return f"at {plain_quantity(self.low_c)} °C or above"
        return f"at {plain_quantity(self.low_c)}-{plain_quantity(self.high_c)} °C"


# The one place that says what a product's storage range is. The catalog keeps storage only as label text
# (Product.storage, e.g. "2-8 °C, do not freeze"), so the range is the product kind's, as DOMAIN.md gives it:
# toxins 2-8 °C; fillers 2-25 °C (room temperature, up to 25 °C, not frozen); hyaluronidase 2-8 °C (Hylenex,
# Amphadase, Vitrase; Hyalase, kept below 25 °C, is held as strictly as they are). Supplies (syringes,
# needles, saline, compresses) are not temperature-sensitive: an excursion never holds them. Where a label is
# wider than its kind's range (Xeomin, Daxxify), the product is held and the safety lead releases it.
STORAGE_BY_KIND: dict[ProductKind, StorageRange | None] = {
    ProductKind.NEUROMODULATOR: StorageRange(Decimal(2), Decimal(8)),
    ProductKind.HYALURONIDASE: StorageRange(Decimal(2), Decimal(8)),
    ProductKind.FILLER: StorageRange(Decimal(2), Decimal(25)),
    ProductKind.SUPPLY: None,
}


_KIND_WORDS = {ProductKind.NEUROMODULATOR: "toxins", ProductKind.FILLER: "fillers",
               ProductKind.HYALURONIDASE: "hyaluronidase", ProductKind.SUPPLY: "supplies"}


def storage_rule() -> str:
    """The rule in words, for the page: "toxins at 2-8 °C, ..., fillers at 2-25 °C; supplies never held"."""
    kept = [f"{_KIND_WORDS[kind]} {rng}" for kind, rng in STORAGE_BY_KIND.items() if rng is not None]
    never = [_KIND_WORDS[kind] for kind, rng in STORAGE_BY_KIND.items() if rng is None]
    return ", ".join(kept) + (f"; {', '.join(never)} never held" if never else "")


def storage_range(product: Product) -> StorageRange | None:
    """The range ``product`` must be kept within, or None when it is not temperature-sensitive."""
    return STORAGE_BY_KIND[product.kind]


# A label that keeps the product in a fridge says so: "2-8 °C", "2 to 8 °C, do not freeze", "+2°C - +8°C".
_FRIDGE_LABEL = re.compile(r"(?<![\d.])\+?2\s*°?\s*C?\s*(?:-|–|to)\s*\+?8(?![\d.])\s*°?\s*C", re.IGNORECASE)


def needs_fridge(product: Product) -> bool:
    """Whether ``product`` is kept in a fridge: its label storage text (Product.storage) names 2-8 °C; with no
    storage text, its kind's range ends at 8 °C (toxins, hyaluronidase). Xeomin ("at or below 25 °C") and
    Hyalase ("below 25 °C") are not, though an excursion holds them as strictly as their kind."""
    text = (product.storage or "").strip()
    if text:
        return _FRIDGE_LABEL.search(text) is not None
    storage = storage_range(product)
    return storage is not None and storage.high_c is not None and storage.high_c <= HIGH_C


def ensure_kept_cold(product: Product, location: Location, *, confirmed: bool) -> bool:
    """A box that must be kept in a fridge arrives into a temperature-sensitive place (a fridge Vialog watches):
    anywhere else an excursion would hold nothing and its cold chain would go unwatched. The person receiving
    may confirm the place (the box goes into a fridge Vialog does not know yet, a label allows room temperature);
    otherwise LocationNotRefrigerated, before anything is written. True when the confirmation let it in: the
    caller records who confirmed (``kept_outside_fridge``)."""
    if location.temperature_sensitive or not needs_fridge(product):
        return False
    if confirmed:
        return True
    label = (product.storage or "").strip()
    # Where 2-8 °C comes from: the label's text when it is on file, else the kind's rule (needs_fridge), never
    # said as if a label said it.
    why = f"label: {label}" if label else f"{_kind_rule(product)} unless the label says otherwise"
    raise LocationNotRefrigerated(
        f"{product.name} must be kept cold ({why}), and "
        f"{location.name} is not a temperature-sensitive place: receive it into a fridge, or confirm that it may "
        "be kept here.",
        product_id=product.id, location_id=location.id,
    )


def _kind_rule(product: Product) -> str:
    """ "toxins are kept at 2-8 °C": the range of ``product``'s kind (STORAGE_BY_KIND), as a rule of the kind."""
    kind = product.kind
    verb = "is" if kind is ProductKind.HYALURONIDASE else "are"  # "hyaluronidase is", "toxins are"
    return f"{_KIND_WORDS[kind]} {verb} kept {storage_range(product)}"


def kept_outside_fridge(session: Session, *, actor: User, product: Product, location: Location, now: dt.datetime,
                        object_type: str, object_id: int) -> None:
    """The audit trail's line for a box kept at 2-8 °C let into a place that is not temperature-sensitive: who
    confirmed it, what and where (a receipt or a transfer received)."""
    session.add(AuditEvent(
        at=now, actor_id=actor.id, clinic_id=location.clinic_id, action="stock.kept_outside_fridge",
        object_type=object_type, object_id=str(object_id),
        details={"product_id": product.id, "product": product.name, "storage": product.storage,
                 "location_id": location.id, "location": location.name},
    ))


@dataclass(frozen=True)
class HoldDecision:
    """Whether an excursion held one container that was kept where it happened, and why in words."""

    container: Container
    storage: StorageRange | None
    held: bool
    why: str  # "stored at 2-25 °C, not held (9 to 14 °C is within it)"

    @property
    def reason(self) -> str:
        """The product and why, e.g. "Juvederm Voluma XC 1.0 mL: stored at 2-25 °C, not held (...)"."""
        return f"{self.container.product.name}: {self.why}"


@dataclass
class RecordedExcursion:
    excursion: Excursion
    held: list[Container] = field(default_factory=list)  # those of the caller's clinics
    held_elsewhere: int = 0  # sent to a clinic the caller does not work at since: held too, not shown
    not_held: list[Container] = field(default_factory=list)  # kept there, but the excursion stayed in their range
    decisions: list[HoldDecision] = field(default_factory=list)  # held and not held, of the caller's clinics
    # An excursion recorded there before, widened to cover this one: held, not_held and decisions are then those
    # it decided anew (the containers it held before keep their holds as they are).
    widened: bool = False

    def by_product(self) -> list[tuple[HoldDecision, list[Container]]]:
        """The decisions product by product (a storage range is the product's), each with its containers in id
        order; held products first, then by name."""
        groups: dict[int, tuple[HoldDecision, list[Container]]] = {}
        for decision in self.decisions:
            groups.setdefault(decision.container.product_id, (decision, []))[1].append(decision.container)
        return sorted(groups.values(), key=lambda group: (not group[0].held, group[0].container.product.name))


@dataclass(frozen=True)
class Reading:
    at: dt.datetime
    celsius: Decimal
    line: int

    @property
    def is_outside(self) -> bool:
        return not LOW_C <= self.celsius <= HIGH_C


@dataclass
class LoggerImport:
    readings: list[Reading]
    excursions: list[RecordedExcursion]  # recorded, or recorded before and widened
    already_recorded: list[ExcursionAlreadyRecorded] = field(default_factory=list)  # runs within one on file
    timezone: str = "UTC"  # the clock of the place's clinic, which times without an offset were read on

    @property
    def recorded(self) -> list[RecordedExcursion]:
        return [e for e in self.excursions if not e.widened]

    @property
    def widened(self) -> list[RecordedExcursion]:
        return [e for e in self.excursions if e.widened]

    @property
    def flagged(self) -> list[Reading]:
        return [r for r in self.readings if r.is_outside]


@dataclass(frozen=True)
class OpenHold:
    container: Container
    since: dt.datetime
    reason: str | None
    excursions: list[Excursion]
    # Set when the container was emptied while on hold by someone who does not decide holds (a closing
    # treatment, the beyond-use waste, a count): the movement that emptied it, for the safety lead to confirm.
    emptied_by: Movement | None = None

    @property
    def is_emptied(self) -> bool:
        """Nothing left in it: the safety lead confirms it as wasted (release makes no sense any more)."""
        return self.container.state in _EMPTIED


# --- recording an excursion -----------------------------------------------------------------------------


def record_excursion(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    location_id: int,
    started_at: dt.datetime,
    ended_at: dt.datetime,
    min_c: Decimal,
    max_c: Decimal,
    now: dt.datetime,
    note: str | None = None,
    source: ExcursionSource = ExcursionSource.MANUAL,
) -> RecordedExcursion:
    """Records an excursion at a temperature-sensitive location and holds every container kept there during it
    whose product's storage range (``storage_range``) it left; the others are answered as not held, with why.

    An excursion is recorded once. One whose span shares a moment with (or touches) an excursion recorded at the
    same location is the same excursion: when its span and its temperatures lie within that one's, it is already
    recorded and nothing is written (ExcursionAlreadyRecorded, naming where, when and the range); otherwise the
    recorded excursion (the earliest, if several) is widened to the earliest start, the latest end, the lowest and
    the highest temperature of both, and holds what the wider excursion holds that it did not hold before (the
    holds it put in place and still open stay as they are, a wasted one wasted; one a safety lead released, judged
    on the narrower excursion, goes back on hold when the wider one leaves the container's range); the answer is
    ``widened``. The location's
    row is locked before the look-up, so two requests at once cannot both record it.

    Raises NotFound (a location outside the caller's clinics), ValidationError (times in the wrong order, in
    the future or more than a year ago, temperatures in the wrong order or all within 2-8 °C, a location not
    temperature-sensitive) or ExcursionAlreadyRecorded.
    """
    _ensure_id(location_id, "location")
    location = get_in_scope(session, Location, location_id, scope, "location")
    for name, moment in (("started_at", started_at), ("ended_at", ended_at)):
        if moment.tzinfo is None:
            raise ValidationError(f"{FIELD_WORDS[name]}: give the time with its offset (e.g. +00:00).", field=name)
    if ended_at < started_at:
        raise ValidationError("The excursion ends before it starts: check the times.", field="ended_at")
    if started_at > now:
        raise ValidationError("The excursion starts in the future: check the start time.", field="started_at")
    if ended_at > now + CLOCK_SKEW:
        raise ValidationError(
            "The excursion ends in the future: record it with the time it ended, or now if it is still going on.",
            field="ended_at")
    if started_at < now - MAX_LOOK_BACK:
        raise ValidationError(
            f"The excursion starts more than {MAX_LOOK_BACK.days} days ago: check the date (the year above all).",
            field="started_at")
    min_c, max_c = _celsius(min_c, "min_c"), _celsius(max_c, "max_c")
    if max_c < min_c:
        raise ValidationError("The highest temperature is below the lowest: check min and max.", field="max_c")
    if LOW_C <= min_c and max_c <= HIGH_C:
        raise ValidationError(
            f"{plain_quantity(min_c)} to {plain_quantity(max_c)} °C is within 2-8 °C: that is not an excursion.",
            field="max_c",
        )
    if not location.temperature_sensitive:
        raise ValidationError(
            f"{location.name} is not marked temperature-sensitive: nothing kept there is held by an excursion.",
            field="location_id",
        )
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise ValidationError(f"Note: at most {MAX_NOTE} characters.", field="note")

    # Locked (FOR NO KEY UPDATE: a movement into the place still goes in) before the look-up: a second request
    # recording the same excursion waits here, then finds this one's.
    session.execute(select(Location.id).where(Location.id == location.id).with_for_update(key_share=True))
    recorded = overlapping_excursions(session, location_id=location.id, start=started_at, end=ended_at)
    for earlier in recorded:
        if earlier.started_at <= started_at and ended_at <= earlier.ended_at and \
                earlier.min_c <= min_c and max_c <= earlier.max_c:
            raise ExcursionAlreadyRecorded(
                f"This excursion is already recorded: {excursion_words(earlier, location)}.",
                excursion_id=earlier.id, location_id=location.id, started_at=api_moment(earlier.started_at),
                ended_at=api_moment(earlier.ended_at), min_c=plain_quantity(earlier.min_c),
                max_c=plain_quantity(earlier.max_c),
            )
    if recorded:
        excursion = recorded[0]
        before = {"started_at": excursion.started_at.isoformat(), "ended_at": excursion.ended_at.isoformat(),
                  "min_c": str(excursion.min_c), "max_c": str(excursion.max_c)}
        excursion.started_at, excursion.ended_at = min(excursion.started_at, started_at), max(excursion.ended_at,
                                                                                               ended_at)
        excursion.min_c, excursion.max_c = min(excursion.min_c, min_c), max(excursion.max_c, max_c)
        excursion.note = excursion.note or note
        started_at, ended_at, min_c, max_c = excursion.started_at, excursion.ended_at, excursion.min_c, excursion.max_c
        held_before = {hold.container_id: hold for hold in session.scalars(
            select(ContainerHold).where(ContainerHold.excursion_id == excursion.id).order_by(ContainerHold.id))}
    else:
        excursion = Excursion(
            clinic_id=location.clinic_id, location_id=location.id, started_at=started_at, ended_at=ended_at,
            min_c=min_c, max_c=max_c, note=note, source=source, recorded_by_id=actor.id, recorded_at=now,
        )
        session.add(excursion)
        before, held_before = {}, {}
    session.flush()
    reason = excursion_words(excursion, location)
    result = RecordedExcursion(excursion, widened=bool(recorded))
    held_ids: list[int] = []
    not_held: dict[str, str] = {}
    for container_id in containers_present(session, location_id=location.id, start=started_at, end=ended_at):
        earlier_hold = held_before.get(container_id)
        if earlier_hold is not None and earlier_hold.outcome is not HoldOutcome.RELEASED:
            continue  # held by it before: an open hold stays open, a wasted one wasted
        container = ledger.lock_container(session, container_id, Scope.everything())
        decision = decide_hold(container, min_c=min_c, max_c=max_c)
        if earlier_hold is not None:
            # Released on the excursion as it was known then: wider now (warmer, colder or longer), it is judged
            # again, so the safety lead decides on what the fridge really went through.
            if not decision.held:
                continue
            _hold_again_after_release(session, container, earlier_hold, actor=actor, now=now,
                                      reason=_hold_reason(reason, decision.storage))
            held_ids.append(container.id)
        elif decision.held:
            held_ids.append(container.id)
            if container.on_hold_since is None:
                container.on_hold_since = now
                container.hold_reason = _hold_reason(reason, decision.storage)
            session.add(ContainerHold(excursion_id=excursion.id, container_id=container.id,
                                      clinic_id=container.clinic_id, held_at=now))
        else:
            not_held[str(container.id)] = decision.reason
        if scope.allows(container.clinic_id):
            result.decisions.append(decision)
            (result.held if decision.held else result.not_held).append(container)
        elif decision.held:
            result.held_elsewhere += 1
    details = {"location_id": location.id, "started_at": started_at.isoformat(), "ended_at": ended_at.isoformat(),
               "min_c": str(min_c), "max_c": str(max_c), "source": source.value,
               "held_container_ids": held_ids, "not_held": not_held}
    session.add(AuditEvent(
        at=now, actor_id=actor.id, clinic_id=location.clinic_id,
        action="cold_chain.excursion_widened" if recorded else "cold_chain.excursion_recorded",
        object_type="excursion", object_id=str(excursion.id),
        details={**details, "was": before} if recorded else details,
    ))
    session.flush()
    return result


def _hold_again_after_release(session: Session, container: Container, hold: ContainerHold, *, actor: User,
                              now: dt.datetime, reason: str) -> None:
    """Puts back on hold a container whose hold by ``hold``'s excursion a safety lead released before that
    excursion was widened: the hold is open again (the release stays in the audit trail, with its reason)."""
    released_at, released_reason = hold.resolved_at, hold.reason
    hold.resolved_at, hold.resolved_by_id, hold.outcome, hold.reason = None, None, None, None
    if container.on_hold_since is None:
        container.on_hold_since = now
        container.hold_reason = (f"{reason}. Back on hold: it was released before the excursion was known to be "
                                 "this wide")
    session.add(AuditEvent(
        at=now, actor_id=actor.id, clinic_id=container.clinic_id, action=_REOPENED,
        object_type="container", object_id=str(container.id),
        details={"label_code": container.label_code, "excursion_ids": [hold.excursion_id],
                 "released_at": released_at.isoformat() if released_at else None,
                 "released_reason": released_reason, "hold_reason": container.hold_reason},
    ))


def overlapping_excursions(session: Session, *, location_id: int, start: dt.datetime,
                           end: dt.datetime) -> list[Excursion]:
    """The excursions recorded at the location whose span shares a moment with ``start``-``end`` (touching
    counts), earliest first."""
    return list(session.scalars(
        select(Excursion).where(Excursion.location_id == location_id, Excursion.started_at <= end,
                                Excursion.ended_at >= start)
        .order_by(Excursion.started_at, Excursion.id)
    ))


def excursion_words(excursion: Excursion, location: Location) -> str:
    """Where, the range and when: "NYC · Medicines fridge was at 8.9 to 11.2 °C from 5 Dec 2026 05:06 to 5 Dec
    2026 05:09 (EST)"."""
    # The reason travels with a container sent on since: it names the clinic and the clock it is told in, or
    # "Medicines fridge ... 02:10" at New York would read as New York's fridge, at a New York time to come.
    timezone = location.clinic.timezone
    return (
        f"{location.clinic.code} · {location.name} was at {plain_quantity(excursion.min_c)} to "
        f"{plain_quantity(excursion.max_c)} °C from {format_clinic_time(excursion.started_at, timezone)} to "
        f"{format_clinic_time(excursion.ended_at, timezone)} ({to_clinic_time(excursion.ended_at, timezone).tzname()})"
    )


def _hold_reason(words: str, storage: StorageRange | None) -> str:
    return f"{words} (it is stored {storage})"


def decide_hold(container: Container, *, min_c: Decimal, max_c: Decimal) -> HoldDecision:
    """Holds ``container`` when an excursion from ``min_c`` to ``max_c`` °C left its product's storage range."""
    storage = storage_range(container.product)
    seen = f"{plain_quantity(min_c)} to {plain_quantity(max_c)} °C"
    if storage is None:
        return HoldDecision(container, None, False, "not temperature-sensitive, not held")
    if storage.is_left_by(min_c, max_c):
        return HoldDecision(container, storage, True, f"stored {storage}, held ({seen} is outside it)")
    return HoldDecision(container, storage, False, f"stored {storage}, not held ({seen} is within it)")


def containers_present(session: Session, *, location_id: int, start: dt.datetime, end: dt.datetime) -> list[int]:
    """Containers still holding stock (or on their way elsewhere) that were at the location at some moment
    between ``start`` and ``end``, read from the movement ledger. In id order.

    A container's place after a movement is that movement's location, except a TRANSFER_OUT, after which
    it is on its way (to the TRANSFER_IN that follows, or to another clinic).
    """
    candidates = select(Movement.container_id).where(Movement.location_id == location_id, Movement.at <= end)
    ids = list(session.scalars(
        select(Container.id).where(Container.id.in_(candidates), Container.state.in_(lifecycle.HELD_STATES))
    ))
    if not ids:
        return []
    history: dict[int, list[tuple[dt.datetime, MovementKind, int]]] = defaultdict(list)
    for container_id, at, kind, where in session.execute(
        select(Movement.container_id, Movement.at, Movement.kind, Movement.location_id)
        .where(Movement.container_id.in_(ids), Movement.at <= end)
        .order_by(Movement.container_id, Movement.at, Movement.id)
    ):
        history[container_id].append((at, kind, where))
    return sorted(cid for cid, moves in history.items() if _was_there(moves, location_id, start))


def _was_there(moves: list[tuple[dt.datetime, MovementKind, int]], location_id: int, start: dt.datetime) -> bool:
    """Whether a container with these movements (up to the excursion's end) was at the location after ``start``."""
    here_since: dt.datetime | None = None
    for at, kind, where in moves:
        arrives = kind is not MovementKind.TRANSFER_OUT and where == location_id
        if here_since is not None and not arrives:
            if at >= start:
                return True  # it left during the excursion
            here_since = None
        elif here_since is None and arrives:
            here_since = at
    return here_since is not None


# --- a logger's readings ----------------------------------------------------------------------------------


READINGS_EXAMPLE = "2026-12-04 15:40, 5.0"
# A line whose cells are apart by spaces: the date and time, then the temperature (a decimal comma is fine).
_SPACED_READING = re.compile(r"(?P<at>[^,]*?[^,\s])\s+(?P<c>[-+]?\d+(?:[.,]\d+)?\s*(?:°\s*C?)?)", re.IGNORECASE)
_COLUMNS = re.compile(r"\s{2,}")  # columns lined up with spaces (a header such as "Time    Temperature")
_TIME_ONLY = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?")


def reading_cells(line: str) -> list[str]:
    """A logger line's cells: apart by tabs (a spreadsheet's copy), by spaces (a date and time, then a
    temperature: ``2026-12-04 15:40  5.0``), or by commas (CSV, quotes allowed)."""
    line = line.strip()
    if "\t" in line:
        cells = line.split("\t")
    elif spaced := _SPACED_READING.fullmatch(line):
        cells = [spaced["at"], spaced["c"]]
    elif "," not in line and _COLUMNS.search(line):
        cells = _COLUMNS.split(line)
    else:
        try:
            cells = next(csv.reader([line]), [])
        except csv.Error:  # a cell beyond the csv module's size limit: unreadable as a reading anyway
            cells = [line]
    return [cell.strip() for cell in cells if cell.strip()]


def parse_readings(text: str, *, timezone: str) -> list[Reading]:
    """Reads lines of a date and time then a temperature in °C, apart by a comma (CSV), a tab (a spreadsheet's
    copy) or spaces (``reading_cells``); a header line is skipped; a time without offset is the clinic's. A time
    without its date is refused: the date is not guessed.

    Raises ValidationError naming the first line that cannot be read.
    """
    readings: list[Reading] = []
    zone = ZoneInfo(timezone)
    lines = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, line in enumerate(lines, start=1):
        cells = reading_cells(line)
        if not cells:
            continue
        if len(cells) < 2:
            raise ValidationError(
                f"Line {number}: expected a date and time and a temperature, apart by a comma, a tab or spaces "
                f"(such as {READINGS_EXAMPLE}).", field="file", line=number,
            )
        raw_at = cells[0]
        raw_c = re.sub(r"°\s*C?", "", cells[1], flags=re.IGNORECASE).replace(",", ".").strip()
        if _TIME_ONLY.fullmatch(raw_at):
            raise ValidationError(
                f"Line {number}: {raw_at} has no date. Give the date and the time of each reading (such as "
                f"{READINGS_EXAMPLE}).", field="file", line=number,
            )
        try:
            at = dt.datetime.fromisoformat(raw_at.replace("Z", "+00:00"))
            celsius = Decimal(raw_c)
        except (ValueError, InvalidOperation):
            if number == 1 and not readings:
                continue  # the header
            raise ValidationError(
                f"Line {number}: cannot read {raw_at[:40]!r}, {raw_c[:20]!r} as a time and a temperature in °C.",
                field="file", line=number,
            ) from None
        if not celsius.is_finite() or not MIN_READING_C <= celsius <= MAX_READING_C:
            raise ValidationError(f"Line {number}: {raw_c[:20]} °C is not a plausible reading.", field="file",
                                  line=number)
        if at.tzinfo is None:
            at = _on_wall_clock(at, zone, after=readings[-1].at if readings else None)
        readings.append(Reading(at.astimezone(dt.UTC), celsius.quantize(Decimal("0.0001")), number))
        if len(readings) > MAX_READINGS:
            raise ValidationError(f"At most {MAX_READINGS} readings per file.", field="file")
    if not readings:
        raise ValidationError("The file holds no readings.", field="file")
    return sorted(readings, key=lambda r: r.at)


def _on_wall_clock(moment: dt.datetime, zone: ZoneInfo, *, after: dt.datetime | None) -> dt.datetime:
    """A logger's time without offset, on the clinic's wall clock. A time the clocks pass twice (01:00-02:00 the
    night they go back) is the first pass, unless the reading before it in the log is already later than that:
    a logger writes in the order it reads, so it is then the second pass."""
    first, second = moment.replace(tzinfo=zone, fold=0), moment.replace(tzinfo=zone, fold=1)
    if after is not None and first.utcoffset() != second.utcoffset() and \
            first.astimezone(dt.UTC) < after <= second.astimezone(dt.UTC):
        return second
    return first


@dataclass(frozen=True)
class ExcursionRun:
    """Consecutive readings outside 2-8 °C, and the in-range reading that ended them (None: the log ends
    outside the range)."""

    outside: list[Reading]
    back_in_range: Reading | None

    @property
    def started_at(self) -> dt.datetime:
        return self.outside[0].at

    @property
    def ended_at(self) -> dt.datetime:
        # Between two readings the fridge is known only by them: it was out of range from the first reading
        # outside until one read it back in range, not until the last reading outside. A log that ends outside
        # the range shows no return: the excursion lasts until that last reading.
        return (self.back_in_range or self.outside[-1]).at

    @property
    def min_c(self) -> Decimal:
        return min(r.celsius for r in self.outside)

    @property
    def max_c(self) -> Decimal:
        return max(r.celsius for r in self.outside)


def excursion_runs(readings: Iterable[Reading]) -> list[ExcursionRun]:
    """Each run of consecutive readings outside 2-8 °C is one excursion, which lasts until the next reading
    within the range (its lowest and highest temperature are those of the readings outside)."""
    runs: list[ExcursionRun] = []
    current: list[Reading] = []
    for reading in readings:
        if reading.is_outside:
            current.append(reading)
        elif current:
            runs.append(ExcursionRun(current, reading))
            current = []
    if current:
        runs.append(ExcursionRun(current, None))
    return runs


def import_logger(
    session: Session, *, actor: User, scope: Scope, location_id: int, text: str, now: dt.datetime
) -> LoggerImport:
    """Reads a logger's CSV and records one excursion per run of readings outside 2-8 °C (``excursion_runs``:
    from its first such reading until the next reading within the range, or its last reading when none follows,
    with the lowest and highest temperature outside). A run within an excursion recorded there already (the same
    log imported again) is listed as already recorded; one reaching beyond it widens it (``record_excursion``).
    Raises NotFound or ValidationError."""
    _ensure_id(location_id, "location")
    location = get_in_scope(session, Location, location_id, scope, "location")
    readings = parse_readings(text, timezone=location.clinic.timezone)
    imported = LoggerImport(readings, [], timezone=location.clinic.timezone)
    for run in excursion_runs(readings):
        count = len(run.outside)
        try:
            imported.excursions.append(record_excursion(
                session, actor=actor, scope=scope, location_id=location.id, started_at=run.started_at,
                ended_at=run.ended_at, min_c=run.min_c, max_c=run.max_c, now=now,
                note=f"logger import: {count} reading{'' if count == 1 else 's'} outside 2-8 °C"
                     + ("" if run.back_in_range is None else ", until the next reading within it"),
                source=ExcursionSource.LOGGER,
            ))
        except ExcursionAlreadyRecorded as already:  # refused before anything was written: the import goes on
            imported.already_recorded.append(already)
    return imported


# --- ending a hold -----------------------------------------------------------------------------------------


def release_hold(
    session: Session, *, actor: User, scope: Scope, container_id: int, reason: str, now: dt.datetime
) -> Container:
    """A safety lead judged the container fit (the label's stability data, the manufacturer's advice): it may
    be used again. Raises ValidationError (no reason), NotFound, NotOnHold or ContainerEmpty (emptied while on
    hold: nothing is left to use, so it is confirmed as wasted instead)."""
    reason = _reason(reason)
    container = _lock_held(session, container_id, scope)
    if container.state in _EMPTIED:
        raise ContainerEmpty(
            f"{container.product.name} ({container.label_code}) holds nothing any more: it was emptied while on "
            "hold. Confirm it as wasted instead.",
            container_id=container.id, state=container.state.value,
        )
    _resolve(session, container, actor=actor, now=now, outcome=HoldOutcome.RELEASED, reason=reason)
    container.on_hold_since = None
    container.hold_reason = None
    session.flush()
    return container


def waste_held(
    session: Session, *, actor: User, scope: Scope, container_id: int, reason: str, now: dt.datetime
) -> Container:
    """Wastes everything left in a held container (a waste movement with reason ``cold_chain``) and ends the
    hold. A container emptied while on hold (``end_hold_when_emptied`` left it for the safety lead) has nothing
    left to waste: the hold ends as wasted, with this reason, and no movement. Raises ValidationError, NotFound,
    NotOnHold or ContainerInTransit."""
    reason = _reason(reason)
    container = _lock_held(session, container_id, scope)
    if container.state in _EMPTIED:
        _resolve(session, container, actor=actor, now=now, outcome=HoldOutcome.WASTED, reason=reason)
        container.on_hold_since = None
        container.hold_reason = None
        session.flush()
        return container
    lifecycle.ensure_has_stock(container, doing="waste")
    # Emptying it ends the hold (end_hold_when_emptied), with this reason, as any waste of a held container does.
    ledger.record(session, container, kind=MovementKind.WASTE, quantity=-container.remaining, actor=actor, at=now,
                  reason=WASTE_REASON, note=reason[:MAX_REASON])
    lifecycle.settle(container)
    session.flush()
    return container


# How many held containers one decision may end at once: the board's biggest excursion, with room to spare.
MAX_HOLDS_AT_ONCE = 500
SHOWN_REFUSALS = 5  # named in the message; details.refused lists every one
_ENDINGS_WORDS = {HoldOutcome.RELEASED: "released", HoldOutcome.WASTED: "wasted"}


def end_holds(
    session: Session, *, actor: User, scope: Scope, container_ids: Sequence[int], outcome: HoldOutcome, reason: str,
    now: dt.datetime,
) -> list[Container]:
    """Releases (``release_hold``) or wastes (``waste_held``) each of several held containers with one reason,
    all or nothing: the safety lead's one decision about what one excursion held. Each container is judged by the
    single release or waste, in id order (the order every multi-container lock takes), inside one savepoint;
    when any is refused, the savepoint is rolled back and HoldsNotEnded names each refused one and why, so nothing
    is written. Returns the containers, in id order. Raises ValidationError (no reason, no container, more than
    MAX_HOLDS_AT_ONCE) before looking at any, or HoldsNotEnded."""
    reason = _reason(reason)
    ids = sorted(set(container_ids))
    if not ids:
        raise ValidationError("Tick at least one container.", field="container_ids")
    if len(ids) > MAX_HOLDS_AT_ONCE:
        raise ValidationError(f"Release or waste at most {MAX_HOLDS_AT_ONCE} containers at once.",
                              field="container_ids")
    end = release_hold if outcome is HoldOutcome.RELEASED else waste_held
    ended: list[Container] = []
    refused: list[DomainError] = []
    with session.begin_nested():  # raising inside rolls it back: nothing of the others stays
        for container_id in ids:
            try:
                ended.append(end(session, actor=actor, scope=scope, container_id=container_id, reason=reason,
                                 now=now))
            except DomainError as error:  # each is refused before it writes: the others are still judged
                refused.append(error)
        if refused:
            raise _not_ended(refused, of=len(ids), outcome=outcome)
    return ended


def _not_ended(refused: list[DomainError], *, of: int, outcome: HoldOutcome) -> HoldsNotEnded:
    words = _ENDINGS_WORDS[outcome]
    return HoldsNotEnded(
        f"Nothing was {words}: {len(refused)} of {of} container{'' if of == 1 else 's'} cannot be {words}. "
        + " ".join(error.message for error in refused[:SHOWN_REFUSALS])
        + (f" And {len(refused) - SHOWN_REFUSALS} more." if len(refused) > SHOWN_REFUSALS else ""),
        refused=[{"container_id": error.details.get("container_id", error.details.get("id")), "code": error.code,
                  "message": error.message} for error in refused],
    )


def end_hold_when_emptied(session: Session, container: Container, movement: Movement, actor: User,
                          now: dt.datetime) -> None:
    """A held container that the safety lead (or an admin) empties (wasted here or at the cart, destroyed for a
    recall) is out of use: its hold is over, as wasted, with their reason, and the board stops asking for a
    decision. Emptied by anyone else (a nurse closing a treatment wastes a single-patient remainder, the
    beyond-use waste, a manager's count finds it gone), the hold stays: ending it is the safety lead's decision,
    so the board lists it, emptied, and the safety lead confirms it as wasted (``waste_held``). Registered with
    lot_guard.on_emptied."""
    if container.on_hold_since is None or not may_decide_holds(actor):
        return
    if movement.reason == WASTE_REASON and movement.note:
        why = movement.note
    else:
        what = {MovementKind.WASTE: "Wasted", MovementKind.ADJUST: "Counted empty"}.get(
            movement.kind, f"Emptied ({movement.kind.value})")
        why = f"{what} ({movement.reason})" if movement.reason else what
        if movement.note:
            why = f"{why}: {movement.note}"
    _resolve(session, container, actor=actor, now=now, outcome=HoldOutcome.WASTED, reason=why[:MAX_REASON])
    container.on_hold_since = None
    container.hold_reason = None


def hold_again_if_refilled(session: Session, lot: Lot, containers: Sequence[Container], actor: User,
                           now: dt.datetime) -> None:
    """Stock put back into a container whose hold ended because it was emptied (a reversed waste, a count that
    finds the vial) puts it back on hold: it is the same vial from the same fridge (or the same box refused for
    its temperature), and only a safety lead's release makes it usable. How each hold last ended is read from
    the audit trail, which every ending writes (``_resolve``): a hold with no excursion behind it is found too.
    The excursion holds that ended so are opened again. Registered with lot_guard.on_stock_added."""
    refilled = {c.id: c for c in containers if c.on_hold_since is None and c.remaining > 0}
    if not refilled:
        return
    endings = session.execute(
        select(AuditEvent.object_id, AuditEvent.action, AuditEvent.at, AuditEvent.details)
        .where(AuditEvent.object_type == "container", AuditEvent.object_id.in_([str(i) for i in refilled]),
               AuditEvent.action.in_(_HOLD_ENDINGS))
        .order_by(AuditEvent.id)
    ).all()
    last = {int(object_id): (action, at, details) for object_id, action, at, details in endings if object_id}
    for container_id, (action, ended_at, details) in last.items():
        if action != _WASTED_ENDING:
            continue  # released by a safety lead (or back on hold already): what follows is ordinary stock
        container = refilled[container_id]
        holds = list(session.scalars(select(ContainerHold).where(
            ContainerHold.container_id == container_id, ContainerHold.outcome == HoldOutcome.WASTED,
            ContainerHold.resolved_at == ended_at)))
        for hold in holds:
            hold.resolved_at, hold.resolved_by_id, hold.outcome, hold.reason = None, None, None, None
        since = details.get("on_hold_since")
        container.on_hold_since = dt.datetime.fromisoformat(since) if since else ended_at
        container.hold_reason = details.get("hold_reason") or "Back on hold: stock put back after it was wasted on hold"
        session.add(AuditEvent(
            at=now, actor_id=actor.id, clinic_id=container.clinic_id, action=_REOPENED,
            object_type="container", object_id=str(container.id),
            details={"label_code": container.label_code, "excursion_ids": sorted({h.excursion_id for h in holds}),
                     "ended_as_wasted_at": ended_at.isoformat(), "ended_reason": details.get("reason"),
                     "hold_reason": container.hold_reason},
        ))


# How a hold ends, in the audit trail (``_resolve``, ``hold_again_if_refilled``): the last of these for a
# container says whether stock put back into it is held again.
_WASTED_ENDING = f"container.hold_{HoldOutcome.WASTED.value}"
_REOPENED = "container.hold_reopened"
_HOLD_ENDINGS = (_WASTED_ENDING, f"container.hold_{HoldOutcome.RELEASED.value}", _REOPENED)


# A held container in one of these states was emptied while on hold: only confirming it as wasted is left.
_EMPTIED = (ContainerState.EMPTY, ContainerState.DISCARDED)


def _lock_held(session: Session, container_id: int, scope: Scope) -> Container:
    _ensure_id(container_id, "container")
    container = ledger.lock_container(session, container_id, scope)
    if container.on_hold_since is None:
        raise NotOnHold(f"{container.product.name} ({container.label_code}) is not on hold.",
                        container_id=container.id)
    return container


def _resolve(session: Session, container: Container, *, actor: User, now: dt.datetime, outcome: HoldOutcome,
             reason: str) -> None:
    holds = list(session.scalars(
        select(ContainerHold).where(ContainerHold.container_id == container.id, ContainerHold.resolved_at.is_(None))
    ))
    for hold in holds:
        hold.resolved_at, hold.resolved_by_id, hold.outcome, hold.reason = now, actor.id, outcome, reason
    session.add(AuditEvent(
        at=now, actor_id=actor.id, clinic_id=container.clinic_id, action=f"container.hold_{outcome.value}",
        object_type="container", object_id=str(container.id),
        details={"label_code": container.label_code, "reason": reason, "hold_reason": container.hold_reason,
                 "on_hold_since": container.on_hold_since.isoformat() if container.on_hold_since else None,
                 "excursion_ids": sorted({h.excursion_id for h in holds})},
    ))


# --- reading -----------------------------------------------------------------------------------------------


def open_holds(session: Session, *, scope: Scope) -> list[OpenHold]:
    """Containers on hold in the caller's clinics, oldest hold first, with the excursions behind each. Those
    emptied while on hold (``end_hold_when_emptied``) are listed too, with the movement that emptied them: the
    safety lead still confirms each."""
    # Every state: one emptied while on hold still waits for the safety lead.
    stmt = scope.filter(
        select(Container).where(Container.on_hold_since.is_not(None))
        .options(joinedload(Container.product), joinedload(Container.lot), joinedload(Container.location),
                 joinedload(Container.clinic))
        .order_by(Container.on_hold_since, Container.id),
        Container.clinic_id,
    )
    containers = list(session.scalars(stmt))
    by_container: dict[int, list[Excursion]] = defaultdict(list)
    if containers:
        for hold in session.scalars(
            select(ContainerHold).where(ContainerHold.container_id.in_([c.id for c in containers]),
                                        ContainerHold.resolved_at.is_(None))
            .options(joinedload(ContainerHold.excursion).joinedload(Excursion.location))
            .order_by(ContainerHold.id)
        ):
            by_container[hold.container_id].append(hold.excursion)
    emptied_by = _emptying_movements(session, [c.id for c in containers if c.state in _EMPTIED])
    return [OpenHold(c, c.on_hold_since, c.hold_reason, by_container[c.id], emptied_by.get(c.id)) for c in containers
            if c.on_hold_since is not None]


@dataclass
class HoldGroup:
    """Held containers that wait for one decision: those the same excursions held (the words of each, as
    ``excursion_words`` gives them), apart from those emptied while on hold, which only a waste confirms."""

    words: str
    emptied: bool
    holds: list[OpenHold] = field(default_factory=list)


def holds_by_excursion(holds: Iterable[OpenHold]) -> list[HoldGroup]:
    """``holds`` grouped by the excursions behind each (a hold with none, e.g. a box refused for its temperature,
    by its reason), the emptied apart; in the order of their oldest hold."""
    groups: dict[tuple[tuple[int, ...], str, bool], HoldGroup] = {}
    for hold in holds:
        ids = tuple(e.id for e in hold.excursions)
        words = ("; ".join(excursion_words(e, e.location) for e in hold.excursions) if ids
                 else hold.reason or "On hold")
        key = (ids, "" if ids else words, hold.is_emptied)
        groups.setdefault(key, HoldGroup(words, hold.is_emptied)).holds.append(hold)
    return list(groups.values())


def _emptying_movements(session: Session, container_ids: list[int]) -> dict[int, Movement]:
    """The last movement of each emptied container: the one that left it holding nothing."""
    if not container_ids:
        return {}
    last: dict[int, Movement] = {}
    for movement in session.scalars(
        select(Movement).where(Movement.container_id.in_(container_ids), Movement.quantity < 0)
        .options(joinedload(Movement.actor)).order_by(Movement.id)
    ):
        last[movement.container_id] = movement
    return last


def recent_excursions(session: Session, *, scope: Scope, limit: int = 50) -> list[Excursion]:
    stmt = scope.filter(
        select(Excursion).options(joinedload(Excursion.location), joinedload(Excursion.recorded_by),
                                  joinedload(Excursion.location).joinedload(Location.clinic))
        .order_by(Excursion.started_at.desc(), Excursion.id.desc()).limit(limit),
        Excursion.clinic_id,
    )
    return list(session.scalars(stmt).unique())


def sensitive_locations(session: Session, *, scope: Scope) -> list[Location]:
    stmt = scope.filter(
        select(Location).where(Location.is_active, Location.temperature_sensitive)
        .options(joinedload(Location.clinic)).order_by(Location.clinic_id, Location.name),
        Location.clinic_id,
    )
    return list(session.scalars(stmt))


def get_excursion(session: Session, excursion_id: int, scope: Scope) -> Excursion:
    _ensure_id(excursion_id, "excursion")
    return get_in_scope(session, Excursion, excursion_id, scope, "excursion")


# --- checks ------------------------------------------------------------------------------------------------


# The fields a message names, in the words of the form (the API's details give the field's code).
FIELD_WORDS = {"min_c": "Lowest temperature", "max_c": "Highest temperature", "started_at": "From",
               "ended_at": "To", "note": "Note"}


def _celsius(value: Decimal, name: str) -> Decimal:
    words = FIELD_WORDS[name]
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValidationError(f"{words}: give a temperature in °C.", field=name)
    if not MIN_READING_C <= value <= MAX_READING_C:
        # The bounds, never the value: 1e999999 would be printed in full, or overflow on the way.
        raise ValidationError(f"{words}: not a plausible fridge temperature (give one from {MIN_READING_C} to "
                              f"{MAX_READING_C} °C).", field=name)
    if value != value.quantize(Decimal("0.0001")):
        raise ValidationError(f"{words}: at most 4 decimal places.", field=name)
    return value


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError("Say why (e.g. the manufacturer confirmed stability).", field="reason")
    if len(text) > MAX_REASON:
        raise ValidationError(f"reason: at most {MAX_REASON} characters.", field="reason")
    return text


def _ensure_id(value: int, what: str) -> None:
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"No {what} with id {value}.", id=value)
