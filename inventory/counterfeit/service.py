"""The rules of counterfeit defence (DOMAIN.md "Counterfeits, suppliers and the cold chain").

- **Suppliers**: the chain's list; a receipt names one, and one that is not authorised is refused
  (``supplier_not_authorised``). A supplier is on the list once: its name, and its licence number, belong to one
  supplier, compared as ``supplier_key`` reads them (case, spaces, width and punctuation aside), so a stopped
  supplier cannot come back under a copy of either (``supplier_name_taken``, ``supplier_licence_taken``; unique
  keys in the database refuse a second manager racing the first). The list is the chain's, so only a chain-level
  user authorises or stops a supplier, or changes an authorised one (``Forbidden``); a clinic-level manager may
  add or correct a supplier that is not authorised, for a chain-level one to review. Authorising takes the
  supplier's licence and a reason, on record (``supplier.authorised``). Suppliers authorised before that rule keep
  their authorisation (the page marks them "no licence on file"). A licence, when given, is a licence number
  (``is_licence_number``: a digit, not zeros alone): "n/a", "tbc" or "000" is refused (``validation_error``, field
  ``licence``), never kept as a licence a second supplier's "n/a" would clash with. One saved before that rule stays
  until the licence is typed again, or the supplier authorised.
- **Watch list**: suspect lot numbers, entered or imported (CSV) by a safety lead with their source, each on the
  product the alert was entered for; an entry names that lot of every product of the same brand (``_same_brand``: a
  public alert names a brand and a lot number, and a counterfeiter copies a real lot number onto any pack size).
  Receiving or scanning a watched lot is refused (``lot_suspect``); a watched lot already in stock
  is quarantined at once, and stays so while it is watched (recall's ``release`` asks ``refuse_watched_lot``
  through lot_guard): the safety lead takes it off the list first, saying why (``unwatch``). Lot numbers are
  shown as ``WatchedLot.display_number`` (trimmed, upper case) and matched on ``number_key``, and also on their
  ``loose_lot_key``: a lot that differs from a watched one only by punctuation (``XE-77812``, ``XE.77812`` for
  ``XE77812``: what a counterfeiter or a typist adds or drops) is refused and quarantined as the watched one.
  Only the watch list compares loosely: two genuine lots may differ by a dash.
- **Pack serials** are unique per product (so per GTIN) across the whole chain: a second receipt is
  refused (``duplicate_serial``).
- **Signs** for the safety lead: the ``lot.flagged_*`` audit events (a refused watched lot or serial, a box whose
  printed expiry contradicts its lot, a delivery from a supplier that is not authorised, a vial with no vacuum) and
  the watch list's quarantines.

Every function takes a Session and plain values, flushes and never commits.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import unicodedata
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, inspect, or_, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, joinedload

from inventory.counterfeit.models import (
    SUPPLIER_KEY_LENGTH,
    Supplier,
    WatchedLot,
    display_lot_number,
    licence_key,
    supplier_key,
)
from inventory.errors import (
    DomainError,
    DuplicateSerial,
    Forbidden,
    LotExpiryConflict,
    LotSuspect,
    NotFound,
    ScanError,
    SupplierNotAuthorised,
    ValidationError,
)
from inventory.models import AuditEvent, Clinic, Container, ContainerState, Lot, LotStatus, Product, Receipt, User
from inventory.services import audit_chain, lot_guard
from inventory.services.barcodes import normalise_gtin, normalise_lot_number
from inventory.services.catalog import product_for_gtin
from inventory.services.permissions import Scope
from inventory.services.uniqueness import held_once
from inventory.words import counted

MAX_NAME = 120
MAX_LICENCE = 120
MAX_LOT = 20
MAX_SOURCE = 200
MAX_NOTE = 2000
MAX_REASON = 2000
MAX_IMPORT_ROWS = 2000
MAX_ID = 2**31 - 1

# The safety lead's signs: what the flags page lists, newest first.
SIGN_ACTIONS = ("lot.flagged_no_vacuum", "lot.flagged_duplicate_serial", "lot.flagged_suspect",
                "lot.flagged_expiry_conflict", "lot.flagged_unauthorised_supplier", "lot.watch_quarantined")
COUNTERFEIT_SIGNS: tuple[type[DomainError], ...] = (LotSuspect, DuplicateSerial)
# A scanned box refused for these is a sign too: a watched lot, or a printed expiry that contradicts the lot on file
# (at receiving a typed expiry that differs is more often a typo, and is refused without a sign; receiving's
# refusal_sign decides).
SCAN_SIGNS: tuple[type[DomainError], ...] = (LotSuspect, LotExpiryConflict)


class SupplierNameTaken(DomainError):
    """Another supplier's name reads the same (``supplier_key``): one supplier, or one passing for another."""

    code = "supplier_name_taken"


class SupplierLicenceTaken(DomainError):
    """Another supplier holds the licence number (``supplier_key``): a licence is one wholesaler's."""

    code = "supplier_licence_taken"


class LotAlreadyWatched(DomainError):
    code = "lot_already_watched"


# --- suppliers ----------------------------------------------------------------------------------


def list_suppliers(session: Session) -> list[Supplier]:
    return list(session.scalars(select(Supplier).order_by(Supplier.is_authorised.desc(), Supplier.name)))


def authorised_suppliers(session: Session) -> list[Supplier]:
    return list(session.scalars(select(Supplier).where(Supplier.is_authorised).order_by(Supplier.name)))


def get_supplier(session: Session, supplier_id: int) -> Supplier:
    supplier = session.get(Supplier, supplier_id) if 1 <= supplier_id <= MAX_ID else None
    if supplier is None:
        raise NotFound(f"No supplier with id {supplier_id}.", id=supplier_id)
    return supplier


SUPPLIERS_ARE_THE_CHAINS = "The authorised suppliers are the chain's: a chain-level manager or chain-level admin authorises one."
LICENCE_TO_AUTHORISE = ("A supplier is authorised with its licence or registration number: type it as on their "
                        "licence.")
