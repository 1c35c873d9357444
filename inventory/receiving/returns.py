"""Returning a delivery to its supplier: the wrong box, a damaged one, one that was not ordered.

The containers of a receipt that are still as they arrived (sealed, full, never drawn, counted, corrected, in a kit
or sent to another clinic, not on hold, of a lot in use) leave stock as a recall's returned container does: a
RETURN movement of everything in it, written by ``ledger.record`` (one way out of stock to the supplier, whoever
sends it back). All of them in one transaction, or none. A container that has been used or changed since it
arrived stays in stock: what it holds is corrected with a count, which the refusal says.

A container of a recalled lot goes back through its recall case (the safety lead marks it returned there, so the
case's list is settled by the same movement); one of a quarantined lot is kept as evidence until the lot is
released (lifecycle.is_set_aside).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session, aliased

from inventory import lifecycle
from inventory.counterfeit import service as counterfeit
from inventory.errors import (
    ContainerEmpty,
    ContainerInTransit,
    ContainerOnHold,
    DomainError,
    LotQuarantined,
    LotRecalled,
    NotFound,
    ValidationError,
)
from inventory.models import (
    AuditEvent,
    Container,
    ContainerState,
    Location,
    LocationKind,
    LotStatus,
    Movement,
    MovementKind,
    Receipt,
    User,
)
from inventory.services import ledger
from inventory.services.clock import api_moment, format_clinic_time
from inventory.services.permissions import Scope
from inventory.transfers.models import TransferItem
from inventory.transfers.service import ContainerInKit, ContainerOpened
from inventory.validators import check_text
from inventory.words import counted, listing, some_of

# Why a delivery goes back, as the receipt page offers it: (value, words).
REASONS: tuple[tuple[str, str], ...] = (
    ("wrong_product", "wrong product"),
    ("wrong_quantity", "wrong quantity"),
    ("damaged", "damaged"),
    ("cold_chain_broken", "cold chain broken in transit"),
    ("not_ordered", "not ordered"),
    ("other", "other"),
)
REASON_VALUES: tuple[str, ...] = tuple(value for value, _ in REASONS)
REASON_WORDS: dict[str, str] = dict(REASONS)
OTHER = "other"
MAX_NOTE = 500
MAX_ID = 2**31 - 1
AUDIT_ACTION = "receipt.returned"


class AlreadyReturned(DomainError):
    """The container went back to the supplier already: it is out of stock, and goes back once."""

    code = "already_returned"


class ContainerChanged(DomainError):
    """The container's stock changed since it arrived (a draw, a correction, a count, a transfer to another clinic):
    it is no longer the box as delivered, so it does not go back from its receipt; a count corrects it."""

    code = "container_changed"


class NothingToReturn(DomainError):
    """None of the receipt's containers may go back (details ``containers``: each with its code and message)."""

    code = "nothing_to_return"


@dataclass(frozen=True)
class Standing:
    """One container of a receipt, as the receipt page shows it: gone back to the supplier (``returned``), or
    whether it may go back now (``refusal`` None) or why not."""

    container: Container
    returned: Movement | None
    returned_said: str | None  # "Returned to Allergan Aesthetics (direct): damaged, 15 Jun 2026 10:30 by manager"
    refusal: DomainError | None

    @property
    def returnable(self) -> bool:
        return self.returned is None and self.refusal is None


@dataclass(frozen=True)
class SupplierReturn:
    """What one return sent back: each container with the RETURN movement that took it out of stock."""

    receipt: Receipt
    supplier: str | None  # the receipt's supplier's name; None: not recorded
    reason: str
    note: str | None
    returned: list[tuple[Container, Movement]] = field(default_factory=list)

    @property
    def words(self) -> str:
        """ "Returned 2 × Botox Cosmetic 100 U (VL1, VL2) to Allergan Aesthetics (direct): wrong product." """
        product = self.receipt.lot.product.name
        codes = some_of([c.label_code for c, _ in self.returned], 10)
        return (f"Returned {len(self.returned)} × {product} ({codes}) to {_to_whom(self.supplier)}: "
                f"{reason_said(self.reason, self.note)}.")


def reason_said(reason: str, note: str | None) -> str:
    """ "wrong product", "wrong product (label says 50 U)", or for "other" what was typed."""
    if reason == OTHER and note:
        return note
    words = REASON_WORDS.get(reason, reason.replace("_", " "))
    return f"{words} ({note})" if note else words


def _to_whom(supplier: str | None) -> str:
    return supplier or "the supplier"


