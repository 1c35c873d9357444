"""Operations commands of ``vialog``: verify, backup, restore, revoke-tokens, purge-idempotency.

Each command is an entry point: the services it calls run inside one ``unit_of_work.command()``,
committed once. docs/security.md and docs/operations.md say when to run them.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.exc import OperationalError

from inventory import unit_of_work
from inventory.errors import DomainError
from inventory.extensions import db
from inventory.words import counted

security_log = logging.getLogger("vialog.security")
# No idempotency record is older than Vialog; a larger age would reach back before the calendar's year 1.
MAX_PURGE_HOURS = 10 * 365 * 24


def register_ops_commands(cli: click.Group) -> None:
    for command in (verify, backup, restore, revoke_tokens, purge_idempotency):
        cli.add_command(command)


@click.command("verify")
@click.option("--anchor", "anchors", multiple=True, metavar="KIND:ID:HASH",
              help="an anchor printed by an earlier run (audit:... or movements:...); repeat for several")
@with_appcontext
def verify(anchors: tuple[str, ...]) -> None:
    """Check the hash chains, the append-only triggers and every balance; exit 1 on any break."""
    from inventory.services import audit_chain
    from inventory.services.ledger import find_balance_mismatches

    try:
        wanted = [audit_chain.Anchor.parse(a) for a in anchors]
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    session = db.session
    try:  # first: every movement at or below it is committed, so the checks below see them all
        settled = audit_chain.settled_movement_id(session.get_bind())
        unsettled = None
    except OperationalError:  # a writer held the containers table for the whole lock timeout
        settled, unsettled = None, "not taken: a transaction held the containers table for 30 s; run verify again"
    problems: list[str] = []
    breaks, summary = audit_chain.find_chain_breaks(session)
    problems += [f"BROKEN {b}" for b in breaks]
    problems += [
        f"BALANCE container {m.container_id} ({m.label_code}): cached {m.cached}, ledger {m.ledger}"
        for m in find_balance_mismatches(session)
    ]
    problems += [f"MISSING trigger {name}: the database no longer refuses changes there"
                 for name in audit_chain.missing_guards(session)]
    problems += [f"ANCHOR {a}: {failure}" for a in wanted if (failure := audit_chain.check_anchor(session, a))]
    for line in problems:
        click.echo(line)
    click.echo(f"{counted(summary.movements, 'movement')} in {counted(summary.containers, 'container chain')}; "
               f"{counted(summary.audit_events, 'audit event')}.")
    if problems:
        click.echo(f"{counted(len(problems), 'problem')}: the ledger or the audit log was changed outside Vialog.")
        security_log.error("vialog verify found %d problem(s)", len(problems))
        sys.exit(1)
    click.echo("Every hash chain, trigger and balance checks out.")
    for anchor in audit_chain.current_anchors(session, summary, settled):
        click.echo(f"anchor {anchor}")
    if unsettled is not None:
        click.echo(f"anchor movements {unsettled}")


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup(path: Path) -> None:
    """Back up the SQLite database into a new file PATH (online backup API); PostgreSQL: prints pg_dump."""
    from inventory.services import backup as backups

    url = db.engine.url
    if url.get_backend_name() == "postgresql":
        _postgres_instructions(url, "back up", path)
    try:
        info = backups.backup_sqlite(backups.sqlite_file(url), path)
    except DomainError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"Backed up to {info.path} ({info.size} bytes, integrity ok, at {', '.join(info.revisions)}).")


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))  # a missing file: said after PostgreSQL's
@click.option("--yes", is_flag=True, help="really replace the configured database's content with the backup's")
@with_appcontext
def restore(path: Path, yes: bool) -> None:
    """Replace the SQLite database's content with backup PATH; PostgreSQL: prints pg_restore."""
    from inventory.services import backup as backups

    url = db.engine.url
    if url.get_backend_name() == "postgresql":
        _postgres_instructions(url, "restore", path)
    try:
        target = backups.sqlite_file(url)
        if not path.is_file():  # before asking for --yes: that question is for a backup there is
            raise click.ClickException(f"There is no backup at {path}.")
        if not yes:
            raise click.ClickException(
                f"This replaces everything in {target} with the backup's content. Stop 'vialog serve' first, "
                "then run again with --yes."
            )
        info = backups.restore_sqlite(path, target, known_revisions=_known_revisions())
    except DomainError as error:
        raise click.ClickException(error.message) from error
    db.engine.dispose()  # no pooled connection keeps a view of the replaced file
    security_log.warning("database %s restored from %s", info.path, path)
    click.echo(f"Restored {info.path} from {path} (at {', '.join(info.revisions)}). "
               "Run 'vialog init-db' if the backup predates this version, then 'vialog verify'.")


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    from inventory import MIGRATIONS_DIR

    return {script.revision for script in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()}


def _postgres_instructions(url, doing: str, path: Path) -> None:
    """Refuses (exit 1, so a cron job never believes a backup was made), with PostgreSQL's own commands for
    ``path``: pg_dump into it, or a new database and pg_restore from it."""
    from inventory.services.backup import postgres_commands

    dump, createdb, pg_restore = postgres_commands(url, path)
    lines = [dump] if doing == "back up" else [createdb, pg_restore]
    commands = "\n".join(f"  {line}" for line in lines)
    missing = f"\n(There is no file at {path}: name the one pg_dump wrote.)" if doing == "restore" and not path.is_file() else ""
    raise click.ClickException(
        f"Vialog does not {doing} PostgreSQL itself; use PostgreSQL's tools (docs/operations.md):\n{commands}"
        f"{missing}"
    )


@click.command("revoke-tokens")
@click.argument("username")
@with_appcontext
def revoke_tokens(username: str) -> None:
    """Revoke every API token of USERNAME (a lost scanner, a leaver)."""
    from inventory.models import utcnow
    from inventory.services.maintenance import revoke_user_tokens

    try:
        with unit_of_work.command() as session:
            count = revoke_user_tokens(session, username=username, now=utcnow())
    except DomainError as error:
        raise click.ClickException(error.message) from error
    security_log.warning("revoked %d token(s) of %r from the command line", count, username)
    click.echo(f"Revoked {counted(count, 'token')} of {username}. Page sessions end when the user is deactivated.")


@click.command("purge-idempotency")
@click.option("--older-than-hours", type=click.IntRange(max=MAX_PURGE_HOURS), default=None,
              help=f"default: IDEMPOTENCY_KEEP_HOURS (48); at least 24, at most {MAX_PURGE_HOURS} (10 years)")
@with_appcontext
def purge_idempotency(older_than_hours: int | None) -> None:
    """Delete idempotency records older than the given age (for a daily cron)."""
    from inventory.models import utcnow
    from inventory.services.maintenance import purge_idempotency_records

    hours = older_than_hours if older_than_hours is not None else current_app.config["IDEMPOTENCY_KEEP_HOURS"]
    try:
        with unit_of_work.command() as session:
            count = purge_idempotency_records(session, older_than_hours=hours, now=utcnow())
    except DomainError as error:
        raise click.UsageError(error.message) from error
    click.echo(f"Deleted {counted(count, 'idempotency record')} older than {hours} hours.")
