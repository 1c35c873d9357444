"""SQLite backups with SQLite's online backup API, never a file copy.

A file copy of a database in WAL mode taken while the app writes can miss the WAL or tear a page; the
backup API copies a consistent snapshot through SQLite itself, and writers carry on meanwhile.
PostgreSQL is backed up with its own tools (``pg_dump -Fc`` / ``pg_restore``): see ``postgres_commands``
and docs/operations.md.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
from collections.abc import Collection
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL

from inventory.errors import DomainError
from inventory import words


class BackupError(DomainError):
    code = "backup_error"


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    size: int
    revisions: tuple[str, ...]  # the Alembic revisions the copy is at


def sqlite_file(url: URL) -> Path:
    """The database file of a SQLite URL; raises BackupError for anything else."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise BackupError("Only a SQLite database file is backed up by Vialog itself.")
    return Path(url.database).resolve()


def _create_private(path: Path) -> None:
    """An empty file only the owner can read (it will hold patient data); refuses to overwrite."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as error:
        raise BackupError(f"{path} exists: a backup never overwrites a file. Choose a new name.") from error
    except OSError as error:
        raise BackupError(f"Cannot create {path}: {error.strerror}.") from error
    os.close(fd)


def _check(connection: sqlite3.Connection, what: Path) -> tuple[str, ...]:
    """SQLite's integrity check, then the Alembic revisions: a Vialog database has them."""
    try:
        result = connection.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{what} is not a SQLite database ({error}).") from error
    if result != "ok":
        raise BackupError(f"{what} fails SQLite's integrity check: {result}")
    try:
        rows = connection.execute("SELECT version_num FROM alembic_version ORDER BY version_num").fetchall()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{what} is not a Vialog database (no migration table).") from error
    return tuple(r[0] for r in rows)


# Tables every Vialog database has had since its first migration: a SQLite file without them is not a
# Vialog backup, whatever its alembic_version says.
CORE_TABLES = frozenset({"alembic_version", "clinics", "users", "products", "lots", "containers", "movements",
                         "patients", "treatments"})


def _check_backup(connection: sqlite3.Connection, what: Path, known_revisions: Collection[str] | None) -> tuple[str, ...]:
    """``_check``, and the marks of a Vialog database: its core tables and a revision this version knows."""
    revisions = _check(connection, what)
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = sorted(CORE_TABLES - tables)
    if missing:
        raise BackupError(f"{what} is not a Vialog backup: it has no {words.listing(missing)} "
                          f"table{'' if len(missing) == 1 else 's'}.")
    if not revisions:
        raise BackupError(f"{what} is not a Vialog backup: its migration table is empty.")
    if known_revisions is not None:
        unknown = [r for r in revisions if r not in known_revisions]
        if unknown:
            raise BackupError(f"{what} is at migration {', '.join(unknown)}, which this version of Vialog does "
                              "not know: restore it with the version that made it, or upgrade first.")
    return revisions


def backup_sqlite(source: Path, destination: Path) -> BackupInfo:
    """Copies the live database at ``source`` into a new file; checks the copy. Raises BackupError."""
    destination = destination.resolve()
    if destination == source.resolve():
        raise BackupError("The backup cannot be the database itself.")
    if not source.exists():
        raise BackupError(f"There is no database at {source}.")
    _create_private(destination)
    try:
        with closing(sqlite3.connect(source, timeout=15)) as src, closing(sqlite3.connect(destination)) as dst:
            src.backup(dst)
            # One self-contained file to carry off the server: no -wal or -shm beside it.
            dst.execute("PRAGMA journal_mode=DELETE")
            revisions = _check(dst, destination)
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
    return BackupInfo(destination, destination.stat().st_size, revisions)


def restore_sqlite(backup: Path, target: Path, *, known_revisions: Collection[str] | None = None) -> BackupInfo:
    """Replaces the content of the database at ``target`` with the backup's, through the backup API
    (the copy takes SQLite's locks, so no half-written database is ever read). Refuses, before touching
    ``target``, a file that is not a Vialog backup (no core tables, no migration, or a migration not in
    ``known_revisions``). Raises BackupError."""
    backup = backup.resolve()
    if backup == target.resolve():
        raise BackupError("The backup and the database are the same file.")
    if not backup.is_file():
        raise BackupError(f"There is no backup at {backup}.")
    with closing(sqlite3.connect(f"{backup.as_uri()}?mode=ro", uri=True)) as src:
        revisions = _check_backup(src, backup, known_revisions)
        if not target.exists():
            _create_private(target)
        with closing(sqlite3.connect(target, timeout=15)) as dst:
            src.backup(dst)
            _check(dst, target)
    return BackupInfo(target, target.stat().st_size, revisions)


def server_options(url: URL) -> str:
    """The libpq tools' options naming the server of a PostgreSQL URL (``-h db.example -p 5432 -U vialog``)."""
    return " ".join(
        f"{flag} {shlex.quote(str(value))}" for flag, value in (("-h", url.host), ("-p", url.port), ("-U", url.username))
        if value
    )


def postgres_commands(url: URL, dump_file: str | Path, restored_database: str = "vialog_restored") -> list[str]:
    """pg_dump / pg_restore commands for this database: ``[pg_dump, createdb, pg_restore]``, each ready for a
    shell (the dump file and the addresses quoted). The password stays out of them: libpq reads PGPASSWORD or
    ~/.pgpass. The restore goes into a new, empty database; point DATABASE_URL at it after."""
    # URL.set(password=None) keeps the password (None means "unchanged" there): build the address without it.
    plain = URL.create("postgresql", username=url.username, host=url.host, port=url.port, database=url.database,
                       query=url.query)
    fresh = plain.set(database=restored_database).render_as_string(hide_password=False)
    dump = shlex.quote(str(dump_file))
    return [
        f"pg_dump --format=custom --file={dump} {shlex.quote(plain.render_as_string(hide_password=False))}",
        " ".join(filter(None, ["createdb", server_options(plain), shlex.quote(restored_database)])),
        f"pg_restore --no-owner --exit-on-error --dbname={shlex.quote(fresh)} {dump}",
    ]
