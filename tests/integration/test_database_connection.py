"""A dropped database connection costs one request a clear 503, never a stale pool.

The engine does not ping a connection before every request (docs/performance.md: a round trip per
request). When PostgreSQL drops the worker's connections (a restart, a failover), the next request
fails before anything is written, answers ``database_unavailable``, and the following one works.
"""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from sqlalchemy import func, select

from inventory.models import Movement, utcnow
from inventory.services import auth
from tests import factories
from tests.conftest import committed_database


@pytest.fixture
def postgres_app(tmp_path):
    with committed_database("postgresql", tmp_path) as app:
        yield app


def _terminate_app_connections(app) -> int:
    url = app.extensions["vialog_db"].engine.url
    conninfo = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (url.database,),
        ).fetchone()[0]


def test_a_dropped_connection_answers_one_503_and_the_retry_draws(postgres_app):
    sessionmaker = postgres_app.extensions["vialog_db"].sessionmaker
    with sessionmaker() as session:
        world = factories.build_world(session)
        world.botox.is_multi_patient = True
        nurse, now = world.users["nurse"], utcnow()
        vial = world.container("botox", expiry=now.date() + dt.timedelta(days=300), now=now)
        factories.reconstitute(world, vial, at=now)
        treatment = factories.start_treatment(world, factories.patient(world, "DROP-1", name="Dropped Connection"),
                                              at=now)
        token, _ = auth.issue_token(session, nurse, hours=1, now=now)
        session.commit()
        vial_id, treatment_id = vial.id, treatment.id

    client = postgres_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    body = {"container": vial_id, "quantity": "4", "unit": "U", "area": "glabella"}

    def draw():
        return client.post(f"/api/v1/treatments/{treatment_id}/draws", json=body, headers=headers)

    assert draw().status_code == 201  # the pool now holds a live connection
    assert _terminate_app_connections(postgres_app) >= 1

    lost = draw()
    assert lost.status_code == 503
    assert lost.get_json()["error"]["code"] == "database_unavailable"
    assert "nothing was saved" in lost.get_json()["error"]["message"]
    retried = draw()
    assert retried.status_code == 201, retried.get_data(as_text=True)
    with sessionmaker() as session:
        draws = session.scalar(select(func.count(Movement.id)).where(Movement.container_id == vial_id,
                                                                     Movement.kind == "draw"))
    assert draws == 2  # the lost request wrote nothing