def standings(session: Session, receipt: Receipt) -> list[Standing]:
    """Each container of ``receipt``, with whether it may go back to the supplier now: three statements whatever
    the number of containers (their past movements, their transfers, who returned them)."""
    containers = list(receipt.containers)
    pasts = _pasts(session, [c.id for c in containers])
    supplier = _supplier(session, receipt)
    returners = {u.id: u.label for u in session.scalars(select(User).where(User.id.in_(
        {p.returned.actor_id for p in pasts.values() if p.returned is not None})))}
    found = []
    for container in containers:
        past = pasts[container.id]
        returned = past.returned
        found.append(Standing(
            container=container, returned=returned,
            returned_said=returned_said(returned, container.clinic.timezone, returners.get(returned.actor_id))
            if returned is not None else None,
            refusal=None if returned is not None else _why_not(receipt, container, past, supplier)))
    return found


def return_to_supplier(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    receipt_id: int,
    reason: str,
    now: dt.datetime,
    container_ids: Sequence[int] | None = None,
    note: str | None = None,
) -> SupplierReturn:
    """Sends containers of a receipt back to its supplier: each leaves stock by a RETURN movement of all it holds
    (reason the ``reason`` code, its note "returned to <supplier>: <reason>"), in this one transaction.

    ``container_ids``: the receipt's containers to return; None returns every one that may go back. Each is
    locked and checked before anything is written, so a refusal writes nothing.
    Raises NotFound (a receipt outside the caller's clinics), ValidationError (a reason not on the list, "other"
    without a note, a container not of this receipt or named twice, none named), NothingToReturn (None given and
    none may go back), or, for a container named: AlreadyReturned, ContainerInTransit, ContainerChanged,
    LotRecalled, LotQuarantined, ContainerOnHold, ContainerEmpty, ContainerOpened or ContainerInKit.
    """
    if reason not in REASON_VALUES:
        raise ValidationError(
            f"Choose why it goes back: {listing([words for _, words in REASONS], 'or')}.", field="reason",
            choices=list(REASON_VALUES))
    note = check_text(note, what="Note", field="note", max_length=MAX_NOTE) or None
    if reason == OTHER and note is None:
        raise ValidationError("Say in the note what was wrong with the delivery.", field="note")
    if not 1 <= receipt_id <= MAX_ID:
        raise NotFound(f"No receipt with id {receipt_id}.", id=receipt_id)
    receipt = session.get(Receipt, receipt_id)
    if receipt is None or not scope.allows(receipt.clinic_id):
        raise NotFound(f"No receipt with id {receipt_id}.", id=receipt_id)
    chosen = _chosen(receipt, container_ids)
    supplier = _supplier(session, receipt)
    # Locked in id order (two returns of one receipt queue rather than deadlock), each with its lot's share lock:
    # a recall or quarantine of the lot waits for this return, or is seen by it.
    locked = {c.id: ledger.lock_container(session, c.id, scope) for c in sorted(chosen, key=lambda c: c.id)
              if c.clinic_id == receipt.clinic_id}
    pasts = _pasts(session, [c.id for c in chosen])
    refusals = [(c, _why_not(receipt, locked.get(c.id, c), pasts[c.id], supplier)) for c in chosen]
    if container_ids is None:
        going = [locked[c.id] for c, refusal in refusals if refusal is None]
        if not going:
            why = [r.message for _, r in refusals if r is not None]
            more = f" (and {len(why) - 3} more)" if len(why) > 3 else ""
            raise NothingToReturn(
                f"None of the {counted(len(chosen), 'container')} of receipt {receipt.id} can go back to the "
                f"supplier. {' '.join(why[:3])}{more}",
                receipt_id=receipt.id,
                containers=[{"id": c.id, "label_code": c.label_code, "code": r.code, "message": r.message}
                            for c, r in refusals if r is not None])
    else:
        for _, refusal in refusals:
            if refusal is not None:
                raise refusal
        going = [locked[c.id] for c in chosen]
    done = SupplierReturn(receipt=receipt, supplier=supplier, reason=reason, note=note)
    said = f"returned to {_to_whom(supplier)}: {reason_said(reason, note)}"
    for container in going:
        movement = ledger.record(session, container, kind=MovementKind.RETURN, quantity=-container.remaining,
                                 actor=actor, at=now, reason=reason, note=said)
        done.returned.append((container, movement))
    session.add(AuditEvent(
        at=now, actor_id=actor.id, clinic_id=receipt.clinic_id, action=AUDIT_ACTION, object_type="receipt",
        object_id=str(receipt.id),
        details={"container_ids": [c.id for c in going], "label_codes": [c.label_code for c in going],
                 "reason": reason, "note": note, "supplier_id": receipt.supplier_id},
    ))
    session.flush()
    return done