REASON_TO_AUTHORISE = "Say why this supplier is authorised (who checked its licence, where, and when)."
# The audit actions that made a supplier authorised: the page reads who did it, and when, from the latest.
AUTHORISING_ACTIONS = ("supplier.authorised", "supplier.added", "supplier.updated")


@dataclass(frozen=True)
class Authorisation:
    """Who authorised a supplier, when, and why (None for an authorisation from before reasons were asked)."""

    by: str
    at: dt.datetime
    reason: str | None


def add_supplier(session: Session, *, actor: User, name: str, now: dt.datetime, licence: str | None = None,
                 authorised: bool = True, reason: str | None = None) -> Supplier:
    """Adds a supplier to the chain's list. Authorised (the default), it needs a chain-level ``actor``
    (Forbidden: a clinic-level manager adds it not authorised, for review), its licence and a reason.
    Raises Forbidden, ValidationError, SupplierNameTaken or SupplierLicenceTaken."""
    is_authorised = bool(authorised)
    if is_authorised:
        _ensure_chain_level(actor, "Add it as not authorised: a chain-level manager or chain-level admin reviews it.")
    supplier = Supplier(name=_name(name), licence=_licence(licence, authorised=is_authorised),
                        is_authorised=is_authorised)
    why = _optional(reason, "reason", MAX_REASON)
    # "On the list already" first: a supplier typed twice, or a copy of one, is refused whatever else is missing.
    _refuse_taken_name(session, supplier.name, None)
    _refuse_taken_licence(session, supplier.licence, None)
    if is_authorised:
        _ensure_licence_and_reason(supplier.licence, why, needs_reason=True)
    with _held_once(session, supplier.name, supplier.licence, None):
        session.add(supplier)
    _audit(session, actor, now, "supplier.added", "supplier", supplier.id,
           _supplier_facts(supplier) | ({"reason": why} if why else {}))
    if is_authorised:
        _audit_authorised(session, actor, now, supplier, why)
    return supplier


def update_supplier(session: Session, *, actor: User, supplier_id: int, now: dt.datetime,
                    changes: dict[str, Any], reason: str | None = None) -> Supplier:
    """Renames a supplier, changes its licence, or authorises or stops it (``changes``: name, licence,
    authorised; absent keys stay). An authorised supplier, and authorising or stopping one, are a chain-level
    ``actor``'s (Forbidden); authorising takes its licence and a ``reason`` (which any change may carry, on
    record), and an authorised supplier keeps a licence once one is asked of it. A new name or licence is checked
    as ``add_supplier`` checks them. Raises NotFound, Forbidden, ValidationError, SupplierNameTaken or
    SupplierLicenceTaken."""
    supplier = get_supplier(session, supplier_id)
    if "authorised" in changes and not isinstance(changes["authorised"], bool):
        raise ValidationError("authorised is true or false.", field="authorised")
    was_authorised = supplier.is_authorised
    will_be_authorised = changes.get("authorised", was_authorised)
    if was_authorised or will_be_authorised:
        _ensure_chain_level(actor)
    name = _name(changes["name"]) if "name" in changes else supplier.name
    licence = (_licence(changes["licence"], authorised=will_be_authorised) if "licence" in changes
               else supplier.licence)
    why = _optional(reason, "reason", MAX_REASON)
    # Only what changes is looked up: stopping a supplier is never refused for what is on file already.
    renamed, relicensed = name != supplier.name, licence_key(licence) != supplier.licence_key
    if renamed:
        _refuse_taken_name(session, name, supplier.id)
    if relicensed:
        _refuse_taken_licence(session, licence, supplier.id)
    authorising = will_be_authorised and not was_authorised
    # A supplier authorised before licences were asked keeps its authorisation until its licence is touched.
    if authorising or (will_be_authorised and "licence" in changes):
        _ensure_licence_and_reason(licence, why, needs_reason=authorising)
    before = _supplier_facts(supplier)
    with _held_once(session, name, licence, supplier.id) if renamed or relicensed else nullcontext():
        supplier.name, supplier.licence, supplier.is_authorised = name, licence, will_be_authorised
    session.flush()
    _audit(session, actor, now, "supplier.updated", "supplier", supplier.id,
           {"from": before, "to": _supplier_facts(supplier)} | ({"reason": why} if why else {}))
    if authorising:
        _audit_authorised(session, actor, now, supplier, why)
    return supplier


def authorisations(session: Session, supplier_ids: set[int]) -> dict[int, Authorisation]:
    """By supplier: the latest audit event that made it authorised (one statement). A supplier authorised
    before ``supplier.authorised`` was recorded is found by its ``supplier.added`` or ``supplier.updated``
    event, without a reason; one with no such event (written straight to the database) is absent."""
    if not supplier_ids:
        return {}
    rows = session.execute(
        select(AuditEvent, User).outerjoin(User, AuditEvent.actor_id == User.id)
        .where(AuditEvent.object_type == "supplier", AuditEvent.object_id.in_([str(i) for i in sorted(supplier_ids)]),
               AuditEvent.action.in_(AUTHORISING_ACTIONS))
        .order_by(AuditEvent.id)
    )
    found: dict[int, Authorisation] = {}
    for event, user in rows:
        details = event.details or {}
        if event.action == "supplier.authorised":
            reason = details.get("reason")
        elif _made_authorised(event.action, details):
            reason = None
        else:
            continue
        found[int(event.object_id or 0)] = Authorisation(
            by=user.label if user is not None else "unknown", at=event.at,
            reason=reason if isinstance(reason, str) else None)
    return found


def _made_authorised(action: str, details: dict[str, Any]) -> bool:
    if action == "supplier.added":
        return details.get("authorised") is True
    before, after = details.get("from"), details.get("to")
    return (isinstance(before, dict) and isinstance(after, dict) and before.get("authorised") is False
            and after.get("authorised") is True)


def _ensure_chain_level(actor: User, hint: str = "") -> None:
    if not actor.is_chain_level:
        raise Forbidden(f"{SUPPLIERS_ARE_THE_CHAINS} {hint}".strip(), permission="authorise_suppliers")


