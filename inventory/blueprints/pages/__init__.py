"""HTML pages for people: server-rendered, CSRF-protected forms, no build step."""

from inventory.blueprints.pages import (  # noqa: F401  (registers the views)
    auth, cart, catalog, counts, kits, reconciliation, stock, transfers,
)
from inventory.blueprints.pages.core import bp

import recall.pages  # noqa: E402,F401  (registers the recall pages on bp)

__all__ = ["bp"]
