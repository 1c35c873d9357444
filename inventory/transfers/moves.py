"""Moving a container between locations of one clinic, through the ledger.

A move is two movements in one transaction: TRANSFER_OUT of everything left, at the
old location, then TRANSFER_IN of the same quantity at the new one. The container's
balance and state come out unchanged, and per-location reconciliation
(``opening + received - used +/- transfers``) adds up at both ends.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from inventory import lifecycle
from inventory.errors import DomainError, ValidationError
from inventory.models import Container, Location, LocationKind, MovementKind, User
from inventory.services import ledger
from inventory.services.permissions import Scope, get_in_scope

MAX_REASON_LENGTH = 40  # Movement.reason


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
    """Moves one live container to another location of its clinic and returns it.

    Moving *into* a kit refuses a lot that may not be used (expired, quarantined,
    recalled), a container on hold and a vial past its beyond-use time; moving *out* is always allowed, so
    that bad stock can be taken out of a kit. A container on hold after a cold-chain excursion moves with its
    hold (to a fridge that works, while the safety lead decides): the hold stays until she ends it. Raises NotFound (container or location
    outside the caller's clinics), OtherClinic, AlreadyThere, LocationInactive,
    ContainerEmpty, ContainerInTransit, ContainerOnHold (into a kit), ValidationError, LotExpired, LotQuarantined, LotRecalled or
    BeyondUse; nothing is written then.
    """
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_LENGTH:
        raise ValidationError(f"Give a reason of 1 to {MAX_REASON_LENGTH} characters.", field="reason")
    container = ledger.lock_container(session, container_id, scope)
    destination = get_in_scope(session, Location, to_location_id, scope, "location")
    if destination.clinic_id != container.clinic_id:
        raise OtherClinic(
            f"{destination.name} belongs to another clinic: a container stays in its own clinic.",
            container_id=container.id, location_id=destination.id,
        )
    if destination.id == container.location_id:
        raise AlreadyThere(
            f"{container.product.name} ({container.label_code}) is already in {destination.name}.",
            container_id=container.id, location_id=destination.id,
        )
    if not destination.is_active:
        raise LocationInactive(f"{destination.name} is no longer in use.", location_id=destination.id)
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
    return container