def _ensure_licence_and_reason(licence: str | None, reason: str | None, *, needs_reason: bool) -> None:
    """Refuses an authorisation without the supplier's licence (or with a placeholder on file from before
    ``is_licence_number``, such as "n/a"), or (``needs_reason``) without a reason: each missing field is named, the
    licence first."""
    licence_problem = (LICENCE_TO_AUTHORISE if licence is None
                       else None if is_licence_number(licence) else _placeholder_on_file(licence))
    missing = ([("licence", licence_problem)] if licence_problem else []) + (
        [("reason", REASON_TO_AUTHORISE)] if needs_reason and reason is None else [])
    if missing:
        field, message = missing[0]
        raise ValidationError(message, field=field,
                              fields=[{"field": name, "problem": problem} for name, problem in missing])


def _audit_authorised(session: Session, actor: User, now: dt.datetime, supplier: Supplier,
                      reason: str | None) -> None:
    _audit(session, actor, now, "supplier.authorised", "supplier", supplier.id,
           {"name": supplier.name, "licence": supplier.licence, "reason": reason})


def ensure_authorised(session: Session, supplier_id: int) -> Supplier:
    """The supplier a receipt names. Raises NotFound or SupplierNotAuthorised."""
    supplier = get_supplier(session, supplier_id)
    if not supplier.is_authorised:
        raise SupplierNotAuthorised(
            f"{supplier.name} is not an authorised supplier: do not take this delivery in, and tell the "
            "safety lead (stock from unlicensed sellers is how counterfeits arrive).",
            supplier_id=supplier.id,
        )
    return supplier


def supplier_names(session: Session, supplier_ids: set[int | None]) -> dict[int, str]:
    ids = [i for i in supplier_ids if i is not None]
    if not ids:
        return {}
    return {sid: name for sid, name in session.execute(select(Supplier.id, Supplier.name).where(Supplier.id.in_(ids)))}


def suppliers_of_lots(session: Session, lot_ids: set[int]) -> dict[tuple[int, int], str]:
    """Who delivered each lot to each clinic, as "A, B" by (lot_id, clinic_id): one statement, for reports.
    Receipts from before suppliers were recorded add nothing (the report says "not recorded")."""
    if not lot_ids:
        return {}
    found: dict[tuple[int, int], set[str]] = {}
    rows = session.execute(
        select(Receipt.lot_id, Receipt.clinic_id, Supplier.name).join(Supplier, Receipt.supplier_id == Supplier.id)
        .where(Receipt.lot_id.in_(sorted(lot_ids))).distinct()
    )
    for lot_id, clinic_id, name in rows:
        found.setdefault((lot_id, clinic_id), set()).add(name)
    return {key: ", ".join(sorted(names)) for key, names in found.items()}


def _refuse_taken_name(session: Session, name: str, supplier_id: int | None) -> None:
    """Raises SupplierNameTaken when another supplier's name reads the same (``supplier_key``: one indexed
    look-up; the unique key refuses a second manager racing this one, ``_held_once``)."""
    with session.no_autoflush:  # a renamed supplier is not written before its new name is checked
        other = session.execute(select(Supplier.id, Supplier.name, Supplier.is_authorised).where(
            Supplier.name_key == supplier_key(name), Supplier.id != (supplier_id or 0))).first()
    if other is None:
        return
    same = ("" if other.name == name
            else f" (“{name}” reads the same: case, spaces and punctuation are not told apart)")
    stopped = ("" if other.is_authorised
               else " It is not authorised: its deliveries are refused, under any spelling of its name.")
    raise SupplierNameTaken(f"A supplier named “{other.name}” is on the list already{same}.{stopped}",
                            field="name", supplier_id=other.id)


def _refuse_taken_licence(session: Session, licence: str | None, supplier_id: int | None) -> None:
    """Raises SupplierLicenceTaken when another supplier holds the licence number (``supplier_key``, as names:
    one indexed look-up, and the unique key behind it)."""
    key = licence_key(licence)
    if key is None:
        return
    with session.no_autoflush:
        other = session.execute(select(Supplier.id, Supplier.name, Supplier.licence, Supplier.is_authorised).where(
            Supplier.licence_key == key, Supplier.id != (supplier_id or 0))).first()
    if other is None:
        return
    on_file = "" if other.licence == licence else f" (on file as “{other.licence}”)"
    stopped = "" if other.is_authorised else ", which is not authorised"
    raise SupplierLicenceTaken(
        f"Licence {licence} belongs to “{other.name}”{on_file}{stopped}: a licence is one supplier's. Deliveries "
        "under it are that supplier's; a second name on the same licence is a sign of a counterfeit seller. Check "
        "the licence on the regulator's register, and tell the safety lead if the delivery note says otherwise.",
        field="licence", supplier_id=other.id)


def _held_once(session: Session, name: str, licence: str | None,
               supplier_id: int | None) -> AbstractContextManager[None]:
    """Around writing a supplier's new or changed name and licence: another manager may have given the same one
    since it was checked, answered as SupplierNameTaken or SupplierLicenceTaken (uniqueness.held_once)."""
    return held_once(session, lambda: _refuse_taken_name(session, name, supplier_id),
                     lambda: _refuse_taken_licence(session, licence, supplier_id))


def _supplier_facts(supplier: Supplier) -> dict[str, Any]:
    return {"name": supplier.name, "licence": supplier.licence, "authorised": supplier.is_authorised}


def _name(value: Any) -> str:
    text = _optional(value, "name", MAX_NAME)
    if text is None or not supplier_key(text):
        raise ValidationError("Name the supplier as on its delivery notes.", field="name")
    if len(supplier_key(text)) > SUPPLIER_KEY_LENGTH:
        raise ValidationError("Shorten the supplier's name.", field="name")
    return text


def is_licence_number(licence: str) -> bool:
    """Whether ``licence`` can be a licence number: every wholesale or distribution licence or registration number
    has a digit ("WDA(H) 12345", "DEA RB1234563", "3005123456"), and none is zeros alone. What is typed when the
    number is not known ("n/a", "none", "tbc", "-", "unknown", "000") is none: it tells the safety lead nothing
    about whether the supplier is licensed, and under the unique licence key (``licence_key``) a second supplier's
    "n/a" would read as the first's licence. Read as the key reads it (full-width digits are digits). Pure."""
    key = supplier_key(licence)
    has_digit = any(unicodedata.category(c) == "Nd" for c in key)
    return has_digit and not all(unicodedata.decimal(c, None) == 0 for c in key)


