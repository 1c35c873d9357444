"""Receiving a box: find or create its lot, create labelled containers, record receive movements."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory import lifecycle
from inventory.cold_chain import service as cold_chain
from inventory.counterfeit import service as counterfeit
from inventory.errors import (
    DomainError,
    DuplicateSerial,
    LotExpired,
    LotExpiryConflict,
    NotFound,
    ProductRetired,
    ScanError,
    SeparatorLost,
    SupplierNotAuthorised,
    UnknownProduct,
    UnreadableCode,
    ValidationError,
)
from inventory.models import (
    Container,
    ContainerState,
    Location,
    LocationKind,
    Lot,
    LotStatus,
    MovementKind,
    Product,
    Receipt,
    User,
)
from inventory.receiving.models import PackSerial
from inventory.services import ledger, lot_guard
from inventory.services.barcodes import (
    ScannedCode,
    new_label_code,
    normalise_gtin,
    normalise_lot_number,
    parse_scan,
    refuse_lost_separator,
)
from inventory.services.catalog import product_for_gtin
from inventory.services.clock import clinic_today, format_date
from inventory.services.permissions import Scope, get_in_scope
from inventory.transfers.service import LocationIsKit
from inventory.services.uniqueness import held_once

MAX_CONTAINERS_PER_RECEIPT = 500
MAX_LOT_LENGTH = 20
_GS = "\x1d"  # the GS1 group separator

# Said after a refusal whose sign refusal_sign keeps: the person receiving knows the safety lead has it.
SAFETY_LEAD_TOLD = "The safety lead is told (Signs on the watch list)."
_MAX_CODE_KEPT = 500


def refusal_sign(session: Session, error: DomainError, *, actor_id: int, location_id: int, now: dt.datetime,
                 code: str | None = None, gtin: str | None = None, lot_number: str | None = None,
                 expiry: dt.date | None = None, supplier_id: int | None = None,
                 request_key: str | None = None) -> Callable[[Session], None] | None:
    """The sign for the safety lead that a refused receipt leaves, as a write for
    unit_of_work.record_despite_refusal (kept although the receipt is rolled back), or None for a refusal that is
    no sign. The page and the API pass what they passed to ``receive``.

    Signs: a watched lot (or one that looks like it) and a pack serial received before (counterfeit.COUNTERFEIT_SIGNS),
    a box whose printed expiry contradicts its lot on file (an expiry typed beside the code is more often a typo:
    no sign), and a delivery from a supplier that is not authorised. Each names who (``actor_id``), where (the
    clinic and place received into, "receiving"), when (``now``) and what was read: the scanned code, the product,
    lot, expiry and serial it gives or that were typed, and the supplier. The same refusal sent again under one
    ``request_key`` (the page's form key, the API's Idempotency-Key) is one sign (counterfeit.sign_of)."""
    box = read_box(session, code) if code else None
    printed_expiry = box is not None and box.expiry is not None
    if not (isinstance(error, (*counterfeit.COUNTERFEIT_SIGNS, SupplierNotAuthorised))
            or (isinstance(error, LotExpiryConflict) and printed_expiry)):
        return None
    place = session.execute(select(Location.clinic_id, Location.name).where(Location.id == location_id)).first()
    product = box.product if box is not None else _typed_product(session, gtin)
    read: dict[str, object] = {
        "code": code[:_MAX_CODE_KEPT] if code else None,
        "gtin": box.gtin if box is not None else (gtin or "").strip() or None,
        "product_id": product.id if product is not None else None,
        "product": product.name if product is not None else None,
        "lot_number": (lot_number or "").strip() or (box.lot if box is not None else None),
        "expiry": (box.expiry if box is not None and box.expiry else expiry),
        "serial": box.serial if box is not None else None,
        "location_id": location_id,
        "location": place.name if place is not None else None,
        "supplier_id": supplier_id,
        "supplier": counterfeit.supplier_names(session, {supplier_id}).get(supplier_id) if supplier_id else None,
    }
    facts = {name: value.isoformat() if isinstance(value, dt.date) else value
             for name, value in read.items() if value is not None}
    # The sign keeps the refusal as the person receiving read it (told_the_safety_lead).
    return counterfeit.sign_of(told_the_safety_lead(error), actor_id=actor_id,
                               clinic_id=place.clinic_id if place is not None else None, now=now, where="receiving",
                               facts=facts, request_key=request_key)


def told_the_safety_lead(error: DomainError) -> DomainError:
    """``error`` as the person receiving reads it once ``refusal_sign`` keeps its sign: it says the safety lead
    has it, with the same code and details."""
    return type(error)(f"{error.message} {SAFETY_LEAD_TOLD}", **error.details)


def _typed_product(session: Session, gtin: str | None) -> Product | None:
    try:
        return product_for_gtin(session, normalise_gtin(gtin.strip())) if gtin and gtin.strip() else None
    except ScanError:
        return None


def receive(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    location_id: int,
    containers: int,
    now: dt.datetime,
    code: str | None = None,
    gtin: str | None = None,
    lot_number: str | None = None,
    expiry: dt.date | None = None,
    confirm: Collection[str] = (),
    supplier_id: int | None = None,
    supplier_required: bool = False,
) -> Receipt:
    """Receives ``containers`` items of one lot into a location, in the caller's transaction.

    The lot comes from a scanned GS1 ``code`` or from typed ``gtin``, ``lot_number`` and
    ``expiry`` (a typed lot number is taken literally). A scanned lot that ends in
    something shaped like another element is refused unless ``confirm`` holds
    "separator_lost" (the person compared it with the box), or unless the typed ``lot_number`` is the lot
    before what ran into it (the code is then read with the separator restored, so a swallowed serial is
    kept); a box kept at 2-8 °C received
    anywhere but a temperature-sensitive place, unless it holds "location_not_refrigerated". ``supplier_id`` names who
    delivered it (``supplier_required``: the receiving page requires one; API clients from before suppliers may
    leave it out, unless the clinic's ``receipts_need_supplier`` is on). The box is checked before its supplier:
    a watched lot, an expiry that contradicts its lot on file, a lot on file that is expired, quarantined or recalled
    and a pack serial seen before are refused as such, before "choose the supplier" (``CHOOSE_THE_SUPPLIER``) or
    "not an authorised supplier" (the box in hand is the first thing the person receiving deals with). Raises
    UnreadableCode, SeparatorLost, BadCheckDigit, UnknownProduct, ValidationError, NotFound,
    LocationIsKit (kits are restocked from a fridge or store, never received into),
    LocationNotRefrigerated,
    SupplierNotAuthorised, LotSuspect (a watched lot), LotExpiryConflict, LotExpired,
    LotQuarantined, LotRecalled, DuplicateSerial (a pack serial received before anywhere in
    the chain, whatever the number of containers of either receipt) or ProductRetired;
    nothing is written then.
    """
    if not 1 <= containers <= MAX_CONTAINERS_PER_RECEIPT:
        raise ValidationError(
            f"Receive between 1 and {MAX_CONTAINERS_PER_RECEIPT} containers at a time.", field="containers"
        )
    location = get_in_scope(session, Location, location_id, scope, "location")
    if location.kind is LocationKind.KIT:
        # What a kit holds is checked as it goes in (transfers.move_container): a box is never received into one.
        raise LocationIsKit(
            f"{location.name} is an emergency kit: receive into a fridge or store, then restock the kit from there.",
            location_id=location.id,
        )
    serial = expiry_raw = None
    if code:
        parsed = parse_scan(code)
        if parsed.kind == "container":
            raise UnreadableCode("That is a Vialog container label, not a manufacturer's box code.")
        if gtin and gtin.strip() and normalise_gtin(gtin.strip()) != parsed.gtin:
            raise ValidationError(
                f"The scanned code names GTIN {parsed.gtin}, the typed GTIN {gtin.strip()}: give one of them.",
                field="gtin")
        gtin = parsed.gtin
        # A bare GTIN names the product only: lot and expiry are typed beside it.
        if parsed.kind == "gs1":
            if parsed.lot_if_separated is not None and lot_number and \
                    normalise_lot_number(lot_number) == normalise_lot_number(parsed.lot_if_separated):
                # The person read the shorter lot on the box: what ran into it is its own element again.
                parsed = _with_separator_restored(parsed)
            _refuse_contradiction(parsed.lot, lot_number, parsed.expiry, expiry)
            if SeparatorLost.code not in confirm:
                refuse_lost_separator(parsed)
            lot_number = parsed.lot or lot_number
            expiry = parsed.expiry or expiry
            expiry_raw = parsed.expiry_raw
            serial = parsed.serial
    elif gtin:
        gtin = normalise_gtin(gtin.strip())
    else:
        raise ValidationError("Scan the box, or type its GTIN, lot and expiry.", field="code")

    lot_number = (lot_number or "").strip()
    if not lot_number:
        raise ValidationError("The lot number is missing: type it as printed on the box.", field="lot")
    if len(lot_number) > MAX_LOT_LENGTH:
        raise ValidationError(f"A lot number has at most {MAX_LOT_LENGTH} characters.", field="lot")
    if any(character.isspace() for character in lot_number):
        # A GS1 lot (AI 10) never holds a space: "NEWLOT 7" typed for NEWLOT7 would be a second lot, missed by
        # the watch list, the trace and a recall of NEWLOT7.
        raise ValidationError(
            f"{lot_number!r}: a lot number has no spaces. Type it as printed, without the space.", field="lot")
    if expiry is None:
        raise ValidationError("The expiry date is missing: type it as printed on the box.", field="expiry")

    assert gtin is not None
    product = product_for_gtin(session, gtin)
    if not product.is_active:
        raise ProductRetired(f"{product.name} is retired from the catalog: it is no longer received.",
                             product_id=product.id)
    # The box's own refusals first (counterfeit signs among them), then who delivered it, then where it goes.
    counterfeit.refuse_watched_lot(session, product, lot_number)
    lot = _lot_on_file(session, product, lot_number, expiry)
    if lot is not None:
        lifecycle.ensure_lot_usable(lot, now=now, timezone=location.clinic.timezone)
    if serial is not None:
        # A pack of one carries its serial on its container: counterfeit defence's look-up answers at once. For
        # any pack the register's unique constraint answers (PackSerial, below); it has to hold under races
        # anyway, so no second look-up is spent on every receipt for a refusal that is rare.
        counterfeit.refuse_known_serial(session, product, serial)
    _ensure_supplier(session, location, supplier_id, required=supplier_required)
    outside_fridge = cold_chain.ensure_kept_cold(product, location,
                                                 confirmed=cold_chain.LocationNotRefrigerated.code in confirm)
    if lot is None:
        _refuse_expired_box(product, lot_number, expiry, now=now, timezone=location.clinic.timezone)
        lot = _new_lot(session, product, lot_number, expiry, expiry_raw, now)

    receipt = Receipt(
        clinic_id=location.clinic_id,
        location_id=location.id,
        lot=lot,
        received_by_id=actor.id,
        received_at=now,
        container_count=containers,
        scanned_code=code,
        supplier_id=supplier_id,
    )
    session.add(receipt)
    label_codes = _fresh_label_codes(session, containers)
    with _serial_held_once(session, product, serial):
        if serial is not None:
            session.add(PackSerial(product_id=product.id, serial=serial, receipt=receipt))
            session.flush()  # a copied pack is refused here, before its containers are made
        created = [
            Container(
                label_code=label_code,
                clinic_id=location.clinic_id,
                location_id=location.id,
                product=product,
                lot=lot,
                receipt=receipt,
                # A container's serial is unique per product (migration 0014): only a pack of one carries it.
                serial=serial if containers == 1 else None,
                state=ContainerState.SEALED,
                initial_quantity=product.quantity_per_container,
                remaining=Decimal(0),
            )
            for label_code in label_codes
        ]
        session.add_all(created)
        session.flush()
    for container in created:
        ledger.record(
            session, container, kind=MovementKind.RECEIVE, quantity=product.quantity_per_container,
            actor=actor, at=now, reason="received",
        )
    lot_guard.stock_added(session, lot, created, actor=actor, now=now)
    if outside_fridge:
        cold_chain.kept_outside_fridge(session, actor=actor, product=product, location=location, now=now,
                                       object_type="receipt", object_id=receipt.id)
    session.flush()
    return receipt


CHOOSE_THE_SUPPLIER = "Choose who delivered this box."


def _ensure_supplier(session: Session, location: Location, supplier_id: int | None, *, required: bool) -> None:
    """Who delivered the box: an authorised supplier, or none where none is asked. Raises NotFound,
    SupplierNotAuthorised or ValidationError (field ``supplier_id``)."""
    if supplier_id is not None:
        counterfeit.ensure_authorised(session, supplier_id)
    elif required:
        raise ValidationError(CHOOSE_THE_SUPPLIER, field="supplier_id")
    elif location.clinic.receipts_need_supplier:
        # The API may leave the supplier out (the contract's body predates suppliers); a clinic that has
        # switched this on receives only from a supplier it can check against the authorised list.
        raise ValidationError(
            f"Name the supplier who delivered this box: {location.clinic.name} receives only from authorised "
            "suppliers.", field="supplier_id")


@dataclass(frozen=True)
class ScannedBox:
    """What a box's code established, kept by the receiving page after a refusal that asks for the rest (the
    lot or expiry the code lacks, which reading of its lot is right), so the manager adds only that."""

    code: str  # as scanned
    gtin: str
    product: Product | None  # None: the GTIN is not in the catalog
    lot: str | None  # as read
    expiry: dt.date | None
    serial: str | None
    # The lot may have swallowed what followed it (a lost separator): the person says which reading is right.
    lot_in_question: bool = False
    # That code read with the separator restored (None when the restored reading cannot be read either).
    separated: ScannedCode | None = None


def read_box(session: Session, code: str) -> ScannedBox | None:
    """What the manufacturer's ``code`` says, for a page to show; None for a code that is no box's (unreadable, a
    Vialog label). Checks nothing else and writes nothing: receive() decides again when the box is received."""
    try:
        parsed = parse_scan(code)
    except ScanError:
        return None
    if parsed.kind == "container" or parsed.gtin is None:
        return None
    try:
        product: Product | None = product_for_gtin(session, parsed.gtin)
    except UnknownProduct:
        product = None
    separated = None
    if parsed.lot_if_separated is not None:
        try:
            separated = _with_separator_restored(parsed)
        except ScanError:
            pass  # what ran into the lot is no element after all: only the reading as scanned is offered
    return ScannedBox(code=code, gtin=parsed.gtin, product=product, lot=parsed.lot, expiry=parsed.expiry,
                      serial=parsed.serial, lot_in_question=parsed.lot_if_separated is not None, separated=separated)


def _with_separator_restored(parsed: ScannedCode) -> ScannedCode:
    """``parsed`` read again as if the separator after its ``lot_if_separated`` had not been lost: what ran into
    the lot (a serial, an expiry) is parsed as its own element, and refused as usual if it cannot be read or
    contradicts the code. Raises UnreadableCode."""
    assert parsed.lot is not None and parsed.lot_if_separated is not None
    swallowed = parsed.lot[len(parsed.lot_if_separated):]
    elements = [f"01{parsed.gtin}"]
    if parsed.expiry_raw:
        elements.append(f"17{parsed.expiry_raw}")
    if parsed.serial:
        elements.append(f"21{parsed.serial}{_GS}")
    elements.append(f"10{parsed.lot_if_separated}{_GS}{swallowed}")
    return parse_scan("".join(elements))


def _refuse_contradiction(scanned_lot: str | None, typed_lot: str | None, scanned_expiry: dt.date | None,
                         typed_expiry: dt.date | None) -> None:
    """A lot or expiry typed beside a box's code that reads otherwise: which one is the box's is not guessed."""
    if scanned_lot and typed_lot and typed_lot.strip() and \
            normalise_lot_number(typed_lot) != normalise_lot_number(scanned_lot):
        raise ValidationError(
            f"The scanned code says lot {scanned_lot}, the typed lot {typed_lot.strip()}: give one of them.",
            field="lot")
    if scanned_expiry and typed_expiry and typed_expiry != scanned_expiry:
        raise ValidationError(
            f"The scanned code says expiry {format_date(scanned_expiry)}, the typed expiry "
            f"{format_date(typed_expiry)}: give one of them.", field="expiry")


def _serial_held_once(session: Session, product: Product, serial: str | None) -> AbstractContextManager[None]:
    """Around writing a receipt's pack serial and containers. The serial may have been received before (a pack
    of several containers, which the look-up on containers does not see) or by someone else since it was
    looked up: the unique constraints on pack_serials and containers refuse the second, and the look-ups, run
    again, answer DuplicateSerial with the first receipt's details (uniqueness.held_once). The rows are made
    inside: the savepoint's rollback then takes them out of the session (it writes what was pending before it,
    the receipt)."""
    if serial is None:
        return nullcontext()
    return held_once(session, lambda: counterfeit.refuse_known_serial(session, product, serial),
                     lambda: _refuse_registered_serial(session, product, serial))


def _refuse_registered_serial(session: Session, product: Product, serial: str) -> None:
    """Raises DuplicateSerial, worded as counterfeit defence words it, if the pack serial is in the register."""
    earlier = find_pack(session, product.id, serial)
    if earlier is not None:
        raise DuplicateSerial(
            f"Pack serial {serial} of {product.name} was already received (lot {earlier.lot.number}). The same box "
            "scanned twice, or a copied code: set the box aside and tell the safety lead if it is new.",
            serial=serial, product_id=product.id, receipt_id=earlier.id,
            container_id=earlier.containers[0].id if earlier.containers else None,
        )


def find_pack(session: Session, product_id: int, serial: str) -> Receipt | None:
    """The receipt that took in the pack of this product with this serial (GS1 AI 21), if any: its containers
    are the pack's, wherever they are now. Chain-wide: the caller decides what the user may see of it."""
    return session.scalar(
        select(Receipt).join(PackSerial, PackSerial.receipt_id == Receipt.id)
        .where(PackSerial.product_id == product_id, PackSerial.serial == serial)
    )


