"""What a clinic sees of stock on its way to it.

A container in transit keeps its source clinic and location until it arrives (service.py), so the core's
scope (inventory/services/permissions.py) shows it to the sending clinic only. The clinic it travels to
must see it coming too: a recalled or quarantined lot about to arrive has to be found there before the box
is unpacked. These filters add that, one EXISTS on the open transfer item in the same statement; nothing
else of the sending clinic is shown. Chain-level roles see everything anyway.

Seeing a lot coming lets a clinic protect itself (``ensure_lots``: quarantine it, open a recall). Undoing
that protection is another matter: a lot's status holds at every clinic, so ``held_outside`` names the
clinics whose stock a release would make usable again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, Unpack

from sqlalchemy import ColumnElement, Select, or_, select, true
from sqlalchemy.orm import Session

from inventory.errors import NotFound
from inventory.models import Container, ContainerState, Lot
from inventory.services.permissions import Scope
from inventory.transfers.models import Transfer, TransferItem, TransferStatus

__all__ = ["Outside", "ensure_lots", "filter_containers", "filter_lots", "held_outside", "incoming", "is_incoming"]

S = TypeVar("S", bound=Select[Unpack[tuple[Any, ...]]])


def incoming(scope: Scope, container_id: Any) -> ColumnElement[bool]:
    """True while the container (a column of the enclosing statement) travels with a transfer to one of the
    scope's clinics: on the way there or, refused, on the way back to the source."""
    if scope.clinic_ids is None:
        return true()
    return _open_items_to(list(scope.clinic_ids)).where(TransferItem.container_id == container_id).exists()


def filter_containers(scope: Scope, stmt: S, container_id: Any, clinic_id: Any) -> S:
    """``Scope.filter`` for container rows: a container at one of the scope's clinics (``clinic_id``, the
    row's clinic), or on its way to one of them."""
    if scope.clinic_ids is None:
        return stmt
    return stmt.where(or_(clinic_id.in_(scope.clinic_ids), incoming(scope, container_id)))


def filter_lots(scope: Scope, stmt: S, lot_id: Any) -> S:
    """``Scope.filter_lots`` for finding a lot to trace: also a lot with a container on its way to one of the
    scope's clinics, which a clinic that never held the lot must still find."""
    if scope.clinic_ids is None:
        return stmt
    arriving = (_open_items_to(list(scope.clinic_ids)).join(Container, TransferItem.container_id == Container.id)
                .where(Container.lot_id == lot_id).correlate_except(TransferItem, Transfer, Container).exists())
    return stmt.where(or_(scope.lot_visible(lot_id), arriving))


def ensure_lots(session: Session, scope: Scope, lot_ids: Iterable[int]) -> None:
    """``Scope.ensure_lots`` with ``filter_lots``: raises NotFound for the first of these lots the clinics neither
    hold, used, nor have on its way to them. A clinic must be able to quarantine (or recall) a lot about to be
    unpacked there; another clinic's lot still answers exactly like a missing one."""
    if scope.clinic_ids is None:
        return
    ids = list(dict.fromkeys(lot_ids))
    seen = set(session.scalars(filter_lots(scope, select(Lot.id).where(Lot.id.in_(ids)), Lot.id)))
    for lot_id in ids:
        if lot_id not in seen:
            raise NotFound(f"No lot with id {lot_id}.", id=lot_id)


def is_incoming(session: Session, scope: Scope, container_id: int) -> bool:
    """The container travels with a transfer to one of the scope's clinics (``incoming``, for one container)."""
    return scope.clinic_ids is None or bool(session.scalar(select(incoming(scope, container_id))))


@dataclass(frozen=True)
class Outside:
    """The clinics outside a scope that a lot's status governs stock at: holding it, or awaiting it on the road
    (and not also holding some)."""

    held: list[int]
    awaited: list[int]

    @property
    def clinic_ids(self) -> list[int]:
        return sorted([*self.held, *self.awaited])


def held_outside(session: Session, scope: Scope, lot_ids: Iterable[int]) -> dict[int, Outside]:
    """Per lot, the clinics outside the scope whose stock the lot's status governs: a container of it that is not
    discarded or empty is at one of them (on the shelf, opened, or on the road and still the source's), or on its
    way to one of them. Lots with none are left out; chain-level scopes have none. Two statements.

    A container refused by a clinic outside the scope and on its way back to the scope's clinic is not that
    clinic's: it will never arrive there."""
    ids = list(dict.fromkeys(lot_ids))
    if scope.clinic_ids is None or not ids:
        return {}
    clinics = list(scope.clinic_ids)
    not_gone = Container.state.not_in([ContainerState.DISCARDED, ContainerState.EMPTY])
    at = select(Container.lot_id, Container.clinic_id).where(
        Container.lot_id.in_(ids), not_gone, Container.clinic_id.not_in(clinics))
    going_to = (
        select(Container.lot_id, Transfer.to_clinic_id)
        .join(TransferItem, TransferItem.container_id == Container.id)
        .join(Transfer, TransferItem.transfer_id == Transfer.id)
        .where(Container.lot_id.in_(ids), not_gone, TransferItem.in_movement_id.is_(None),
               Transfer.status == TransferStatus.IN_TRANSIT, Transfer.to_clinic_id.not_in(clinics))
    )
    held: dict[int, set[int]] = {}
    awaited: dict[int, set[int]] = {}
    for lot_id, clinic_id in session.execute(at.distinct()):
        held.setdefault(lot_id, set()).add(clinic_id)
    for lot_id, clinic_id in session.execute(going_to.distinct()):
        awaited.setdefault(lot_id, set()).add(clinic_id)
    return {lot_id: Outside(sorted(held.get(lot_id, ())), sorted(awaited.get(lot_id, set()) - held.get(lot_id, set())))
            for lot_id in sorted({*held, *awaited})}


def _open_items_to(clinic_ids: list[int]) -> Select[int]:
    """Transfer items still open (no TRANSFER_IN yet: the container has not arrived, nor come back) of
    transfers to these clinics."""
    return (
        select(TransferItem.id).join(Transfer, TransferItem.transfer_id == Transfer.id)
        .where(TransferItem.in_movement_id.is_(None), Transfer.to_clinic_id.in_(clinic_ids))
    )
