"""HTML pages for people: server-rendered, CSRF-protected forms, no build step."""

from inventory.blueprints.pages import auth, cart, kits, stock  # noqa: F401  (registers the views)
from inventory.blueprints.pages.core import bp

__all__ = ["bp"]
