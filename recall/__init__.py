"""Lot recalls: trace queries, quarantine and release, recall cases and notification exports.

``models`` (RecallCase and its lines), ``services`` (the rules: quarantine, release,
recall cases), ``queries`` (the read side: traces), ``exports`` (Excel and CSV),
``api`` and ``pages`` (thin HTTP layers registered on the app's blueprints).

It plugs into Vialog through the ``vialog.features`` entry point (pyproject.toml): the core never
imports it.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from inventory.services import lot_guard
    from recall import api, models, pages, services  # noqa: F401  (models, then routes on the shared blueprints)

    # Stock that reaches a lot of an open case (a reversed waste, a count, a transfer in) joins the case.
    lot_guard.on_stock_added(services.join_open_cases)
