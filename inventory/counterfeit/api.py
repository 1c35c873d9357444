"""Suppliers (manager, admin) and the watch list (safety lead, admin) over the API."""

from __future__ import annotations

from flask import Response

from inventory.blueprints.api.core import current_user, operation
from inventory.counterfeit import service as counterfeit
from inventory.counterfeit.schemas import (
    SupplierIn,
    SupplierList,
    SupplierOut,
    SupplierPatch,
    UnwatchDeleteIn,
    UnwatchedOut,
    UnwatchIn,
    WatchedCreated,
    WatchedOut,
    WatchIn,
    WatchList,
)
from inventory.extensions import db
from inventory.models import utcnow
from inventory.services.permissions import Permission

NO_REASON_GIVEN = "no reason given (DELETE without a body)"


@operation("GET", "/suppliers", summary="The chain's suppliers, authorised first", permission=Permission.CATALOG,
           response=SupplierList)
def list_suppliers() -> SupplierList:
    return SupplierList(suppliers=[SupplierOut.of(s) for s in counterfeit.list_suppliers(db.session)])


@operation("POST", "/suppliers", summary="Add a supplier", permission=Permission.CATALOG, body=SupplierIn,
           response=SupplierOut, status=201, idempotent=True, errors=(409, 422))
def add_supplier(body: SupplierIn) -> SupplierOut:
    return SupplierOut.of(counterfeit.add_supplier(db.session, actor=current_user(), name=body.name,
                                                   licence=body.licence, authorised=body.authorised,
                                                   reason=body.reason, now=utcnow()))


@operation("PATCH", "/suppliers/<int:supplier_id>", summary="Rename, relicense, authorise or stop a supplier",
           permission=Permission.CATALOG, body=SupplierPatch, response=SupplierOut, errors=(404, 409, 422))
def update_supplier(supplier_id: int, body: SupplierPatch) -> SupplierOut:
    changes = body.model_dump(include=body.model_fields_set - {"reason"})
    return SupplierOut.of(counterfeit.update_supplier(db.session, actor=current_user(), supplier_id=supplier_id,
                                                      now=utcnow(), changes=changes, reason=body.reason))


@operation("GET", "/watchlist", summary="The counterfeit watch list", permission=Permission.RECALL,
           response=WatchList)
def list_watchlist() -> WatchList:
    return WatchList(entries=[WatchedOut.of(e) for e in counterfeit.list_watched(db.session)])


@operation("POST", "/watchlist", summary="Watch a suspect lot number; a lot in stock is quarantined at once",
           permission=Permission.RECALL, body=WatchIn, response=WatchedCreated, status=201, idempotent=True,
           errors=(404, 409, 422))
def add_watch(body: WatchIn) -> WatchedCreated:
    watched = counterfeit.watch(db.session, actor=current_user(), lot_number=body.lot_number, source=body.source,
                                now=utcnow(), product_id=body.product_id, gtin=body.gtin, note=body.note)
    return WatchedCreated.of_watched(watched)


@operation("POST", "/watchlist/<int:entry_id>/remove",
           summary="Take an entry off the watch list, saying why; a lot it quarantined stays quarantined",
           permission=Permission.RECALL, body=UnwatchIn, response=UnwatchedOut, idempotent=True,
           errors=(404, 422))
def remove_watch(entry_id: int, body: UnwatchIn) -> UnwatchedOut:
    return UnwatchedOut.of_unwatched(counterfeit.unwatch(db.session, actor=current_user(), entry_id=entry_id,
                                                         reason=body.reason, now=utcnow()))


@operation("DELETE", "/watchlist/<int:entry_id>", summary="Take an entry off the watch list: as .../remove, "
           "with the reason in the body if given", permission=Permission.RECALL, body=UnwatchDeleteIn, status=204,
           errors=(404, 422))
def delete_watch(entry_id: int, body: UnwatchDeleteIn) -> Response:
    # The contract's DELETE carries no body: its clients keep working, and the audit says no reason was given.
    counterfeit.unwatch(db.session, actor=current_user(), entry_id=entry_id,
                        reason=body.reason or NO_REASON_GIVEN, now=utcnow())
    response = Response(status=204)
    response.headers.remove("Content-Type")
    return response
