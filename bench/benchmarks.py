"""The benchmarks of docs/performance.md. Each returns its figures, its baseline's and their ratio; the
draw's split (``draw-split``) says where a draw's milliseconds go.

Timings use ``time.perf_counter``; every figure is a median or percentile over many
repetitions in one run, and the machine's load average is recorded beside it
(bench/__main__.py ``record``): other people's tests share this machine.
"""

from __future__ import annotations

import datetime as dt
import gc
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from bench import db
from bench.generate import END
from inventory.receiving.returns import returned_state

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["scan", "kits", "trace", "export", "draw", "draw-interleaved", "draw-split", "statement-layers"]


def run(name: str, args: Any) -> dict[str, Any]:
    return {"scan": bench_scan, "kits": bench_kits, "trace": bench_trace, "export": bench_export,
            "draw": bench_draw, "draw-interleaved": bench_draw_interleaved, "draw-split": bench_draw_split,
            "statement-layers": bench_statement_layers}[name](args)


# --- helpers ----------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def stats(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": round(pct(ms, 50), 3), "p95_ms": round(pct(ms, 95), 3),
            "p99_ms": round(pct(ms, 99), 3), "max_ms": round(max(ms), 3) if ms else None}


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


def make_app(database: str) -> Any:
    from inventory import create_app

    os.environ.setdefault("VIALOG_INSTANCE", db.vialog_env(database)["VIALOG_INSTANCE"])
    app = create_app({"DATABASE_URL": db.sqlalchemy_url(database), "SECRET_KEY": "bench-secret-key-" + "x" * 32})
    gc.freeze()  # as wsgi.py does in production
    return app


def bench_user_token(session: Any, hours: int = 4) -> str:
    from sqlalchemy import select

    from inventory.models import User, utcnow
    from inventory.services import auth

    user = session.scalar(select(User).where(User.username == "bench"))
    token, _ = auth.issue_token(session, user, hours=hours, now=utcnow())
    session.commit()
    return token


# --- 1. trace -----------------------------------------------------------------------------------

TRACE_LOT_SQL = """
SELECT l.id, l.product_id, p.name, l.number, l.expiry, l.expiry_raw, l.status, l.status_reason, p.base_unit
FROM lots l JOIN products p ON p.id = l.product_id WHERE l.id = %s"""
# An empty container whose last movement is a RETURN went back to its supplier (returns.returned_on).
TRACE_CONTAINERS_SQL = """
SELECT c.id, c.label_code, c.state, c.remaining, c.initial_quantity, c.patient_id, l.name, p.base_unit,
       cl.id, cl.code, cl.name, cl.timezone, c.location_id, rt.id, rt.reason, rt.note
FROM containers c JOIN locations l ON l.id = c.location_id JOIN clinics cl ON cl.id = c.clinic_id
JOIN products p ON p.id = c.product_id
LEFT JOIN movements rt ON c.state = 'empty' AND rt.kind = 'return'
     AND rt.id = (SELECT max(m.id) FROM movements m WHERE m.container_id = c.id)
WHERE c.lot_id = %s ORDER BY cl.code, l.name, c.label_code"""
# Each draw carries its lot, patient and clinic (migration 0006_trace_draws): one range of
# ix_draws_lot_id, the patients, the small clinics and users tables, and the reversal probe.
TRACE_DOSES_SQL = """
SELECT d.id, d.movement_id, d.treatment_id, d.at, d.area, d.area_detail, d.quantity, d.quantity_ml,
       d.entered_unit, d.reason, d.injector_id, u.username, u.display_name, d.container_id, d.lot_id,
       pa.id, pa.clinic_id, pa.external_ref, pa.name, pa.date_of_birth, cl.id, cl.code, cl.name, cl.timezone, r.id
FROM draws d JOIN patients pa ON pa.id = d.patient_id JOIN clinics cl ON cl.id = d.clinic_id
JOIN users u ON u.id = d.injector_id LEFT JOIN movements r ON r.reverses_id = d.movement_id
WHERE d.lot_id = %s ORDER BY cl.code, d.at, d.id"""


