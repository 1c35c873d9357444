"""The ``vialog`` command: the Flask CLI of the app under one name, plus Vialog's own commands."""

from __future__ import annotations

import errno
import gc
import os
import socket
import sys

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext
from flask_migrate import upgrade
from sqlalchemy import select

from inventory import unit_of_work
from inventory.config import ConfigurationError
from inventory.cli_ops import register_ops_commands
from inventory.extensions import db
from inventory.models import Clinic, Role
from inventory.words import counted


def _create_app() -> Flask:
    from inventory import create_app

    return create_app()


class _VialogGroup(FlaskGroup):
    """Flask's command group, answering a set-up mistake in one line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            return super().invoke(ctx)
        except ConfigurationError as error:  # the settings (config.py), before any command runs
            raise click.ClickException(str(error)) from None
        except (OperationalError, ProgrammingError) as error:
            text = str(error.orig)
            if "no such table" in text or ("relation" in text and "does not exist" in text):
                raise click.ClickException(
                    "This database has no Vialog tables yet: run `vialog init-db` (or `vialog demo`) first.") from None
            said = _connection_failure(ctx, error) if isinstance(error, OperationalError) else None
            if said is None:
                raise
            raise click.ClickException(said) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        """``vialog --help`` with settings Vialog cannot start with: the one line, then the commands that need no
        app (Flask's own would print the whole traceback)."""
        try:
            ctx.ensure_object(ScriptInfo).load_app()
        except ConfigurationError as error:
            click.secho(f"Error: {error}\n", err=True, fg="red")
            return sorted(click.Group.list_commands(self, ctx))
        return super().list_commands(ctx)


def _connection_failure(ctx: click.Context, error: Exception) -> str | None:
    """What to do when the configured database cannot be opened, in one line; None for any other error.

    Only a failure to connect is said here (SQLAlchemy gives it no statement). The address is never printed
    whole, and the driver's words are printed without the password: DATABASE_URL may hold one."""
    from sqlalchemy import make_url
    from sqlalchemy.exc import DBAPIError

    from inventory.services.backup import server_options

    if not isinstance(error, DBAPIError) or error.statement is not None:
        return None
    try:
        url = make_url(ctx.ensure_object(ScriptInfo).load_app().config["DATABASE_URL"])
    except Exception:  # noqa: BLE001 (the app loaded before the command failed; this is only to be safe)
        return None
    text = str(error.orig)
    if url.password:
        text = text.replace(url.password, "***")
    if url.get_backend_name() == "sqlite":
        if "unable to open database file" in text:
            return (f"Cannot open the SQLite database {url.database}: does its folder exist, and may Vialog write "
                    "there? (DATABASE_URL, or VIALOG_INSTANCE for the default database)")
        return None
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    if f'database "{url.database}" does not exist' in text:
        return (f"The database {url.database} does not exist at {where}: create it "
                f"({' '.join(filter(None, ['createdb', server_options(url), url.database]))}) first, "
                "then run `vialog init-db`.")
    if f'role "{url.username}" does not exist' in text:
        return f"PostgreSQL at {where} has no user {url.username}: create it, or name another in DATABASE_URL."
    if "password authentication failed" in text:
        return (f"PostgreSQL at {where} refused the password of {url.username}: check DATABASE_URL, PGPASSWORD "
                "or ~/.pgpass.")
    if "failed to resolve host" in text or "could not translate host name" in text:
        return f"Cannot find the database server {url.host}: check the host name in DATABASE_URL."
    if "Connection refused" in text or "timeout" in text.lower() or "No such file or directory" in text:
        return f"Cannot reach the database at {where}: is PostgreSQL running?"
    first = text.removeprefix("connection failed: ").splitlines()[0] if text else type(error.orig).__name__
    return f"Cannot connect to the database {url.database} at {where}: {first}"


@click.group(cls=_VialogGroup, create_app=_create_app, add_version_option=False)
def main() -> None:
    """Vialog: inventory and lot traceability for aesthetic clinics."""


def register_commands(app: Flask) -> None:
    app.cli.add_command(init_db)
    app.cli.add_command(demo)
    app.cli.add_command(create_user)
    app.cli.add_command(serve)
    app.cli.add_command(check)
    app.cli.add_command(kits)
    register_ops_commands(app.cli)


def _apply_migrations() -> None:
    upgrade(directory=current_app.extensions["migrate"].directory)


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Apply every migration to the configured database (safe to run again)."""
    _apply_migrations()
    click.echo(f"Database ready: {db.engine.url.render_as_string(hide_password=True)}")


@click.command("demo")
@with_appcontext
def demo() -> None:
    """init-db, then demo clinics, catalog, stock and one user per role (safe to run twice)."""
    from inventory import demo as demo_data

    _apply_migrations()
    with unit_of_work.command() as session:
        logins = demo_data.load(session, current_app.extensions["password_hasher"])
    click.echo("Demo data ready. Sign in with:")
    for login in logins:
        click.echo(f"  {login.username:<14} {login.password:<22} {login.description}")


@click.command("create-user")
@with_appcontext
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--clinic", "clinic_codes", multiple=True, help="clinic code; repeat for several; none = chain level")
@click.option("--password-stdin", is_flag=True, required=True, help="read the password as one line on stdin")
def create_user(username: str, role: str, clinic_codes: tuple[str, ...], password_stdin: bool) -> None:
    """Create a user; without --clinic the user works at every clinic (chain level)."""
    from inventory.errors import DomainError
    from inventory.services import auth

    password = sys.stdin.readline().rstrip("\r\n")
    clinics, unknown = _clinics_by_code(clinic_codes)
    if unknown:
        raise click.ClickException(f"No clinic with code {', '.join(map(repr, unknown))}.")
    try:
        with unit_of_work.command() as session:
            user = auth.create_user(
                session, current_app.extensions["password_hasher"], username=username, password=password,
                role=Role(role), clinics=clinics,
            )
    except DomainError as error:
        raise click.ClickException(error.message) from error
    where = ", ".join(c.code for c in clinics) or "every clinic"
    click.echo(f"Created {user.username} ({user.role.value}) working at {where}.")


def _clinics_by_code(codes: tuple[str, ...]) -> tuple[list[Clinic], list[str]]:
    """The clinics of the codes given, in their order and each once, in any case ("lon" is LON, as the admin
    pages take it); and the codes that name no clinic, as typed."""
    from inventory.admin.service import clinic_code  # the one normalisation of a clinic code
    from inventory.errors import ValidationError

    wanted: dict[str, str] = {}
    unknown: list[str] = []
    for typed in codes:
        try:
            wanted.setdefault(clinic_code(typed), typed)
        except ValidationError:  # not even the shape of a code
            unknown.append(typed)
    found = {c.code: c for c in db.session.scalars(select(Clinic).where(Clinic.code.in_(wanted)))}
    unknown += [typed for code, typed in wanted.items() if code not in found]
    return [found[code] for code in wanted if code in found], list(dict.fromkeys(unknown))


@click.command("serve")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True, help="an address of this server (0.0.0.0: all)")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=None, type=click.IntRange(min=1), help="processes; default: one per core")
@click.option("--threads", default=2, show_default=True, type=click.IntRange(min=1),
              help="request threads per process (docs/performance.md: 2 measured best here; more with a remote database)")
def serve(host: str, port: int, workers: int | None, threads: int) -> None:
    """Run the production server (gunicorn, threaded workers)."""
    from gunicorn.app.base import BaseApplication

    if not os.environ.get("SECRET_KEY"):
        raise click.ClickException("Set SECRET_KEY in the environment before serving in production.")
    _refuse_a_port_in_use(host, port)
    # Threaded workers keep connections alive and run one request's Python while another waits for
    # the database. More threads than that contend for the interpreter lock: 2 per worker gave the draw's
    # best throughput and p99 (docs/performance.md, "gunicorn workers and threads").
    workers = workers if workers is not None else os.cpu_count() or 1

    class _Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread" if threads > 1 else "sync")
            self.cfg.set("threads", threads)
            # A listening socket per worker (SO_REUSEPORT): the kernel shares the connections out evenly. One
            # shared socket let whichever worker woke first take most keep-alive connections, and its clients
            # waited while the other worker idled: at 16 clients 324-329 draws a second against 395-429, p99
            # 80-83 ms against 54-75 (docs/performance.md, fourteenth pass). It also lets a second server bind
            # the same port without an error, hence _refuse_a_port_in_use.
            self.cfg.set("reuse_port", True)
            self.cfg.set("accesslog", "-")
            # gunicorn's own 414 is plain text: let lines through up to its maximum, so the app's
            # smaller limit (inventory/security.py) answers, as JSON under /api/.
            self.cfg.set("limit_request_line", 8190)

        def load(self) -> Flask:
            app = _create_app()
            gc.freeze()  # as wsgi.py: long-lived objects out of the collector's sight
            return app

    # gunicorn's own "Listening at:" is empty with a socket per worker: say where, once.
    click.echo(f"Vialog serving http://{host}:{port} with {counted(workers, 'worker')} of {counted(threads, 'thread')}.")
    _Server().run()


def _refuse_a_port_in_use(host: str, port: int) -> None:
    """Refuses to start beside a server already listening on the port (an older Vialog not yet stopped): with
    SO_REUSEPORT both would bind it and share its requests, old code and new. A host that is no address of this
    server, or a port it may not take, is refused too, each in its own words."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a closed connection's TIME_WAIT is no server
        try:
            probe.bind((host, port))
        except socket.gaierror as error:  # the name did not resolve: no port was tried
            raise click.ClickException(
                f"Cannot find the host {host} ({error.strerror}): give --host an address of this server, such as "
                "127.0.0.1 or 0.0.0.0 (every address).") from error
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"Port {port} on {host} is already in use ({error.strerror}): stop the server running there "
                    "first, or choose another port with --port.") from error
            if error.errno == errno.EADDRNOTAVAIL:
                raise click.ClickException(
                    f"{host} is not an address of this server ({error.strerror}): give --host one of its own, such "
                    "as 127.0.0.1 or 0.0.0.0 (every address).") from error
            raise click.ClickException(f"Cannot serve on {host} port {port}: {error.strerror}.") from error