def not_a_licence_number(licence: str, *, authorised: bool) -> str:
    """Why ``licence`` (typed, not ``is_licence_number``) is refused: for a supplier that is or is being
    authorised, which needs its licence, without offering to leave the field empty."""
    if authorised:
        return (f"Type the supplier's licence number as printed on its licence: “{licence}” is not a licence "
                "number, and an authorised supplier needs its licence.")
    return (f"Type the supplier's licence number as printed on its licence, or leave the field empty until you have "
            f"it: “{licence}” is not a licence number.")


def _placeholder_on_file(licence: str) -> str:
    # A supplier saved before is_licence_number, authorised without its licence being given again.
    return (f"The licence on file, “{licence}”, is not a licence number: type the supplier's licence number as "
            "printed on its licence to authorise it.")


def _licence(value: Any, *, authorised: bool) -> str | None:
    """A licence typed (spaces around it dropped; empty is None: not known yet). Raises ValidationError for a
    placeholder (``is_licence_number``) or one too long."""
    text = _optional(value, "licence", MAX_LICENCE)
    if text is not None and not is_licence_number(text):
        raise ValidationError(not_a_licence_number(text, authorised=authorised), field="licence")
    if text is not None and len(supplier_key(text)) > SUPPLIER_KEY_LENGTH:
        raise ValidationError("Shorten the licence number.", field="licence")
    return text


# --- the watch list -----------------------------------------------------------------------------


@dataclass
class Watched:
    """A watch-list entry, and the lots in stock it quarantined."""

    entry: WatchedLot
    quarantined: list[Lot] = field(default_factory=list)


def list_watched(session: Session) -> list[WatchedLot]:
    return list(session.scalars(
        select(WatchedLot).options(joinedload(WatchedLot.product), joinedload(WatchedLot.added_by))
        .order_by(WatchedLot.added_at.desc(), WatchedLot.id.desc())
    ))


def watch(session: Session, *, actor: User, lot_number: str, source: str, now: dt.datetime,
          product_id: int | None = None, gtin: str | None = None, note: str | None = None) -> Watched:
    """Puts a product's lot number on the watch list; a lot of that number on file that is active, of that product
    or another of its brand (``_same_brand``), is quarantined at once, at every location. Raises ValidationError, NotFound, UnknownProduct or
    BadCheckDigit (a GTIN not in the catalog, or mistyped) or LotAlreadyWatched."""
    product = _product(session, product_id, gtin)
    number = _optional(lot_number, "lot_number", MAX_LOT)
    if number is None:
        raise ValidationError("Type the lot number as the alert prints it.", field="lot_number")
    text = _optional(source, "source", MAX_SOURCE)
    if text is None:
        raise ValidationError("Say where the alert comes from (who issued it, its reference).", field="source")
    key, shown = normalise_lot_number(number), display_lot_number(number)
    if not loose_lot_key(number):
        raise ValidationError("A lot number has letters or digits: type it as the alert prints it.",
                              field="lot_number")
    if session.scalar(select(WatchedLot.id).where(WatchedLot.product_id == product.id,
                                                  WatchedLot.number_key == key)) is not None:
        raise LotAlreadyWatched(f"Lot {shown} of {product.name} is on the watch list already.",
                                product_id=product.id, lot_number=shown)
    entry = WatchedLot(product_id=product.id, product=product, lot_number=number, number_key=key, source=text,
                       note=_optional(note, "note", MAX_NOTE), added_by_id=actor.id, added_at=now)
    try:
        with session.begin_nested():  # added inside the savepoint: its INSERT is what the savepoint undoes
            session.add(entry)
            session.flush()
    except IntegrityError:  # the same lot watched by someone else at this instant
        raise LotAlreadyWatched(f"Lot {shown} of {product.name} is on the watch list already.",
                                product_id=product.id, lot_number=shown) from None
    _audit(session, actor, now, "watchlist.added", "watched_lot", entry.id,
           {"product": product.name, "lot_number": shown, "typed": number, "source": text})
    return Watched(entry, _quarantine_watched(session, entry, actor=actor, now=now))


def _quarantine_watched(session: Session, entry: WatchedLot, *, actor: User, now: dt.datetime) -> list[Lot]:
    """Quarantines the active lots on file that the entry names, or that look like it (``loose_lot_key``), of its
    product and of every other product of its brand (``_same_brand``); returns them with those already quarantined."""
    matching = [lot_id for lot_id, number_key, number in session.execute(
        select(Lot.id, Lot.number_key, Lot.number).where(Lot.product_id.in_(_brand_product_ids(entry.product_id)))
        .order_by(Lot.id))
        if _names_entry(entry, number_key, loose_lot_key(number))]
    found = []
    for lot in lot_guard.lock_lots(session, matching).values():
        if lot.status is LotStatus.ACTIVE:
            _quarantine(session, lot, entry, actor=actor, now=now)
        if lot.status is LotStatus.QUARANTINED:
            found.append(lot)
    session.flush()
    return found


