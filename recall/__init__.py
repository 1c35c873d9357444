"""Lot recalls: trace queries, quarantine and release, recall cases and notification exports.

``models`` (RecallCase and its lines), ``services`` (the rules: quarantine, release,
recall cases), ``queries`` (the read side: traces), ``exports`` (Excel and CSV),
``api`` and ``pages`` (thin HTTP layers registered on the app's blueprints).

It plugs into Vialog through the ``vialog.features`` entry point (pyproject.toml): the core never
imports it.
"""

from __future__ import annotations

from flask import Flask


# The recall rows a regulator relies on are sealed like the core's trace rows (services/audit_chain.py).
RECALL_SEALS = {
    "RecallCase": ("reason", "recall_class", "source", "status", "opened_by_id", "opened_at", "closed_by_id",
                   "closed_at"),
    "RecallLot": ("case_id", "lot_id", "previous_status"),
    "RecallPatient": ("case_id", "patient_id", "clinic_id", "status", "method", "note", "updated_by_id",
                      "updated_at"),
    "RecallContainer": ("case_id", "container_id", "clinic_id", "status", "note", "updated_by_id", "updated_at"),
}


def init_app(app: Flask) -> None:
    from inventory.services import audit_chain, lot_guard
    from recall import api, models, pages, services  # noqa: F401  (models, then routes on the shared blueprints)

    # Stock that reaches a lot of an open case (a reversed waste, a count, a transfer in) joins the case.
    lot_guard.on_stock_added(services.join_open_cases)
    # A correction that would change what a closed case recorded is refused; one on an open case is recorded.
    lot_guard.on_reversal(services.check_reversal)
    for name, fields in RECALL_SEALS.items():
        audit_chain.register_seal(getattr(models, name), fields)
