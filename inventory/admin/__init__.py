"""Administration: users and their sessions, the catalog, locations and clinic settings (issue 18)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from inventory.admin import api, pages  # noqa: F401  (routes on the shared blueprints)
