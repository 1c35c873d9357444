"""The cold chain: record a temperature excursion, list open holds, release or waste a held container."""

from __future__ import annotations

from inventory.blueprints.api.core import current_scope, current_user, operation
from inventory.blueprints.api.schemas import ClinicQuery, ContainerOut
from inventory.cold_chain import service as cold_chain
from inventory.cold_chain.models import HoldOutcome
from inventory.cold_chain.schemas import (
    EndedHolds,
    EndHoldsIn,
    ExcursionIn,
    ExcursionOut,
    HoldList,
    HoldOut,
    ReleaseHoldIn,
)
from inventory.extensions import db
from inventory.models import utcnow
from inventory.services import scanning
from inventory.services.permissions import Permission


@operation("POST", "/locations/<int:location_id>/excursions",
           summary="Record a temperature excursion: what was kept there during it and left its storage range goes on hold",
           permission=Permission.COLD_CHAIN, body=ExcursionIn, response=ExcursionOut, status=201, idempotent=True,
           errors=(404, 409, 422))
def create_excursion(location_id: int, body: ExcursionIn) -> ExcursionOut:
    result = cold_chain.record_excursion(
        db.session, actor=current_user(), scope=current_scope(), location_id=location_id,
        started_at=body.started_at, ended_at=body.ended_at, min_c=body.min_c, max_c=body.max_c, note=body.note,
        now=utcnow(),
    )
    return ExcursionOut.recorded(result)


@operation("GET", "/holds", summary="Containers on hold in the caller's clinics (?clinic_id=)",
           permission=Permission.CART, query=ClinicQuery, response=HoldList, errors=(404, 422))
def list_holds(query: ClinicQuery) -> HoldList:
    scope = current_scope().narrowed_to(db.session, query.clinic_id)
    return HoldList(holds=[HoldOut.of(h) for h in cold_chain.open_holds(db.session, scope=scope)])


@operation("POST", "/containers/<container_ref>/release-hold", summary="Release a container from its hold",
           permission=cold_chain.DECIDES_HOLDS, body=ReleaseHoldIn, response=ContainerOut, idempotent=True,
           errors=(404, 409, 422))
def release_hold(container_ref: str, body: ReleaseHoldIn) -> ContainerOut:
    container = cold_chain.release_hold(
        db.session, actor=current_user(), scope=current_scope(),
        container_id=scanning.container_by_ref(db.session, container_ref, current_scope()).id, reason=body.reason,
        now=utcnow(),
    )
    return ContainerOut.of(container)


@operation("POST", "/containers/<container_ref>/waste-held", summary="Waste what is left of a held container",
           permission=cold_chain.DECIDES_HOLDS, body=ReleaseHoldIn, response=ContainerOut, idempotent=True,
           errors=(404, 409, 422))
def waste_held(container_ref: str, body: ReleaseHoldIn) -> ContainerOut:
    container = cold_chain.waste_held(
        db.session, actor=current_user(), scope=current_scope(),
        container_id=scanning.container_by_ref(db.session, container_ref, current_scope()).id, reason=body.reason,
        now=utcnow(),
    )
    return ContainerOut.of(container)


@operation("POST", "/holds/release", summary="Release several held containers with one reason, all or none",
           permission=cold_chain.DECIDES_HOLDS, body=EndHoldsIn, response=EndedHolds, idempotent=True,
           errors=(409, 422))
def release_holds(body: EndHoldsIn) -> EndedHolds:
    return _end_holds(body, HoldOutcome.RELEASED)


@operation("POST", "/holds/waste", summary="Waste what is left of several held containers with one reason, all or none",
           permission=cold_chain.DECIDES_HOLDS, body=EndHoldsIn, response=EndedHolds, idempotent=True,
           errors=(409, 422))
def waste_holds(body: EndHoldsIn) -> EndedHolds:
    return _end_holds(body, HoldOutcome.WASTED)


def _end_holds(body: EndHoldsIn, outcome: HoldOutcome) -> EndedHolds:
    containers = cold_chain.end_holds(db.session, actor=current_user(), scope=current_scope(),
                                      container_ids=body.container_ids, outcome=outcome, reason=body.reason, now=utcnow())
    return EndedHolds(containers=[ContainerOut.of(c) for c in containers])
