"""Test fixtures.

Every test that touches the database runs twice, on SQLite and on PostgreSQL: the
``backend`` fixture is parametrised at session scope. Each backend gets a fresh
database migrated with Alembic once; each test then runs inside one transaction
that is rolled back, so tests never see each other's rows.

PostgreSQL comes from VIALOG_TEST_POSTGRES_URL (default: the local server, user
postgres, database test, where a scratch database is created and dropped). If it
cannot be reached the PostgreSQL half is skipped, unless VIALOG_REQUIRE_POSTGRES=1
(CI), where that is an error.

Parallel runs (``pytest -n 2``, pytest-xdist): every worker is its own process with
its own session-scoped apps, its own scratch databases (named after the worker and
the process) and its own tmp_path_factory folder, so workers share nothing but the
PostgreSQL server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import make_url
from sqlalchemy.orm import Session

from inventory import create_app
from inventory.extensions import db
from inventory.services import ledger
from tests import factories

POSTGRES_ADMIN_URL = os.environ.get(
    "VIALOG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("VIALOG_REQUIRE_POSTGRES") == "1"
# "gw0", "gw1", ... under pytest-xdist; "main" in a plain run.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


def scratch_database_name() -> str:
    """Unique on the server: the worker and process say who made it (and who left it, if a run was killed),
    the random part tells apart the several databases one process makes."""
    return f"vialog_test_{WORKER}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


def _admin_conninfo() -> str:
    admin = make_url(POSTGRES_ADMIN_URL)
    return admin.set(drivername="postgresql").render_as_string(hide_password=False)


def _create_postgres_database(template: str | None = None) -> str:
    """Creates a scratch database on the PostgreSQL server (a copy of ``template`` if named), returns its URL."""
    import psycopg

    name = scratch_database_name()
    copy_of = f' TEMPLATE "{template}"' if template else ""
    try:
        with psycopg.connect(_admin_conninfo(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{copy_of}')
    except psycopg.OperationalError as error:
        if REQUIRE_POSTGRES:
            raise
        pytest.skip(f"PostgreSQL not reachable ({error}); set VIALOG_TEST_POSTGRES_URL")
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(name: str | None) -> None:
    import psycopg

    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_database(template: str | None = None) -> Iterator[str]:
    """Creates a scratch database on the PostgreSQL server, yields its URL, drops it."""
    url = _create_postgres_database(template)
    try:
        yield url
    finally:
        _drop_postgres_database(make_url(url).database)


@pytest.fixture(autouse=True)
def _push_request_context() -> None:
    """Overrides pytest-flask's fixture of this name, which pushes one request context
    around every test: then all test-client requests of a test would share one app
    context, one ``g`` and one database session. Here each request gets its own, as
    in production."""


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "vialog-test.db"
        yield f"sqlite:///{path}"
    else:
        yield from _postgres_database()


def make_test_app(database_url: str, instance: Path) -> Flask:
    os.environ.setdefault("VIALOG_INSTANCE", str(instance))
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key",
            # Cheap hashes: the production cost is exercised by a dedicated test.
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_KIB": 64,
        }
    )


# One migrated database per backend and worker, made on first use: each committed database is a copy of it
# (CREATE DATABASE ... TEMPLATE on PostgreSQL, a file copy on SQLite), which costs a fraction of running
# every migration again. The session's ``app`` fixture still migrates from nothing, on both backends.
_templates: dict[str, str] = {}


def _migrated_template(backend: str, tmp_path: Path) -> str:
    if backend not in _templates:
        if backend == "postgresql":
            url = _create_postgres_database()
        else:
            url = f"sqlite:///{tmp_path.parent / f'template-{WORKER}-{uuid.uuid4().hex[:8]}.db'}"
        app = make_test_app(url, tmp_path / "template-instance")
        with app.app_context():
            upgrade(directory=app.extensions["migrate"].directory)
        app.extensions["vialog_db"].engine.dispose()  # a template takes no connections
        _templates[backend] = url
    return _templates[backend]


@pytest.fixture(scope="session", autouse=True)
def _drop_templates() -> Iterator[None]:
    yield
    for backend, url in _templates.items():
        if backend == "postgresql":
            _drop_postgres_database(make_url(url).database)
        else:
            Path(make_url(url).database).unlink(missing_ok=True)
    _templates.clear()


@contextlib.contextmanager
def committed_database(backend: str, tmp_path: Path) -> Iterator[Flask]:
    """An app on a scratch database of its own, migrated, whose sessions commit for real: for tests
    of real concurrency, crashes and chains, which the rolled-back ``session`` fixture cannot show."""
    template = _migrated_template(backend, tmp_path)
    with contextlib.ExitStack() as stack:
        if backend == "postgresql":
            url = stack.enter_context(contextlib.contextmanager(_postgres_database)(template=make_url(template).database))
        else:
            copy = tmp_path / "committed.db"
            shutil.copyfile(make_url(template).database, copy)
            url = f"sqlite:///{copy}"
        app = make_test_app(url, tmp_path / "instance")
        try:
            yield app
        finally:
            app.extensions["vialog_db"].engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def committed_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """``committed_database`` on each backend."""
    with committed_database(request.param, tmp_path) as app:
        yield app


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = make_test_app(database_url, tmp_path_factory.mktemp("instance"))
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def backend(app: Flask) -> str:
    return db_backend_name(app)


def db_backend_name(app: Flask) -> str:
    return make_url(app.config["DATABASE_URL"]).get_backend_name()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """The test's own session, inside a transaction that is rolled back afterwards.

    No app context is held, so each request made through the test client gets its
    own app context and session, as in production; all of them share this test's
    connection (a commit releases a savepoint) and so roll back with it. After a
    request, call ``session.expire_all()`` before reading what it changed.
    """
    with app.app_context():
        connection = db.engine.connect()
    transaction = connection.begin()
    db.bind_sessions_to(app, connection)
    test_session = app.extensions["vialog_db"].sessionmaker()
    try:
        yield test_session
    finally:
        test_session.close()
        db.unbind_sessions(app)
        transaction.rollback()
        connection.close()


@pytest.fixture
def world(session) -> factories.World:
    """A clinic with locations, the catalog's main products and one user per role."""
    return factories.build_world(session)


@pytest.fixture
def ledger_stays_balanced(session: Session) -> Iterator[None]:
    """After the test, each container's cached balance still equals the sum of its movements.

    Opt in per module with ``pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")``: not autouse,
    because some tests break a balance on purpose (test_ledger) and some never touch the ledger.
    """
    yield
    # What the test left pending is part of its work; requests wrote through sessions of their own, so
    # nothing this session holds in memory may stand in for what the database now says.
    session.flush()
    session.expire_all()
    assert ledger.find_balance_mismatches(session) == []