def _quarantine(session: Session, lot: Lot, entry: WatchedLot, *, actor: User, now: dt.datetime) -> None:
    near, sibling = lot.number_key != entry.number_key, lot.product_id != entry.product_id
    # A lot of another product of the brand names the entry's product, as the refusal does.
    of = f" of {entry.product.name}" if sibling else ""
    reason = (f"Looks like watched lot {entry.display_number}{of} on the counterfeit watch list: {entry.source}"
              if near else f"Lot {entry.display_number}{of} is on the counterfeit watch list: {entry.source}" if sibling
              else f"On the counterfeit watch list: {entry.source}")[:2000]
    before = lot.status
    lot.status, lot.status_reason, lot.status_changed_at = LotStatus.QUARANTINED, reason, now
    # Stock on the road counts: it is the stock the safety lead has to chase (it reads 0 while in transit).
    in_stock, on_the_road = Container.remaining > 0, Container.state == ContainerState.IN_TRANSIT
    held, travelling = session.execute(
        select(func.count(Container.id).filter(or_(in_stock, on_the_road)),
               func.count(Container.id).filter(on_the_road)).where(Container.lot_id == lot.id)).one()
    details: dict[str, Any] = {
        "lot_id": lot.id, "lot_number": lot.number, "product": lot.product.name, "product_id": lot.product_id,
        "from": before.value,
        "to": LotStatus.QUARANTINED.value, "reason": reason, "watched_lot_id": entry.id,
        "watched_product_id": entry.product_id, "containers_holding_stock": held, "containers_in_transit": travelling}
    if near:
        details |= {"watched_lot_number": entry.display_number, "near_match": True}
    # The same record as a safety lead's quarantine (the recall change log lists it), and a sign.
    for action in ("lot.quarantined", "lot.watch_quarantined"):
        session.add(AuditEvent(at=now, actor_id=actor.id, clinic_id=None, action=action, object_type="lot",
                               object_id=str(lot.id), details=dict(details)))


@dataclass(frozen=True)
class Unwatched:
    """A watch-list entry taken off the list (no longer in the database), and the lot of its number that
    stays quarantined until a safety lead releases it (none when no such lot is on file, or it is not
    quarantined)."""

    entry: WatchedLot
    reason: str
    quarantined: list[Lot] = field(default_factory=list)


def unwatch(session: Session, *, actor: User, entry_id: int, reason: str, now: dt.datetime) -> Unwatched:
    """Takes an entry off the watch list, with the reason on record (``watchlist.removed``): boxes of that lot
    number are received and scanned again. A lot it quarantined stays quarantined until a safety lead releases
    it, which is refused while the entry is on the list. Raises ValidationError (no reason) or NotFound."""
    text = _optional(reason, "reason", MAX_REASON)
    if text is None:
        raise ValidationError("Say why the lot is taken off the watch list (who confirmed it genuine, and how).",
                              field="reason")
    # Locked: two removals of one entry at once answer 404 to the second rather than a failed DELETE.
    entry = session.scalar(
        select(WatchedLot).where(WatchedLot.id == entry_id)
        .options(joinedload(WatchedLot.product), joinedload(WatchedLot.added_by))
        .with_for_update(of=WatchedLot).execution_options(populate_existing=True)
    ) if 1 <= entry_id <= MAX_ID else None
    if entry is None:
        raise NotFound(f"No watch-list entry with id {entry_id}.", id=entry_id)
    held = [lot for lot in session.scalars(
        select(Lot).where(Lot.product_id.in_(_brand_product_ids(entry.product_id)),
                          Lot.status == LotStatus.QUARANTINED)
        .options(joinedload(Lot.product)).order_by(Lot.id)
    ) if _names_entry(entry, lot.number_key, loose_lot_key(lot.number))]
    _audit(session, actor, now, "watchlist.removed", "watched_lot", entry.id,
           {"product": entry.product.name, "lot_number": entry.display_number, "source": entry.source,
            "note": entry.note, "added_at": entry.added_at.isoformat(), "reason": text,
            "quarantined_lot_ids": [lot.id for lot in held]})
    session.delete(entry)
    session.flush()
    return Unwatched(entry, text, held)


@dataclass(frozen=True)
class SkippedRow:
    """A row of an imported file that was not added, and why: its line in the file (the header is line 1), the code
    the refusal answers with, and the refusal in words."""

    row: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"Row {self.row}: {self.message}"


@dataclass(frozen=True)
class ImportResult:
    added: list[Watched]
    skipped: list[SkippedRow]  # every row not added, in file order, with why


# What a row may be skipped for: the row is wrong or watched already, the rest of the file is still added.
_ROW_PROBLEMS: tuple[type[DomainError], ...] = (LotAlreadyWatched, ScanError, NotFound, ValidationError)
_ROWS_NAMED = 5  # a refusal of the whole file names this many rows' problems, then counts the rest


def import_csv(session: Session, *, actor: User, text: str, source: str, now: dt.datetime) -> ImportResult:
    """Adds every row of a CSV (columns ``gtin`` or ``product_id``, ``lot_number``, optional ``source`` and
    ``note``; a row without a source takes ``source``), as ``watch`` adds one, in the caller's transaction.

    A row that cannot be added is skipped and said why (``SkippedRow``: its line, code and message), whatever is
    wrong with it: already watched (in the list or higher up in the file), naming no product, an unknown product
    or a mistyped GTIN, a lot number missing, a value too long. The good rows are added all the same: during an
    alert the lots that can be watched are watched now. A blank line is no row. The whole file is refused
    (ValidationError, field ``file``; nothing is added) when it is no CSV of this shape (no header with
    ``lot_number`` and ``gtin`` or ``product_id``, unreadable, more than MAX_IMPORT_ROWS rows), has no row, or none
    of its rows could be added nor was watched already (the message names the first rows' problems); and for a
    ``source`` too long (field ``source``)."""
    default_source = _optional(source, "source", MAX_SOURCE) or ""
    text = text.lstrip("\ufeff")
    reader = csv.DictReader(io.StringIO(text), delimiter=_delimiter(text))
    added: list[Watched] = []
    skipped: list[SkippedRow] = []
    try:
        columns = {_column(c) for c in (reader.fieldnames or [])}
        if "lot_number" not in columns or not columns & {"gtin", "product_id"}:
            raise ValidationError("The file needs a header with lot_number and gtin (or product_id).", field="file")
        for count, raw in enumerate(reader, start=1):
            if count > MAX_IMPORT_ROWS:
                raise ValidationError(f"At most {MAX_IMPORT_ROWS} rows in one file.", field="file")
            row = {_column(k or ""): (v or "").strip() for k, v in raw.items() if isinstance(v, str)}
            if not any(row.values()):
                continue  # a line of empty cells, as a spreadsheet saves below its last row
            try:
                added.append(_import_row(session, actor=actor, row=row, source=default_source, now=now))
            except _ROW_PROBLEMS as error:
                skipped.append(SkippedRow(reader.line_num, error.code, error.message))
    except csv.Error:
        raise ValidationError("The file cannot be read as a CSV: save it from the spreadsheet as CSV and import "
                              "it again.", field="file") from None
    if not added and not skipped:
        raise ValidationError("The file has no rows under its header: nothing was added.", field="file")
    if not added and all(s.code != LotAlreadyWatched.code for s in skipped):
        named = " ".join(str(s) for s in skipped[:_ROWS_NAMED])
        more = (f" {counted(len(skipped) - _ROWS_NAMED, 'more row')} could not be added either."
                if len(skipped) > _ROWS_NAMED else "")
        raise ValidationError(f"No row of the file could be added, so nothing was. {named}{more}", field="file")
    return ImportResult(added, skipped)


