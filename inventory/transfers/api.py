"""Transfers of sealed stock between clinics of the chain: send, list, receive, refuse, cancel, declare lost.

All need Permission.RECEIVE (managers and admins), like receiving a delivery. The
sender works at the source clinic, the receiver (or refuser) at the destination; either end
declares a box lost; anyone else gets 404 for the transfer. Destinations are listed for every
clinic of the chain, so that a clinic-level manager can name where to send (see
services/clinic_transfers.py).
"""

from __future__ import annotations

from inventory.blueprints.api.core import current_scope, current_user, operation
from inventory.transfers.schemas import (
    DestinationList,
    DestinationOut,
    TransferIn,
    TransferList,
    TransferLostIn,
    TransferOut,
    TransferQuery,
    TransferReceiveIn,
    TransferRefuseIn,
    losses,
)
from inventory.extensions import db
from inventory.models import utcnow
from inventory.transfers.models import RefusalCategory, TransferStatus
from inventory.services import scanning
from inventory.transfers import service as clinic_transfers
from inventory.services.permissions import Permission


@operation("GET", "/transfers/destinations", summary="Where stock may be sent: every clinic's receiving locations",
           permission=Permission.RECEIVE, response=DestinationList)
def list_transfer_destinations() -> DestinationList:
    places = clinic_transfers.destinations(db.session)
    return DestinationList(destinations=[DestinationOut.of(place) for place in places])


@operation("POST", "/transfers", summary="Send sealed containers to another clinic", permission=Permission.RECEIVE,
           body=TransferIn, response=TransferOut, status=201, idempotent=True, errors=(404, 409, 422))
def create_transfer(body: TransferIn) -> TransferOut:
    scope = current_scope()
    ids = [scanning.container_by_ref(db.session, ref, scope).id for ref in body.containers]
    transfer = clinic_transfers.send(db.session, actor=current_user(), scope=scope, container_ids=ids,
                                     to_location_id=body.to_location_id, now=utcnow(), note=body.note)
    return TransferOut.of(transfer, scope)


@operation("GET", "/transfers", summary="Transfers to and from the caller's clinics: those on the road first, then settled ones a page at a time",
           permission=Permission.RECEIVE, query=TransferQuery, response=TransferList, errors=(422,))
def list_transfers(query: TransferQuery) -> TransferList:
    scope = current_scope()
    found = clinic_transfers.list_transfers(
        db.session, scope=scope, direction=query.direction,
        status=TransferStatus(query.status) if query.status else None, before_id=query.before, limit=query.limit,
    )
    lost = losses(found.transfers)  # once for the page, not once a transfer
    return TransferList(transfers=[TransferOut.of(t, scope, lost) for t in found.transfers],
                        next_before=found.next_before)


@operation("GET", "/transfers/<int:transfer_id>", summary="One transfer with its containers",
           permission=Permission.RECEIVE, response=TransferOut, errors=(404,))
def get_transfer(transfer_id: int) -> TransferOut:
    scope = current_scope()
    return TransferOut.of(clinic_transfers.get_transfer(db.session, transfer_id, scope), scope)


@operation("POST", "/transfers/<int:transfer_id>/receive",
           summary="Receive a transfer at the destination clinic, whole or with some containers missing in transit",
           permission=Permission.RECEIVE, body=TransferReceiveIn, response=TransferOut, idempotent=True,
           errors=(403, 404, 409, 422))
def receive_transfer(transfer_id: int, body: TransferReceiveIn) -> TransferOut:
    scope = current_scope()
    transfer = clinic_transfers.receive(db.session, actor=current_user(), scope=scope,
                                        transfer_id=transfer_id, now=utcnow(), location_id=body.location_id,
                                        confirm=body.confirm, arrived=body.arrived, missing=body.missing,
                                        missing_reason=body.missing_reason)
    return TransferOut.of(transfer, scope)


@operation("POST", "/transfers/<int:transfer_id>/refuse",
           summary="Refuse a transfer at the destination clinic: it goes back to the source",
           permission=Permission.RECEIVE, body=TransferRefuseIn, response=TransferOut, idempotent=True,
           errors=(403, 404, 409, 422))
def refuse_transfer(transfer_id: int, body: TransferRefuseIn) -> TransferOut:
    scope = current_scope()
    transfer = clinic_transfers.refuse(db.session, actor=current_user(), scope=scope,
                                       transfer_id=transfer_id, now=utcnow(), reason=body.reason,
                                       category=RefusalCategory(body.category))
    return TransferOut.of(transfer, scope)


@operation("POST", "/transfers/<int:transfer_id>/cancel",
           summary="Call a transfer back while it is in transit, or record the return of a refused one",
           permission=Permission.RECEIVE, response=TransferOut, idempotent=True, errors=(403, 404, 409))
def cancel_transfer(transfer_id: int) -> TransferOut:
    scope = current_scope()
    transfer = clinic_transfers.cancel(db.session, actor=current_user(), scope=scope,
                                       transfer_id=transfer_id, now=utcnow())
    return TransferOut.of(transfer, scope)


@operation("POST", "/transfers/<int:transfer_id>/lost",
           summary="Declare a whole transfer lost in transit: every container is written off at the source",
           permission=Permission.RECEIVE, body=TransferLostIn, response=TransferOut, idempotent=True,
           errors=(403, 404, 409, 422))
def declare_transfer_lost(transfer_id: int, body: TransferLostIn) -> TransferOut:
    scope = current_scope()
    transfer = clinic_transfers.declare_lost(db.session, actor=current_user(), scope=scope,
                                             transfer_id=transfer_id, reason=body.reason, now=utcnow())
    return TransferOut.of(transfer, scope)
