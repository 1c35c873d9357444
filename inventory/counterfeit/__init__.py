"""Counterfeit defence: the chain's authorised suppliers, the watch list of suspect lot numbers, and the
flags a safety lead sees (a pack serial received twice, a vial with no vacuum, a watched lot in stock).

Receiving asks ``service`` before it takes a box in; ``api`` and ``pages`` are thin views on the shared
blueprints.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from inventory.counterfeit import api, models, pages, service  # noqa: F401  (models, then routes)
    from inventory.services import lot_guard

    # A scanned box of a watched lot is refused wherever it is scanned (the core asks its lot checks).
    lot_guard.on_lot_named(service.refuse_watched_lot, service.watched_lot_flag)