def _delimiter(text: str) -> str:
    """What separates the header's columns: a comma, or the semicolon a spreadsheet set to a European locale saves
    a CSV with, or a tab (a sheet copied as text). A header with none of them is one column (comma)."""
    header = text.split("\n", 1)[0]
    return max(",;\t", key=header.count) if any(d in header for d in ",;\t") else ","


def _column(name: str) -> str:
    """A header's column as the import reads it: "Lot Number", "lot-number" and "LOT_NUMBER" are lot_number, "GTIN"
    is gtin, as an alert's spreadsheet or a hand-made one heads them."""
    return "_".join(name.strip().lower().replace("-", " ").replace("_", " ").split())


def _import_row(session: Session, *, actor: User, row: dict[str, str], source: str, now: dt.datetime) -> Watched:
    """One row of an imported file, watched. Raises what ``watch`` raises, and ValidationError for a product_id
    that is no number."""
    product_id = row.get("product_id") or None
    if product_id is not None and not (product_id.isdigit() and len(product_id) <= 10):
        raise ValidationError(f"product_id is a number, not {product_id[:20]!r}.", field="product_id")
    return watch(session, actor=actor, lot_number=row.get("lot_number", ""), source=row.get("source") or source,
                 note=row.get("note") or None, now=now, product_id=int(product_id) if product_id else None,
                 gtin=row.get("gtin") or None)


def refuse_watched_lot(session: Session, product: Product, lot_number: str) -> None:
    """The lot check the core asks whenever a box names a lot (lot_guard.on_lot_named): raises LotSuspect for a
    watched lot, or one that differs from a watched lot only by punctuation (``loose_lot_key``), of this product or
    of another product of its brand (``_same_brand``: the refusal then names both). An entry of the product itself
    is named first, an exact number before a near-match. Details: ``product_id`` (the box's product),
    ``watched_product_id`` (the entry's), ``watched_lot_id``, ``source``, ``lot_number``."""
    key, loose = normalise_lot_number(lot_number), loose_lot_key(lot_number)
    watched, this = aliased(Product), aliased(Product)
    entries = list(session.scalars(
        select(WatchedLot).join(watched, watched.id == WatchedLot.product_id)
        .join(this, _same_brand(watched, this)).where(this.id == product.id)
        .options(joinedload(WatchedLot.product))
        .order_by(case((WatchedLot.product_id == product.id, 0), else_=1), WatchedLot.id)))
    entry = (next((e for e in entries if e.number_key == key), None)
             or next((e for e in entries if _names_entry(e, key, loose)), None))
    if entry is None:
        return
    facts = {"product_id": product.id, "watched_product_id": entry.product_id, "watched_lot_id": entry.id,
             "source": entry.source}
    shown = display_lot_number(lot_number)
    if entry.number_key == key:
        # Another size of the brand: the box's lot, then the entry's, so the nurse sees why a 50 U box is refused.
        what = (f"Lot {entry.display_number} of {product.name}" if entry.product_id == product.id else
                f"Lot {shown} of {product.name}: lot {entry.display_number} of {entry.product.name}")
        raise LotSuspect(
            f"{what} is on the counterfeit watch list ({entry.source}): do not receive or use it. Set the box aside "
            "and tell the safety lead.",
            lot_number=entry.display_number, **facts,
        )
    of = "" if entry.product_id == product.id else f" of {entry.product.name}"
    raise LotSuspect(
        f"Lot {shown} of {product.name} looks like watched lot {entry.display_number}{of} on the counterfeit watch "
        f"list ({entry.source}): the same letters and digits, other punctuation. Do not receive or use it. Set the "
        "box aside and tell the safety lead.",
        lot_number=shown, watched_lot_number=entry.display_number, near_match=True, **facts,
    )


def watched_lot_flag(product_id: Any, number_key: Any) -> ColumnElement[bool]:
    """When ``refuse_watched_lot`` may refuse, as an SQL condition for a scan's one statement
    (lot_guard.on_lot_named): one EXISTS, true when a product of the box's product's brand (``_same_brand``, itself
    included) has a watched lot. A near-match is judged in Python (NFKC has no SQL), so a scan of a product whose
    brand has no watched lot costs nothing more, and one of a watched brand one look-up."""
    watched, scanned = aliased(Product), aliased(Product)
    return exists().where(WatchedLot.product_id == watched.id, scanned.id == product_id,
                          _same_brand(watched, scanned))


def _same_brand(watched: Any, other: Any) -> ColumnElement[bool]:
    """Whether a watch-list entry on product ``watched`` names the lots of product ``other`` (two aliases of
    Product), the one rule of it: the same product, or the same brand (``Product.brand``, case and surrounding
    spaces aside; an empty brand names its own product only) of the same manufacturer when both name one. A public
    counterfeit alert names a brand and a lot number (FDA: Botox lot C3709C3), and a counterfeiter copies a real
    lot number onto any pack: a watched Botox 100 U lot is refused as Botox 50 U too. In SQL, so the scan's flag,
    the refusal, the quarantine and the removal read it alike."""
    brand, maker = func.lower(func.trim(watched.brand)), func.lower(func.trim(watched.manufacturer))
    other_maker = func.lower(func.trim(other.manufacturer))
    return or_(watched.id == other.id, and_(
        brand != "", brand == func.lower(func.trim(other.brand)),
        or_(maker == "", other_maker == "", maker == other_maker)))


