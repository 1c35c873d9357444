"""The cold chain: temperature excursions at a location put what was kept there on hold until a safety lead
releases or wastes each container (DOMAIN.md "Counterfeits, suppliers and the cold chain")."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from inventory.cold_chain import api, history, models, pages, service  # noqa: F401  (models, then routes on the shared blueprints)
    from inventory.services import container_history, lot_guard

    # A container's page names each hold it was put on, and how it ended.
    container_history.on_holds(history.holds_of_container)

    # A held container emptied any way ends its hold; stock put back into it brings the hold back.
    lot_guard.on_emptied(service.end_hold_when_emptied)
    lot_guard.on_stock_added(service.hold_again_if_refilled)
