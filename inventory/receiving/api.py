"""Receiving over the API: one box of one lot per request (see API.md "Receipts")."""

from __future__ import annotations

from flask import request

from inventory import unit_of_work
from inventory.blueprints.api.core import current_scope, current_user, operation
from inventory.counterfeit import service as counterfeit
from inventory.blueprints.api.schemas import ContainerOut, LotOut
from inventory.errors import DomainError
from inventory.extensions import db
from inventory.models import utcnow
from inventory.receiving import returns, service as receiving
from inventory.receiving.schemas import ReceiptIn, ReceiptOut, ReturnIn, ReturnOut
from inventory.services.permissions import Permission


@operation("POST", "/receipts", summary="Receive a box of one lot", permission=Permission.RECEIVE,
           body=ReceiptIn, response=ReceiptOut, status=201, idempotent=True, errors=(404, 409, 422))
def create_receipt(body: ReceiptIn) -> ReceiptOut:
    now = utcnow()
    try:
        receipt = receiving.receive(
            db.session, actor=current_user(), scope=current_scope(), location_id=body.location_id,
            containers=body.containers, now=now, code=body.code, gtin=body.gtin, lot_number=body.lot,
            expiry=body.expiry, confirm=body.confirm, supplier_id=body.supplier_id,
        )
    except DomainError as error:
        # A counterfeit sign is refused, and kept on record for the safety lead although the request is rolled
        # back; a retry under the same Idempotency-Key is the same sign.
        sign = receiving.refusal_sign(
            db.session, error, actor_id=current_user().id, now=now, location_id=body.location_id, code=body.code,
            gtin=body.gtin, lot_number=body.lot, expiry=body.expiry, supplier_id=body.supplier_id,
            request_key=request.headers.get("Idempotency-Key", "").strip() or None)
        if sign is None:
            raise
        unit_of_work.record_despite_refusal(sign)
        raise receiving.told_the_safety_lead(error) from error
    names = counterfeit.supplier_names(db.session, {receipt.supplier_id})
    return ReceiptOut(
        receipt_id=receipt.id, lot=LotOut.of(receipt.lot), containers=[ContainerOut.of(c) for c in receipt.containers],
        supplier_id=receipt.supplier_id, supplier=names.get(receipt.supplier_id) if receipt.supplier_id else None,
        serial=receiving.serial_of(db.session, receipt.id),
    )


@operation("POST", "/receipts/<int:receipt_id>/return", summary="Return a receipt's untouched containers to the supplier",
           permission=Permission.RECEIVE, body=ReturnIn, response=ReturnOut, status=201, idempotent=True,
           errors=(404, 409, 422))
def return_receipt(receipt_id: int, body: ReturnIn) -> ReturnOut:
    done = returns.return_to_supplier(
        db.session, actor=current_user(), scope=current_scope(), receipt_id=receipt_id, reason=body.reason,
        note=body.note, now=utcnow(), container_ids=body.container_ids,
    )
    return ReturnOut.of(done)