def _brand_product_ids(product_id: int) -> Any:
    """The ids of the products whose lots an entry on ``product_id`` names (``_same_brand``), as a subquery."""
    watched, other = aliased(Product), aliased(Product)
    return select(other.id).where(watched.id == product_id, _same_brand(watched, other))


def loose_lot_key(lot_number: str) -> str:
    """A lot number reduced to its letters and digits, in order (NFKC, upper case): what the watch list compares
    besides ``number_key``, so that ``XE-77812``, ``xe.77812``, ``XE/77812``, ``XE_77812``, a lot with any other
    dash (en dash, non-breaking hyphen, ...) or typed in full-width characters all match watched ``XE77812``.
    Never used to key or match ordinary lots."""
    return "".join(c for c in unicodedata.normalize("NFKC", lot_number) if c.isalnum()).upper()


def _names_entry(entry: WatchedLot, number_key: str, loose_key: str) -> bool:
    """Whether a lot (its ``number_key`` and ``loose_lot_key``) is the watched one, or looks like it."""
    return number_key == entry.number_key or (bool(loose_key) and loose_key == loose_lot_key(entry.lot_number))


def _product(session: Session, product_id: int | None, gtin: str | None) -> Product:
    """The product a watch-list entry names: by its id, by a GTIN, or by both when they name the same product (an
    integration that knows both, or a file with both columns, sends both). Both naming different products is
    ValidationError on ``gtin``, never one of them taken silently: an alert watched on the wrong product would
    let the suspect lot through."""
    by_id = None
    if product_id is not None:
        by_id = session.get(Product, product_id) if 1 <= product_id <= MAX_ID else None
        if by_id is None:
            raise NotFound(f"No product with id {product_id}.", id=product_id)
    if not gtin or not gtin.strip():
        if by_id is None:
            raise ValidationError("Name the product: its id or its GTIN.", field="product_id")
        return by_id
    normalised = normalise_gtin(gtin.strip())
    by_gtin = product_for_gtin(session, normalised)
    if by_id is not None and by_gtin.id != by_id.id:
        raise ValidationError(
            f"GTIN {normalised} is {by_gtin.name} (product {by_gtin.id}), not product {by_id.id} ({by_id.name}): "
            "give product_id or gtin, or both of the same product.",
            field="gtin", product_id=by_id.id, gtin_product_id=by_gtin.id)
    return by_gtin


# --- pack serials -------------------------------------------------------------------------------


def refuse_known_serial(session: Session, product: Product, serial: str) -> None:
    """A pack serial is received once per product (so per GTIN) in the whole chain: raises DuplicateSerial."""
    seen = session.execute(
        select(Container.id, Container.clinic_id, Lot.number).join(Lot, Container.lot_id == Lot.id)
        .where(Container.product_id == product.id, Container.serial == serial).limit(1)
    ).first()
    if seen is not None:
        raise DuplicateSerial(
            f"Pack serial {serial} of {product.name} was already received (lot {seen[2]}). The same box "
            "scanned twice, or a copied code: set the box aside and tell the safety lead if it is new.",
            serial=serial, product_id=product.id, container_id=seen[0],
        )


# --- signs for the safety lead --------------------------------------------------------------------------


def sign_of(error: DomainError, *, actor_id: int, clinic_id: int | None, now: dt.datetime,
            where: str, treatment_id: int | None = None, facts: dict[str, Any] | None = None,
            request_key: str | None = None) -> Any:
    """The write (for unit_of_work.record_despite_refusal) that keeps a refused counterfeit sign on record:
    a watched lot, a pack serial seen before, an expiry that contradicts its lot, a supplier that is not authorised.
    ``facts`` adds what the refused request read (the error's own details win).

    A sign seen at a treatment (the cart) is kept once per treatment, user and lot: the refused scan's page
    reloaded, or the same box scanned again at that treatment, is the same sighting, not another one for the
    safety lead to count. A sign refused under a ``request_key`` (a page form's one-time key, an API
    Idempotency-Key; kept as its digest) is kept once per key and refusal: the form sent twice, or the request
    retried, is the same sighting too."""
    action = ("lot.flagged_duplicate_serial" if isinstance(error, DuplicateSerial)
              else "lot.flagged_expiry_conflict" if isinstance(error, LotExpiryConflict)
              else "lot.flagged_unauthorised_supplier" if isinstance(error, SupplierNotAuthorised)
              else "lot.flagged_suspect")
    details = (facts or {}) | dict(error.details) | {"message": error.message, "where": where}
    if treatment_id is not None:
        details["treatment_id"] = treatment_id
    if request_key is not None:
        details["request"] = hashlib.sha256(request_key.encode()).hexdigest()[:32]

    def write(session: Session) -> None:
        if treatment_id is not None and _seen_at_treatment(session, action, actor_id, details):
            return
        if request_key is not None and _seen_for_request(session, action, actor_id, details):
            return
        lot_guard.record_sign(session, actor_id=actor_id, clinic_id=clinic_id, action=action, details=details,
                              now=now)

    return write


def _seen_at_treatment(session: Session, action: str, actor_id: int, details: dict[str, Any]) -> bool:
    """This user's sign of this kind and lot already on record for this treatment (read in Python: the
    treatment is inside the event's JSON details, and a lot's signs are few)."""
    earlier = session.scalars(select(AuditEvent.details).where(
        AuditEvent.action == action, AuditEvent.actor_id == actor_id,
        AuditEvent.object_id == str(details.get("lot_id") or "")))
    return any((d or {}).get("treatment_id") == details["treatment_id"] and (d or {}).get("lot_number") ==
               details.get("lot_number") for d in earlier)


def _seen_for_request(session: Session, action: str, actor_id: int, details: dict[str, Any]) -> bool:
    """This refusal already on record under the same request key, by this user: the same details, key included.
    Two copies of one request racing each other are told apart as the audit chain serialises its writers (on
    PostgreSQL its advisory lock, taken here before the look-up; SQLite lets one writer in at a time)."""
    bind = session.get_bind(mapper=inspect(AuditEvent))
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": audit_chain.AUDIT_CHAIN_LOCK_KEY})
    earlier = session.scalars(select(AuditEvent.details).where(
        AuditEvent.action == action, AuditEvent.actor_id == actor_id,
        AuditEvent.object_id == str(details.get("lot_id") or "")))
    return any((d or {}).get("request") == details["request"] and d == details for d in earlier)


