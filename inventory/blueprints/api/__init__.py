"""The JSON API under /api/v1 (see API.md)."""

from inventory.blueprints.api import cart, counts, kits, openapi, stock, transfers  # noqa: F401  (registers the operations)
from inventory.blueprints.api.core import bp

import recall.api  # noqa: E402,F401  (registers the recall operations on bp)

__all__ = ["bp"]
