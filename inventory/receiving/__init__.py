"""Receiving: a box scanned at the door becomes lots, containers with labels and receive movements."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from inventory.receiving import api, models, pages  # noqa: F401  (models, then routes on the shared blueprints)
