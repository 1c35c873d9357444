"""Vialog: inventory and lot traceability for aesthetic clinics."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from inventory import config as config_module
from inventory.config import ConfigurationError
from inventory.extensions import csrf, db, login_manager, migrate

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
MAX_DATABASE_ID = 2**31 - 1  # INTEGER primary keys on PostgreSQL
MIN_PRODUCTION_SECRET_KEY = 32


def _check_production_settings(app: Flask) -> None:
    """With VIALOG_ENV=production, refuse a short SECRET_KEY: it signs every session cookie."""
    app.config.setdefault("VIALOG_ENV", os.environ.get("VIALOG_ENV", "development").strip().lower())
    if app.config["VIALOG_ENV"] != "production":
        return
    if len(app.config.get("SECRET_KEY") or "") < MIN_PRODUCTION_SECRET_KEY:
        raise ConfigurationError(
            f"VIALOG_ENV=production needs a SECRET_KEY of at least {MIN_PRODUCTION_SECRET_KEY} characters: "
            "python3 -c 'import secrets; print(secrets.token_hex(32))'"
        )


class DatabaseIdConverter(IntegerConverter):
    """``<int:...>`` that matches only ids a database row can have."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 (werkzeug's name)
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_DATABASE_ID)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> int:
        # NotFound at once, not werkzeug's ValidationError ("try the next rule"): PATCH /users/0 would then be
        # 405, since the GET rule of the same path matched all but its method before this converter said no.
        number = int(value)
        if not (self.min is None or self.min <= number) or not (self.max is None or number <= self.max):
            raise NotFound()
        return number


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Builds the app: settings from the environment, then ``overrides`` (tests)."""
    instance = config_module.default_instance_path()
    app = Flask(__name__, instance_path=str(instance), instance_relative_config=True)
    app.config.from_mapping(config_module.from_environment(instance))
    app.config.from_mapping(overrides or {})
    _check_production_settings(app)
    # Behind a reverse proxy the client's address (sign-in throttling, logs) is in X-Forwarded-For.
    proxy_hops = int(app.config.get("PROXY_HOPS") or os.environ.get("VIALOG_PROXY_HOPS") or 0)
    if proxy_hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxy_hops, x_proto=proxy_hops)  # type: ignore[method-assign]
    # Before any route is added: ids in URLs are database integers, anything larger is a 404.
    app.url_map.converters["int"] = DatabaseIdConverter

    from inventory.services import audit_chain
    from inventory.services.auth import dummy_hash, make_hasher

    audit_chain.install()  # every new movement and audit event is hash-chained, whoever adds it

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    csrf.init_app(app)
    login_manager.init_app(app)
    app.extensions["password_hasher"] = make_hasher(app.config["ARGON2_TIME_COST"], app.config["ARGON2_MEMORY_KIB"])
    dummy_hash(app.extensions["password_hasher"])  # now, not in the first unknown user's sign-in

    from inventory import features
    from inventory.blueprints import api, pages
    from inventory.blueprints.errors import register_error_handlers
    from inventory.cli import register_commands
    from inventory.security import init_security
    from inventory.security_log import init_security_log
    from inventory import unit_of_work

    features.load(app)  # each feature's models and routes, before the blueprints are registered
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # the API authenticates with bearer tokens, never cookies
    register_error_handlers(app)
    unit_of_work.init_app(app)  # the one commit point of every request
    init_security(app)
    init_security_log(app)
    register_commands(app)
    return app
