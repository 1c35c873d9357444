"""The patient's record at the cart: history per molecule, the pre-treatment checklist, follow-ups."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from inventory.clinical import api, pages  # noqa: F401  (routes on the shared blueprints)