@dataclass(frozen=True)
class Sign:
    """One sign, with the names it is read by: its product, lot number (as shown), and clinics."""

    event: AuditEvent
    actor: str | None
    product: str | None = None
    lot_number: str | None = None  # trimmed, upper case, as watched lots are shown
    clinic: str | None = None  # where it was seen, when the event names a clinic
    first_clinic: str | None = None  # a pack serial seen twice: the clinic whose receipt took the pack in first
    timezone: str | None = None  # the clock of ``clinic``, which the page says its moment on; None: no clinic's
    watched_product: str | None = None  # a lot watched on another product of the brand: that product


def signs(session: Session, *, scope: Scope | None = None, limit: int = 200) -> list[Sign]:
    """The newest counterfeit signs first, with who, the product and the clinics: at most five statements.

    A clinic-level ``scope`` reads the signs seen at its clinics (who scanned what, where), and the lots the
    watch list quarantined at every clinic (no clinic's); a sign seen elsewhere, or on record with no clinic,
    is the chain's safety lead's. A sign records ids (``product_id``; a repeated serial also the first
    ``receipt_id`` or ``container_id``) and, for older signs of some kinds, no names: the names are read here,
    for every sign at once."""
    stmt = (select(AuditEvent, User.username, User.display_name).outerjoin(User, AuditEvent.actor_id == User.id)
            .where(AuditEvent.action.in_(SIGN_ACTIONS)).order_by(AuditEvent.id.desc()).limit(limit))
    if scope is not None and scope.clinic_ids is not None:
        stmt = stmt.where(or_(AuditEvent.clinic_id.in_(scope.clinic_ids),
                              and_(AuditEvent.clinic_id.is_(None), AuditEvent.action == "lot.watch_quarantined")))
    rows = list(session.execute(stmt))
    facts = {event.id: event.details or {} for event, _, _ in rows}
    products = _names(session, Product, {d["product_id"] for d in facts.values()
                                         if not d.get("product") and _is_id(d.get("product_id"))}
                      | {d["watched_product_id"] for d in facts.values() if _watched_elsewhere(d)})
    firsts = _first_receipt_clinics(session, {event.id: facts[event.id] for event, _, _ in rows
                                              if event.action == "lot.flagged_duplicate_serial"})
    clinics = {clinic.id: clinic for clinic in _clinics(
        session, {event.clinic_id for event, _, _ in rows if event.clinic_id is not None} | set(firsts.values()))}
    found = []
    for event, username, display in rows:
        d = facts[event.id]
        lot_number = d.get("lot_number")
        found.append(Sign(
            event, display or username,
            product=d.get("product") or (products.get(d["product_id"]) if _is_id(d.get("product_id")) else None),
            lot_number=display_lot_number(lot_number) if isinstance(lot_number, str) else None,
            clinic=clinics[event.clinic_id].name if event.clinic_id in clinics else None,
            first_clinic=clinics[firsts[event.id]].name if firsts.get(event.id) in clinics else None,
            timezone=clinics[event.clinic_id].timezone if event.clinic_id in clinics else None,
            watched_product=products.get(d["watched_product_id"]) if _watched_elsewhere(d) else None,
        ))
    return found


def _watched_elsewhere(details: dict[str, Any]) -> bool:
    """A sign of a lot watched on another product of its brand (``watched_product_id`` not its ``product_id``)."""
    watched, product = details.get("watched_product_id"), details.get("product_id")
    return _is_id(watched) and _is_id(product) and watched != product


def _first_receipt_clinics(session: Session, facts: dict[int, dict[str, Any]]) -> dict[int, int]:
    """By sign (a repeated serial): the clinic whose receipt took the pack in first, from the receipt the
    refusal names, else from its container's receipt (or the container's clinic). Two statements at most."""
    receipt_of = {sign: d["receipt_id"] for sign, d in facts.items() if _is_id(d.get("receipt_id"))}
    container_of = {sign: d["container_id"] for sign, d in facts.items()
                    if sign not in receipt_of and _is_id(d.get("container_id"))}
    by_receipt: dict[int, int] = {receipt: clinic for receipt, clinic in session.execute(
        select(Receipt.id, Receipt.clinic_id).where(Receipt.id.in_(sorted(set(receipt_of.values()))))
    )} if receipt_of else {}
    by_container: dict[int, int] = {container: clinic for container, clinic in session.execute(
        select(Container.id, func.coalesce(Receipt.clinic_id, Container.clinic_id))
        .outerjoin(Receipt, Container.receipt_id == Receipt.id)
        .where(Container.id.in_(sorted(set(container_of.values()))))
    )} if container_of else {}
    return ({sign: by_receipt[r] for sign, r in receipt_of.items() if r in by_receipt}
            | {sign: by_container[c] for sign, c in container_of.items() if c in by_container})


def _clinics(session: Session, ids: set[int]) -> list[Clinic]:
    return list(session.scalars(select(Clinic).where(Clinic.id.in_(sorted(ids))))) if ids else []


def _names(session: Session, model: type[Product] | type[Clinic], ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {i: name for i, name in session.execute(select(model.id, model.name).where(model.id.in_(sorted(ids))))}


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- small helpers --------------------------------------------------------------------------------


def _audit(session: Session, actor: User, now: dt.datetime, action: str, object_type: str, object_id: int,
           details: dict[str, Any]) -> None:
    session.add(AuditEvent(at=now, actor_id=actor.id, clinic_id=None, action=action, object_type=object_type,
                           object_id=str(object_id), details=details))
    session.flush()


def _optional(value: Any, name: str, max_length: int) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValidationError(f"{name} is text.", field=name)
    text = (value or "").strip()
    if len(text) > max_length:
        raise ValidationError(f"{name}: at most {max_length} characters.", field=name)
    return text or None
