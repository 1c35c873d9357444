"""The life of one container, and whether it may be used now: the one home of these rules.

A container is received **sealed**; a powder is reconstituted (or any container is first
drawn from) and is then **in use**, possibly **bound** to the patient and treatment it was
opened for; it ends **empty** (drawn to zero) or **discarded** (wasted), and may be **in
transit** to another clinic. Receiving, the cart, kits, counts, transfers, recalls and
reports ask this module; none restates a rule.

Pure: no Flask and no database session. Functions read the attributes of a container and
its lot, product and clinic (the ORM objects, or any objects shaped like the protocols
below) and answer with a value, or raise the :class:`~inventory.errors.DomainError` whose
code and message say why not. Locking and writing stay in the services.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from inventory.errors import (
    BeyondUse,
    ContainerEmpty,
    ContainerInTransit,
    ContainerOnHold,
    ContainerOtherPatient,
    DomainError,
    InsufficientQuantity,
    LotExpired,
    LotQuarantined,
    LotRecalled,
    NotReconstituted,
    UnknownContainer,
    ValidationError,
)
from inventory.models.base import QUANTITY_SCALE, plain_quantity
from inventory.models.catalog import ProductKind
from inventory.models.stock import ContainerState, LotStatus, MovementKind
from inventory.services.clock import api_moment, clinic_today, format_clinic_time, format_date
from inventory.words import hundredths

__all__ = [
    "HELD_STATES",
    "POOLED_UNITS",
    "LIVE_STATES",
    "SET_ASIDE_STATUSES",
    "Dose",
    "accepted_units",
    "concentration",
    "dose",
    "ensure_counted_whole_if_sealed",
    "ensure_drawable",
    "ensure_enough",
    "ensure_fit_for_kit",
    "ensure_has_stock",
    "ensure_lot_may_be_wasted",
    "ensure_lot_usable",
    "ensure_may_waste",
    "ensure_not_on_hold",
    "ensure_patient_may_use",
    "ensure_within_in_use_time",
    "is_opened",
    "is_sealed_whole",
    "is_set_aside",
    "open_for",
    "scan_refusal",
    "settle",
    "skipped_for_next_patient",
    "state_after_movement",
    "stock_pool",
    "takes_stock_back",
]

# Containers that hold stock someone may still use or count.
LIVE_STATES: tuple[ContainerState, ...] = (ContainerState.SEALED, ContainerState.IN_USE)
# Still stock of the chain: live, or on the road between two clinics (what a recall must take back).
HELD_STATES: tuple[ContainerState, ...] = (*LIVE_STATES, ContainerState.IN_TRANSIT)
# Lots out of use at every clinic: what is in stock of them is the safety lead's to deal with (``is_set_aside``).
SET_ASIDE_STATUSES: tuple[LotStatus, ...] = (LotStatus.QUARANTINED, LotStatus.RECALLED)

UNITS = "U"  # what a nurse types for "this product's own units"
ML = "mL"
EACH = "each"
_STEP = Decimal(1).scaleb(-QUANTITY_SCALE)  # 0.0001
# Transfers record where a container is, not how much it holds: they never change its state.
_PLACE_ONLY = frozenset({MovementKind.TRANSFER_OUT, MovementKind.TRANSFER_IN})


# --- what the rules read ----------------------------------------------------------------------


class ProductFacts(Protocol):
    name: str
    kind: ProductKind
    base_unit: str
    quantity_per_container: Decimal
    requires_reconstitution: bool
    strength_per_ml: Decimal | None
    beyond_use_hours: int | None

    @property
    def is_single_patient(self) -> bool: ...


class LotFacts(Protocol):
    id: int
    number: str
    expiry: dt.date
    status: LotStatus
    status_reason: str | None

    @property
    def product(self) -> ProductFacts: ...


class ClinicFacts(Protocol):
    timezone: str
    filler_hold_days: int


class ContainerFacts(Protocol):
    id: int
    label_code: str
    clinic_id: int
    state: ContainerState
    initial_quantity: Decimal
    remaining: Decimal
    concentration_u_per_ml: Decimal | None
    reconstituted_at: dt.datetime | None
    beyond_use_at: dt.datetime | None
    patient_id: int | None
    opened_treatment_id: int | None
    opened_at: dt.datetime | None
    on_hold_since: dt.datetime | None
    hold_reason: str | None

    @property
    def product(self) -> ProductFacts: ...

    @property
    def lot(self) -> LotFacts: ...

    @property
    def clinic(self) -> ClinicFacts: ...


class TreatmentFacts(Protocol):
    id: int
    clinic_id: int
    patient_id: int


# --- states -----------------------------------------------------------------------------------


def state_after_movement(state: ContainerState, *, kind: MovementKind, quantity: Decimal,
                         balance: Decimal) -> ContainerState:
    """The state a container is in once a movement of ``quantity`` leaves it holding ``balance``."""
    if kind in _PLACE_ONLY:
        return state
    if balance == 0 and quantity < 0:
        return ContainerState.DISCARDED if kind is MovementKind.WASTE else ContainerState.EMPTY
    if balance > 0 and state in (ContainerState.EMPTY, ContainerState.DISCARDED):
        return ContainerState.IN_USE  # a reversal or a count brought it back: it was opened before
    return state


def settle(container: ContainerFacts) -> None:
    """After a waste, a correction or a count changed what a container holds.

    Part gone from a sealed container opens it; a container holding all it was received
    with, never reconstituted nor bound to a patient, is sealed again (a count found it, or
    its only draw was reversed).
    """
    full = container.remaining == container.initial_quantity
    if container.state is ContainerState.SEALED and 0 < container.remaining < container.initial_quantity:
        container.state = ContainerState.IN_USE
    elif (container.state is ContainerState.IN_USE and full and container.reconstituted_at is None
          and container.opened_at is None and container.patient_id is None):
        container.state = ContainerState.SEALED


def takes_stock_back(container: ContainerFacts, *, undoes_what_emptied_it: bool) -> bool:
    """Whether units a correction puts back into ``container`` stay in it.

    A live container (sealed or in use; on hold too, which keeps it out of use, not out of stock) takes them
    back. One emptied, wasted or returned is out of use: whatever was in it when it went left with it (in the
    bin, or back to the supplier), so the units leave after it, unless the correction undoes the very movement
    that took it out of use (a waste, or a last draw, recorded by mistake): then it is back in use.
    """
    return container.state in LIVE_STATES or undoes_what_emptied_it


def is_opened(container: ContainerFacts) -> bool:
    """Ever opened: reconstituted, drawn from or bound to a patient (then "full" is never assumed)."""
    return (container.state is ContainerState.IN_USE or container.reconstituted_at is not None
            or container.opened_at is not None)


def is_sealed_whole(container: ContainerFacts) -> bool:
    """A medicine's sealed container (a powder or liquid vial, a filler syringe: anything but a supply) gives
    nothing out until it is opened, and Vialog records each opening (a reconstitution, a first draw, a waste of
    part of it). Until then it holds all it was received with, or it is gone. Found partly empty, it was opened
    outside Vialog, for nobody knows whom nor how long ago: never taken for an opened one with no patient, which
    the next patient could be given (a box of supplies may be partly used unrecorded)."""
    return container.product.kind is not ProductKind.SUPPLY and not is_opened(container)


def is_whole_or_nothing(container: ContainerFacts) -> bool:
    """A powder vial not yet reconstituted holds all its powder or is gone: it is wasted whole. Part of it taken
    away would leave it "in use" with a part-vial of powder, and its reconstitution would then reckon the
    concentration on units it does not hold. (A liquid vial or a syringe is opened by the first dose drawn or
    spilt: part of it may go, and that waste is the recorded opening.)"""
    return container.product.requires_reconstitution and is_sealed_whole(container)


def ensure_whole_if_sealed(container: ContainerFacts, quantity: Decimal, *, field: str = "quantity") -> None:
    """Raises ValidationError when ``quantity`` is part of what a powder vial not yet reconstituted holds."""
    if is_whole_or_nothing(container) and 0 < quantity < container.remaining:
        raise ValidationError(
            f"{container.product.name} ({container.label_code}) is sealed powder: it is wasted whole "
            f"({plain_quantity(container.remaining)} {container.product.base_unit}, leave the quantity empty), "
            "never in part.", field=field)


def ensure_counted_whole_if_sealed(container: ContainerFacts, counted: Decimal, *, field: str = "counted") -> None:
    """Raises ValidationError when a count finds part of what a sealed container holds (``is_sealed_whole``): it
    holds it all, or it is missing."""
    if is_sealed_whole(container) and 0 < counted < container.initial_quantity:
        product = container.product
        what = ("sealed powder" if product.requires_reconstitution
                else "a sealed syringe" if product.kind is ProductKind.FILLER else "a sealed vial")
        raise ValidationError(
            f"{product.name} ({container.label_code}) is {what}: it holds its "
            f"{plain_quantity(container.initial_quantity)} {product.base_unit}, or it is missing (0). If it was "
            "opened and used without Vialog, count 0 and tell the safety lead.", field=field)


def open_for(container: ContainerFacts, *, patient_id: int, treatment_id: int, now: dt.datetime) -> None:
    """The first draw opens a container; a single-patient one is bound to this patient and treatment.

    A ready-to-use liquid (Alluzience, a Hylenex vial) is never reconstituted: its in-use time
    starts at this first puncture (DOMAIN.md), as a powder's starts at reconstitution.
    """
    if container.state is ContainerState.SEALED:
        container.state = ContainerState.IN_USE
    product = container.product
    if container.beyond_use_at is None and not product.requires_reconstitution and product.beyond_use_hours:
        container.beyond_use_at = now + dt.timedelta(hours=product.beyond_use_hours)
    if container.product.is_single_patient and container.patient_id is None:
        container.patient_id = patient_id
        container.opened_treatment_id = treatment_id
        container.opened_at = now


# --- may it be used now ------------------------------------------------------------------------


def _shortened(text: str, limit: int = 160) -> str:
    """A reason as a clause of a message: one line, at most ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def ensure_lot_usable(lot: LotFacts, *, now: dt.datetime, timezone: str) -> None:
    """Raises LotRecalled, LotQuarantined or LotExpired (after its expiry day in the clinic's zone)."""
    name = lot.product.name
    if lot.status is LotStatus.RECALLED:
        raise LotRecalled(f"Lot {lot.number} of {name} is recalled: do not use.", lot_id=lot.id)
    if lot.status is LotStatus.QUARANTINED:
        # Why, in the safety lead's words (a counterfeit watch-list entry reads "On the counterfeit watch list:
        # ..."): the nurse holding the vial learns it is suspect, not merely unusable.
        why = f" ({_shortened(lot.status_reason)})" if lot.status_reason else ""
        raise LotQuarantined(
            f"Lot {lot.number} of {name} is quarantined{why}: do not use until a safety lead releases it.",
            lot_id=lot.id,
            reason=lot.status_reason,
        )
    if lot.expiry < clinic_today(now, timezone):
        raise LotExpired(
            f"Lot {lot.number} of {name} expired on {format_date(lot.expiry)}: do not use.",
            lot_id=lot.id,
            expiry=lot.expiry.isoformat(),
        )


