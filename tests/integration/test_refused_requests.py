"""A refused request keeps nothing, and on PostgreSQL it no longer costs the next requests their plans.

psycopg forgets a connection's prepared statements at every ROLLBACK (and sends DEALLOCATE ALL). A refused
request that only read is therefore ended with a COMMIT, the same thing for a transaction that wrote nothing
(``unit_of_work.discard``); one that wrote anything is still rolled back. On a database of its own, whose
sessions commit for real (the ``session`` fixture's savepoints would hide both).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, func, select, text

from inventory import unit_of_work
from inventory.extensions import db
from inventory.models import IdempotencyRecord, Patient, utcnow
from inventory.services import auth
from tests import factories
from tests.conftest import committed_database


@pytest.fixture(params=["postgresql", "sqlite"])
def scene(request, tmp_path):
    """An app with a nurse's token and an open treatment, and the ends of its transactions as they happen."""
    with committed_database(request.param, tmp_path) as app:
        with app.extensions["vialog_db"].sessionmaker() as session:
            world = factories.build_world(session)
            now = utcnow()
            treatment = factories.start_treatment(world, factories.patient(world, "REF-1", name="Refused Request"),
                                                  at=now)
            token, _ = auth.issue_token(session, world.users["nurse"], hours=1, now=now)
            session.commit()
            treatment_id = treatment.id
        ends: list[str] = []
        engine = app.extensions["vialog_db"].engine
        event.listen(engine, "commit", lambda _conn: ends.append("commit"))
        event.listen(engine, "rollback", lambda _conn: ends.append("rollback"))
        yield app, request.param, {"Authorization": f"Bearer {token}"}, treatment_id, ends


def _prepared_statements(app) -> int:
    """How many statements psycopg has prepared on the pool's one idle connection."""
    with app.app_context():
        return db.session.scalar(text("SELECT count(*) FROM pg_prepared_statements"))


def test_a_refusal_that_only_read_keeps_the_connections_prepared_statements(scene):
    app, backend, headers, treatment_id, ends = scene
    client = app.test_client()
    for _ in range(8):  # psycopg prepares a statement at its fifth run on a connection
        assert client.get(f"/api/v1/treatments/{treatment_id}", headers=headers).status_code == 200
    ends.clear()

    refused = client.get("/api/v1/treatments/999999", headers=headers)

    assert refused.status_code == 404
    assert refused.get_json()["error"]["code"] == "not_found"
    if backend == "postgresql":
        assert ends == ["commit"]  # a ROLLBACK would have made psycopg forget them
        assert _prepared_statements(app) > 0
    else:
        assert ends == ["rollback"]  # SQLite's BEGIN IMMEDIATE counts as a write: nothing to keep there


def test_a_refusal_that_wrote_is_rolled_back(scene):
    """The draw's Idempotency-Key is claimed (an INSERT) before the treatment is found missing: the claim goes."""
    app, _backend, headers, _treatment_id, ends = scene
    client = app.test_client()
    ends.clear()

    refused = client.post("/api/v1/treatments/999999/draws", headers={**headers, "Idempotency-Key": "refused-1"},
                          json={"container": 1, "quantity": "4", "unit": "U", "area": "glabella"})

    assert refused.status_code == 404
    assert ends == ["rollback"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 0


def test_discard_never_keeps_what_waits_in_the_session_or_a_failed_statement(scene):
    app, _backend, _headers, _treatment_id, ends = scene
    with app.app_context():
        session = db.session
        before = session.scalar(select(func.count()).select_from(Patient))
        clinic_id = session.scalar(text("SELECT min(id) FROM clinics"))
        session.add(Patient(clinic_id=clinic_id, external_ref="PENDING-1", name="Never Flushed",
                            created_at=utcnow()))
        ends.clear()
        unit_of_work.discard()  # nothing was sent yet, but a commit would flush the patient
        assert ends == ["rollback"]

        with pytest.raises(Exception):
            session.execute(text("SELECT no_such_column FROM patients"))
        ends.clear()
        unit_of_work.discard()
        assert ends == ["rollback"]
        assert session.scalar(select(func.count()).select_from(Patient)) == before


def test_a_read_only_transaction_is_committed_and_a_written_one_rolled_back(scene):
    app, backend, _headers, _treatment_id, ends = scene
    with app.app_context():
        session = db.session
        session.scalar(text("SELECT count(*) FROM patients"))
        ends.clear()
        unit_of_work.discard()
        assert ends == (["commit"] if backend == "postgresql" else ["rollback"])

        clinic_id = session.scalar(text("SELECT min(id) FROM clinics"))
        session.execute(text("INSERT INTO patients (clinic_id, external_ref, ref_key, name, name_key, created_at) "
                             "VALUES (:clinic, 'CORE-1', 'core1', 'Core Write', 'core write', :at)"),
                        {"clinic": clinic_id, "at": utcnow() - dt.timedelta(minutes=1)})
        ends.clear()
        unit_of_work.discard()
        assert ends == ["rollback"]
        assert session.scalar(text("SELECT count(*) FROM patients WHERE external_ref = 'CORE-1'")) == 0
