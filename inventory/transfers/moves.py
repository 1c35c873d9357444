"""Moving a container between locations of one clinic, through the ledger.

A move is two movements in one transaction: TRANSFER_OUT of everything left, at the
old location, then TRANSFER_IN of the same quantity at the new one. The container's
balance and state come out unchanged, and per-location reconciliation
(``opening + received - used +/- transfers``) adds up at both ends, as do the cold chain (what was in a
fridge during an excursion is read from these movements) and the next count of either place.

``move`` is the one rule for one container (from its page, the API, a kit's restock through ``move_container``);
``move_all`` (everything live in a failing fridge, in one transaction) judges the destination once and moves
each container as ``move`` does (``_move_locked``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory import lifecycle
from inventory.errors import DomainError, ValidationError
from inventory.models import Container, Location, LocationKind, MovementKind, User
from inventory.services import ledger
from inventory.services.permissions import Scope, get_in_scope
from inventory.validators import MAX_TEXT_LENGTH, check_text
from inventory.words import counted, some_of

MAX_REASON_LENGTH = 40  # Movement.reason
MAX_NOTE_LENGTH = MAX_TEXT_LENGTH


class OtherClinic(DomainError):
    code = "other_clinic"


class AlreadyThere(DomainError):
    code = "already_there"


class LocationInactive(DomainError):
    code = "location_inactive"


def move_container(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    container_id: int,
    to_location_id: int,
    now: dt.datetime,
    reason: str,
    note: str | None = None,
) -> Container:
    """Moves one live container to another location of its clinic and returns it (``move``, for callers that need
    only the container: a kit's restock and its removal)."""
    return move(session, actor=actor, scope=scope, container_id=container_id, to_location_id=to_location_id,
                now=now, reason=reason, note=note).containers[0]


def _texts(reason: str, note: str | None) -> tuple[str, str | None]:
    reason = check_text(reason, what="Reason", field="reason", max_length=MAX_REASON_LENGTH) or ""
    if not reason:
        raise ValidationError(f"Give a reason of 1 to {MAX_REASON_LENGTH} characters.", field="reason")
    return reason, check_text(note, what="Note", field="note", multiline=True, max_length=MAX_NOTE_LENGTH) or None


def _ensure_may_take_stock_from(destination: Location, origin: Location, already_there: str, **details: int) -> None:
    """Where stock of ``origin`` may go: another active location of the same clinic. Raises OtherClinic,
    AlreadyThere (with ``already_there`` as its words) or LocationInactive."""
    if destination.clinic_id != origin.clinic_id:
        raise OtherClinic(f"{destination.name} belongs to another clinic: stock stays in its own clinic.",
                          location_id=destination.id, **details)
    if destination.id == origin.id:
        raise AlreadyThere(already_there, location_id=destination.id, **details)
    if not destination.is_active:
        raise LocationInactive(f"{destination.name} is no longer in use.", location_id=destination.id)


def _move_locked(session: Session, container: Container, destination: Location, *, actor: User,
                 now: dt.datetime, reason: str, note: str | None) -> None:
    """The move itself, of a container locked by the caller: what may go (a kit takes only what is fit for it;
    a container on hold goes with its hold, never into a kit), then the two movements."""
    lifecycle.ensure_has_stock(container, doing="move")
    if destination.kind is LocationKind.KIT:
        lifecycle.ensure_fit_for_kit(container, now)
    quantity = container.remaining
    ledger.record(session, container, kind=MovementKind.TRANSFER_OUT, quantity=-quantity, actor=actor, at=now,
                  reason=reason, note=note)
    container.location_id = destination.id
    container.location = destination
    ledger.record(session, container, kind=MovementKind.TRANSFER_IN, quantity=quantity, actor=actor, at=now,
                  reason=reason, note=note)
    session.flush()


@dataclass(frozen=True)
class Moved:
    """What a move did, for the page and the API to say: the containers, from where, to where."""

    containers: list[Container]
    origin: Location
    destination: Location

    @property
    def held(self) -> list[Container]:
        return [c for c in self.containers if c.on_hold_since is not None]

    @property
    def words(self) -> str:
        """ "Moved Botox Cosmetic 100 U (VL12) from Fridge to Spare fridge.", or for several "Moved 3 containers
        (VL1, VL2, VL3) from ...", and what keeps its hold."""
        where = f"from {self.origin.name} to {self.destination.name}"
        if not self.containers:
            return f"Nothing to move: {self.origin.name} holds no sealed or opened stock."
        if len(self.containers) == 1:
            only = self.containers[0]
            said = f"Moved {only.product.name} ({only.label_code}) {where}."
            if self.held:
                said += " It keeps its hold until a safety lead releases or wastes it."
            return said
        labels = some_of([c.label_code for c in self.containers], 10)
        said = f"Moved {counted(len(self.containers), 'container')} ({labels}) {where}."
        held = self.held
        if held:
            said += (f" {counted(len(held), 'container')} on hold ({some_of([c.label_code for c in held], 5)}) "
                     f"{'keeps its' if len(held) == 1 else 'keep their'} hold until a safety lead releases or "
                     f"wastes {'it' if len(held) == 1 else 'them'}.")
        return said


def move(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    container_id: int,
    to_location_id: int,
    now: dt.datetime,
    reason: str,
    note: str | None = None,
) -> Moved:
    """Moves one live container to another location of its clinic; answers what moved, from where, to where.

    Moving *into* a kit refuses a lot that may not be used (expired, quarantined, recalled), a container on hold
    and a vial past its beyond-use time; moving *out* is always allowed, so that bad stock can be taken out of a
    kit. A container on hold after a cold-chain excursion moves with its hold (to a fridge that works, while the
    safety lead decides): the hold stays until she ends it. Raises NotFound (container or location outside the
    caller's clinics), OtherClinic, AlreadyThere, LocationInactive, ContainerEmpty, ContainerInTransit,
    ContainerOnHold (into a kit), ValidationError, LotExpired, LotQuarantined, LotRecalled or BeyondUse; nothing
    is written then.
    """
    reason, note = _texts(reason, note)
    container = ledger.lock_container(session, container_id, scope)
    destination = get_in_scope(session, Location, to_location_id, scope, "location")
    origin = container.location
    _ensure_may_take_stock_from(
        destination, origin, f"{container.product.name} ({container.label_code}) is already in {destination.name}.",
        container_id=container.id)
    _move_locked(session, container, destination, actor=actor, now=now, reason=reason, note=note)
    return Moved([container], origin, destination)


def move_all(
    session: Session,
    *,
    actor: User,
    scope: Scope,
    from_location_id: int,
    to_location_id: int,
    now: dt.datetime,
    reason: str,
    note: str | None = None,
) -> Moved:
    """Moves every live container (sealed or opened, with something left; not one on its way to another clinic)
    of a location to another location of its clinic, each as ``move`` moves one: what staff do when a fridge
    fails. All or none: the first container refused refuses the whole move, its message naming it (the request
    rolls back what was moved before it). Held stock moves with its hold, except into a kit.

    Raises NotFound (either location outside the caller's clinics), OtherClinic, AlreadyThere,
    LocationInactive (the destination's; a place no longer in use may still be emptied), ValidationError, and
    whatever move_container raises for one of the containers.
    """
    reason, note = _texts(reason, note)
    origin = get_in_scope(session, Location, from_location_id, scope, "location")
    destination = get_in_scope(session, Location, to_location_id, scope, "location")
    # The destination is judged once, before any container, so an empty place answers as a full one would.
    _ensure_may_take_stock_from(destination, origin, f"Choose another place than {origin.name} to move its stock to.")
    ids = session.scalars(
        select(Container.id)
        .where(Container.location_id == origin.id, Container.state.in_(lifecycle.LIVE_STATES),
               Container.remaining > 0)
        .order_by(Container.id)
    ).all()
    moved: list[Container] = []
    for container_id in ids:
        # Each is locked as a single move locks it (its lot with it, in the one order every stock path takes), in
        # id order; one taken out of the place or used up meanwhile is left where it went.
        container = ledger.lock_container(session, container_id, scope)
        if container.location_id != origin.id or container.state not in lifecycle.LIVE_STATES \
                or container.remaining <= 0:
            continue
        try:
            _move_locked(session, container, destination, actor=actor, now=now, reason=reason, note=note)
        except DomainError as error:
            raise _naming(error, container, len(ids)) from None
        moved.append(container)
    return Moved(moved, origin, destination)


def _naming(error: DomainError, container: Container, how_many: int) -> DomainError:
    """``error`` saying which container of a bulk move refused it and that nothing moved."""
    if isinstance(error, ValidationError):
        return error  # the reason or the note: nothing to do with one container
    if container.label_code not in error.message:
        error.message = f"{container.product.name} ({container.label_code}): {error.message}"
    if how_many > 1:
        error.message += " Nothing was moved."
    error.args = (error.message,)
    error.details.setdefault("container_id", container.id)
    error.details.setdefault("label_code", container.label_code)
    return error
