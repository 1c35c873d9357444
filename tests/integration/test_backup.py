"""Backups: a database with real history is backed up, restored into a fresh database, and the copy has
the same hash chains, balances and lot trace as the original.

SQLite goes through ``vialog backup`` / ``vialog restore`` (SQLite's online backup API). PostgreSQL goes
through the pg_dump / pg_restore commands that ``vialog backup`` prints, run as printed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shlex
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import make_url, select

from inventory.models import AuditEvent, Container, Draw, Lot, Patient, Treatment
from inventory.services import backup as backups
from tests import factories
from tests.conftest import _postgres_database, make_test_app
from tests.factories import NOW

LOT = "C3709C3"


@dataclass
class Original:
    app: Flask
    url: str


def _build_history(app: Flask) -> None:
    """Receipts, reconstitution, draws for two patients through the cart service, and an audit event."""
    with app.app_context(), app.extensions["vialog_db"].sessionmaker() as session:
        world = factories.build_world(session)
        vials = world.receive("botox", lot=LOT, containers=2, expiry=dt.date(2099, 12, 31)).containers
        syringe = world.container("filler", lot="F1", expiry=dt.date(2099, 12, 31))
        for vial in vials:
            factories.reconstitute(world, vial)
        for n, (ref, vial, doses) in enumerate([("P-1", vials[0], ["4", "6"]), ("P-2", vials[1], ["10"])]):
            at = NOW + dt.timedelta(minutes=10 * n)
            treatment = factories.start_treatment(world, ref, at=at)
            for dose in doses:
                factories.draw(world, treatment, vial, dose, at=at)
            if ref == "P-1":
                factories.draw(world, treatment, syringe, "0.3", "mL", area="lip", at=at)
        session.add(AuditEvent(at=NOW, actor_id=world.users["safety"].id, clinic_id=world.clinic.id,
                               action="lot.trace_viewed", object_type="lot", object_id=LOT,
                               details={"patients": ["P-1", "P-2"]}))
        session.commit()


@pytest.fixture(params=["sqlite", "postgresql"])
def original(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Original]:
    with contextlib.ExitStack() as stack:
        if request.param == "postgresql":
            url = stack.enter_context(contextlib.contextmanager(_postgres_database)())
        else:
            url = f"sqlite:///{tmp_path / 'original.db'}"
        app = _migrated_app(url, tmp_path / "instance")
        try:
            _build_history(app)
            yield Original(app, url)
        finally:
            app.extensions["vialog_db"].engine.dispose()


def _migrated_app(url: str, instance: Path) -> Flask:
    app = make_test_app(url, instance)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
    return app


@dataclass(frozen=True)
class Snapshot:
    """What must survive a backup: the chains' anchors, every balance, and the lot's trace."""

    anchors: tuple[str, ...]
    balances: dict[str, Decimal]
    trace: list[tuple]


def _snapshot(app: Flask) -> Snapshot:
    result = app.test_cli_runner().invoke(args=["verify"])
    assert result.exit_code == 0, result.output
    anchors = tuple(line.split()[1] for line in result.output.splitlines() if line.startswith("anchor "))
    with app.app_context(), app.extensions["vialog_db"].sessionmaker() as session:
        balances = dict(session.execute(select(Container.label_code, Container.remaining)).all())
        # The draws of one lot with their patients: a plain join, independent of the recall package's queries.
        trace = session.execute(
            select(Draw.id, Patient.external_ref, Patient.name, Draw.quantity, Draw.area, Draw.at, Container.label_code)
            .join(Treatment, Treatment.id == Draw.treatment_id)
            .join(Patient, Patient.id == Treatment.patient_id)
            .join(Container, Container.id == Draw.container_id)
            .join(Lot, Lot.id == Container.lot_id)
            .where(Lot.number == LOT)
            .order_by(Draw.id)
        ).all()
    return Snapshot(anchors, balances, [tuple(row) for row in trace])


def _assert_same_history(restored: Flask, before: Snapshot) -> None:
    after = _snapshot(restored)
    assert after == before
    assert [a.split(":")[0] for a in after.anchors] == ["audit", "movements"]
    assert [(ref, quantity) for _, ref, _, quantity, *_ in after.trace] == [
        ("P-1", Decimal(4)), ("P-1", Decimal(6)), ("P-2", Decimal(10))
    ]


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """An empty scratch database to restore into (the printed commands make it with createdb)."""
    yield from _postgres_database()


def test_a_backup_restored_into_a_fresh_database_has_the_same_chains_balances_and_trace(original, tmp_path, request):
    before = _snapshot(original.app)
    if make_url(original.url).get_backend_name() == "sqlite":
        restored = _through_vialog_commands(original, tmp_path)
    else:
        restored = _through_pg_dump_and_pg_restore(original, tmp_path, request)
    try:
        _assert_same_history(restored, before)
    finally:
        restored.extensions["vialog_db"].engine.dispose()


def _through_vialog_commands(original: Original, tmp_path: Path) -> Flask:
    backup_file = tmp_path / "vialog-backup.db"
    made = original.app.test_cli_runner().invoke(args=["backup", str(backup_file)])
    assert made.exit_code == 0, made.output
    assert f"Backed up to {backup_file}" in made.output and "integrity ok" in made.output
    assert stat.S_IMODE(backup_file.stat().st_mode) == 0o600  # it holds patient data
    assert not Path(f"{backup_file}-wal").exists()  # one self-contained file

    restored = make_test_app(f"sqlite:///{tmp_path / 'fresh' / 'restored.db'}", tmp_path / "instance")
    (tmp_path / "fresh").mkdir()
    done = restored.test_cli_runner().invoke(args=["restore", str(backup_file), "--yes"])
    assert done.exit_code == 0, done.output
    return restored


def _through_pg_dump_and_pg_restore(original: Original, tmp_path: Path, request: pytest.FixtureRequest) -> Flask:
    printed = original.app.test_cli_runner().invoke(args=["backup", str(tmp_path / "unused")])
    assert printed.exit_code == 1 and "pg_dump --format=custom" in printed.output
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump / pg_restore are not installed")

    fresh_url = request.getfixturevalue("fresh_postgres")
    dump = tmp_path / "vialog.dump"
    commands = backups.postgres_commands(make_url(original.url), dump_file=str(dump),
                                         restored_database=make_url(fresh_url).database)
    for command in (commands[0], commands[2]):  # the fresh_postgres database stands in for createdb
        subprocess.run(shlex.split(command), check=True, capture_output=True, timeout=120)  # noqa: S603
    return make_test_app(fresh_url, tmp_path / "instance")


def test_backup_never_overwrites_and_restore_asks_for_yes(tmp_path):
    app = _migrated_app(f"sqlite:///{tmp_path / 'live.db'}", tmp_path / "instance")
    try:
        _build_history(app)
        runner = app.test_cli_runner()
        existing = tmp_path / "existing.db"
        existing.write_bytes(b"keep me")
        refused = runner.invoke(args=["backup", str(existing)])
        assert refused.exit_code == 1 and "never overwrites" in refused.output
        assert existing.read_bytes() == b"keep me"

        backup_file = tmp_path / "backup.db"
        assert runner.invoke(args=["backup", str(backup_file)]).exit_code == 0
        unconfirmed = runner.invoke(args=["restore", str(backup_file)])
        assert unconfirmed.exit_code == 1 and "run again with --yes" in unconfirmed.output
        not_vialog = runner.invoke(args=["restore", str(existing), "--yes"])
        assert not_vialog.exit_code == 1 and "existing.db" in not_vialog.output
        assert runner.invoke(args=["verify"]).exit_code == 0
    finally:
        app.extensions["vialog_db"].engine.dispose()


def test_restore_replaces_what_was_written_after_the_backup(tmp_path):
    app = _migrated_app(f"sqlite:///{tmp_path / 'live.db'}", tmp_path / "instance")
    try:
        _build_history(app)
        before = _snapshot(app)
        runner = app.test_cli_runner()
        backup_file = tmp_path / "backup.db"
        assert runner.invoke(args=["backup", str(backup_file)]).exit_code == 0
        with app.app_context(), app.extensions["vialog_db"].sessionmaker() as session:
            session.add(AuditEvent(at=NOW, action="after.backup", object_type="test"))
            session.commit()
        assert _snapshot(app).anchors != before.anchors

        assert runner.invoke(args=["restore", str(backup_file), "--yes"]).exit_code == 0
        assert _snapshot(app) == before
    finally:
        app.extensions["vialog_db"].engine.dispose()
