"""The pages blueprint and the one decorator that guards every page."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, current_app, request
from flask_login import current_user, login_required

from inventory.extensions import db, login_manager
from inventory.models import User
from inventory.models.base import plain_quantity
from inventory.services.clock import to_clinic_time
from inventory.services.permissions import ROLE_LABELS, SIGNED_IN, Permission, Scope, can

bp = Blueprint("pages", __name__)

login_manager.login_view = "pages.login"
login_manager.login_message = "Sign in to continue."
login_manager.session_protection = "basic"  # "strong" signs out tablets whose IP changes


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.is_active else None


def page(permission: Permission | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Signed-in users whose role carries ``permission`` (None: any signed-in user)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if permission is not None and not can(current_user, permission):
                abort(403, f"Your role ({ROLE_LABELS[current_user.role]}) may not open this page.")
            return view(*args, **kwargs)

        wrapped = login_required(guarded)
        wrapped.access = permission or SIGNED_IN  # type: ignore[attr-defined]
        return wrapped

    return decorate


def scope() -> Scope:
    return Scope.for_user(current_user)


# The main navigation: a link shows when its page exists and the user's role may open it.
NAV: list[tuple[str, str, Permission]] = [
    ("pages.cart_home", "Cart", Permission.CART),
    ("pages.stock", "Stock", Permission.CART),
    ("pages.beyond_use", "Beyond use", Permission.CART),
    ("pages.kits", "Kits", Permission.KIT_CHECK),
    ("pages.expiring", "Expiring", Permission.CART),
    ("pages.receive", "Receive", Permission.RECEIVE),
    ("pages.counts", "Counts", Permission.RECEIVE),
    ("pages.kit_templates", "Kit templates", Permission.CATALOG),
    ("pages.reconciliation", "Reconciliation", Permission.RECONCILE),
    ("pages.transfers", "Transfers", Permission.RECEIVE),
    ("pages.recalls", "Recalls", Permission.RECALL),
    ("pages.trace", "Trace", Permission.RECALL),
    ("pages.users", "Users", Permission.USERS),
]


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    def may(permission: str) -> bool:
        return current_user.is_authenticated and can(current_user, Permission(permission))

    def nav_links() -> list[tuple[str, str]]:
        if not current_user.is_authenticated:
            return []
        views = current_app.view_functions
        return [(endpoint, label) for endpoint, label, permission in NAV
                if endpoint in views and can(current_user, permission)]

    return {"may": may, "nav_links": nav_links, "role_label": lambda role: ROLE_LABELS[role]}


@bp.app_template_filter("clinic_time")
def _clinic_time(moment: Any, timezone: str, fmt: str = "%d %b %Y %H:%M") -> str:
    return "" if moment is None else to_clinic_time(moment, timezone).strftime(fmt)


@bp.app_template_filter("qty")
def _quantity(value: Any) -> str:
    """4.0000 -> 4, 0.5500 -> 0.55: quantities read as a nurse writes them."""
    if value is None:
        return ""
    return plain_quantity(value)
