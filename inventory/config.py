"""Settings, read from the environment only (DESIGN.md "Command line")."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any


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


def from_environment(instance: Path) -> dict[str, Any]:
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        # The embedded default lives in the instance folder: make it, even when SECRET_KEY is set.
        instance.mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite:///{instance / 'vialog.db'}"
    # Heroku-style URLs name the driver "postgres"; Vialog speaks psycopg 3.
    if database_url.startswith(("postgres://", "postgresql://")):
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
    return {
        "DATABASE_URL": database_url,
        "SECRET_KEY": os.environ.get("SECRET_KEY") or _persisted_secret_key(instance),
        "CLINIC_TZ": os.environ.get("CLINIC_TZ", "Europe/London"),
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