def expiry_contradicts(lot: LotFacts, expiry: dt.date | None) -> bool:
    """Whether a box's expiry (read from its code, GS1 AI 17, a day 00 read as the month's last day; or typed beside
    it) contradicts its lot on file: the manufacturer prints one expiry per lot, so a box that says otherwise may not
    be genuine. The one rule of it: receiving refuses such a box (LotExpiryConflict, a sign when the expiry was read
    from the code), the scan refuses it, and a trace of the scanned code warns of it. No expiry contradicts nothing."""
    return expiry is not None and expiry != lot.expiry


def ensure_has_stock(container: ContainerFacts, doing: str = "use") -> None:
    """Raises ContainerInTransit or ContainerEmpty for a container with nothing here to ``doing``."""
    name = container.product.name
    if container.state is ContainerState.IN_TRANSIT:
        raise ContainerInTransit(
            f"This {name} ({container.label_code}) is on its way to another clinic: "
            f"it cannot be used until that clinic receives it.",
            container_id=container.id,
        )
    if container.state not in LIVE_STATES or container.remaining <= 0:
        raise ContainerEmpty(
            f"This {name} ({container.label_code}) is {container.state.value}: nothing left to {doing}.",
            container_id=container.id,
            state=container.state.value,
        )


def ensure_not_on_hold(container: ContainerFacts, doing: str = "use it") -> None:
    """Raises ContainerOnHold while a safety lead has not yet released or wasted a held container.

    A hold is container-level, like a quarantine is lot-level: a cold-chain excursion where it was
    kept. Wasting it stays allowed to the safety lead (that is one way the hold ends: ``ensure_may_waste``);
    counting it too (it is still stock). ``doing`` is what the message forbids, with its "it" ("put it into a kit").
    """
    if container.on_hold_since is None:
        return
    raise ContainerOnHold(
        f"This {container.product.name} ({container.label_code}) is on hold: {container.hold_reason or 'a safety concern'}. "
        f"Do not {doing} until a safety lead releases it.",
        container_id=container.id,
        hold_reason=container.hold_reason,
        on_hold_since=api_moment(container.on_hold_since),
    )


