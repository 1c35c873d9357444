"""Reconciliation: received, drawn, wasted, adjusted, expected vs counted, and its Excel export."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from inventory.reconciliation import api, pages  # noqa: F401  (models, then routes on the shared blueprints)
