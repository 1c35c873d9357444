"""Extensions, created unbound and bound to an app in ``create_app``.

The database layer is plain SQLAlchemy 2.x: one engine per app, one session per
app context (request, CLI command or test), committed in exactly one place per
entry point. Services only flush.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf import CSRFProtect
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from inventory.models.base import Base


def _app_context_id() -> int:
    from flask import globals as flask_globals

    # Flask annotates app_ctx as AppContext; at runtime it is a werkzeug LocalProxy.
    return id(flask_globals.app_ctx._get_current_object())  # type: ignore[attr-defined]


def _configure_sqlite(engine: Engine) -> None:
    """WAL, synchronous=FULL, foreign keys, and BEGIN IMMEDIATE for every transaction.

    pysqlite opens transactions lazily and as DEFERRED, so two writers can both read a
    balance and then collide; taking the write lock at BEGIN makes "lock, re-check,
    write" hold on SQLite as SELECT ... FOR UPDATE does on PostgreSQL (SQLAlchemy's
    documented recipe for serializable SQLite).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 15})
        _configure_sqlite(engine)
        return engine
    # No pre-ping: it costs a round trip on every request. A connection the server dropped (a restart,
    # a failover) fails its one request, before anything is written, and SQLAlchemy then discards every
    # pooled connection of that worker; pool_recycle retires connections before idle timeouts bite.
    engine = create_engine(url, pool_size=10, max_overflow=10, pool_recycle=1800)
    _configure_postgresql(engine)
    _track_writes(engine)
    return engine


def _configure_postgresql(engine: Engine) -> None:
    from inventory.postgresql_cursor import DescribedOnReadCursor  # psycopg: installed with PostgreSQL only

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # No JIT compilation: Vialog's statements run in milliseconds, and a plan whose estimate passes
        # jit_above_cost (the kit board's per-kit look-up: 1,000 cheap index probes estimated as 170,000)
        # spent 280 ms compiling what then ran in 3 (docs/performance.md, thirteenth pass).
        dbapi_connection.autocommit = True  # a setting of the connection, outside any transaction
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET jit = off")
        dbapi_connection.autocommit = False
        dbapi_connection.cursor_factory = DescribedOnReadCursor


# The key in a connection's info that says whether its transaction has written (see unit_of_work.discard).
WROTE = "vialog_wrote"
_READS = re.compile(r"\s*SELECT\b", re.IGNORECASE)


def _track_writes(engine: Engine) -> None:
    """Notes in the connection's info whether its transaction ran anything but a SELECT, or any statement
    failed: ``unit_of_work.discard`` commits a transaction that did neither instead of rolling it back."""

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.info[WROTE] = False

    @event.listens_for(engine, "before_cursor_execute")
    def _on_execute(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not _READS.match(statement):
            connection.info[WROTE] = True

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        if context.connection is not None:
            context.connection.info[WROTE] = True


def wrote_nothing(session: Session) -> bool:
    """True while the session's transaction has written nothing: on PostgreSQL no statement but a SELECT ran
    and none failed (``_track_writes``), and no object waits to be flushed. False when unknown (SQLite)."""
    if not session.in_transaction() or session.new or session.dirty or session.deleted:
        return False
    try:
        return session.connection().info.get(WROTE) is False
    except SQLAlchemyError:  # the connection was lost or invalidated: only a rollback ends its transaction
        return False


@dataclass
class _BoundDatabase:
    engine: Engine
    sessionmaker: sessionmaker[Session]
    scoped: scoped_session[Session]


class Database:
    """``db.session`` is the current app context's session."""

    metadata = Base.metadata

    def init_app(self, app: Flask) -> None:
        engine = make_engine(app.config["DATABASE_URL"])
        factory = sessionmaker(bind=engine, expire_on_commit=False)
        app.extensions["vialog_db"] = _BoundDatabase(
            engine, factory, scoped_session(factory, scopefunc=_app_context_id)
        )

        @app.teardown_appcontext
        def _remove_session(_exc: BaseException | None) -> None:
            app.extensions["vialog_db"].scoped.remove()

    @staticmethod
    def _bound() -> _BoundDatabase:
        return current_app.extensions["vialog_db"]

    @property
    def session(self) -> Session:
        return self._bound().scoped()

    @property
    def engine(self) -> Engine:
        return self._bound().engine

    @staticmethod
    def bind_sessions_to(app: Flask, connection: Any) -> None:
        """Route every new session of ``app`` through one connection (tests roll it back)."""
        bound: _BoundDatabase = app.extensions["vialog_db"]
        bound.sessionmaker.configure(bind=connection, join_transaction_mode="create_savepoint")

    @staticmethod
    def unbind_sessions(app: Flask) -> None:
        bound: _BoundDatabase = app.extensions["vialog_db"]
        bound.sessionmaker.configure(bind=bound.engine, join_transaction_mode="conservative_savepoint")


db = Database()
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