def is_set_aside(container: ContainerFacts) -> bool:
    """Whether the container's lot is quarantined or recalled: what is in it is the safety lead's to deal with.

    Recalled stock leaves through its recall case (returned to the supplier or destroyed, as the case records);
    quarantined stock is kept as it is, as evidence (a counterfeit suspect, a lot under investigation), until the
    lot is released. Only they waste it (``ensure_lot_may_be_wasted``); what anyone else would waste by a rule
    (a closing treatment's single-patient remainder, the beyond-use waste) is left in it for them.
    """
    return container.lot.status in SET_ASIDE_STATUSES


def ensure_lot_may_be_wasted(container: ContainerFacts, *, decides_holds: bool) -> None:
    """Raises LotRecalled or LotQuarantined when someone who does not decide holds (the safety lead and the admin
    do) would waste a container of a quarantined or recalled lot (``is_set_aside``): a waste would take out of
    stock a vial the recall case must return or destroy, or the evidence the quarantine keeps, and the ledger
    would then say a nurse threw away what the case says went back to the manufacturer."""
    if decides_holds or not is_set_aside(container):
        return
    lot = container.lot
    product = container.product
    what = {ProductKind.FILLER: "syringe", ProductKind.SUPPLY: "item"}.get(product.kind, "vial")
    held = f"Lot {lot.number} of {product.name}"
    if lot.status is LotStatus.RECALLED:
        raise LotRecalled(
            f"{held} is recalled: do not waste this {what} ({container.label_code}). Set it aside for the safety "
            "lead, who returns it to the supplier or destroys it on the recall case.",
            lot_id=lot.id, container_id=container.id,
        )
    raise LotQuarantined(
        f"{held} is quarantined: do not waste this {what} ({container.label_code}). Set it aside for the safety "
        "lead: it is kept as evidence until the lot is released.",
        lot_id=lot.id, container_id=container.id, reason=lot.status_reason,
    )


