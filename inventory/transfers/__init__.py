"""Transfers: moves between locations of a clinic and traceable transfers between clinics."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from inventory.transfers import api, models, pages  # noqa: F401  (models, then routes on the shared blueprints)
