"""The JSON API under /api/v1 (see API.md)."""

from inventory.blueprints.api import cart, kits, openapi, stock  # noqa: F401  (registers the operations)
from inventory.blueprints.api.core import bp

__all__ = ["bp"]
