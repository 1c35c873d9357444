"""HTML pages for people: server-rendered, CSRF-protected forms, no build step."""

from inventory.blueprints.pages import auth, cart, counts, kits, reconciliation, stock, transfers  # noqa: F401  (registers the views)
from inventory.blueprints.pages.core import bp

import recall.pages  # noqa: E402,F401  (registers the recall pages on bp)

__all__ = ["bp"]