def _json_time(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")  # as pydantic writes an aware UTC moment


def _json_quantity(value: Any) -> str | None:
    return None if value is None else "0" if value == 0 else f"{value.normalize():f}"


# The transfer a discarded container was lost on (transfers.service.lost_in_transit): asked only when some are.
TRACE_LOST_SQL = """
SELECT i.container_id, t.id, f.code, d.code
FROM transfer_items i JOIN transfer_missing_items m ON m.item_id = i.id JOIN transfers t ON t.id = i.transfer_id
JOIN clinics f ON f.id = t.from_clinic_id JOIN clinics d ON d.id = t.to_clinic_id
WHERE i.container_id = ANY(%s)
"""
TRACE_TRANSFERS_SQL = """
SELECT i.container_id, i.quantity, t.id, t.status, t.sent_at, f.id, f.code, f.timezone, d.id, d.code, l.name
FROM transfer_items i JOIN transfers t ON t.id = i.transfer_id JOIN clinics f ON f.id = t.from_clinic_id
JOIN clinics d ON d.id = t.to_clinic_id JOIN locations l ON l.id = t.to_location_id
WHERE i.container_id = ANY(%s) AND i.in_movement_id IS NULL ORDER BY t.id
"""


def hand_trace_json(conn: psycopg.Connection, lot_id: int) -> bytes:
    """The trace API's answer for a lot, written by hand: the same three reads and the same JSON bytes,
    with nothing of the app (no Flask, no session, no token, no access log, no models)."""
    (lid, product_id, product, number, expiry, expiry_raw, status, status_reason, base_unit) = conn.execute(
        TRACE_LOT_SQL, (lot_id,)).fetchone()
    containers, labels = [], {}
    for (cid, label, state, remaining, _initial, patient_id, location, unit, clinic_id, clinic_code, _clinic_name,
         _tz, location_id, return_id, return_reason, return_note) in conn.execute(TRACE_CONTAINERS_SQL, (lot_id,)):
        labels[cid] = label
        containers.append({"id": cid, "label_code": label, "clinic_id": clinic_id, "clinic_code": clinic_code,
                           "location_id": location_id, "location": location, "state": state,
                           "remaining": _json_quantity(remaining), "base_unit": unit, "patient_id": patient_id,
                           "in_transit": state == "in_transit", "transfer": None, "lost_in_transit": False,
                           "lost_in_transit_transfer_id": None,
                           "returned": returned_state(return_reason, return_note) if return_id is not None else None})
    travelling = {c["id"]: c for c in containers if c["in_transit"]}
    if travelling:  # the transfer each travels with, as the app reads it: one more statement, only then
        for (cid, quantity, transfer_id, status, sent_at, from_id, from_code, from_tz, to_id, to_code,
             to_location) in conn.execute(TRACE_TRANSFERS_SQL, (list(travelling),)):
            travelling[cid]["transfer"] = {
                "id": transfer_id, "status": status, "from_clinic_id": from_id, "from_clinic_code": from_code,
                "to_clinic_id": to_id, "to_clinic_code": to_code, "to_location": to_location,
                "sent_at": _json_time(sent_at), "sent_local_at": _json_time(sent_at.astimezone(ZoneInfo(from_tz))),
                "quantity": _json_quantity(quantity)}
    discarded = {c["id"]: c for c in containers if c["state"] == "discarded"}
    if discarded:  # written off at the source, lost in transit: one more statement, only then
        for cid, transfer_id, _from_code, _to_code in conn.execute(TRACE_LOST_SQL, (list(discarded),)):
            discarded[cid]["lost_in_transit"], discarded[cid]["lost_in_transit_transfer_id"] = True, transfer_id
    patients: dict[int, dict[str, Any]] = {}
    received: set[int] = set()
    zones: dict[str, ZoneInfo] = {}
    doses = []
    for (draw_id, _movement_id, treatment_id, at, area, area_detail, quantity, quantity_ml, _entered, reason,
         injector_id, username, display_name, container_id, _lot, patient_id, patient_clinic, external_ref, name,
         birth, clinic_id, clinic_code, _clinic_name, tz, reversal_id) in conn.execute(TRACE_DOSES_SQL, (lot_id,)):
        patient = patients.get(patient_id)
        if patient is None:
            patient = patients[patient_id] = {
                "id": patient_id, "clinic_id": patient_clinic, "external_ref": external_ref, "name": name,
                "date_of_birth": birth and birth.isoformat()}
        if reversal_id is None:
            received.add(patient_id)
        zone = zones.get(tz) or zones.setdefault(tz, ZoneInfo(tz))
        doses.append({
            "treatment_id": treatment_id, "draw_id": draw_id, "patient": patient, "clinic_id": clinic_id,
            "clinic_code": clinic_code, "at": _json_time(at), "local_at": _json_time(at.astimezone(zone)),
            "area": area, "area_detail": area_detail, "quantity": _json_quantity(quantity), "unit": base_unit,
            "quantity_ml": _json_quantity(quantity_ml), "injector_id": injector_id,
            "injector": display_name or username, "container_id": container_id, "label_code": labels[container_id],
            "lot_id": lid, "lot_number": number, "product_id": product_id, "product": product, "reason": reason,
            "reversed": reversal_id is not None})
    conn.rollback()
    who = sorted((patients[i] for i in received), key=lambda p: (p["clinic_id"], p["name"].casefold(), p["id"]))
    answer = {"lot": {"id": lid, "product_id": product_id, "product_name": product, "number": number,
                      "expiry": expiry.isoformat(), "expiry_raw": expiry_raw, "status": status,
                      "status_reason": status_reason},
              "containers": containers, "treatments": doses, "patients": who}
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()


def bench_trace(args: Any) -> dict[str, Any]:
    """Lot -> containers, doses and patients: the service, the API, and the same two queries by hand."""
    from sqlalchemy import text

    from inventory.extensions import db as vialog_db
    from inventory.services.permissions import Scope
    from recall import queries

    app = make_app(args.database)
    n = 20 if args.smoke else args.lots
    with app.app_context():
        session = vialog_db.session
        lot_ids = list(session.scalars(text(
            "SELECT l.id FROM lots l WHERE EXISTS (SELECT 1 FROM draws d WHERE d.lot_id = l.id) ORDER BY l.id")))
        token = bench_user_token(session)
    sample = random.Random(args.seed).sample(lot_ids, min(n, len(lot_ids)))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    scope = Scope.everything()
    timings: dict[str, list[float]] = {"service": [], "api": [], "sql": [], "hand_json": []}
    sizes = []
    with psycopg.connect(db.conninfo(args.database)) as conn, app.app_context():
        session = vialog_db.session

        def sql(lot_id: int) -> int:
            containers = conn.execute(TRACE_CONTAINERS_SQL, (lot_id,)).fetchall()
            doses = conn.execute(TRACE_DOSES_SQL, (lot_id,)).fetchall()
            conn.rollback()
            return len({d[15] for d in doses if d[24] is None}) + 0 * len(containers)

        def service(lot_id: int) -> int:
            lots = queries.lots_by_ids(session, [lot_id])
            (trace,) = queries.lot_traces(session, lots, scope)
            patients = len(trace.patients)
            session.rollback()
            return patients

        def api(lot_id: int) -> int:
            response = client.get(f"/api/v1/lots/{lot_id}/trace", headers=headers)
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
            return len(response.get_json()["patients"])

        def hand_json(lot_id: int) -> int:
            return len(json.loads(hand_trace_json(conn, lot_id))["patients"])

        for lot_id in sample[:10]:  # warm the caches and the connection pools; the hand JSON is the API's
            sql(lot_id), service(lot_id)
            answer = client.get(f"/api/v1/lots/{lot_id}/trace", headers=headers).get_data()
            if json.loads(answer) != json.loads(hand_trace_json(conn, lot_id)):
                raise AssertionError(f"lot {lot_id}: the hand-written JSON differs from the API's")
        methods = [("sql", sql), ("service", service), ("api", api), ("hand_json", hand_json)]
        for i, lot_id in enumerate(sample):
            order = methods[i % 4:] + methods[:i % 4]  # rotate: no method always runs first
            counts = {}
            for name, fn in order:
                t0 = time.perf_counter()
                counts[name] = fn(lot_id)
                timings[name].append(time.perf_counter() - t0)
            if len(set(counts.values())) != 1:
                raise AssertionError(f"lot {lot_id}: patients differ {counts}")
            sizes.append(counts["sql"])
    result = {name: stats(values) for name, values in timings.items()}
    return {
        "lots": len(sample), "lots_with_draws": len(lot_ids),
        "patients_per_lot_p50": pct(sizes, 50), "patients_per_lot_max": max(sizes),
        **{f"{k}_{m}": v for k, s in result.items() for m, v in s.items() if m != "n"},
        "ratio_service_p95": ratio(result["service"]["p95_ms"], result["sql"]["p95_ms"]),
        "ratio_api_p95": ratio(result["api"]["p95_ms"], result["sql"]["p95_ms"]),
        # The target's ratio: the API against a hand-written read that answers the same JSON.
        "ratio_api_hand_json_p95": ratio(result["api"]["p95_ms"], result["hand_json"]["p95_ms"]),
        "target": "p95 <= 20 ms; API p95 <= 1.5x the hand-written JSON",
    }


# --- 2. draw under load ----------------------------------------------------------------------------


def _prepare_draw_slots(app: Any, slots: int, tag: str) -> tuple[list[tuple[int, int]], str]:
    """Reconstituted multi-patient Botox 100 U vials (100 draws of 1 U each) and open treatments
    (2 draws each) of clinic 1, through the app's own services; returns (treatment, container) slots."""
    from sqlalchemy import insert, select

    from inventory.extensions import db as vialog_db
    from inventory.models import Location, LocationKind, Patient, Product, ProductGtin, Treatment, User, utcnow
    from inventory.cart import service as cart
    from inventory.receiving import service as receiving
    from inventory.services.permissions import Scope
    from inventory.services import audit_chain

    with app.app_context():
        session = vialog_db.session
        scope = Scope.everything()
        user = session.scalar(select(User).where(User.username == "bench"))
        product = session.scalar(select(Product).where(Product.name == "Botox Cosmetic 100 U"))
        gtin = session.scalar(select(ProductGtin.gtin).where(ProductGtin.product_id == product.id))
        locations = {loc.kind: loc.id for loc in session.scalars(select(Location).where(Location.clinic_id == 1))}
        vials_needed = slots // 100 + 1
        now = utcnow()
        vials: list[int] = []
        lot_number = f"BN{tag}"[:20]
        while len(vials) < vials_needed:
            receipt = receiving.receive(
                session, actor=user, scope=scope, location_id=locations[LocationKind.FRIDGE],
                containers=min(500, vials_needed - len(vials)), now=now, gtin=gtin, lot_number=lot_number,
                expiry=(END + dt.timedelta(days=700)).date())
            session.flush()
            for container in receipt.containers:
                cart.reconstitute(session, actor=user, scope=scope, container_id=container.id,
                                  diluent_ml=Decimal("2.5"), now=now)
                vials.append(container.id)
            session.commit()
        # At most 40 U of the day's 1 U draws per patient: more would pass the molecule's label maximum for a
        # day, and the dose checks would refuse the draw (409) rather than measure it.
        patients = list(session.scalars(insert(Patient).returning(Patient.id), [
            {"clinic_id": 1, "external_ref": f"BENCH-{tag}-{i}", "name": f"Bench Patient {i}"}
            for i in range(max(200, slots // 40 + 1))
        ]))
        treatments = list(session.scalars(insert(Treatment).returning(Treatment.id), [
            {"clinic_id": 1, "patient_id": patients[i % len(patients)], "location_id": locations[LocationKind.ROOM],
             "injector_id": user.id, "started_at": now} for i in range(slots // 2 + 1)
        ]))
        for table, ids in (("patients", patients), ("treatments", treatments)):  # a bulk INSERT seals nothing
            audit_chain.seal_existing_rows(session.connection(), audit_chain.SEALED[table], ids)
        session.commit()
        token = bench_user_token(session)
    return [(treatments[j // 2], vials[j // 100]) for j in range(slots)], token


def _serve(target: str, port: int, env: dict[str, str], threads: int, root: Path = ROOT) -> subprocess.Popen[bytes]:
    """gunicorn with one worker per core: gthread workers (keep-alive, a request's database waits
    overlapped with another's Python) when ``threads`` > 1, as ``vialog serve`` runs; else sync workers. A
    listening socket per worker (``--reuse-port``), as ``vialog serve`` has too.
    ``root``: the checkout it serves (another one's code for ``draw-interleaved --compare``)."""
    workers = str(os.cpu_count() or 2)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    workers_class = ["--worker-class", "gthread", "--threads", str(threads)] if threads > 1 else []
    proc = subprocess.Popen(
        [str(gunicorn), "--workers", workers, *workers_class, "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "--reuse-port", target],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            time.sleep(1.0)  # let every worker boot
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn {target} exited: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn {target} did not start")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load(port: int, token: str, slots: list[tuple[int, int]], clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` threads, each with its own keep-alive http.client connection (reopened when the
    server closes it) and its own vials and treatments (no two clients lock the same rows), for ``seconds``."""
    blocks = [slots[i:i + 100] for i in range(0, len(slots), 100)]
    per_client = [[s for block in blocks[i::clients] for s in block] for i in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    exhausted = []
    start_gate = threading.Barrier(clients + 1)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = latencies[i]
        start_gate.wait()
        for treatment_id, container_id in per_client[i]:
            if time.perf_counter() >= deadline:
                break
            body = json.dumps({"container": container_id, "quantity": "1", "unit": "U", "area": "glabella"})
            # Every draw carries its own key, as a scanner's does: both servers claim it and store the answer.
            keyed = {**headers, "Idempotency-Key": f"bench-{port}-{treatment_id}-{container_id}-{len(mine)}"}
            t0 = time.perf_counter()
            try:
                conn.request("POST", f"/api/v1/treatments/{treatment_id}/draws", body, keyed)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as error:
                errors.append(repr(error))
                conn.close()
                continue
            mine.append(time.perf_counter() - t0)
            if response.status != 201:
                errors.append(f"{response.status} {data[:200]!r}")
        else:
            exhausted.append(i)
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    deadline = time.perf_counter() + seconds
    start_gate.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    every = [x for part in latencies for x in part]
    return {"clients": clients, "draws": len(every), "seconds": round(elapsed, 2),
            "per_s": round(len(every) / elapsed, 1), **stats(every), "errors": len(errors),
            "first_errors": errors[:3], "slots_exhausted": len(exhausted),
            # How evenly the server shared itself among the clients: a client served far more than the others
            # runs through all its slots ("slots_exhausted") while the others wait (their latency is the p99).
            "per_client_draws_min": min(map(len, latencies)), "per_client_draws_max": max(map(len, latencies))}


def bench_draw(args: Any) -> dict[str, Any]:
    seconds = 2.0 if args.smoke else args.seconds
    app = make_app(args.database)
    env = db.vialog_env(args.database)
    env["BASELINE_CONNINFO"] = db.conninfo(args.database)
    env["PYTHONPATH"] = str(ROOT)
    server_kind = f"gunicorn gthread workers, {args.threads} threads" if args.threads > 1 else "gunicorn sync workers"
    result: dict[str, Any] = {"workers": os.cpu_count(), "server": server_kind,
                              "client": "python threads, http.client keep-alive (reopened when the server closes)"}
    tag = f"{int(time.time()) % 10**8}"
    capacity = {1: 400, 16: 1500} if not args.smoke else {1: 300, 4: 300}
    for clients, rate in capacity.items():
        for name, target, factor in (("vialog", "wsgi:app", 1), ("baseline", "bench.baseline_wsgi:app", 3)):
            slots, token = _prepare_draw_slots(app, int(rate * factor * seconds) + 600,
                                               f"{tag}{name[0]}{clients}")
            port = _free_port()
            server = _serve(target, port, env, args.threads)
            try:
                # Warm every worker (imports, first connection, first statements) on slots of their own.
                warm = load(port, token, slots[:400], 4, 10.0)
                if warm["errors"]:
                    raise RuntimeError(f"{name} warm-up failed: {warm['first_errors']}")
                figures = load(port, token, slots[400:], clients, seconds)
            finally:
                _stop(server)
            result[f"{name}_{clients}"] = figures
    for clients in capacity:
        app_run, base_run = result[f"vialog_{clients}"], result[f"baseline_{clients}"]
        result[f"ratio_throughput_{clients}"] = ratio(app_run["per_s"], base_run["per_s"])
        result[f"ratio_p50_{clients}"] = ratio(app_run["p50_ms"], base_run["p50_ms"])
    result["errors"] = sum(result[k]["errors"] for k in result if k.startswith(("vialog_", "baseline_")))
    # Issue 22's targets, each a ratio against the bare baseline of the same run (p99 on 4 cores).
    result["target"] = "1 client p50 <= 2x bare; 16 clients throughput >= 0.5x bare, p99 <= 50 ms on 4 cores"
    return result


def bench_draw_interleaved(args: Any) -> dict[str, Any]:
    """The draw at one client with its requests interleaved: Vialog and the bare baseline (and, with
    ``--compare PATH``, the Vialog of another checkout, as "compared") each served by its own gunicorn and
    asked in turn, one keyed draw each per round. A drift of a shared machine's speed then lands on all of
    them alike, where ``draw`` measures each for its own seconds; the p50 of each and their ratios."""
    draws = 100 if args.smoke else args.draws
    warm = 50 if args.smoke else 300
    app = make_app(args.database)
    env = db.vialog_env(args.database)
    env["BASELINE_CONNINFO"] = db.conninfo(args.database)
    servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    served = [("vialog", ROOT, "wsgi:app"), ("baseline", ROOT, "bench.baseline_wsgi:app")]
    if args.compare is not None:
        served.append(("compared", Path(args.compare).resolve(), "wsgi:app"))
    try:
        for name, root, target in served:
            port = _free_port()
            servers[name] = (_serve(target, port, {**env, "PYTHONPATH": str(root)}, args.threads, root), port)
        slots, token = _prepare_draw_slots(app, len(servers) * (draws + warm), f"{int(time.time()) % 10**8}i")
        connections = {name: http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                       for name, (_, port) in servers.items()}
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        spent: dict[str, list[float]] = {name: [] for name in servers}
        errors: list[str] = []
        turn = iter(slots)
        for round_ in range(draws + warm):
            for name, connection in connections.items():
                treatment_id, container_id = next(turn)
                body = json.dumps({"container": container_id, "quantity": "1", "unit": "U", "area": "glabella"})
                keyed = {**headers, "Idempotency-Key": f"interleaved-{name}-{treatment_id}-{container_id}-{round_}"}
                t0 = time.perf_counter()
                connection.request("POST", f"/api/v1/treatments/{treatment_id}/draws", body, keyed)
                response = connection.getresponse()
                data = response.read()
                elapsed = time.perf_counter() - t0
                if response.status != 201:
                    errors.append(f"{name}: {response.status} {data[:200]!r}")
                elif round_ >= warm:
                    spent[name].append(elapsed)
    finally:
        for proc, _ in servers.values():
            _stop(proc)
    result: dict[str, Any] = {name: stats(values) for name, values in spent.items()}
    for name in servers:
        if name != "baseline":
            result[f"ratio_p50_{name}"] = ratio(result[name]["p50_ms"], result["baseline"]["p50_ms"])
    if "compared" in servers:
        result["compared_checkout"] = str(Path(args.compare).resolve())
        result["ratio_p50_vialog_to_compared"] = ratio(result["vialog"]["p50_ms"], result["compared"]["p50_ms"])
    result.update(draws=draws, errors=len(errors), first_errors=errors[:3],
                  target="1 client p50 <= 2x bare")
    return result


# The parts of a keyed draw timed by bench_draw_split: (module, attribute, what it is). Nested parts (the
# service's own steps) are timed inside their caller, so a caller's figure includes theirs.
_DRAW_PARTS = (
    ("inventory.services.auth", "user_for_token_claiming", "token and user, with the key's claim"),
    ("inventory.blueprints.api.core", "_claim_key", "idempotency: first request or retry"),
    ("inventory.cart.service", "draw", "service: draw"),
    ("inventory.cart.service", "_lock_for_draw", "  lock treatment, container (lot, product, clinic)"),
    ("inventory.cart.dose_limits", "assess", "  dose checks (limits, history)"),
    ("inventory.services.ledger", "append", "  movement, container, draw: hash, seal, write (one statement)"),
    ("inventory.cart.service", "_draw_row", "    of which the draw's seal and values"),
    ("inventory.clinical.service", "default_follow_up", "  follow-up default"),
    ("inventory.blueprints.api.core", "_save_answer", "idempotency answer"),
)


def bench_draw_split(args: Any) -> dict[str, Any]:
    """Where a draw's milliseconds go: POST /treatments/<id>/draws through the app in this process (Flask's
    test client, no HTTP), each part timed by a wrapper around it, and the statements counted."""
    import importlib

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from inventory.extensions import db as vialog_db

    draws = 100 if args.smoke else 2000
    warm = 50 if args.smoke else 200
    app = make_app(args.database)
    slots, token = _prepare_draw_slots(app, draws + warm, f"{int(time.time()) % 10**8}s")
    spent: dict[str, float] = {}
    originals: list[tuple[Any, str, Any]] = []

    def timed(owner: Any, attribute: str, label: str) -> None:
        original = getattr(owner, attribute)
        originals.append((owner, attribute, original))

        def wrapper(*a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                spent[label] = spent.get(label, 0.0) + time.perf_counter() - t0
        setattr(owner, attribute, wrapper)

    for module, attribute, label in _DRAW_PARTS:
        timed(importlib.import_module(module), attribute, label)
    timed(Session, "commit", "commit (with its flush)")
    timed(Session, "_flush", "  flush")  # at the commit, or before a query (autoflush)
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    with app.app_context():
        engine = vialog_db.engine
    event.listen(engine, "before_cursor_execute", count)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def run(part: list[tuple[int, int]]) -> float:
        t0 = time.perf_counter()
        for i, (treatment_id, container_id) in enumerate(part):
            response = client.post(
                f"/api/v1/treatments/{treatment_id}/draws",
                json={"container": container_id, "quantity": "1", "unit": "U", "area": "glabella"},
                headers={**headers, "Idempotency-Key": f"split-{treatment_id}-{container_id}-{i}"})
            if response.status_code != 201:
                raise RuntimeError(f"draw failed: {response.status_code} {response.data[:200]!r}")
        return time.perf_counter() - t0

    try:
        run(slots[:warm])
        spent.clear()
        statements[0] = 0
        total = run(slots[warm:])
    finally:
        event.remove(engine, "before_cursor_execute", count)
        for owner, attribute, original in reversed(originals):
            setattr(owner, attribute, original)
    labels = [label for _, _, label in _DRAW_PARTS] + ["commit (with its flush)", "  flush"]
    per_draw = {label: round(spent.get(label, 0.0) / draws * 1000, 3) for label in labels}
    top = ("token and user, with the key's claim", "idempotency: first request or retry", "service: draw", "idempotency answer", "commit (with its flush)")
    per_draw["Flask, JSON in and out, test client"] = round(total / draws * 1000 - sum(per_draw.get(k, 0) for k in top), 3)
    return {"draws": draws, "ms_per_draw": round(total / draws * 1000, 3),
            "statements_per_draw": round(statements[0] / draws, 2), "parts_ms": per_draw, "errors": 0}


def bench_statement_layers(args: Any) -> dict[str, Any]:
    """What one statement costs through each layer a draw's statements pass: the treatment lock's SELECT run
    in one transaction through psycopg's cursor, SQLAlchemy's connection (driver SQL, then the compiled Core
    statement) and the ORM session, interleaved over rounds; the median of the rounds' ms per statement."""
    from sqlalchemy import bindparam, select

    from inventory.extensions import db as vialog_db
    from inventory.models import Treatment

    runs, rounds = (100, 2) if args.smoke else (600, 5)
    app = make_app(args.database)
    with app.app_context():
        session = vialog_db.session
        treatment_id = session.scalar(select(Treatment.id).order_by(Treatment.id.desc()).limit(1))
        table = Treatment.__table__
        core = select(*table.columns).where(table.c.id == bindparam("tid")).with_for_update()
        orm = (select(Treatment).where(Treatment.id == bindparam("tid")).with_for_update()
               .execution_options(populate_existing=True))
        connection = session.connection()
        sql = str(core.compile(dialect=connection.dialect)).replace("%(tid)s", "%s")
        cursor = connection.connection.driver_connection.cursor()
        layers = {
            "psycopg cursor": lambda: cursor.execute(sql, (treatment_id,)).fetchone(),
            "SQLAlchemy connection, driver SQL": lambda: connection.exec_driver_sql(sql, (treatment_id,)).fetchone(),
            "SQLAlchemy connection, Core statement": lambda: connection.execute(core, {"tid": treatment_id}).first(),
            "SQLAlchemy ORM session": lambda: session.execute(orm, {"tid": treatment_id}).scalar_one(),
        }
        spent: dict[str, list[float]] = {name: [] for name in layers}
        for _ in range(rounds):
            for name, run_once in layers.items():
                for _ in range(runs // 6):
                    run_once()  # warm: prepared statements, caches
                t0 = time.perf_counter()
                for _ in range(runs):
                    run_once()
                spent[name].append((time.perf_counter() - t0) / runs * 1000)
        session.rollback()
    medians = {name: round(pct(values, 50), 3) for name, values in spent.items()}
    return {"runs_per_round": runs, "rounds": rounds, "ms_per_statement": medians,
            "ratio_to_psycopg": {name: ratio(ms, medians["psycopg cursor"]) for name, ms in medians.items()}}


# --- 3. scan -------------------------------------------------------------------------------------------


def _scan_codes(conn: psycopg.Connection, n: int, rng: random.Random) -> list[str]:
    labels = [r[0] for r in conn.execute(
        "SELECT label_code FROM containers TABLESAMPLE SYSTEM (5) REPEATABLE (7) LIMIT %s", (n,)).fetchall()]
    if len(labels) < n // 2:
        labels = [r[0] for r in conn.execute("SELECT label_code FROM containers LIMIT %s", (n,)).fetchall()]
    lots = conn.execute(
        "SELECT g.gtin, l.number, l.expiry_raw FROM lots l JOIN product_gtins g ON g.product_id = l.product_id"
    ).fetchall()
    gtins = [r[0] for r in conn.execute("SELECT gtin FROM product_gtins").fetchall()]
    codes = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.40:
            label = rng.choice(labels)
            codes.append(label if rng.random() < 0.8 else label.lower())
        elif roll < 0.70:
            gtin, lot, expiry = rng.choice(lots)
            codes.append(f"]d201{gtin}17{expiry}10{lot}\x1d21{rng.randint(10**9, 10**10 - 1)}")
        elif roll < 0.85:
            gtin, lot, expiry = rng.choice(lots)
            codes.append(f"(01){gtin}(17){expiry}(10){lot}")
        elif roll < 0.95:
            gtin = rng.choice(gtins)
            codes.append(gtin if rng.random() < 0.5 else gtin[1:])
        else:
            codes.append(rng.choice(("hello", "0361234000018", "]d20100000000000000", "VL12345", "(01)123")))
    return codes


def bench_scan(args: Any) -> dict[str, Any]:
    """10,000 mixed codes: barcodes.parse_scan alone, scanning.scan (parse + lookups), and a baseline
    of biip's own parser plus one hand-written indexed lookup."""
    from biip import ParseError
    from biip import parse as biip_parse

    from inventory import unit_of_work
    from inventory.cart import service as cart
    from inventory.errors import DomainError
    from inventory.extensions import db as vialog_db
    from inventory.services import scanning
    from inventory.services.barcodes import parse_scan
    from inventory.services.permissions import Scope

    n = 500 if args.smoke else 10_000
    rng = random.Random(args.seed)
    app = make_app(args.database)
    with psycopg.connect(db.conninfo(args.database)) as conn:
        codes = _scan_codes(conn, n, rng)
        conn.rollback()
        timings: dict[str, list[float]] = {"parse": [], "scan": [], "baseline": []}
        by_kind: dict[str, list[float]] = {}  # scan timings by what the code is: label, box, GTIN, unreadable
        outcomes: dict[str, int] = {}
        scope = Scope.everything()
        with app.app_context():
            session = vialog_db.session
            for code in codes:
                t0 = time.perf_counter()
                try:
                    kind = parse_scan(code).kind
                except DomainError:
                    kind = "unreadable"
                timings["parse"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                try:
                    scanning.scan(session, code, scope=scope, now=END, timezone="Europe/London")
                    outcome = "ok"
                except DomainError as error:
                    outcome = error.code
                timings["scan"].append(time.perf_counter() - t0)
                by_kind.setdefault(kind, []).append(timings["scan"][-1])
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                # Ended as POST /scans ends it (unit_of_work): a success is committed, a refusal discarded. A
                # rollback after every scan would make psycopg forget the prepared look-ups each time.
                if outcome == "ok":
                    session.commit()
                else:
                    unit_of_work.discard()
                t0 = time.perf_counter()
                if code.upper().startswith("VL"):
                    conn.execute("SELECT c.id, c.lot_id, l.status, l.expiry FROM containers c JOIN lots l "
                                 "ON l.id = c.lot_id WHERE c.label_code = %s", (code.upper(),)).fetchone()
                else:
                    try:
                        parsed = biip_parse(code)
                        gtin = parsed.gtin.value if parsed.gtin else None
                        if gtin:
                            conn.execute("SELECT product_id FROM product_gtins WHERE gtin = %s", (gtin,)).fetchone()
                    except ParseError:
                        pass
                timings["baseline"].append(time.perf_counter() - t0)
                conn.commit()  # a bare handler refuses nothing: it always commits
        # A patient's reference typed loosely ("p001 000123" for P001-000123) on the patients page of a chain-level
        # user, and a new reference's look-alike check at a clinic (the cart's new patient): each one seek of the
        # key stored with every patient, whatever the number of patients.
        refs = conn.execute("SELECT clinic_id, external_ref FROM patients ORDER BY random() LIMIT %s",
                            (50 if args.smoke else 500,)).fetchall()
        conn.rollback()
        with app.app_context():
            session = vialog_db.session
            for clinic_id, ref in refs:
                loose = ref.lower().replace("-", " ")
                t0 = time.perf_counter()
                found = cart.find_patients(session, scope=scope, external_ref=loose)
                timings.setdefault("patient_lookup", []).append(time.perf_counter() - t0)
                if not any(patient.external_ref == ref for patient in found):
                    raise RuntimeError(f"{loose!r} did not find patient {ref}")
                t0 = time.perf_counter()
                cart.refuse_lookalike_ref(session, clinic_id, f"{ref}-NEW")
                timings.setdefault("new_patient_ref", []).append(time.perf_counter() - t0)
                session.rollback()
    result = {name: stats(values) for name, values in timings.items()}
    return {"codes": n, "outcomes": outcomes,
            **{f"{k}_{m}": v for k, s in result.items() for m, v in s.items() if m != "n"},
            "scan_by_kind": {kind: stats(values) for kind, values in sorted(by_kind.items())},
            "ratio_scan_p95": ratio(result["scan"]["p95_ms"], result["baseline"]["p95_ms"]),
            "target": "p95 <= 2 ms (scan; the patient look-ups alike)"}


# --- 4. reconciliation export -----------------------------------------------------------------------


def _export_child(mode: str, database: str, clinic: str, start: str, end: str, out: str,
                  once: bool = False) -> dict[str, Any]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.export_child", mode, database, clinic, start, end, out,
                             *(["once"] if once else [])],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**db.vialog_env(database), "PYTHONPATH": str(ROOT)})
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout, stderr = proc.stdout.read().decode(), proc.stderr.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"export child {mode} failed: {stderr[-2000:]}")
    figures = json.loads(stdout.strip().splitlines()[-1])
    figures["wait4_maxrss_mb"] = round(usage.ru_maxrss / 1024, 1)  # includes the forking parent's RSS
    figures["bytes"] = os.path.getsize(out)
    return figures


def _export_month(database: str) -> tuple[dt.date, dt.date, dt.date]:
    """The latest month of clinic 1's generated history (before generate.END) that holds a full month's
    movements (at least half its busiest month's), the first day of that month, its last day, and the first
    day of the history. The draws ``bench draw`` and ``draw-split`` add are dated today, after END: however
    many they are, the export never picks their month, an empty one or a half one."""
    with psycopg.connect(db.conninfo(database)) as conn:
        months = conn.execute(
            "SELECT date_trunc('month', m.at AT TIME ZONE 'UTC')::date, count(*) FROM movements m"
            " JOIN locations l ON l.id = m.location_id WHERE l.clinic_id = 1 AND m.at < %s"
            " GROUP BY 1 ORDER BY 1", (END,)).fetchall()
        (first,) = conn.execute("SELECT min(at) FROM movements").fetchone()
    busiest = max(count for _, count in months)
    start = [month for month, count in months if count * 2 >= busiest][-1]
    end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    return start, end, first.date()


def bench_export(args: Any) -> dict[str, Any]:
    """Reconciliation workbook: one clinic for one month, and (``--chain-export``) one year of every clinic;
    each against bare openpyxl write-only and XlsxWriter constant-memory writing the same movement rows."""
    result: dict[str, Any] = {}
    month_start, month_end, first = _export_month(args.database)
    result["month"] = month_start.isoformat()[:7]
    year_end = month_end
    year_start = (year_end.replace(day=1) - dt.timedelta(days=335)).replace(day=1)
    if year_start < first:
        year_start = first
    cases = [("month", "1", month_start, month_end)]
    if args.chain_export or args.smoke:
        cases.append(("chain_year", "all", year_start, year_end))
    rounds = 1 if args.smoke else 3
    warm: dict[str, list[dict[str, Any]]] = {}
    for case, clinic, start, end in cases:
        # Interleaved (app, then each baseline, then the app again ...): a drift of the machine's speed
        # during the run lands on all of them alike; each keeps its fastest round.
        for round_ in range(rounds if case == "month" else 1):
            for mode in ("vialog", "openpyxl", "xlsxwriter"):
                out = f"/tmp/vialog-bench-{case}-{mode}-{os.getpid()}.xlsx"
                try:
                    figures = _export_child(mode, args.database, clinic, start.isoformat(), end.isoformat(), out,
                                            once=case != "month")
                finally:
                    if os.path.exists(out):
                        os.unlink(out)
                warm.setdefault(f"{case}_{mode}", []).append(figures)
                best = result.get(f"{case}_{mode}")
                if best is None or figures["wall_s"] < best["wall_s"]:
                    result[f"{case}_{mode}"] = figures | {"rounds": round_ + 1}
        v, b = result[f"{case}_vialog"], result[f"{case}_openpyxl"]
        result[f"{case}_ratio_wall"] = ratio(v["wall_s"], b["wall_s"])
        if case == "month":  # each one's second export in its process (its fastest round), as a worker serves it
            result[f"{case}_ratio_wall_warm"] = ratio(min(r["warm_wall_s"] for r in warm[f"{case}_vialog"]),
                                                      min(r["warm_wall_s"] for r in warm[f"{case}_openpyxl"]))
        result[f"{case}_ratio_rss"] = ratio(v["peak_rss_mb"], b["peak_rss_mb"])
        result[f"{case}_xlsxwriter_vs_openpyxl_wall"] = ratio(result[f"{case}_xlsxwriter"]["wall_s"], b["wall_s"])
    result["target"] = ("month <= 1 s; chain year peak RSS <= 300 MB; ratio to bare openpyxl <= 1.2 (month_ratio_wall: "
                        "each process's first export; month_ratio_wall_warm: its second)")
    return result


# --- 5. kit readiness --------------------------------------------------------------------------------

KIT_STOCK_SQL = """
SELECT k.id, c.lot_id, sum(c.remaining), count(c.id)
FROM containers c JOIN kits k ON k.location_id = c.location_id
WHERE c.state IN ('sealed', 'in_use') AND c.remaining > 0
GROUP BY k.id, c.lot_id"""
KIT_CHECKS_SQL = """
SELECT DISTINCT ON (kit_id) kit_id, checked_at, seal_intact FROM kit_checks ORDER BY kit_id, checked_at DESC, id DESC"""


def bench_kits(args: Any) -> dict[str, Any]:
    from inventory.extensions import db as vialog_db
    from inventory.kits import service as kits
    from inventory.services.permissions import Scope

    reps = 3 if args.smoke else 30
    app = make_app(args.database)
    timings: dict[str, list[float]] = {"readiness": [], "baseline": []}
    with app.app_context(), psycopg.connect(db.conninfo(args.database)) as conn:
        session = vialog_db.session
        board = kits.readiness(session, scope=Scope.everything(), now=END)
        session.rollback()
        for _ in range(reps):
            t0 = time.perf_counter()
            board = kits.readiness(session, scope=Scope.everything(), now=END)
            timings["readiness"].append(time.perf_counter() - t0)
            session.rollback()
            t0 = time.perf_counter()
            conn.execute(KIT_STOCK_SQL).fetchall()
            conn.execute(KIT_CHECKS_SQL).fetchall()
            timings["baseline"].append(time.perf_counter() - t0)
            conn.rollback()
    statuses: dict[str, int] = {}
    for kit in board:
        statuses[kit.status.value] = statuses.get(kit.status.value, 0) + 1
    result = {name: stats(values) for name, values in timings.items()}
    return {"kits": len(board), "statuses": statuses,
            **{f"{k}_{m}": v for k, s in result.items() for m, v in s.items() if m != "n"},
            "ratio_p50": ratio(result["readiness"]["p50_ms"], result["baseline"]["p50_ms"]),
            "target": "1,000 kits <= 200 ms"}