def ensure_may_waste(container: ContainerFacts, *, decides_holds: bool) -> None:
    """Raises LotRecalled or LotQuarantined (``ensure_lot_may_be_wasted``), or ContainerOnHold, when someone who
    does not decide holds (DESIGN.md "Roles": the safety lead and the admin do) would waste a container of a
    quarantined or recalled lot, or a held container: wasting a held one is one of the two ways its hold ends,
    and that is the safety lead's decision, with a reason, as releasing it is. Any waste by anyone else would end
    the hold on a reason chosen at the cart ("dropped")."""
    ensure_lot_may_be_wasted(container, decides_holds=decides_holds)
    if container.on_hold_since is None or decides_holds:
        return
    raise ContainerOnHold(
        f"This {container.product.name} ({container.label_code}) is on hold after a temperature excursion: "
        "only the safety lead may release or waste it.",
        container_id=container.id,
        hold_reason=container.hold_reason,
        on_hold_since=api_moment(container.on_hold_since),
    )


def ensure_fit_for_kit(container: ContainerFacts, now: dt.datetime) -> None:
    """What goes into an emergency kit: a usable lot, not on hold, not opened for a patient, not past beyond-use.
    Raises LotRecalled, LotQuarantined, LotExpired, ContainerOnHold, ContainerOtherPatient or BeyondUse."""
    ensure_lot_usable(container.lot, now=now, timezone=container.clinic.timezone)
    ensure_not_on_hold(container, "put it into a kit")
    if container.patient_id is not None:
        # The kit is for whoever has the emergency next; a container opened for one patient serves no other.
        raise ContainerOtherPatient(
            f"{container.product.name} ({container.label_code}) was opened for a patient: it serves no one else, "
            "so it cannot go into a kit. Take a sealed one.",
            container_id=container.id,
        )
    if container.beyond_use_at is not None and container.beyond_use_at <= now:
        raise BeyondUse(
            f"{container.product.name} ({container.label_code}) is past its beyond-use time: "
            "it cannot go into a kit.",
            container_id=container.id,
        )


