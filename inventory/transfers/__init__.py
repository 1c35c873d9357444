"""Transfers: moves between locations of a clinic and traceable transfers between clinics."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from inventory.transfers import api, models, move_api, move_pages, pages, service  # noqa: F401  (models, then routes on the shared blueprints)
    from inventory.services import container_history, lot_guard, scanning

    # A label scanned at the clinic it travels to says it is on its way, rather than unknown.
    scanning.on_other_clinic_label(service.arriving_label_refusal)
    # A container declared missing in transit stays written off: the cart does not correct that waste.
    lot_guard.on_reversal(service.refuse_reversing_a_loss)
    # A container lost in transit is written off at the shelf it left from: where it is shown, that is said instead.
    container_history.on_lost_in_transit(service.lost_in_transit)
