"""Sending sealed stock from one clinic of the chain to another, through the ledger.

``move_container`` (services/transfers.py) moves a container inside one clinic in one
step. Between clinics the goods spend hours or days on the road, so the move is split
in two and recorded as a Transfer:

* ``send``: each container is locked and checked (only sealed containers of usable
  lots travel), a TRANSFER_OUT of everything in it is written at its source location,
  and it becomes ``in_transit``. An in-transit container holds nothing in any
  clinic's ledger (a database CHECK says so), so every service that takes stock
  refuses it: no draw, no reconstitution, no waste, no move, no kit, and lot counts do
  not expect it. Its clinic and location stay those of the source until it arrives.
* ``receive``: each container moves to the destination clinic and location and a
  TRANSFER_IN of the same quantity is written there; it is sealed again. It keeps its
  id, label, lot and whole history.
* ``cancel``: while in transit, the sender calls it back: a TRANSFER_IN at the source.
* ``receive`` with something missing: the destination receives what arrived and declares the
  rest missing in transit, in the same transaction. A missing container never reached the
  destination, so it never enters its ledger: the loss is the sender's, where the stock was
  last. Its TRANSFER_OUT is reversed at its source location (a REVERSAL naming it: the stock
  did not go to another clinic after all) and the container is wasted there at once (reason
  ``missing_in_transit``), so the sender's reconciliation shows it as wasted, neither as
  transferred out nor as in transit, and the container ends ``discarded``: unusable, never
  counted, its history saying why. A recall line of its lot is then marked destroyed by the
  safety lead (it cannot have been returned), as for any wasted container. The declaration
  is audited (``transfer.items_missing``: who, which containers, why), is final (a cart
  correction of that waste is refused), and the transfer ends ``received``.
* ``refuse``: the destination turns the consignment away (damaged, warm, incomplete, not
  what was ordered), with a reason. Nothing is written to the ledger: the goods travel
  back, so the containers stay ``in_transit``, in no clinic's stock, and the transfer is
  ``refused``. The source then records their return with ``cancel`` (a TRANSFER_IN at
  the source, as for a call-back), and the transfer ends ``returned``. A consignment
  refused for its temperature comes back on hold (``Container.on_hold_since``, as a
  cold-chain excursion holds it) until a safety lead releases or wastes each container.
* ``declare_lost``: the whole box never arrived (the courier lost it, or it never came
  back after a refusal). Receiving refuses a box of which nothing arrived, and a call-back
  would put stock back on the sender's shelf that never came back, so either end declares
  it lost instead, with a reason: every container is written off at the source exactly as
  a missing one is (``_declare_missing``), and the transfer ends ``lost``, settled, with
  nothing left in transit. Audited as ``transfer.lost``. Final, like a missing container.

So the source clinic's ledger shows the stock going out and the destination's shows it
coming in, and both balance. Lots and their quarantine are chain-wide: a lot
quarantined or recalled while on the road is still received (it is stock, and it must
be found where it is) but stays unusable.

Who may do what (every caller also needs Permission.RECEIVE, checked by the views):
the sender must work at the source clinic; the receiver, or refuser, at the destination
clinic; the canceller, or whoever records a return, at the source clinic. Either end declares
an in-transit box lost; once refused, only the source (which awaits it). Either end sees the transfer; anyone
else is told it does not exist. A clinic-level manager cannot otherwise see another clinic's
locations, so ``destinations`` lists every clinic's receiving locations (names only)
for the sole purpose of choosing where to send.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, aliased, joinedload, selectinload

from inventory import lifecycle
from inventory.cold_chain import service as cold_chain
from inventory.errors import (
    ContainerEmpty,
    ContainerInTransit,
    DomainError,
    LotNotUsable,
    NotFound,
    UnknownContainer,
    ValidationError,
)
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
    User,
)
from inventory.transfers.models import (
    RefusalCategory,
    Transfer,
    TransferItem,
    TransferItemMissing,
    TransferStatus,
)
from inventory.services import ledger, lot_guard, scanning
from inventory.services.container_history import LostInTransit
from inventory.services.barcodes import parse_scan
from inventory.services.clock import format_clinic_time
from inventory.services.permissions import Scope
from inventory.transfers.moves import LocationInactive
from inventory.validators import check_text
from inventory.words import listing

MAX_CONTAINERS = 200  # one consignment; a larger one is a typo or belongs in several boxes
MAX_NOTE = 2000
MAX_REFUSAL_REASON = 300  # a sentence or two: what was wrong with the box; the category says the kind
MAX_MISSING_REASON = 300  # the same for what did not arrive
MAX_LOST_REASON = MAX_MISSING_REASON  # and for a whole box lost on the road: it is written off the same way
MISSING = "missing_in_transit"  # Movement.reason of the reversal and the waste that write a missing container off
MAX_ID = 2**31 - 1
REASON = "clinic_transfer"  # Movement.reason of every TRANSFER_OUT / TRANSFER_IN written here
# Where a sender is likely to want stock to arrive, first; kits are never a destination.
_DESTINATION_ORDER = {LocationKind.FRIDGE: 0, LocationKind.STORAGE: 1, LocationKind.ROOM: 2, LocationKind.CART: 3}


# --- errors ---------------------------------------------------------------------------------


class ContainerOpened(DomainError):
    code = "container_opened"


class ContainerReconstituted(DomainError):
    code = "container_reconstituted"


class ContainerPatientBound(DomainError):
    code = "container_patient_bound"


class ContainerInKit(DomainError):
    code = "container_in_kit"


class SameClinic(DomainError):
    code = "same_clinic"


class LocationOtherClinic(DomainError):
    code = "location_other_clinic"


class MixedSourceClinics(DomainError):
    code = "mixed_source_clinics"


class LocationIsKit(DomainError):
    code = "location_is_kit"


class TransferAlreadyReceived(DomainError):
    code = "transfer_already_received"


class TransferCancelled(DomainError):
    code = "transfer_cancelled"


class TransferRefused(DomainError):
    """The destination refused it: it can no longer be received or refused, and once its return is
    recorded, nothing more happens to it."""

    code = "transfer_refused"


class TransferLost(DomainError):
    """Declared lost in transit: every container was written off at the source, and nothing more happens to it."""

    code = "transfer_lost"


class ReceivingClinicOnly(DomainError):
    """The caller sees the transfer (they work at the sending end) but may not take it in."""

    code = "receiving_clinic_only"
    status = 403


class SendingClinicOnly(DomainError):
    code = "sending_clinic_only"
    status = 403


class LossNotReversible(DomainError):
    """A container declared missing in transit is written off for good: its waste is not corrected at the cart."""

    code = "not_reversible"


# --- sending ----------------------------------------------------------------------------------


def send(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    container_ids: Sequence[int],
    to_location_id: int,
    now: dt.datetime,
    note: str | None = None,
) -> Transfer:
    """Sends sealed containers of one clinic to a location of another clinic; returns the Transfer.

    Every check runs on the locked containers before anything is written, so a refusal
    writes nothing. Raises ValidationError (no containers, too many, one twice, a note
    too long), NotFound (a container outside the sender's clinics, an unknown
    location), LocationInactive, LocationIsKit, MixedSourceClinics (containers of another clinic than the first
    one's, each named), SameClinic,
    ContainerInTransit, ContainerEmpty, ContainerReconstituted, ContainerPatientBound,
    ContainerOpened, ContainerInKit, LotRecalled, LotQuarantined or LotExpired.
    """
    ids = _container_ids(container_ids)
    note = _note(note)
    destination = _destination(session, to_location_id)
    # Locked in id order, so two senders sharing containers cannot deadlock.
    locked = {cid: ledger.lock_container(session, cid, scope) for cid in sorted(ids)}
    containers = [locked[cid] for cid in ids]
    _ensure_one_source(containers)
    source = containers[0].clinic
    if destination.clinic_id == source.id:
        raise SameClinic(
            f"{destination.name} is in {source.name}, where this stock already is: move it within the clinic "
            "instead of sending it.",
            location_id=destination.id,
        )
    for container in containers:
        ensure_sendable(container, now=now)

    transfer = Transfer(
        from_clinic_id=source.id, from_clinic=source, to_clinic_id=destination.clinic_id,
        to_clinic=destination.clinic, to_location_id=destination.id, to_location=destination,
        status=TransferStatus.IN_TRANSIT, sent_by_id=actor.id, sent_by=actor, sent_at=now, note=note,
    )
    session.add(transfer)
    session.flush()
    where = f"transfer {transfer.id} to {destination.clinic.code} · {destination.name}"
    for container in containers:
        quantity = container.remaining
        out = ledger.record(session, container, kind=MovementKind.TRANSFER_OUT, quantity=-quantity, actor=actor,
                            at=now, reason=REASON, note=where)
        container.state = ContainerState.IN_TRANSIT
        session.flush()
        transfer.items.append(TransferItem(container_id=container.id, container=container, quantity=quantity,
                                           out_movement_id=out.id))
    session.flush()
    return transfer


def ensure_sendable(container: Container, *, now: dt.datetime) -> None:
    """Raises unless ``container`` is of a usable lot, whole, sealed and outside any kit.

    Only a sealed container may leave its clinic: an opened, mixed or patient-bound one
    belongs where it was opened, and stock that may not be used stays put until a
    safety lead decides (a recall returns it to the supplier, not to another clinic).
    A recalled or quarantined lot is refused first (LotRecalled, LotQuarantined), before
    anything about the container itself; an expired lot last (LotExpired).
    """
    name = f"{container.product.name} ({container.label_code})"
    # A recalled or quarantined lot is what matters most about the container, whatever its state (a mixed vial
    # of a recalled lot is refused as recalled, not as mixed): it is checked first, with its own code.
    if container.lot.status is not LotStatus.ACTIVE:
        _ensure_lot_usable(container, name, now=now)
    if container.state is ContainerState.IN_TRANSIT:
        raise ContainerInTransit(f"{name} is already on its way to another clinic.", container_id=container.id)
    if container.state in (ContainerState.EMPTY, ContainerState.DISCARDED) or container.remaining <= 0:
        raise ContainerEmpty(f"{name} is {container.state.value}: there is nothing to send.",
                             container_id=container.id, state=container.state.value)
    if container.is_reconstituted:
        raise ContainerReconstituted(
            f"{name} has been reconstituted: a mixed vial stays in the clinic that mixed it.",
            container_id=container.id,
        )
    if container.patient_id is not None:
        raise ContainerPatientBound(
            f"{name} was opened for a patient: it stays with that patient's clinic.", container_id=container.id
        )
    if container.state is not ContainerState.SEALED or container.remaining != container.initial_quantity:
        raise ContainerOpened(f"{name} has been opened: only sealed, full containers are sent to another clinic.",
                              container_id=container.id)
    if container.location.kind is LocationKind.KIT:
        raise ContainerInKit(
            f"{name} is in {container.location.name}: take it out of the kit first, so the kit's readiness shows it.",
            container_id=container.id, location_id=container.location_id,
        )
    lifecycle.ensure_not_on_hold(container, "send it")
    _ensure_lot_usable(container, name, now=now)  # an active lot may still have expired


def _ensure_lot_usable(container: Container, name: str, *, now: dt.datetime) -> None:
    """Raises LotRecalled, LotQuarantined or LotExpired, naming the scanned container that carries the lot."""
    try:
        lifecycle.ensure_lot_usable(container.lot, now=now, timezone=container.clinic.timezone)
    except LotNotUsable as error:
        error.details["container_id"] = container.id  # which of the scanned containers carries the lot
        error.message = f"{name}: {error.message}"
        raise


def check_sendable(session: Session, *, scope: Scope, container_ref: str | int, now: dt.datetime,
                   listed: Sequence[int] = ()) -> Container:
    """The send rules for one container scanned onto a box's list, without locking or writing: the send page asks
    them per scan, so a scan is refused then, in the words ``send`` would refuse the box in. ``listed``: the ids of
    the containers already on the list, in the order they were scanned (the first one's clinic is the box's).

    Raises UnknownContainer; ValidationError (already on the list, or the list is full); MixedSourceClinics (not
    the box's clinic's stock); and what ``ensure_sendable`` raises.
    """
    container = scanning.container_by_ref(session, container_ref, scope)
    if container.id in listed:
        raise ValidationError(f"{_named(container)} is already on the list: each container is sent once.",
                              field="containers", container_id=container.id)
    if len(listed) >= MAX_CONTAINERS:
        raise ValidationError(f"A transfer takes at most {MAX_CONTAINERS} containers: send these first.",
                              field="containers")
    first = session.get(Container, listed[0]) if listed else None
    if first is not None:
        _ensure_one_source([first, container])
    ensure_sendable(container, now=now)
    return container


def _ensure_one_source(containers: Sequence[Container]) -> None:
    """A box leaves one clinic: the first container's (the first scanned). Raises MixedSourceClinics naming each
    container of another clinic and where it is, so the sender knows which to take out of the box."""
    source = containers[0].clinic
    others = [c for c in containers if c.clinic_id != source.id]
    if not others:
        return
    where = [f"{_named(c)} {'is ' if i == 0 else ''}at {c.clinic.code} · {c.location.name}"
             for i, c in enumerate(others)]
    raise MixedSourceClinics(
        f"{listing(where)}, not at {source.code}: a box from {source.code} takes {source.code}'s stock only.",
        clinic_ids=sorted({c.clinic_id for c in containers}), from_clinic_id=source.id,
        container_ids=[c.id for c in others],
    )


def _named(container: Container) -> str:
    """"VL2JHYQ8JQ (Botox 100 U)": the label first, as the sender reads it on the vial."""
    return f"{container.label_code} ({container.product.name})"


def listed_containers(session: Session, container_ids: Sequence[int], scope: Scope) -> list[Container]:
    """The containers of a box being built (the send page's list), in the order given, with what the list shows of
    each: one statement. Those outside the caller's clinics are left out."""
    if not container_ids:
        return []
    found = session.scalars(
        select(Container).where(Container.id.in_(list(container_ids)))
        .options(joinedload(Container.product), joinedload(Container.lot), joinedload(Container.location),
                 joinedload(Container.clinic))
    ).all()
    by_id = {c.id: c for c in found if scope.allows(c.clinic_id)}
    return [by_id[cid] for cid in container_ids if cid in by_id]


def destinations(session: Session, *, exclude_clinic_id: int | None = None) -> list[Location]:
    """Every active, non-kit location of every clinic of the chain, by clinic: where stock may be sent.

    Deliberately not scoped: a clinic-level manager must be able to name a location of
    a clinic they do not work at. Only names and kinds are shown; nothing in them is
    visible through this list.
    """
    stmt = (
        select(Location)
        .join(Location.clinic)
        .where(Location.is_active, Location.kind != LocationKind.KIT)
        .options(joinedload(Location.clinic))
    )
    if exclude_clinic_id is not None:
        stmt = stmt.where(Location.clinic_id != exclude_clinic_id)
    places = session.scalars(stmt).all()
    return sorted(places, key=lambda loc: (loc.clinic.name, _DESTINATION_ORDER.get(loc.kind, 9), loc.name))


# --- receiving and cancelling ------------------------------------------------------------------


def receive(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    transfer_id: int,
    now: dt.datetime,
    location_id: int | None = None,
    confirm: Collection[str] = (),
    arrived: Sequence[int | str] | None = None,
    missing: Sequence[int | str] | None = None,
    missing_reason: str | None = None,
) -> Transfer:
    """Takes a transfer into the destination clinic's stock, at its planned location or ``location_id``.

    Each container moves to the destination clinic and location, with a TRANSFER_IN
    of the quantity sent, and is sealed again. Quarantined, recalled or expired lots
    are received too (the stock is here, and must be found here), and stay unusable.
    A box kept at 2-8 °C goes into a temperature-sensitive place, as at receiving, unless
    ``confirm`` holds "location_not_refrigerated".

    When something did not arrive, the caller names either what ``arrived`` or what is
    ``missing`` (container ids or label codes of the transfer's items), with
    ``missing_reason``: the containers that arrived are received as above and the others
    are declared missing in transit in the same transaction (``_declare_missing``). At
    least one container must have arrived. Neither given: everything arrived.
    Every check runs before anything is written, so a refusal writes nothing.
    Raises NotFound (neither end in the caller's clinics, or an unknown location),
    ReceivingClinicOnly, TransferAlreadyReceived, TransferCancelled, TransferRefused,
    ValidationError (both lists, a container twice or not on the transfer, no reason,
    nothing arrived), LocationOtherClinic, LocationInactive, LocationIsKit or
    LocationNotRefrigerated.
    """
    transfer = _lock_transfer(session, transfer_id, scope)
    if not scope.allows(transfer.to_clinic_id):
        raise ReceivingClinicOnly(
            f"Only {transfer.to_clinic.name} can receive this transfer.", transfer_id=transfer.id
        )
    _ensure_in_transit(transfer)
    missing_ids = _missing_ids(transfer, arrived=arrived, missing=missing)
    reason = check_missing_reason(missing_reason) if missing_ids else None
    place = transfer.to_location if location_id is None else _receiving_location(session, location_id, transfer)
    _ensure_receiving(place)
    items = _items_locked(session, transfer)
    arriving = [item for item in items if item.container_id not in missing_ids]
    confirmed = cold_chain.LocationNotRefrigerated.code in confirm
    for product in {item.container.product.id: item.container.product for item in arriving}.values():
        if cold_chain.ensure_kept_cold(product, place, confirmed=confirmed):
            cold_chain.kept_outside_fridge(session, actor=actor, product=product, location=place, now=now,
                                           object_type="transfer", object_id=transfer.id)
    for item in arriving:
        container = item.container
        container.clinic_id, container.clinic = place.clinic_id, place.clinic
        container.location_id, container.location = place.id, place
        item.in_movement_id = _arrive(session, container, item.quantity, actor=actor, now=now,
                                      note=f"transfer {transfer.id} from {transfer.from_clinic.code}")
    transfer.status = TransferStatus.RECEIVED
    transfer.received_by_id, transfer.received_by, transfer.received_at = actor.id, actor, now
    transfer.received_location_id, transfer.received_location = place.id, place
    if reason is not None:
        _declare_missing(session, transfer, [item for item in items if item.container_id in missing_ids],
                         reason=reason, actor=actor, now=now, declared_at=transfer.to_clinic,
                         action="transfer.items_missing",
                         details={"received_container_ids": sorted(i.container_id for i in arriving)})
    session.flush()
    return transfer


def check_missing_reason(reason: str | None) -> str:
    """The receiver's reason for declaring containers missing, checked; raises ValidationError."""
    return _required_reason(reason, "missing_reason", MAX_MISSING_REASON,
                            "Say why the unticked containers are missing (e.g. not in the box, box opened).")


def _required_reason(reason: str | None, field: str, max_length: int, ask: str) -> str:
    """A reason the sending clinic reads, checked as text; ``ask`` when it is empty (raises ValidationError)."""
    text = check_text(reason, what="Reason", field=field, max_length=max_length)
    if not text:
        raise ValidationError(ask, field=field)
    _refuse_scanned_code(text, field)
    return text


def _refuse_scanned_code(text: str, field: str) -> None:
    """A wedge scanner types into whichever field has the focus, and the transfer's page is where a box's vials are
    scanned: a label or a box's barcode in a reason is a scan that missed its field, never a reason the other
    clinic and the audit trail should read (a box declared lost "because VL-000123-K")."""
    try:
        code = parse_scan(text)
    except DomainError:
        return  # words, not a code Vialog reads
    scanned = f"{code.label_code} is a vial's Vialog label" if code.kind == "container" else "That is a barcode"
    raise ValidationError(f"{scanned}, not a reason: nothing was recorded. Type the reason in words.", field=field)


def _missing_ids(transfer: Transfer, *, arrived: Sequence[int | str] | None,
                 missing: Sequence[int | str] | None) -> set[int]:
    """The container ids declared missing, from what arrived or from what is missing (ids or label codes of the
    transfer's items). Raises ValidationError: both lists, a container twice or not on the transfer, or
    nothing that arrived."""
    if arrived is not None and missing is not None:
        raise ValidationError("List what arrived or what is missing, not both.", field="missing")
    field, refs = ("arrived", arrived) if arrived is not None else ("missing", missing)
    if refs is None:
        return set()
    by_label = {item.container.label_code.upper(): item.container_id for item in transfer.items}
    on_transfer = set(by_label.values())
    named: list[int] = []
    for ref in refs:
        found = ref if isinstance(ref, int) and ref in on_transfer else (
            by_label.get(ref.strip().upper()) if isinstance(ref, str) else None)
        if found is None:
            raise ValidationError(f"{ref} is not a container of transfer {transfer.id}: list only what it carries.",
                                  field=field, container=ref, transfer_id=transfer.id)
        if found in named:
            raise ValidationError(f"{ref} is listed twice: give each container once.", field=field, container=ref)
        named.append(found)
    missing_ids = on_transfer - set(named) if field == "arrived" else set(named)
    if missing_ids == on_transfer:
        raise ValidationError(
            f"Nothing of transfer {transfer.id} would be received: receive at least the containers that arrived. "
            "If the box never came, declare it lost on the transfer's page instead: it is written off at "
            f"{transfer.from_clinic.name}, which sent it.",
            field=field, transfer_id=transfer.id,
        )
    return missing_ids


def _declare_missing(session: Session, transfer: Transfer, items: Sequence[TransferItem], *, reason: str,
                     actor: User, now: dt.datetime, declared_at: Clinic, action: str,
                     details: dict[str, object]) -> None:
    """Writes off containers that never arrived, at the source, where their stock was last (locked, in transit).

    The journey ends with a REVERSAL of each one's TRANSFER_OUT (it went to no other clinic after all: the
    sender's reconciliation stops counting it as transferred out or in transit) and the loss is a WASTE of the
    same quantity at once, reason ``missing_in_transit``: the container ends discarded, unusable and never
    counted, and a recall of its lot finds it wasted (mark its line destroyed). Stock never reaches a shelf, so
    no lot hook hears of stock added. Audited as ``action`` at ``declared_at``, the clinic of who declared it
    (the destination, for containers missing from a box it received; either end, for a box lost whole), with
    ``details`` added to what every declaration records.
    """
    route = f"transfer {transfer.id}, {transfer.from_clinic.code} → {transfer.to_clinic.code}"
    # A refused box lost on its way back did reach the destination once: it never came back from there.
    journey = (f"never came back from {transfer.to_clinic.code}" if transfer.refused_at is not None
               else f"never arrived at {transfer.to_clinic.code}")
    losses: list[int] = []
    for item in items:
        container = item.container
        back = ledger.record(
            session, container, kind=MovementKind.REVERSAL, quantity=item.quantity, actor=actor, at=now,
            reason=MISSING, note=f"{route}: {journey}, written off here",
            reverses=item.out_movement,
        )
        container.state = ContainerState.SEALED  # as it left: the waste below discards it in the same flush
        loss = ledger.record(
            session, container, kind=MovementKind.WASTE, quantity=-item.quantity, actor=actor, at=now,
            reason=MISSING, note=f"missing in transit on {route}, declared by {actor.label}: {reason}",
        )
        session.flush()
        item.in_movement_id = back.id
        item.missing = TransferItemMissing(item_id=item.id, reversal_movement_id=back.id,
                                           waste_movement_id=loss.id, reason=reason, created_at=now)
        losses.append(loss.id)
    session.add(AuditEvent(
        at=now, actor_id=actor.id, clinic_id=declared_at.id, action=action,
        object_type="transfer", object_id=str(transfer.id),
        details={"reason": reason, "from_clinic": transfer.from_clinic.code, "to_clinic": transfer.to_clinic.code,
                 "container_ids": [item.container_id for item in items],
                 "label_codes": [item.container.label_code for item in items],
                 "movement_ids": losses, **details},
    ))
    session.flush()


def refuse_reversing_a_loss(session: Session, lot: Lot, container: Container, original: Movement, actor: User,
                            now: dt.datetime) -> None:
    """A container declared missing in transit stays written off: a cart correction of that waste would put its
    stock back on the sender's shelf, where it never came back to (a lot_guard reversal check)."""
    if original.kind is MovementKind.WASTE and original.reason == MISSING:
        raise LossNotReversible(
            f"{container.product.name} ({container.label_code}) was declared missing in transit on its way to "
            "another clinic: that write-off cannot be reversed.",
            movement_id=original.id, container_id=container.id,
        )


def refuse(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    transfer_id: int,
    now: dt.datetime,
    reason: str | None,
    category: RefusalCategory = RefusalCategory.OTHER,
) -> Transfer:
    """The destination turns an in-transit consignment away, saying why; the goods go back to the source.

    Nothing enters the destination's stock and nothing is written to the ledger: the
    containers stay in transit (unusable anywhere) until the source records their return
    with ``cancel``. Recorded in the audit trail (``transfer.refused``). Raises
    ValidationError (no reason, or too long), NotFound (neither end in the caller's
    clinics), ReceivingClinicOnly, TransferAlreadyReceived, TransferCancelled or
    TransferRefused.
    """
    reason = _refusal_reason(reason)
    transfer = _lock_transfer(session, transfer_id, scope)
    if not scope.allows(transfer.to_clinic_id):
        raise ReceivingClinicOnly(
            f"Only {transfer.to_clinic.name} can refuse this transfer: it was sent to them.", transfer_id=transfer.id
        )
    _ensure_in_transit(transfer)
    transfer.status = TransferStatus.REFUSED
    transfer.refused_by_id, transfer.refused_by, transfer.refused_at = actor.id, actor, now
    transfer.refusal_category, transfer.refusal_reason = category, reason
    # The ledger does not see a refusal (no stock moves), so the audit trail says who turned it away and why.
    session.add(AuditEvent(
        at=now, actor_id=actor.id, clinic_id=transfer.to_clinic_id, action="transfer.refused",
        object_type="transfer", object_id=str(transfer.id),
        details={"category": category.value, "reason": reason, "from_clinic": transfer.from_clinic.code,
                 "to_clinic": transfer.to_clinic.code,
                 "container_ids": sorted(item.container_id for item in transfer.items)},
    ))
    session.flush()
    return transfer


def cancel(session: Session, *, actor: User, scope: Scope, transfer_id: int, now: dt.datetime) -> Transfer:
    """Brings a transfer's stock back to the source: every container returns to its source location.

    While the transfer is in transit, the sender calls it back (it ends ``cancelled``).
    Once the destination refused it, the sender records the return of the goods that came
    back (it ends ``returned``, audited as ``transfer.returned``); if it was refused for
    its temperature, every temperature-sensitive container comes back on hold, until a
    safety lead releases or wastes it. Raises NotFound, SendingClinicOnly,
    TransferAlreadyReceived, TransferCancelled or TransferRefused (its return is
    recorded already).
    """
    transfer = _lock_transfer(session, transfer_id, scope)
    if not scope.allows(transfer.from_clinic_id):
        raise SendingClinicOnly(
            f"Only {transfer.from_clinic.name}, which sent it, can call this transfer back or record its return.",
            transfer_id=transfer.id,
        )
    if transfer.is_refused:
        return _record_return(session, transfer, actor=actor, now=now)
    _ensure_in_transit(transfer)
    for item in _items_locked(session, transfer):
        item.in_movement_id = _arrive(session, item.container, item.quantity, actor=actor, now=now,
                                      note=f"transfer {transfer.id} cancelled: back in {transfer.from_clinic.code}")
    transfer.status = TransferStatus.CANCELLED
    transfer.cancelled_by_id, transfer.cancelled_by, transfer.cancelled_at = actor.id, actor, now
    session.flush()
    return transfer


def declare_lost(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    transfer_id: int,
    reason: str | None,
    now: dt.datetime,
) -> Transfer:
    """Declares a whole box lost on the road and writes every container off at the source; returns the Transfer.

    The box never arrived: receiving refuses a box of which nothing arrived, and calling it back
    would put stock on the sender's shelf that never came back. Either end may declare it (the
    sender, told by the courier; the destination, which never got it) while it is in transit;
    once refused, only the source, which awaits it back. Each container is written off exactly
    as one missing from a received box (``_declare_missing``: a REVERSAL of its TRANSFER_OUT and
    a WASTE, reason ``missing_in_transit``, at the location it left from; it ends discarded),
    so nothing stays in transit and the sender's reconciliation counts it wasted. The transfer
    ends ``lost`` (who, when, why), audited as ``transfer.lost``. Every check runs before
    anything is written. Raises ValidationError (no reason, or too long), NotFound (neither end
    in the caller's clinics), SendingClinicOnly (the destination, for a refused box),
    TransferAlreadyReceived, TransferCancelled, TransferRefused (its return is recorded) or
    TransferLost.
    """
    reason = _lost_reason(reason)
    transfer = _lock_transfer(session, transfer_id, scope)
    at_source, at_destination = scope.allows(transfer.from_clinic_id), scope.allows(transfer.to_clinic_id)
    was = transfer.status
    if transfer.is_refused:
        if not at_source:
            raise SendingClinicOnly(
                f"Transfer {transfer.id} was refused and is on its way back: only {transfer.from_clinic.name}, "
                "which awaits it, can declare it lost.",
                transfer_id=transfer.id,
            )
    else:
        _ensure_in_transit(transfer)
    items = _items_locked(session, transfer)
    # Which end said so: a caller working at both (a chain-level manager) speaks for the source, whose loss it is.
    end = "both" if at_source and at_destination else ("sending" if at_source else "receiving")
    _declare_missing(session, transfer, items, reason=reason, actor=actor, now=now,
                     declared_at=transfer.from_clinic if at_source else transfer.to_clinic,
                     action="transfer.lost", details={"end": end, "status_before": was.value})
    transfer.status = TransferStatus.LOST
    transfer.lost_by_id, transfer.lost_by, transfer.lost_at, transfer.lost_reason = actor.id, actor, now, reason
    session.flush()
    return transfer


def _lost_reason(reason: str | None) -> str:
    return _required_reason(reason, "reason", MAX_LOST_REASON,
                            "Say why the box is declared lost (e.g. the courier says the parcel was lost).")


def _record_return(session: Session, transfer: Transfer, *, actor: User, now: dt.datetime) -> Transfer:
    assert transfer.refused_by is not None and transfer.refusal_category is not None
    held: list[int] = []
    for item in _items_locked(session, transfer):
        container = item.container
        item.in_movement_id = _arrive(
            session, container, item.quantity, actor=actor, now=now,
            note=f"transfer {transfer.id} refused by {transfer.to_clinic.code}: back in {transfer.from_clinic.code}",
        )
        if _held_on_return(transfer, container, now=now):
            held.append(container.id)
    transfer.status = TransferStatus.RETURNED
    transfer.returned_by_id, transfer.returned_by, transfer.returned_at = actor.id, actor, now
    session.add(AuditEvent(
        at=now, actor_id=actor.id, clinic_id=transfer.from_clinic_id, action="transfer.returned",
        object_type="transfer", object_id=str(transfer.id),
        details={"category": transfer.refusal_category.value, "refusal_reason": transfer.refusal_reason,
                 "container_ids": sorted(item.container_id for item in transfer.items), "held_container_ids": held},
    ))
    session.flush()
    return transfer


def _held_on_return(transfer: Transfer, container: Container, *, now: dt.datetime) -> bool:
    """Puts a container refused for its temperature on hold, as a cold-chain excursion would; True if held.

    Nobody measured how warm it got, so every product with a storage range is held (supplies
    are kept at any temperature) and the safety lead judges each one, as after an excursion.
    A hold already on it keeps its own reason.
    """
    if transfer.refusal_category is not RefusalCategory.TEMPERATURE:
        return False
    if cold_chain.storage_range(container.product) is None:
        return False
    if container.on_hold_since is None:
        container.on_hold_since = now
        container.hold_reason = (
            f"refused by {transfer.to_clinic.code} for its temperature (transfer {transfer.id}): "
            f"{transfer.refusal_reason}"
        )
    return True


def _arrive(session: Session, container: Container, quantity: Decimal, *, actor: User, now: dt.datetime,
            note: str) -> int:
    movement = ledger.record(session, container, kind=MovementKind.TRANSFER_IN, quantity=quantity, actor=actor,
                             at=now, reason=REASON, note=note)
    container.state = ContainerState.SEALED  # only sealed, untouched containers were sent
    lot_guard.stock_added(session, container.lot, [container], actor=actor, now=now)
    session.flush()
    return movement.id


def _items_locked(session: Session, transfer: Transfer) -> list[TransferItem]:
    """The transfer's items with their containers locked, in id order.

    The containers are the source clinic's until they arrive, so the lock is taken
    without the caller's scope: being allowed to receive (or cancel) the transfer is
    what allows touching them.
    """
    items = sorted(transfer.items, key=lambda item: item.container_id)
    everywhere = Scope.everything()
    # The lots' row locks first: stock that arrives may race a recall of its lot (lot_guard).
    lot_guard.lock_lots(session, lot_guard.lot_ids_of(session, (item.container_id for item in items)))
    for item in items:
        container = ledger.lock_container(session, item.container_id, everywhere)
        if container.state is not ContainerState.IN_TRANSIT or container.remaining != 0:
            # Cannot happen while the ledger is only written through the services.
            raise RuntimeError(f"container {container.id} of transfer {transfer.id} is {container.state.value}")
    return items


# --- reading ---------------------------------------------------------------------------------------


def get_transfer(session: Session, transfer_id: int, scope: Scope) -> Transfer:
    """One transfer with its items, if either end is one of the caller's clinics; NotFound otherwise."""
    _ensure_id(transfer_id, "transfer")
    transfer = session.scalar(_with_details(select(Transfer).where(Transfer.id == transfer_id)))
    if transfer is None or not _visible(transfer, scope):
        raise NotFound(f"No transfer with id {transfer_id}.", id=transfer_id)
    return transfer


ON_THE_ROAD = (TransferStatus.IN_TRANSIT, TransferStatus.REFUSED)


@dataclass(frozen=True)
class TransferPage:
    """One page of a transfer list: ``next_before`` is the ``before_id`` of the next page, None on the last."""

    transfers: list[Transfer]
    next_before: int | None


def list_transfers(
    session: Session,
    *,
    scope: Scope,
    direction: str | None = None,
    status: TransferStatus | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> TransferPage:
    """Transfers to or from the caller's clinics: the first page starts with every one on the road (in
    transit, or refused and on the way back: someone has to act on each, so none is ever paged away), newest
    sent first; then the settled ones (received, called back, returned, lost), newest first, ``limit`` a page.
    ``before_id`` (the previous page's ``next_before``) pages back through the settled ones only.

    ``direction`` "incoming" keeps those whose destination is one of the caller's
    clinics, "outgoing" those whose source is; None keeps both.
    """
    stmt = select(Transfer)
    ids = scope.clinic_ids
    if ids is not None:
        incoming, outgoing = Transfer.to_clinic_id.in_(ids), Transfer.from_clinic_id.in_(ids)
        stmt = stmt.where({"incoming": incoming, "outgoing": outgoing}.get(direction or "", or_(incoming, outgoing)))
    if status is not None:
        stmt = stmt.where(Transfer.status == status)
    on_the_road: list[Transfer] = []
    if before_id is None and (status is None or status in ON_THE_ROAD):
        road = stmt.where(Transfer.status.in_(ON_THE_ROAD)).order_by(Transfer.sent_at.desc(), Transfer.id.desc())
        on_the_road = list(session.scalars(_with_details(road)).unique())
    settled = stmt.where(Transfer.status.not_in(ON_THE_ROAD))
    if before_id is not None:
        settled = settled.where(Transfer.id < before_id)
    # Ids grow with sending, so newest first by id is a stable order to page on; one more says if there is more.
    found = list(session.scalars(_with_details(settled.order_by(Transfer.id.desc()).limit(limit + 1))).unique())
    more = len(found) > limit
    found = found[:limit]
    return TransferPage(on_the_road + found, found[-1].id if more else None)


def arriving_label_refusal(session: Session, container: Container, scope: Scope) -> UnknownContainer | None:
    """What a clinic is told when it scans the label of a container still on the road to it (one statement): it
    is not the clinic's stock until a manager receives it, so scanning it again would never help. None for a
    container travelling to none of the caller's clinics: that reads as any unknown label, telling nothing of
    another clinic's stock. Asked by the core's label look-up (``scanning.on_other_clinic_label``)."""
    if scope.clinic_ids is None:
        return None
    transfer = session.scalar(
        select(Transfer).join(TransferItem, TransferItem.transfer_id == Transfer.id)
        .where(TransferItem.container_id == container.id, TransferItem.in_movement_id.is_(None),
               Transfer.to_clinic_id.in_(scope.clinic_ids))
        .options(joinedload(Transfer.to_clinic))
    )
    if transfer is None:
        return None
    # In transit, the container is still the source's: its clinic is where it comes from (or goes back to).
    what = f"This {container.label_code} ({container.lot.product.name}, lot {container.lot.number})"
    here = "here" if len(scope.clinic_ids) == 1 else f"to {transfer.to_clinic.code}"
    if transfer.is_refused:
        message = (f"{what} was refused by {transfer.to_clinic.code} on transfer #{transfer.id} and is on its way "
                   f"back to {container.clinic.code}: it is not stock of this clinic.")
    else:
        message = (f"{what} is on its way {here} from {container.clinic.code} on transfer #{transfer.id}: a "
                   "manager must receive it before it is used.")
    return UnknownContainer(message, label_code=container.label_code, transfer_id=transfer.id,
                            transfer_status=transfer.status.value)


_SENDER = aliased(Clinic, name="sender")
_DESTINATION = aliased(Clinic, name="destination")


def lost_in_transit(session: Session, container_ids: Collection[int]) -> dict[int, LostInTransit]:
    """Of these containers, those that never arrived (declared missing on receipt, or with the whole box lost),
    with the transfer and its two ends, by container id: one statement. Written off at the shelf they left from,
    they read ``discarded`` there; every page that shows where a container is says this instead
    (``container_history.lost_in_transit``). A lost container is discarded: it never travels again."""
    if not container_ids:
        return {}
    rows = session.execute(
        select(TransferItem.container_id, Transfer.id, _SENDER.code, _DESTINATION.code)
        .join(TransferItemMissing, TransferItemMissing.item_id == TransferItem.id)
        .join(Transfer, TransferItem.transfer_id == Transfer.id)
        .join(_SENDER, Transfer.from_clinic_id == _SENDER.id)
        .join(_DESTINATION, Transfer.to_clinic_id == _DESTINATION.id)
        .where(TransferItem.container_id.in_(list(container_ids)))
    )
    return {container_id: LostInTransit(transfer_id, sender, destination)
            for container_id, transfer_id, sender, destination in rows}


def _with_details(stmt: Select[Transfer]) -> Select[Transfer]:
    return stmt.options(
        joinedload(Transfer.from_clinic), joinedload(Transfer.to_clinic), joinedload(Transfer.to_location),
        joinedload(Transfer.received_location), joinedload(Transfer.sent_by), joinedload(Transfer.received_by),
        joinedload(Transfer.cancelled_by), joinedload(Transfer.refused_by), joinedload(Transfer.returned_by),
        joinedload(Transfer.lost_by),
        selectinload(Transfer.items).options(
            joinedload(TransferItem.container).options(
                joinedload(Container.product), joinedload(Container.lot).joinedload(Lot.product),
                joinedload(Container.location), joinedload(Container.clinic),
            ),
            joinedload(TransferItem.out_movement),
            selectinload(TransferItem.missing),
        ),
    )


def shows_container_now(item: TransferItem, scope: Scope) -> bool:
    """Whether the caller sees the item's container as it is now, or only as the transfer recorded it.

    Once a transfer is settled, each container is one clinic's stock again and is used there for that
    clinic's patients: a caller who does not work at that clinic (the other end of an old transfer) sees
    only what travelled, never its later state, place, patient or treatment. While the transfer is on the
    road its containers are in no clinic's stock (in transit, sealed, unusable), and both ends see them.
    Chain-level roles see everything.
    """
    return item.transfer.is_on_the_road or scope.allows(item.container.clinic_id)


def _visible(transfer: Transfer, scope: Scope) -> bool:
    return scope.allows(transfer.from_clinic_id) or scope.allows(transfer.to_clinic_id)


def _lock_transfer(session: Session, transfer_id: int, scope: Scope) -> Transfer:
    """Loads and locks a transfer, so that receiving, refusing and cancelling it never interleave."""
    _ensure_id(transfer_id, "transfer")
    transfer = session.scalar(
        select(Transfer).where(Transfer.id == transfer_id).with_for_update()
        .execution_options(populate_existing=True)
    )
    if transfer is None or not _visible(transfer, scope):
        raise NotFound(f"No transfer with id {transfer_id}.", id=transfer_id)
    return transfer


def _ensure_in_transit(transfer: Transfer) -> None:
    if transfer.status is TransferStatus.RECEIVED:
        assert transfer.received_at is not None and transfer.received_by is not None
        raise TransferAlreadyReceived(
            f"Transfer {transfer.id} was received by {transfer.received_by.label} on "
            f"{format_clinic_time(transfer.received_at, transfer.to_clinic.timezone)} "
            f"({transfer.to_clinic.code} time): it cannot be received or called back again.",
            transfer_id=transfer.id,
        )
    if transfer.status is TransferStatus.CANCELLED:
        raise TransferCancelled(
            f"Transfer {transfer.id} was called back: its stock is at {transfer.from_clinic.name} again.",
            transfer_id=transfer.id,
        )
    if transfer.status in (TransferStatus.REFUSED, TransferStatus.RETURNED):
        assert transfer.refused_at is not None and transfer.refused_by is not None
        refused = (f"Transfer {transfer.id} was refused by {transfer.to_clinic.name} ({transfer.refused_by.label}, "
                   f"{format_clinic_time(transfer.refused_at, transfer.to_clinic.timezone)} "
                   f"{transfer.to_clinic.code} time): "
                   f"{(transfer.refusal_reason or '').rstrip('.')}")
        if transfer.status is TransferStatus.REFUSED:
            tail = f"It is on its way back; {transfer.from_clinic.name} records its return."
        else:
            tail = f"Its return to {transfer.from_clinic.name} is recorded."
        raise TransferRefused(f"{refused}. {tail}", transfer_id=transfer.id, status=transfer.status.value)
    if transfer.status is TransferStatus.LOST:
        declared_at = transfer.lost_declaring_clinic
        assert transfer.lost_at is not None and transfer.lost_by is not None and declared_at is not None
        raise TransferLost(
            f"Transfer {transfer.id} was declared lost in transit by {transfer.lost_by.label} on "
            f"{format_clinic_time(transfer.lost_at, declared_at.timezone)} "
            f"({declared_at.code} time): every container was written off at {transfer.from_clinic.name}.",
            transfer_id=transfer.id,
        )


# --- checks on places and values --------------------------------------------------------------------


def _destination(session: Session, location_id: int) -> Location:
    _ensure_id(location_id, "location")
    location = session.get(Location, location_id)
    if location is None:
        raise NotFound(f"No location with id {location_id}.", id=location_id)
    _ensure_receiving(location)
    return location


def _receiving_location(session: Session, location_id: int, transfer: Transfer) -> Location:
    """A location the receiver chose instead of the planned one: it must be in the destination clinic."""
    location = _destination(session, location_id)
    if location.clinic_id != transfer.to_clinic_id:
        raise LocationOtherClinic(
            f"{location.name} is not in {transfer.to_clinic.name}: receive the transfer into one of its locations.",
            location_id=location.id,
        )
    return location


def _ensure_receiving(location: Location) -> None:
    if not location.is_active:
        raise LocationInactive(f"{location.name} is no longer in use: choose another location.",
                               location_id=location.id)
    if location.kind is LocationKind.KIT:
        raise LocationIsKit(
            f"{location.name} is an emergency kit: receive into a fridge or store, then restock the kit from there.",
            location_id=location.id,
        )


def _container_ids(values: Iterable[int]) -> list[int]:
    ids = list(values)
    if not ids:
        raise ValidationError("Scan at least one container to send.", field="containers")
    if len(ids) > MAX_CONTAINERS:
        raise ValidationError(f"Send at most {MAX_CONTAINERS} containers at once.", field="containers")
    if len(set(ids)) != len(ids):
        raise ValidationError("The same container is listed twice: give each one once.", field="containers")
    for value in ids:
        _ensure_id(value, "container")
    return ids


def _refusal_reason(reason: str | None) -> str:
    return _required_reason(reason, "reason", MAX_REFUSAL_REASON,
                            "Say why the transfer is refused (e.g. box arrived warm, a vial broken).")


def _note(note: str | None) -> str | None:
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE:
        raise ValidationError(f"Keep the note under {MAX_NOTE} characters.", field="note")
    return note


def _ensure_id(value: int, what: str) -> None:
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"No {what} with id {value}.", id=value)