def _chosen(receipt: Receipt, container_ids: Sequence[int] | None) -> list[Container]:
    """The receipt's containers named (all of them for None), in the order named. Raises ValidationError."""
    if container_ids is None:
        return list(receipt.containers)
    if not container_ids:
        raise ValidationError("Choose the containers to return.", field="container_ids")
    ids = list(container_ids)
    twice = sorted({cid for cid in ids if ids.count(cid) > 1})
    if twice:
        raise ValidationError(f"Name each container once: {listing([str(i) for i in twice])} named twice.",
                              field="container_ids", container_ids=twice)
    own = {c.id: c for c in receipt.containers}
    strangers = [cid for cid in ids if cid not in own]
    if strangers:
        raise ValidationError(
            f"Receipt {receipt.id} has no container with id {listing([str(i) for i in strangers], 'or')}: return "
            "the containers of this receipt only.", field="container_ids", container_ids=strangers)
    return [own[cid] for cid in ids]


def _supplier(session: Session, receipt: Receipt) -> str | None:
    if receipt.supplier_id is None:
        return None
    return counterfeit.supplier_names(session, {receipt.supplier_id}).get(receipt.supplier_id)


@dataclass
class _Past:
    """What happened to a container since it arrived, as far as a return asks."""

    returned: Movement | None = None  # the RETURN that took it out of stock (a return of its receipt, a recall's)
    changed: Movement | None = None  # the first movement beyond its receipt and moves between its own shelves
    kit: str | None = None  # an emergency kit it has been in
    transfer_id: int | None = None  # a transfer to another clinic it went with


def _pasts(session: Session, container_ids: list[int]) -> dict[int, _Past]:
    """Each container's past: two statements for any number of containers."""
    pasts = {cid: _Past() for cid in container_ids}
    if not container_ids:
        return pasts
    rows = session.execute(
        select(Movement, Location.kind, Location.name).join(Location, Location.id == Movement.location_id)
        .where(Movement.container_id.in_(container_ids)).order_by(Movement.id)
    )
    for movement, kind, name in rows:
        past = pasts[movement.container_id]
        if kind is LocationKind.KIT and past.kit is None:
            past.kit = name
        if movement.kind is MovementKind.RETURN and movement.balance_after == 0:
            past.returned = movement
        elif movement.kind not in _AS_DELIVERED and past.changed is None:
            past.changed = movement
    for container_id, transfer_id in session.execute(
        select(TransferItem.container_id, TransferItem.transfer_id).where(TransferItem.container_id.in_(container_ids))
        .order_by(TransferItem.id)
    ):
        pasts[container_id].transfer_id = pasts[container_id].transfer_id or transfer_id
    return pasts


# A box as delivered has its receipt, and may have been moved between the clinic's own shelves since.
_AS_DELIVERED = frozenset({MovementKind.RECEIVE, MovementKind.TRANSFER_OUT, MovementKind.TRANSFER_IN})

_CHANGED_WORDS = {
    MovementKind.DRAW: "drawn from", MovementKind.WASTE: "wasted", MovementKind.ADJUST: "corrected by a count",
    MovementKind.REVERSAL: "corrected", MovementKind.RECONSTITUTE: "reconstituted", MovementKind.RETURN: "returned",
}


