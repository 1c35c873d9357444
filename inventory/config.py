"""Settings, read from the environment only (DESIGN.md "Command line").

A setting Vialog cannot work with is refused here, at start-up, with a ``ConfigurationError`` that says what to
change (``vialog`` prints it as one line): not a traceback on the first command, nor a 500 on the first page that
reads it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from inventory.services.clock import is_time_zone

DATABASE_EXAMPLES = "sqlite:////srv/vialog/vialog.db or postgresql://vialog@db.example:5432/vialog"


class ConfigurationError(RuntimeError):
    """A setting Vialog must not start with (docs/security.md "Production settings", README "PostgreSQL")."""


def default_instance_path() -> Path:
    return Path(os.environ.get("VIALOG_INSTANCE") or Path.cwd() / "instance").resolve()


def _persisted_secret_key(instance: Path) -> str:
    """A random key kept in the instance folder, so a newcomer needs no set-up.

    Production sets SECRET_KEY explicitly; ``vialog serve`` refuses to start without it.
    """
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _database_url(instance: Path) -> str:
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        # The embedded default lives in the instance folder: make it, even when SECRET_KEY is set.
        instance.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{instance / 'vialog.db'}"
    # Heroku-style URLs name the driver "postgres"; Vialog speaks psycopg 3.
    if database_url.startswith(("postgres://", "postgresql://")):
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
    # The address itself is never repeated in a message: it may hold a password.
    try:
        backend = make_url(database_url).get_backend_name()
    except (ArgumentError, ValueError):  # ValueError: a port that is no number
        raise ConfigurationError(f"DATABASE_URL is not a database address: give one such as {DATABASE_EXAMPLES}.") \
            from None
    if backend not in {"sqlite", "postgresql"}:
        raise ConfigurationError(f"DATABASE_URL names a {backend} database; Vialog runs on SQLite or PostgreSQL: "
                                 f"give an address such as {DATABASE_EXAMPLES}.")
    return database_url


def _clinic_tz() -> str:
    """The chain's own zone (chain-wide moments: a recall, the access log); a clinic's own is the clinic's."""
    name = os.environ.get("CLINIC_TZ", "Europe/London")
    if not is_time_zone(name):
        raise ConfigurationError(f"CLINIC_TZ {name!r} is not a time zone: use an IANA name such as Europe/London.")
    return name


def from_environment(instance: Path) -> dict[str, Any]:
    """Raises ConfigurationError for a setting Vialog cannot start with."""
    clinic_tz = _clinic_tz()
    try:
        database_url = _database_url(instance)
        secret_key = os.environ.get("SECRET_KEY") or _persisted_secret_key(instance)
    except OSError as error:  # the folder for the default database or the kept secret key
        raise ConfigurationError(
            f"Cannot use the instance folder {instance}: {error.strerror or error}. Set VIALOG_INSTANCE to a folder "
            "Vialog may create and write in (or set DATABASE_URL and SECRET_KEY, and it needs none)."
        ) from None
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": secret_key,
        "CLINIC_TZ": clinic_tz,
        "API_TOKEN_HOURS": int(os.environ.get("VIALOG_API_TOKEN_HOURS", "12")),
        "SESSION_COOKIE_SECURE": _bool("VIALOG_SECURE_COOKIES", False),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # A form's CSRF token lives as long as the page session, which sign-in and sign-out end: the cart page
        # stays open all day between patients, and a scan an hour after it loaded must not be refused.
        "WTF_CSRF_TIME_LIMIT": None,
        # OWASP's Argon2id figures: 19 MiB, 2 passes, 1 lane. Tests lower them for speed.
        "ARGON2_TIME_COST": 2,
        "ARGON2_MEMORY_KIB": 19 * 1024,
        "IDEMPOTENCY_KEEP_HOURS": 48,
        # No request Vialog takes is near 1 MB (a 5,000-line count is about 300 kB); larger bodies get
        # 413 payload_too_large before anything parses them. Backups are restored from the command line.
        "MAX_CONTENT_LENGTH": int(os.environ.get("VIALOG_MAX_BODY_BYTES", str(1024 * 1024))),
    }
