"""Moving stock between locations of its own clinic: one container, or everything in a failing fridge.

The rule is ``moves.move_container`` (two ledger movements, kit rules, held stock keeps its hold); these views
parse, call it through ``moves.move`` or ``moves.move_all`` and say what moved.

Permission.CART, not RECEIVE: carrying vials out of a fridge that failed, or restocking the cart from the
fridge, is the work of whoever is on the floor, nurses and safety leads (who handle held stock) as much as
managers and admins, and CART is the permission all four roles hold; RECEIVE (managers and admins) would leave
the nurse who finds the warm fridge unable to record where she put its vials. Clinic scoping is the service's:
another clinic's container or location answers 404.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from inventory.blueprints.api.core import current_scope, current_user, operation
from inventory.blueprints.api.schemas import ContainerOut, Id, Model, PlainText
from inventory.extensions import db
from inventory.models import utcnow
from inventory.services import scanning
from inventory.services.permissions import Permission
from inventory.transfers import moves

MOVES_STOCK = Permission.CART


class MoveIn(Model):
    to_location_id: Id = Field(description="another active location of the container's clinic (GET /locations)")
    reason: Annotated[str, PlainText(moves.MAX_REASON_LENGTH)] = Field(
        description="why, in a few words (e.g. fridge failed, restock cart)")
    note: Annotated[str, PlainText(moves.MAX_NOTE_LENGTH, multiline=True)] | None = None


class MovedContainerOut(ContainerOut):
    from_location_id: int = Field(description="where it was before the move")
    message: str = Field(description="what moved, in words (and that held stock keeps its hold)")


class MovedAllOut(Model):
    from_location_id: int
    to_location_id: int
    moved: list[ContainerOut] = Field(description="every container moved, in id order; empty when nothing was there")
    message: str = Field(description="what moved, in words")


@operation("POST", "/containers/<container_ref>/move",
           summary="Move a container to another location of its clinic (a held one keeps its hold)",
           permission=MOVES_STOCK, body=MoveIn, response=MovedContainerOut, idempotent=True,
           errors=(404, 409, 422))
def move_container(container_ref: str, body: MoveIn) -> MovedContainerOut:
    scope = current_scope()
    moved = moves.move(
        db.session, actor=current_user(), scope=scope,
        container_id=scanning.container_by_ref(db.session, container_ref, scope).id,
        to_location_id=body.to_location_id, now=utcnow(), reason=body.reason, note=body.note,
    )
    shown = ContainerOut.of(moved.containers[0]).model_dump()
    return MovedContainerOut(**shown, from_location_id=moved.origin.id, message=moved.words)


@operation("POST", "/locations/<int:location_id>/move-all",
           summary="Move every sealed or opened container of a location (a failed fridge) to another, all or none",
           permission=MOVES_STOCK, body=MoveIn, response=MovedAllOut, idempotent=True, errors=(404, 409, 422))
def move_location_stock(location_id: int, body: MoveIn) -> MovedAllOut:
    moved = moves.move_all(
        db.session, actor=current_user(), scope=current_scope(), from_location_id=location_id,
        to_location_id=body.to_location_id, now=utcnow(), reason=body.reason, note=body.note,
    )
    return MovedAllOut(from_location_id=moved.origin.id, to_location_id=moved.destination.id,
                       moved=[ContainerOut.of(c) for c in moved.containers], message=moved.words)