def serial_of(session: Session, receipt_id: int) -> str | None:
    """The pack serial a receipt took in (GS1 AI 21 of its scanned code); None when the code had none."""
    return session.scalar(select(PackSerial.serial).where(PackSerial.receipt_id == receipt_id))


def _lot_on_file(session: Session, product: Product, number: str, expiry: dt.date) -> Lot | None:
    """The product's lot of this number, locked, or None for a new one. Raises LotExpiryConflict when the box's
    expiry is not the lot's (a sign of a counterfeit)."""
    # The lot's row lock: a recall opening now waits for this receipt, or this receipt sees the recall.
    lot = session.scalar(
        select(Lot).where(Lot.product_id == product.id, Lot.number_key == normalise_lot_number(number))
        .with_for_update(of=Lot).execution_options(populate_existing=True)
    )
    if lot is None:
        return None
    if lifecycle.expiry_contradicts(lot, expiry):
        raise LotExpiryConflict(
            f"Lot {lot.number} of {product.name} is on file with expiry {format_date(lot.expiry)}, "
            f"not {format_date(expiry)}. Check the box: a mismatch can mean a counterfeit.",
            lot_id=lot.id,
            expiry_on_file=lot.expiry.isoformat(),
            expiry_given=expiry.isoformat(),
        )
    return lot


