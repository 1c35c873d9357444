"""Adverse events linked through their treatment's draws to the exact containers and lots, the rescue
hyaluronidase given for them, per-lot signals and the fields a regulator's report asks for."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from inventory.adverse_events import api, models, pages  # noqa: F401  (models, then routes on the shared blueprints)
