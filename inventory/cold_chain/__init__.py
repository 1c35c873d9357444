"""The cold chain: temperature excursions at a location put what was kept there on hold until a safety lead
releases or wastes each container (DOMAIN.md "Counterfeits, suppliers and the cold chain")."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from inventory.cold_chain import api, models, pages  # noqa: F401  (models, then routes on the shared blueprints)
