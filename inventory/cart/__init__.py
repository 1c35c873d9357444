"""The treatment cart: treatments, reconstitution, draws with their dose checks, waste and close."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from inventory.cart import api, pages, patient_pages  # noqa: F401  (models, then routes on the shared blueprints)
