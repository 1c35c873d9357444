"""Alembic environment for Vialog: the app's own engine and metadata, online migrations only."""

from __future__ import annotations

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

from inventory.models import Base

config = context.config
if config.config_file_name and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")


def _configure_and_run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        user_module_prefix="vt.",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # Tests hand in their own connection; the CLI uses the app's engine.
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    with current_app.extensions["vialog_db"].engine.connect() as connection:
        _configure_and_run(connection)


if context.is_offline_mode():
    raise SystemExit("Vialog runs migrations online only: use 'vialog init-db'.")
run_migrations_online()