def skipped_for_next_patient(*, bound_to_patient: bool, beyond_use_at: dt.datetime | None,
                             now: dt.datetime, on_hold: bool = False) -> str | None:
    """Why a live container in a kit would not serve the next patient, or None when it would
    (DOMAIN.md: only sealed stock, or opened stock neither bound to a patient nor past its beyond-use
    time, and not on hold, counts). Lot state and expiry are judged per lot by the kit check itself."""
    if on_hold:
        return "on hold after a temperature excursion"
    if bound_to_patient:
        return "opened for a patient"
    if beyond_use_at is not None and beyond_use_at <= now:
        return "past its beyond-use time"
    return None


def ensure_enough(container: ContainerFacts, quantity: Decimal) -> None:
    """Raises InsufficientQuantity when ``quantity`` is more than the container holds: refused, never clamped."""
    if quantity > container.remaining:
        raise InsufficientQuantity(
            f"Only {plain_quantity(container.remaining)} {container.product.base_unit} left in this "
            f"{container.product.name} ({container.label_code}); {plain_quantity(quantity)} {container.product.base_unit} asked.",
            container_id=container.id,
            requested=plain_quantity(quantity),  # as the API writes every quantity: "96", not "96.0000"
            remaining=plain_quantity(container.remaining),
        )


def ensure_within_in_use_time(container: ContainerFacts, now: dt.datetime) -> None:
    """Raises NotReconstituted for a powder still sealed, BeyondUse once its beyond-use time has come."""
    product = container.product
    if product.requires_reconstitution and container.reconstituted_at is None:
        raise NotReconstituted(
            f"This {product.name} ({container.label_code}) is still powder: reconstitute it first.",
            container_id=container.id,
        )
    if container.beyond_use_at is not None and now >= container.beyond_use_at:
        raise BeyondUse(
            f"This {product.name} ({container.label_code}) passed its beyond-use time at "
            f"{format_clinic_time(container.beyond_use_at, container.clinic.timezone)}: do not draw, "
            "waste what is left.",
            container_id=container.id,
            beyond_use_at=api_moment(container.beyond_use_at),
        )