def _why_not(receipt: Receipt, container: Container, past: _Past, supplier: str | None) -> DomainError | None:
    """Why ``container`` may not go back to the supplier now, or None when it may. The same answer for the page
    that offers it and the return that sends it (which asks again with the container locked)."""
    name = f"{container.product.name} ({container.label_code})"
    timezone = container.clinic.timezone
    count = (f" If it should not be in stock, correct it with a count of {container.location.name} (Counts: "
             "another manager or an admin posts it).")
    if past.returned is not None:
        return AlreadyReturned(
            f"{name} was returned already ({past.returned.note or 'to the supplier'}, "
            f"{format_clinic_time(past.returned.at, timezone)}).",
            container_id=container.id, movement_id=past.returned.id)
    if container.state is ContainerState.IN_TRANSIT:
        return ContainerInTransit(
            f"{name} is on its way to another clinic: it no longer goes back from this receipt.",
            container_id=container.id)
    if past.transfer_id is not None or container.clinic_id != receipt.clinic_id:
        sent = f" (transfer #{past.transfer_id})" if past.transfer_id is not None else ""
        return ContainerChanged(
            f"{name} was sent to another clinic{sent} since it arrived: only a container untouched since it "
            "arrived goes back to the supplier from its receipt.",
            container_id=container.id, transfer_id=past.transfer_id)
    lot = container.lot
    if lot.status is LotStatus.RECALLED:
        return LotRecalled(
            f"Lot {lot.number} of {container.product.name} is recalled: {container.label_code} goes back to the "
            "supplier on its recall case, where the safety lead marks it returned.",
            lot_id=lot.id, container_id=container.id)
    if lot.status is LotStatus.QUARANTINED:
        return LotQuarantined(
            f"Lot {lot.number} of {container.product.name} is quarantined: {container.label_code} is kept as "
            "evidence until the safety lead releases the lot. It may go back to the supplier then.",
            lot_id=lot.id, container_id=container.id, reason=lot.status_reason)
    if container.on_hold_since is not None:
        return ContainerOnHold(
            f"{name} is on hold: {container.hold_reason or 'a safety concern'}. The safety lead releases or wastes "
            "it first; once released it may go back to the supplier.",
            container_id=container.id, hold_reason=container.hold_reason,
            on_hold_since=api_moment(container.on_hold_since))
    if container.state not in lifecycle.LIVE_STATES or container.remaining <= 0:
        return ContainerEmpty(
            f"{name} is {container.state.value}: nothing of it is left to return.",
            container_id=container.id, state=container.state.value)
    if (container.state is not ContainerState.SEALED or lifecycle.is_opened(container)
            or container.patient_id is not None or container.remaining != container.initial_quantity):
        how = ("reconstituted" if container.reconstituted_at is not None
               else "opened for a patient" if container.patient_id is not None else "opened")
        return ContainerOpened(
            f"{name} was {how} since it arrived: only sealed containers go back to the supplier.{count}",
            container_id=container.id)
    if container.location.kind is LocationKind.KIT or past.kit is not None:
        where = container.location.name if container.location.kind is LocationKind.KIT else past.kit
        now_or_then = "is in" if container.location.kind is LocationKind.KIT else "has been in"
        return ContainerInKit(
            f"{name} {now_or_then} {where}: stock that went into an emergency kit does not go back from its "
            f"receipt.{count}",
            container_id=container.id, location_id=container.location_id)
    if past.changed is not None:
        what = _CHANGED_WORDS.get(past.changed.kind, past.changed.kind.value.replace("_", " "))
        return ContainerChanged(
            f"{name} was {what} on {format_clinic_time(past.changed.at, timezone)} since it arrived: only a "
            f"container untouched since it arrived goes back to the supplier from its receipt.{count}",
            container_id=container.id, movement_id=past.changed.id)
    return None


# The RETURN movement that took a container back to the supplier, outer-joined to a statement of containers on
# ``returned_on``: one home for the rule, which the container page and the lot trace both read.
RETURNED = aliased(Movement, name="returned_movement")


def returned_on(container_id: Any, state: Any) -> ColumnElement[bool]:
    """The condition joining ``RETURNED`` to the container of these columns (its id and state): its last movement,
    when that is a RETURN of an empty container (a RETURN empties what it takes: a receipt's return to the supplier,
    or a recall's). Outer-joined, ``RETURNED``'s columns are null for any other container; the last movement is one
    probe of ``ix_movements_container_id_id`` per container."""
    last = select(func.max(Movement.id)).where(Movement.container_id == container_id).scalar_subquery()
    return and_(state == ContainerState.EMPTY, RETURNED.id == last, RETURNED.kind == MovementKind.RETURN)


def returned_to_supplier(session: Session, container: Container) -> Movement | None:
    """The RETURN movement that took ``container`` out of stock back to the supplier (a return of its receipt, or a
    recall's), or None. A statement only for an empty container."""
    if container.state is not ContainerState.EMPTY:
        return None
    return session.scalar(select(RETURNED).select_from(Container)
                          .join(RETURNED, returned_on(Container.id, Container.state))
                          .where(Container.id == container.id))


def returned_state(reason: str | None, note: str | None) -> str:
    """A returned container's state, as a page's State says it, from its RETURN movement's reason and note: "returned
    to Allergan Aesthetics (direct): wrong product", or for a recall's return "returned to the supplier (recall case
    3)"."""
    words = return_words_of(reason, note)
    return words[:1].lower() + words[1:]


def returned_said(movement: Movement, timezone: str, by: str | None) -> str:
    """ "Returned to Allergan Aesthetics (direct): wrong product, 15 Jun 2026 10:30 by manager"."""
    return f"{return_words(movement)}, {format_clinic_time(movement.at, timezone)}" + (f" by {by}" if by else "")


def return_words(movement: Movement) -> str:
    """ "Returned to Allergan Aesthetics (direct): wrong product": a return's note, or for a recall's return, its
    case."""
    return return_words_of(movement.reason, movement.note)


def return_words_of(reason: str | None, note: str | None) -> str:
    """``return_words`` from a RETURN movement's reason and note, as a statement of many containers reads them."""
    if reason in REASON_WORDS and note:
        return note[:1].upper() + note[1:]
    return f"Returned to the supplier ({note})" if note else "Returned to the supplier"
