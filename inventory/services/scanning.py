"""One entry point from whatever a scanner typed to what it names in Vialog.

Parsing is pure (``barcodes.parse_scan``); this module looks the result up. A scan
changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any, Unpack

from sqlalchemy import Select, bindparam, false, select
from sqlalchemy.orm import Session, joinedload

from inventory import lifecycle
from inventory.errors import (
    LotExpiryConflict,
    LotQuarantined,
    LotRecalled,
    ScanError,
    UnknownContainer,
    UnreadableCode,
)
from inventory.models import (
    Clinic,
    Container,
    ContainerState,
    LocationKind,
    Lot,
    LotStatus,
    Patient,
    Product,
    ProductGtin,
)
from inventory.services import lot_guard
from inventory.services.barcodes import ScannedCode, normalise_lot_number, parse_scan
from inventory.services.catalog import product_for_gtin, unknown_gtin
from inventory.services.clock import clinic_today, format_date
from inventory.services.permissions import Scope


class NumberNotCode(UnreadableCode):
    """A number typed where a code is scanned (the cart's scan field has the focus after every action): too short
    to be any code Vialog reads, so it is said to be a number, not read as a broken GS1 code."""

    code = "number_not_code"


# Shorter than any GTIN (8, 12, 13 or 14 digits) and than any GS1 code Vialog reads (it needs its GTIN, AI 01
# and 14 digits: 16 digits at least), possibly with a decimal point or comma as a quantity is typed: a number.
# Never a Vialog label (VL and 8 characters) either.
_NUMBER = re.compile(r"[0-9]{1,7}(?:[.,][0-9]*)?|[.,][0-9]+")
_NUMBER_MESSAGE = ("That looks like a number, not a code: type quantities in the Quantity field. Here, scan the "
                   "vial's Vialog label or the box's code.")
_PRODUCT_ONLY = "This code names the product only: scan or type the lot and expiry too."


@dataclass
class ScanResult:
    code: ScannedCode
    product: Product | None = None
    lot: Lot | None = None
    container: Container | None = None
    warnings: list[str] = field(default_factory=list)


# The look-ups of a scan are built once per process, with bound parameters: building a select
# with its loader options costs about as much Python as executing it, on every code scanned.
# They are SQL, never data, so nothing here can go stale.


@cache
def _container_by_label_statement() -> Select[Container]:
    return (
        select(Container)
        .where(Container.label_code == bindparam("label_code"))
        # The clinic too: its time zone judges the lot's expiry; and the product's GTINs, which the scan's
        # answer lists (one statement per scan, not two).
        .options(joinedload(Container.lot).joinedload(Lot.product).joinedload(Product.gtins),
                 joinedload(Container.location), joinedload(Container.clinic))
    )


@lru_cache(maxsize=64)
def _product_and_lot_statement(
    flags: int, clinic_ids: frozenset[int] | None
) -> Select[Product, Lot, bool, Unpack[tuple[Any, ...]]]:
    # The lot is outer-joined: a box of a known product but an unknown lot still names its product. Whether the
    # caller's clinics may see the lot (Scope.lot_visible, the one rule of every lot path) rides along as a
    # column, and so do the features' lot checks (lot_guard: the counterfeit watch list); ``flags`` (how many
    # are registered) and the scope's clinics key the cache (a few sets of clinics: one per kind of user).
    assert flags == lot_guard.flag_count()
    return (
        select(Product, Lot, Scope(clinic_ids).lot_visible(Lot.id).label("lot_visible"),
               *lot_guard.lot_flags(Product.id, bindparam("number_key")))
        .select_from(ProductGtin)
        .join(Product, Product.id == ProductGtin.product_id)
        .outerjoin(Lot, (Lot.product_id == Product.id) & (Lot.number_key == bindparam("number_key")))
        .where(ProductGtin.gtin == bindparam("gtin"))
        .options(joinedload(Product.gtins))  # all of them, as the scan's answer lists them
    )


# A label of another clinic's container reads as unknown, but a feature may know that it is on its way to the
# caller (transfers): asked only then, each returns the refusal to raise instead, or None.
OtherClinicLabel = Callable[[Session, Container, Scope], UnknownContainer | None]
_OTHER_CLINIC_LABEL: list[OtherClinicLabel] = []


def on_other_clinic_label(explain: OtherClinicLabel) -> OtherClinicLabel:
    """Registers ``explain(session, container, scope)`` (a feature's ``init_app``); again changes nothing."""
    if explain not in _OTHER_CLINIC_LABEL:
        _OTHER_CLINIC_LABEL.append(explain)
    return explain


def container_by_label(session: Session, label_code: str, scope: Scope) -> Container:
    """Raises UnknownContainer for a code not printed by Vialog for the caller's clinics (saying so, when a
    feature knows the container is on its way to them)."""
    container = session.scalars(_container_by_label_statement(), {"label_code": label_code}).unique().first()
    if container is None or not scope.allows(container.clinic_id):
        for explain in _OTHER_CLINIC_LABEL:
            if container is not None and (refusal := explain(session, container, scope)) is not None:
                raise refusal
        raise UnknownContainer(
            f"Label {label_code} is not a container of any clinic you work at. Scan the vial's Vialog label again.",
            label_code=label_code,
        )
    return container


def _product_and_lot(session: Session, gtin: str, lot_number: str, scope: Scope) -> tuple[Product, Lot | None]:
    """The product of ``gtin`` and its lot ``lot_number`` (None if not on file, or not the caller's clinics' to
    see), in one statement.

    A GTIN the catalog lacks raises UnknownProduct, whatever the lot; a known product
    with a lot not on file comes back with None. Raises LotSuspect for a watched lot, and LotRecalled or
    LotQuarantined for a lot of another clinic that may not be used anywhere.
    """
    row = session.execute(
        _product_and_lot_statement(lot_guard.flag_count(), scope.clinic_ids),
        {"gtin": gtin, "number_key": normalise_lot_number(lot_number)},
    ).unique().first()
    if row is None:
        raise unknown_gtin(gtin)
    product, lot, visible = row[0], row[1], row[2]
    if any(row[3:]):
        lot_guard.check_lot_named(session, product, lot_number)  # a check holds: it raises (lot_suspect)
    if lot is not None and not visible:
        _refuse_withdrawn_elsewhere(product, lot, lot_number)
        return product, None
    return product, lot


def _refuse_withdrawn_elsewhere(product: Product, lot: Lot, lot_number: str) -> None:
    """A lot only other clinics hold or used answers as one not on file: its id, expiry, stock and the safety
    lead's reasons are theirs. Only that it is recalled or quarantined is said, as a box of it must not be used
    anywhere (receiving refuses it chain-wide too); the lot is named as the box prints it, nothing of the record.
    Raises LotRecalled or LotQuarantined (details: ``lot_number``, no ``lot_id``)."""
    shown = lot_number.strip()
    if lot.status is LotStatus.RECALLED:
        raise LotRecalled(f"Lot {shown} of {product.name} is recalled: do not use.", lot_number=shown)
    if lot.status is LotStatus.QUARANTINED:
        raise LotQuarantined(
            f"Lot {shown} of {product.name} is quarantined: do not use until a safety lead releases it.",
            lot_number=shown)


def _refuse_patient_reference(session: Session, raw: str, scope: Scope, unreadable: UnreadableCode) -> None:
    """A patient's card scanned where a vial is expected reads as no code at all: say what it is instead. Asked
    only of what could not be read, and only in the caller's clinics."""
    ref = raw.strip()
    if not ref or len(ref) > 64:
        return
    stmt = select(Patient.id).where(Patient.external_ref == ref).limit(1)
    if session.scalar(scope.filter(stmt, Patient.clinic_id)) is not None:
        raise UnreadableCode(
            f"{ref} is a patient's reference, not a vial's code. Scan the Vialog label on the vial or syringe.",
            raw=raw, patient_reference=True) from unreadable


def box_clock(session: Session, lot: Lot, *, scope: Scope, serial: str | None, default: str) -> str:
    """The clock a box of ``lot`` is judged on when the caller's clinics keep several: that of the clinic holding
    the box's pack serial, else the one clock of the caller's clinics that hold the lot's stock; ``default`` when
    they hold none, or keep different clocks (where the box is cannot then be told). One statement."""
    is_box = (Container.serial == serial) if serial else false()
    stmt = (
        select(Clinic.timezone, is_box.label("is_box")).distinct()
        .select_from(Container).join(Clinic, Clinic.id == Container.clinic_id)
        .where(Container.lot_id == lot.id, Container.state.in_(lifecycle.HELD_STATES) | is_box)
    )
    rows = session.execute(scope.filter(stmt, Container.clinic_id)).all()
    zones = {row.timezone for row in rows if row.is_box} or {row.timezone for row in rows}
    return zones.pop() if len(zones) == 1 else default


def scan(session: Session, raw: str, *, scope: Scope, now: dt.datetime, timezone: str,
         find_box_clock: bool = False) -> ScanResult:
    """Reads a code and finds its product, lot or container.

    A Vialog label is judged on its container's clinic's clock; a box (GS1) on ``timezone``, or, with
    ``find_box_clock`` (a caller of clinics that keep several clocks), on ``box_clock``'s.

    Raises UnreadableCode (NumberNotCode for a short number: a quantity typed in the scan field), BadCheckDigit,
    UnknownProduct, UnknownContainer, and for a
    lot that may not be used LotRecalled, LotQuarantined or LotExpired; for a box LotSuspect (a watched lot,
    or one that looks like it) and LotExpiryConflict (its printed expiry is not its lot's).
    """
    try:
        code = parse_scan(raw)
    except UnreadableCode as error:
        _refuse_patient_reference(session, raw, scope, error)
        if _NUMBER.fullmatch(raw.strip()):
            raise NumberNotCode(_NUMBER_MESSAGE, raw=raw) from error
        raise
    result = ScanResult(code=code, warnings=list(code.warnings))
    if code.kind == "container":
        assert code.label_code is not None
        # A container of a watched lot was quarantined when the lot was watched (or never received): its
        # lot status refuses it below, in the one statement of a label scan.
        container = container_by_label(session, code.label_code, scope)
        lifecycle.ensure_lot_usable(container.lot, now=now, timezone=container.clinic.timezone)
        result.container, result.lot, result.product = container, container.lot, container.lot.product
        if container.on_hold_since is not None:
            result.warnings.append(
                f"This {container.product.name} is on hold ({container.hold_reason or 'a temperature excursion'}): "
                "do not use it until the safety lead releases it.")
        past_use = container.beyond_use_at is not None and container.beyond_use_at <= now
        if past_use and container.state in lifecycle.LIVE_STATES and container.remaining > 0:
            # Only while something is left to waste: an emptied or discarded vial says so itself.
            result.warnings.append("This vial is past its beyond-use time: waste what is left.")
        return result

    assert code.gtin is not None
    if code.kind == "gs1" and code.lot:
        # A watched lot: lot_suspect; another clinic's lot reads as one not on file.
        result.product, result.lot = _product_and_lot(session, code.gtin, code.lot, scope)
    else:
        result.product = product_for_gtin(session, code.gtin)
    if code.kind == "gtin":
        result.warnings.append(_PRODUCT_ONLY)
        return result
    if result.lot is not None:
        if find_box_clock:
            timezone = box_clock(session, result.lot, scope=scope, serial=code.serial, default=timezone)
        lifecycle.ensure_lot_usable(result.lot, now=now, timezone=timezone)
        ensure_box_expiry_is_lots(code, result.lot)
    elif code.expiry is not None and code.expiry < clinic_today(now, timezone):
        result.warnings.append(f"This box expired on {format_date(code.expiry)}.")
    return result


def ensure_box_expiry_is_lots(code: ScannedCode, lot: Lot) -> None:
    """Raises LotExpiryConflict when a box's printed expiry is not that of its lot on file.

    The manufacturer prints one expiry per lot: a box that contradicts the lot on file is a counterfeit
    sign, refused as receiving refuses it (the views keep the refusal on record for the safety lead),
    whether it is scanned at the cart or counted on a shelf. A code without an expiry says nothing.
    """
    if code.expiry is not None and lifecycle.expiry_contradicts(lot, code.expiry):
        raise LotExpiryConflict(
            f"This box says expiry {format_date(code.expiry)} but lot {lot.number} is on file with "
            f"{format_date(lot.expiry)}: do not use it; set it aside for the safety lead.",
            lot_id=lot.id, lot_number=lot.number, product_id=lot.product_id,
            expiry_on_file=lot.expiry.isoformat(), expiry_given=code.expiry.isoformat(),
            expiry_raw=code.expiry_raw,
        )


def container_id_of(session: Session, ref: str | int, scope: Scope) -> int:
    """A container's id from a numeric id (not read here: the service that locks it checks it)
    or from its label code (looked up). Raises UnknownContainer for what names no container."""
    text = str(ref).strip()
    if text.isascii() and text.isdigit():
        if len(text) > 10 or not 0 < int(text) < 2**31:
            raise _no_container_with_id(text)
        return int(text)
    return container_by_ref(session, text, scope).id


# A container's id is an INTEGER: at most 10 digits (2**31 - 1).
_ID_DIGITS = 10


def _no_container_with_id(text: str) -> UnknownContainer:
    """The refusal of a number naming no container, ``details.id`` the number (an integer, from a path or a body
    alike). A number longer than any id is said to be too long, never shown cut to another number."""
    if len(text) > _ID_DIGITS:
        return UnknownContainer(
            f"No container has an id of {len(text)} digits: a container's id has at most {_ID_DIGITS}. Check the "
            "number, or scan the vial's Vialog label.", id_digits=len(text))
    return UnknownContainer(f"No container with id {int(text)}.", id=int(text))


def container_by_ref(session: Session, ref: str | int, scope: Scope) -> Container:
    """A container by numeric id or by its label code (as typed or scanned)."""
    text = str(ref).strip()
    if text.isascii() and text.isdigit():
        # Ids are INTEGER on PostgreSQL: a longer number names no container and must not reach the database.
        container_id = int(text) if len(text) <= 10 else None
        container = session.get(Container, container_id) if container_id and container_id < 2**31 else None
        if container is None or not scope.allows(container.clinic_id):
            raise _no_container_with_id(text)
        return container
    try:
        code = parse_scan(text)
    except ScanError:
        code = None  # a reference, not a scan: what cannot be read names no container
    if code is None or code.kind != "container" or code.label_code is None:
        raise UnknownContainer(f"{text[:40]!r} is not a Vialog container label.", ref=text[:40])
    return container_by_label(session, code.label_code, scope)


def container_for_cart(
    session: Session, result: ScanResult, *, scope: Scope, clinic_id: int, treatment_id: int, location_id: int
) -> Container:
    """The physical container a scan at the cart means.

    A Vialog label names one container. A manufacturer's GS1 code names a lot (and,
    with a serial, one pack): then the vial already open for this treatment is
    meant, else a sealed one of that lot in this clinic: one at the treatment's own
    location first, then one in a fridge, store or room, and an emergency kit's only
    when nothing else of the lot is here (a draw from a kit empties the kit); one on
    hold comes last of all, as it cannot be used. Two open vials of the lot are
    ambiguous: the nurse scans the Vialog label instead.
    Raises UnknownContainer when the clinic holds nothing of that lot. A code naming no lot is refused with what to
    scan at the cart instead, which replaces the scan's warning to scan or type the lot and expiry (the cart has
    no lot field): it is taken out of ``result.warnings``.
    """
    if result.container is not None:
        return result.container
    code = result.code
    if result.lot is None:
        product = result.product.name if result.product is not None else "a product"
        if code.kind == "gtin" or not code.lot:
            # The product's barcode alone (on a vial or a box's side): it says which product, never which lot.
            if _PRODUCT_ONLY in result.warnings:
                result.warnings.remove(_PRODUCT_ONLY)
            raise UnknownContainer(
                f"This barcode names {product} but no lot. Scan the Vialog label on the vial, or the box's full "
                "code (the one with the lot and expiry).", gtin=code.gtin)
        raise UnknownContainer(
            f"Lot {code.lot} of {product} is not stock of this clinic. Scan the Vialog label on the vial.",
            gtin=code.gtin, lot=code.lot,
        )
    stmt = (
        select(Container)
        .where(
            Container.lot_id == result.lot.id,
            Container.clinic_id == clinic_id,
            Container.state.in_(lifecycle.LIVE_STATES),
            Container.remaining > 0,
        )
        .options(joinedload(Container.location))  # its kind ranks it below; the cart shows where it is
        .order_by(Container.id)
    )
    candidates = [c for c in session.scalars(scope.filter(stmt, Container.clinic_id))]
    if code.serial:
        by_serial = [c for c in candidates if c.serial == code.serial]
        if by_serial:
            return by_serial[0]
    open_here = [c for c in candidates if c.opened_treatment_id == treatment_id]
    if len(open_here) == 1:
        return open_here[0]
    sealed = sorted((c for c in candidates if c.state is ContainerState.SEALED), key=_nearest_first(location_id))
    if len(open_here) > 1 or not sealed:
        raise UnknownContainer(
            f"Lot {result.lot.number} has no sealed vial here"
            + (" and several open ones" if len(open_here) > 1 else "")
            + ": scan the Vialog label on the vial you hold.",
            lot_id=result.lot.id,
        )
    return sealed[0]


def _nearest_first(location_id: int) -> Callable[[Container], tuple[bool, bool, bool, int]]:
    """The order a box's scan picks among sealed containers of its lot: usable before on hold, stock
    before an emergency kit's (the kit must stay ready), the treatment's own location before the others,
    then the oldest."""
    return lambda c: (c.is_on_hold, c.location.kind is LocationKind.KIT, c.location_id != location_id, c.id)