def ensure_patient_may_use(container: ContainerFacts, treatment: TreatmentFacts, now: dt.datetime) -> None:
    """Single-patient use (DOMAIN.md): fillers always, powders unless an admin allowed sharing.

    An opened single-patient container serves only the treatment it was opened in; a filler
    syringe may also serve the same patient later within the clinic's hold days.
    Raises ContainerOtherPatient.
    """
    product = container.product
    if not product.is_single_patient or container.patient_id is None:
        return
    what = "syringe" if product.kind is ProductKind.FILLER else "vial"
    if container.patient_id != treatment.patient_id:
        raise ContainerOtherPatient(
            f"This {product.name} {what} ({container.label_code}) was opened for another patient: "
            f"a single-patient {what} is never used for anyone else. Take a new one.",
            container_id=container.id,
        )
    if container.opened_treatment_id == treatment.id:
        return
    if product.kind is ProductKind.FILLER:
        if is_held(container, now):
            return
        raise ContainerOtherPatient(
            f"This {product.name} syringe ({container.label_code}) was opened in an earlier session and its "
            "hold time is over: waste it and take a new one.",
            container_id=container.id,
        )
    raise ContainerOtherPatient(
        f"This {product.name} vial ({container.label_code}) belongs to the earlier session in which it was "
        "opened: one patient, one session. Waste what is left and take a new vial.",
        container_id=container.id,
    )


def hold_ends_at(container: ContainerFacts) -> dt.datetime | None:
    """When an opened filler syringe kept for the same patient (the clinic's hold days) may no longer be used."""
    hold_days = container.clinic.filler_hold_days
    if hold_days <= 0 or container.opened_at is None:
        return None
    return container.opened_at + dt.timedelta(days=hold_days)


def is_held(container: ContainerFacts, now: dt.datetime) -> bool:
    """An opened filler syringe may be kept for the same patient for the clinic's hold days."""
    ends = hold_ends_at(container)
    return ends is not None and now < ends


def use_ended_at(container: ContainerFacts) -> dt.datetime | None:
    """Since when what is left in an opened container may not be drawn: its beyond-use time (a reconstituted
    powder, a punctured ready-to-use liquid), else the end of a filler syringe's hold. None: no such time."""
    if container.beyond_use_at is not None:
        return container.beyond_use_at
    return hold_ends_at(container) if container.product.kind is ProductKind.FILLER else None


def ensure_drawable(container: ContainerFacts, treatment: TreatmentFacts, now: dt.datetime) -> None:
    """Every rule a draw from ``container`` for ``treatment`` must pass, short of the quantity.

    The draw asks it with the container locked; the cart page asks it as soon as a
    container is scanned, so a refusal shows before any quantity is typed. Raises
    UnknownContainer, ContainerEmpty, ContainerInTransit, LotExpired, LotQuarantined,
    LotRecalled, ContainerOnHold, NotReconstituted, BeyondUse or ContainerOtherPatient.
    """
    if container.clinic_id != treatment.clinic_id:
        raise UnknownContainer(
            f"{container.label_code} is stock of another clinic than this treatment: use this clinic's stock.",
            container_id=container.id,
        )
    ensure_has_stock(container)
    ensure_lot_usable(container.lot, now=now, timezone=container.clinic.timezone)
    ensure_not_on_hold(container, "draw from it")
    ensure_within_in_use_time(container, now)
    ensure_patient_may_use(container, treatment, now)


def scan_refusal(container: ContainerFacts, treatment: TreatmentFacts, now: dt.datetime) -> DomainError | None:
    """Why a draw from this freshly scanned container would be refused, or None.

    A powder that is still sealed is not refused: reconstituting it is the next step.
    """
    try:
        ensure_drawable(container, treatment, now)
    except NotReconstituted:
        return None
    except DomainError as refusal:
        return refusal
    return None


# --- doses --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dose:
    """A draw in the product's base unit, with the mL and concentration it was measured by."""

    quantity: Decimal
    quantity_ml: Decimal | None
    concentration_u_per_ml: Decimal | None
    entered_unit: str


