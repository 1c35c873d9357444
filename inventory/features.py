"""The features Vialog loads into an app.

A feature is a package with ``init_app(app)``: it imports its models (so the metadata is complete for
Alembic and tests), its API operations and its pages (both registered on the shared ``api`` and
``pages`` blueprints), and anything else it adds. ``create_app`` loads every feature before it
registers the blueprints, since a blueprint takes no new routes once registered.

Vialog's own features are listed here. A package that builds on Vialog without being part of its core
(the recall workflow) plugs in through the ``vialog.features`` entry point of its distribution, so the
core never imports it; the dependency runs one way only.
"""

from __future__ import annotations

import functools
import importlib
from importlib.metadata import entry_points

from flask import Flask

BUILT_IN = (
    "inventory.counterfeit",
    "inventory.receiving",
    "inventory.cart",
    "inventory.clinical",
    "inventory.kits",
    "inventory.counts",
    "inventory.transfers",
    "inventory.reconciliation",
    "inventory.admin",
    "inventory.cold_chain",
    "inventory.adverse_events",
)
ENTRY_POINT_GROUP = "vialog.features"


@functools.cache
def plugins() -> tuple[str, ...]:
    """The packages other distributions register as Vialog features, in name order."""
    return tuple(point.value for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name))


def load(app: Flask) -> None:
    for name in (*BUILT_IN, *plugins()):
        importlib.import_module(name).init_app(app)
    app.extensions["vialog.features"] = (*BUILT_IN, *plugins())
