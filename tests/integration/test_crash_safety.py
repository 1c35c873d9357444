"""A gunicorn worker killed (SIGKILL) in the middle of a load of draws on PostgreSQL.

Afterwards every acknowledged draw is in the ledger, no request was drawn twice (clients
retry with the same Idempotency-Key, as scanners and tablets do), and balances and the
hash chain verify. Real processes, sockets and commits: nothing here is mocked.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from inventory.models import Draw, IdempotencyRecord, utcnow
from inventory.services import audit_chain, auth, ledger
from tests import factories
from tests.conftest import committed_database

pytestmark = pytest.mark.concurrency

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 4
VIALS = 40  # 4,000 U: more than the clients draw in SECONDS, however fast the draws are
SECONDS = 4.0
# Each treatment takes at most this many 1 U draws (under Botox's 64 U label maximum per session), then the
# client moves on to its next one: a fast server must not run into the dose checks, which are not under test.
DRAWS_PER_TREATMENT = 50
TREATMENTS_PER_CLIENT = 30


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


@pytest.fixture
def scene(tmp_path):
    """A committed PostgreSQL database with shared vials and open treatments for each client."""
    with committed_database("postgresql", tmp_path) as app:
        url = app.config["DATABASE_URL"]
        session = app.extensions["vialog_db"].sessionmaker()
        world = factories.build_world(session)
        world.botox.is_multi_patient = True  # many patients per vial: only the crash is under test
        nurse, now = world.users["nurse"], utcnow()
        vials = []
        for i in range(VIALS):
            vial = world.container("botox", lot=f"CRASH{i}", expiry=factories.NOW.date().replace(year=2099), now=now)
            factories.reconstitute(world, vial, "1", at=now)
            vials.append(vial.id)
        treatments = [factories.start_treatment(world, factories.patient(world, f"C-{i}", name=f"Crash {i}"), at=now).id
                      for i in range(CLIENTS * TREATMENTS_PER_CLIENT)]
        token, _ = auth.issue_token(session, nurse, hours=1, now=now)
        session.commit()
        session.close()
        yield app, url, vials, treatments, token


@pytest.fixture
def gunicorn(scene, tmp_path):
    app, url, *_ = scene
    port = _free_port()
    env = os.environ | {"DATABASE_URL": url, "SECRET_KEY": "crash-test-" + "k" * 32,
                        "VIALOG_INSTANCE": str(tmp_path / "gunicorn-instance")}
    master = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "2",
         "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90  # a loaded CI machine starts two workers slowly; never a timing claim
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/openapi.json")
            if conn.getresponse().status == 200 and len(_children(master.pid)) == 2:
                break
        time.sleep(0.2)
    else:
        master.kill()
        pytest.fail("gunicorn did not start")
    yield master, port
    master.send_signal(signal.SIGTERM)
    master.wait(timeout=15)


def test_every_acknowledged_draw_survives_a_killed_worker_and_none_is_doubled(scene, gunicorn):
    app, _url, vials, treatments, token = scene
    master, port = gunicorn
    acknowledged: dict[str, int] = {}  # idempotency key -> draw id
    retried = [0]
    failures: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS

    def client(i: int) -> None:
        try:
            draw_until_stopped(i)
        except Exception as error:  # a thread's failure fails the test, not just the thread
            with lock:
                failures.append(repr(error))

    def draw_until_stopped(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        n = 0
        while time.monotonic() < stop and n < DRAWS_PER_TREATMENT * TREATMENTS_PER_CLIENT:
            key, n = str(uuid.uuid4()), n + 1
            treatment = treatments[i * TREATMENTS_PER_CLIENT + (n - 1) // DRAWS_PER_TREATMENT]
            body = json.dumps({"container": vials[(i + n) % VIALS], "quantity": "1", "unit": "U", "area": "glabella"})
            for _attempt in range(40):  # a tablet retries the same request until it gets an answer
                try:
                    conn.request("POST", f"/api/v1/treatments/{treatment}/draws", body=body,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                                          "Idempotency-Key": key})
                    response = conn.getresponse()
                    payload = response.read()
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    with lock:
                        retried[0] += 1
                    time.sleep(0.05)
                    continue
                if response.status == 201:
                    with lock:
                        acknowledged[key] = json.loads(payload)["id"]
                    break
                if response.status >= 500:
                    time.sleep(0.05)
                    continue
                raise AssertionError(f"unexpected {response.status}: {payload[:300]!r}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    # Kill once the load is well under way (by count, not time: draws are fast or slow by machine).
    while len(acknowledged) < 50 and time.monotonic() < stop - 1:
        time.sleep(0.01)
    victim = _children(master.pid)[0]
    os.kill(victim, signal.SIGKILL)  # mid-load: requests in flight on that worker die with it
    killed_at = len(acknowledged)
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
    assert len(acknowledged) > killed_at > 0, "the load ran on both sides of the kill"

    session = app.extensions["vialog_db"].sessionmaker()
    with session:
        draw_ids = set(session.scalars(select(Draw.id)))
        assert set(acknowledged.values()) <= draw_ids  # every acknowledged draw is in the ledger
        # None doubled: each stored draw answers exactly one idempotency key, and every key once.
        answered = session.scalar(select(func.count(IdempotencyRecord.id)).where(IdempotencyRecord.status_code == 201))
        assert len(draw_ids) == answered
        assert len(set(acknowledged.values())) == len(acknowledged)
        assert ledger.find_balance_mismatches(session) == []
        breaks, _summary = audit_chain.find_chain_breaks(session)
        assert breaks == []
    print(f"crash safety: {len(acknowledged)} draws acknowledged, {retried[0]} retries after the kill, "
          f"{len(draw_ids)} in the ledger")
