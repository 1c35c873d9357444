"""The JSON API under /api/v1 (see API.md): the blueprint, and the operations of the core.

Each feature registers its own operations on ``bp`` from its ``init_app`` (``inventory.features``).
"""

from inventory.blueprints.api import openapi, stock, stock_on_hand  # noqa: F401  (registers the operations)
from inventory.blueprints.api.core import bp

__all__ = ["bp"]