@click.command("check")
@with_appcontext
def check() -> None:
    """Recompute every balance from the ledger; exit 1 on any difference."""
    from inventory.services.ledger import find_balance_mismatches

    mismatches = find_balance_mismatches(db.session)
    for m in mismatches:
        click.echo(f"container {m.container_id} ({m.label_code}): cached {m.cached}, ledger {m.ledger}")
    if mismatches:
        click.echo(f"{counted(len(mismatches), 'balance')} {'differs' if len(mismatches) == 1 else 'differ'} from the ledger.")
        sys.exit(1)
    click.echo("Every container balance matches the ledger.")


_STATUS_WORDS = {"ready": "READY", "expiring_soon": "EXPIRING SOON", "not_ready": "NOT READY"}


@click.command("kits")
@with_appcontext
@click.option("--clinic", "clinic_codes", multiple=True, help="only this clinic (code); repeat for several")
@click.option("--at", "at", default=None, metavar="MOMENT",
              help="the board as recorded at this past moment, ISO 8601 (2026-07-01T08:00Z); without a time zone "
                   "(2026-07-01T08:00, or 2026-07-01 for its midnight) in each clinic's own time; default now")
def kits(clinic_codes: tuple[str, ...], at: str | None) -> None:
    """Print the emergency kit board; exit 1 when any kit is not ready, or a clinic holds filler and no emergency
    kit with hyaluronidase (for a daily cron); 2 on a bad option.

    With --at, checks, emergency use, contents, holds and lot statuses are read as recorded by that moment,
    and kits created since are left out; kit templates keep no history, so they are today's (the first line
    of the board says so).
    """
    import datetime as dt

    from inventory.errors import ValidationError
    from inventory.models import utcnow
    from inventory.kits import service as kit_service
    from inventory.services.permissions import Scope

    class Refused(click.ClickException):
        exit_code = 2  # one line, no usage block; 2 as click's usage errors, apart from 1 (a kit not ready)

    scope = Scope.everything()
    if clinic_codes:
        clinics, unknown = _clinics_by_code(clinic_codes)
        if unknown:
            raise Refused(f"No clinic with code {', '.join(unknown)}.")
        scope = Scope(frozenset(c.id for c in clinics))
    now = utcnow()
    without_kit: list[kit_service.ClinicWithoutKit] = []  # as it stands: a past board lists kits only
    if at is None:
        board = kit_service.readiness(db.session, scope=scope, now=now)
        without_kit = kit_service.clinics_without_a_kit(db.session, scope=scope)
    else:
        try:
            moment = kit_service.parse_moment(at)
            board = kit_service.readiness_at(db.session, scope=scope, at=moment, now=now)
        except ValidationError as error:
            raise Refused(f"--at {error.message}") from None
        when = (f"{moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(' ', 'minutes')} UTC" if moment.tzinfo
                else f"{moment.isoformat(' ', 'minutes')} in each clinic's own time")
        click.echo(f"As recorded at {when}; kits created since are left out, and kit templates are today's "
                   "(they keep no history).")
    width = max((len(w) for w in _STATUS_WORDS.values()), default=0)
    for state in board:
        line = f"{_STATUS_WORDS[state.status.value]:<{width}}  {state.name} ({state.clinic_code})"
        if state.reasons:
            line += ": " + "; ".join(reason.text for reason in state.reasons)
        click.echo(line)
    for clinic in without_kit:
        click.echo(f"{_STATUS_WORDS['not_ready']:<{width}}  No emergency kit with hyaluronidase "
                   f"({clinic.clinic_code}): {clinic.text}")
    counts = {status: sum(1 for s in board if s.status.value == status) for status in _STATUS_WORDS}
    summary = (f"{counted(len(board), 'kit')}: {counts['ready']} ready, {counts['expiring_soon']} expiring soon, "
               f"{counts['not_ready']} not ready")
    if without_kit:
        codes = ", ".join(c.clinic_code for c in without_kit)
        summary += f"; {counted(len(without_kit), 'clinic')} with filler and no emergency kit ({codes})"
    click.echo(f"{summary}.")
    if counts["not_ready"] or without_kit:
        sys.exit(1)