def _refuse_expired_box(product: Product, number: str, expiry: dt.date, *, now: dt.datetime, timezone: str) -> None:
    """A box of a lot not on file that is expired already (after its expiry day in the clinic's zone, as
    lifecycle.ensure_lot_usable judges a lot), refused before the lot is made: the refusal names no lot id, since
    no lot was kept (an id taken for a lot rolled back is the next new lot's, and a client following it would land
    on that one). Raises LotExpired (details: ``expiry``)."""
    if expiry < clinic_today(now, timezone):
        raise LotExpired(f"Lot {number} of {product.name} expired on {format_date(expiry)}: do not use.",
                         expiry=expiry.isoformat())


def _new_lot(session: Session, product: Product, number: str, expiry: dt.date, expiry_raw: str | None,
             now: dt.datetime) -> Lot:
    """A lot first received now (flushed, for its id), once every check of the receipt has passed."""
    lot = Lot(
        product=product, number=number, number_key=normalise_lot_number(number), expiry=expiry,
        expiry_raw=expiry_raw, status=LotStatus.ACTIVE, status_changed_at=now,
    )
    session.add(lot)
    session.flush()
    return lot


def _fresh_label_codes(session: Session, count: int) -> list[str]:
    codes: set[str] = set()
    while len(codes) < count:
        wanted = {new_label_code() for _ in range(count - len(codes))}
        taken = set(session.scalars(select(Container.label_code).where(Container.label_code.in_(wanted))))
        codes |= wanted - taken
    return sorted(codes)


def get_receipt(session: Session, receipt_id: int, scope: Scope) -> Receipt:
    receipt = session.get(Receipt, receipt_id)
    if receipt is None or not scope.allows(receipt.clinic_id):
        raise NotFound(f"No receipt with id {receipt_id}.", id=receipt_id)
    return receipt