# Pharmacopoeial units measure the same enzyme activity whatever the product (DOMAIN.md): stock in
# them adds up across products, USP with USP and IU with IU. Every other unit (a toxin's U, s.U) is
# the product's own and never adds to another product's.
POOLED_UNITS = frozenset({"USP U", "IU"})


def stock_pool(product_id: int, unit: str) -> int | str:
    """What stock of this product adds up with: its unit when pooled across products, else the product."""
    return unit if unit in POOLED_UNITS else product_id


def counts_units(product: ProductFacts) -> bool:
    """Counted in its own units (U, s.U, USP U, IU), as opposed to mL or pieces."""
    return product.base_unit not in (ML, EACH)


def concentration(container: ContainerFacts) -> Decimal | None:
    """Units per mL: set at reconstitution, or printed on a liquid's label (Hylenex 150 USP U/mL)."""
    if container.concentration_u_per_ml is not None:
        return container.concentration_u_per_ml
    return container.product.strength_per_ml if counts_units(container.product) else None


def accepted_units(product: ProductFacts, per_ml: Decimal | None) -> list[str]:
    """What a nurse may type a dose in: the base unit, "U" for a product counted in units, mL when known."""
    if not counts_units(product):
        return [product.base_unit]
    accepted = list(dict.fromkeys([product.base_unit, UNITS]))
    if per_ml is not None:
        accepted.append(ML)
    return accepted


def dose(container: ContainerFacts, quantity: Decimal, unit: str) -> Dose:
    """Turns what the nurse entered into the product's base unit.

    A product counted in units takes its base unit or "U" (its own units: never another
    brand's), or "mL" when its concentration is known; a filler takes "mL"; a supply its
    base unit. Units are never converted across products. Raises ValidationError.
    """
    product = container.product
    per_ml = concentration(container)
    accepted = accepted_units(product, per_ml)
    entered = (unit or "").strip()
    if entered.casefold() not in {u.casefold() for u in accepted}:
        raise ValidationError(
            f"{product.name} is drawn in {' or '.join(accepted)}, not {entered or 'no unit'}.",
            field="unit",
            accepted=accepted,
        )
    if not counts_units(product):
        ml = quantity if product.base_unit == ML else None
        return Dose(quantity, ml, None, product.base_unit)
    if entered.casefold() == ML.casefold():
        assert per_ml is not None
        units = (quantity * per_ml).quantize(_STEP, rounding=ROUND_HALF_UP)
        if units <= 0:
            raise ValidationError(f"{plain_quantity(quantity)} mL is too small to record: check the volume.",
                                  field="quantity")
        if units > container.remaining and _ml(container.remaining, per_ml) >= quantity:
            # The last of the vial: each dose's units were rounded to the ledger's step, and a concentration such
            # as 100 U in 3 mL (33.3333 U/mL) leaves 16.6665 U where 0.5 mL is, physically, left. Asking for what
            # is left in mL takes what is left in units, never a refusal for the rounding's 0.0002 U.
            units = container.remaining
        return Dose(units, quantity, per_ml, ML)
    ml = _ml(quantity, per_ml) if per_ml else None
    entered_unit = UNITS if entered.casefold() == UNITS.casefold() else product.base_unit
    if per_ml and ml is not None and ml <= 0:
        # Its volume would be recorded as 0 mL (the ledger keeps 4 decimals): no syringe draws it, and a draw of
        # nothing is a typo, never a dose.
        raise ValidationError(
            f"{plain_quantity(quantity)} {product.base_unit} is too small to draw: at {hundredths(per_ml)} "
            f"{product.base_unit} per mL it is less than {plain_quantity(_STEP)} mL. Check the dose.",
            field="quantity")
    return Dose(quantity, ml, per_ml, entered_unit)


def _ml(units: Decimal, per_ml: Decimal) -> Decimal:
    """``units`` in mL at ``per_ml``, to the ledger's step."""
    return (units / per_ml).quantize(_STEP, rounding=ROUND_HALF_UP)
