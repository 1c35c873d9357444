"""What a clinic sees of stock on its way to it.

A container in transit keeps its source clinic and location until it arrives (service.py), so the core's
scope (inventory/services/permissions.py) shows it to the sending clinic only. The clinic it travels to
must see it coming too: a recalled or quarantined lot about to arrive has to be found there before the box
is unpacked. These filters add that, one EXISTS on the open transfer item in the same statement; nothing
else of the sending clinic is shown. Chain-level roles see everything anyway.
"""

from __future__ import annotations

from typing import Any, TypeVar, Unpack

from sqlalchemy import ColumnElement, Select, or_, select, true

from inventory.models import Container
from inventory.services.permissions import Scope
from inventory.transfers.models import Transfer, TransferItem

__all__ = ["filter_containers", "filter_lots", "incoming"]

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


def _open_items_to(clinic_ids: list[int]) -> Select[int]:
    """Transfer items still open (no TRANSFER_IN yet: the container has not arrived, nor come back) of
    transfers to these clinics."""
    return (
        select(TransferItem.id).join(Transfer, TransferItem.transfer_id == Transfer.id)
        .where(TransferItem.in_movement_id.is_(None), Transfer.to_clinic_id.in_(clinic_ids))
    )
