"""Counts: blind count sheets, posted by a second manager as adjustments through the ledger."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from inventory.counts import api, models, pages  # noqa: F401  (models, then routes on the shared blueprints)
