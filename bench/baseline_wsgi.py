"""The draw benchmark's baseline: the same writes as POST /api/v1/treatments/<id>/draws, by hand.

A bare WSGI callable (``gunicorn bench.baseline_wsgi:app``), one psycopg connection per
worker thread, one transaction per request: look the bearer token up, claim the request's
Idempotency-Key (one INSERT ... ON CONFLICT DO NOTHING; its answer stored at the end), lock the
treatment and the container (with its chain head, the newest movement's hash), insert the
movement (hashed with ``audit_chain.movement_hash``, so ``vialog verify`` still passes),
update the cached balance and the chain head, insert the draw with its seal (``audit_chain.row_seal``), commit. No
validation beyond that, no ORM, no framework: the floor the application is compared with.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import threading
from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace
from typing import Any

import psycopg

from bench.generate import MoveRow
from inventory.services import audit_chain

# The app seals every draw (services/audit_chain.py): the baseline pays the same hash.
_DRAW_SEAL = next(audit_chain.SealSpec(model, fields, with_id) for model, fields, with_id in audit_chain.CORE_SEALS
                  if model.__tablename__ == "draws")
_PATH = re.compile(r"^/api/v1/treatments/(\d+)/draws$")
_STEP = Decimal("0.0001")
_local = threading.local()


def _connection() -> psycopg.Connection:
    """One connection per worker thread (gunicorn's gthread workers run requests on several)."""
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = psycopg.connect(os.environ["BASELINE_CONNINFO"])
    return conn


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    match = _PATH.match(environ.get("PATH_INFO", ""))
    if environ["REQUEST_METHOD"] != "POST" or match is None:
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b'{"error": {"code": "not_found"}}']
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length)
    body = json.loads(raw)
    key = environ.get("HTTP_IDEMPOTENCY_KEY", "").strip()
    token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")[2]
    treatment_id, container_id = int(match.group(1)), int(body["container"])
    quantity = Decimal(body["quantity"])
    now = dt.datetime.now(dt.UTC)
    conn = _connection()
    with conn.transaction(), conn.cursor() as cur:
        user = cur.execute(
            "SELECT user_id FROM api_tokens WHERE token_hash = %s AND revoked_at IS NULL AND expires_at > %s",
            (hashlib.sha256(token.encode()).hexdigest(), now),
        ).fetchone()
        if user is None:
            start_response("401 Unauthorized", [("Content-Type", "application/json")])
            return [b'{"error": {"code": "unauthorized"}}']
        record_id = None
        if key:  # claimed before any work, as the app does; a retry gets the stored answer
            request_hash = hashlib.sha256(b"POST " + environ["PATH_INFO"].encode() + b"\n" + raw).hexdigest()
            claimed = cur.execute(
                "INSERT INTO idempotency_records (user_id, key, request_hash, created_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (user_id, key) DO NOTHING RETURNING id", (user[0], key, request_hash, now),
            ).fetchone()
            if claimed is None:
                status, stored = cur.execute(
                    "SELECT status_code, response_body FROM idempotency_records WHERE user_id = %s AND key = %s",
                    (user[0], key)).fetchone()
                start_response(f"{status} Replayed", [("Content-Type", "application/json")])
                return [stored.encode()]
            record_id = claimed[0]
        patient_id, treatment_clinic_id = cur.execute(
            "SELECT patient_id, clinic_id FROM treatments WHERE id = %s FOR UPDATE", (treatment_id,)
        ).fetchone()
        (clinic_id, location_id, lot_id, product_id, remaining, conc, head) = cur.execute(
            "SELECT clinic_id, location_id, lot_id, product_id, remaining, concentration_u_per_ml, chain_head "
            "FROM containers WHERE id = %s FOR UPDATE", (container_id,),
        ).fetchone()
        prev = head or audit_chain.GENESIS
        balance = remaining - quantity
        movement_id = cur.execute("SELECT nextval(pg_get_serial_sequence('movements', 'id'))").fetchone()[0]
        row = MoveRow(movement_id, clinic_id, location_id, container_id, lot_id, product_id, "draw", -quantity,
                      balance, user[0], now, None, None, treatment_id, None)
        row_hash = audit_chain.movement_hash(prev, row)
        cur.execute(
            "INSERT INTO movements (id, clinic_id, location_id, container_id, lot_id, product_id, kind, quantity, "
            "balance_after, actor_id, at, reason, note, treatment_id, reverses_id, prev_hash, row_hash) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (*row, prev, row_hash),
        )
        cur.execute("UPDATE containers SET remaining = %s, state = %s, chain_head = %s WHERE id = %s",
                    (balance, "in_use" if balance > 0 else "empty", row_hash, container_id))
        ml = (quantity / conc).quantize(_STEP, rounding=ROUND_HALF_UP) if conc else None
        drawn = SimpleNamespace(
            movement_id=movement_id, treatment_id=treatment_id, container_id=container_id, lot_id=lot_id,
            patient_id=patient_id, clinic_id=treatment_clinic_id, injector_id=user[0], at=now, area=body["area"],
            area_detail=None, quantity=quantity, quantity_ml=ml, concentration_u_per_ml=conc, entered_unit="U",
            reason=None, dose_warnings=None, confirmed_warnings=None, confirm_reason=None,
        )
        draw_id = cur.execute(
            "INSERT INTO draws (treatment_id, container_id, movement_id, area, quantity, quantity_ml, "
            "concentration_u_per_ml, entered_unit, injector_id, at, created_at, lot_id, patient_id, clinic_id, "
            "row_seal) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (treatment_id, container_id, movement_id, body["area"], quantity, ml, conc, "U", user[0], now, now,
             lot_id, patient_id, treatment_clinic_id, audit_chain.row_seal(_DRAW_SEAL, None, drawn)),
        ).fetchone()[0]
        payload = json.dumps({"id": draw_id, "quantity_units": str(quantity), "container": {"id": container_id,
                              "remaining": str(balance)}}).encode()
        if record_id is not None:
            cur.execute("UPDATE idempotency_records SET status_code = 201, response_body = %s WHERE id = %s",
                        (payload.decode(), record_id))
    start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
    return [payload]
