"""Emergency kits: templates with minimum contents, kits, restocking and the readiness check."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from inventory.kits import api, models, pages  # noqa: F401  (models, then routes on the shared blueprints)
