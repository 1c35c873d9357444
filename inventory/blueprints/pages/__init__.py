"""HTML pages for people: server-rendered, CSRF-protected forms, no build step.

The blueprint and the core's pages; each feature registers its own pages on ``bp`` from its
``init_app`` (``inventory.features``).
"""

from inventory.blueprints.pages import auth, catalog, stock  # noqa: F401  (registers the views)
from inventory.blueprints.pages.core import bp

__all__ = ["bp"]
