"""The pages blueprint and the one decorator that guards every page."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask import session as page_session
from flask_login import current_user, login_required
from werkzeug.wrappers import Response as WerkzeugResponse

from inventory import unit_of_work
from inventory.errors import DomainError
from inventory.extensions import db, login_manager
from inventory.models import Role, User
from inventory.models.base import plain_quantity
from inventory.security import safe_redirect_target
from inventory.services.clock import format_clinic_time, format_date, to_clinic_time
from inventory.services.permissions import ROLE_LABELS, SIGNED_IN, Permission, Scope, can, refusal
from inventory.words import concentration, counted, per_ml

bp = Blueprint("pages", __name__)

login_manager.login_view = "pages.login"
login_manager.login_message = "Sign in to continue."
login_manager.session_protection = "basic"  # "strong" signs out tablets whose IP changes


# The user's session_version when this page session signed in. A deactivation, a password change or reset
# and a sign-out raise the user's version, and every page session holding an older one ends at its next
# request: the cookie alone cannot be revoked, the version on the server can.
SESSION_VERSION_KEY = "vialog_session_version"
# Where a user whose password an admin set (a new user, or a reset) must go before any other page (inventory/admin/pages.py).
PASSWORD_ENDPOINT = "pages.account_password"


def remember_session_version(user: User) -> None:
    """Called at sign-in (and after the user's own password change, to keep this session)."""
    page_session[SESSION_VERSION_KEY] = user.session_version


@login_manager.unauthorized_handler
def _sign_in_first() -> WerkzeugResponse:
    """Not signed in: never, or no longer (signed out in another tab, deactivated, a password reset). A page asked
    for opens once signed in. A form sent is not saved, and the page says so; signed in, the user lands on the page
    the form was on, never on the form's address (it takes a POST only: a GET of it is a 405)."""
    if request.method in ("GET", "HEAD"):
        flash(login_manager.login_message, "info")
        target: str | None = request.full_path.removesuffix("?")
    else:
        flash("You were signed out, so what you sent was not saved. Sign in, then do it again.", "error")
        referrer = urlsplit(request.referrer or "")
        target = (referrer.path + (f"?{referrer.query}" if referrer.query else "")
                  if referrer.netloc == request.host else None)
    return redirect(url_for("pages.login", next=safe_redirect_target(target)))


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    if user is None or not user.is_active:
        return None
    if page_session.get(SESSION_VERSION_KEY) != user.session_version:
        return None  # ended on the server: signed out
    return user


def page(permission: Permission | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Signed-in users whose role carries ``permission`` (None: any signed-in user)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if (current_user.must_change_password and request.endpoint not in (PASSWORD_ENDPOINT, "pages.logout")
                    and PASSWORD_ENDPOINT in current_app.view_functions):
                # The password page says why itself; a page asked for by a link is where it goes on to afterwards.
                asked = request.full_path.rstrip("?") if request.method == "GET" else None
                return redirect(url_for(PASSWORD_ENDPOINT, next=asked))
            if permission is not None and not can(current_user, permission):
                abort(403, refusal(current_user.role, permission, what="open this page"))
            return view(*args, **kwargs)

        wrapped = login_required(guarded)
        wrapped.access = permission or SIGNED_IN
        return wrapped

    return decorate


def scope() -> Scope:
    return Scope.for_user(current_user)


def refused(error: DomainError) -> None:
    """Rolls back what this request did, whatever the view answers (a re-rendered form, a redirect),
    and shows ``error`` on the page the user sees next."""
    unit_of_work.mark_refused()
    flash_refusal(error)


def flash_refusal(error: DomainError) -> None:
    """Shows ``error`` with its code: base.html renders the category "error:<code>" as ``data-code``,
    the code the API answers the same refusal with."""
    flash(error.message, f"error:{error.code}")


# The main navigation, in groups that each open a small menu. A link shows when its page exists and
# the user's role may open it; a group with one such link shows as that link, one with none not at all.
NAV: list[tuple[str, list[tuple[str, str, Permission]]]] = [
    ("Cart", [("pages.cart_home", "Cart", Permission.CART), ("pages.follow_ups", "Follow-ups", Permission.CART),
              ("pages.patients", "Patients", Permission.CART)]),
    ("Stock", [
        ("pages.stock", "Stock", Permission.CART),
        ("pages.beyond_use", "Beyond use", Permission.CART),
        ("pages.expiring", "Expiring", Permission.CART),
        ("pages.receive", "Receive", Permission.RECEIVE),
        ("pages.counts", "Counts", Permission.RECEIVE),
        ("pages.reconciliation", "Reconciliation", Permission.RECONCILE),
        ("pages.transfers", "Transfers", Permission.RECEIVE),
        ("pages.catalog", "Catalog", Permission.CART),
        ("pages.locations", "Locations", Permission.CATALOG),
        ("pages.suppliers", "Suppliers", Permission.CATALOG),
    ]),
    ("Kits", [("pages.kits", "Kits", Permission.KIT_CHECK), ("pages.kit_templates", "Kit templates", Permission.CATALOG)]),
    ("Safety", [
        ("pages.recalls", "Recalls", Permission.RECALL),
        ("pages.trace", "Trace", Permission.RECALL),
        ("pages.watchlist", "Watch list", Permission.RECALL),
        ("pages.adverse_events", "Adverse events", Permission.CART),
        ("pages.lot_signals", "Lot signals", Permission.RECALL),
        ("pages.cold_chain_home", "Cold chain", Permission.COLD_CHAIN),
    ]),
    ("Admin", [("pages.users", "Users", Permission.USERS), ("pages.clinics", "Clinics", Permission.USERS)]),
]


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    is_page: bool  # the page in view is this very link


@dataclass(frozen=True)
class NavGroup:
    label: str
    links: list[NavLink]
    is_current: bool  # the page in view belongs to this group (sub-pages too: /kits/3 is under Kits)


def _owner(path: str, urls: list[str]) -> str | None:
    """The navigation URL a path belongs to: the longest that is the path or a parent of it."""
    return max((url for url in urls if path == url or path.startswith(url + "/")), key=len, default=None)


def nav_groups(user: User) -> list[NavGroup]:
    views = current_app.view_functions
    visible = [
        (label, [(text, endpoint, url_for(endpoint)) for endpoint, text, permission in links
                 if endpoint in views and can(user, permission)])
        for label, links in NAV
    ]
    owner = _owner(request.path, [url for _, links in visible for _, _, url in links])
    return [
        NavGroup(label, [NavLink(text, url, request.endpoint == endpoint) for text, endpoint, url in links],
                 any(url == owner for _, _, url in links))
        for label, links in visible if links
    ]


def landing_endpoint(user: User) -> str:
    """Where a role starts its day: the nurse at the cart, the safety lead on recalls, the rest on stock."""
    if user.role is Role.NURSE:
        return "pages.cart_home"
    if user.role is Role.SAFETY_LEAD:
        return "pages.recalls" if "pages.recalls" in current_app.view_functions else "pages.kits"
    return "pages.stock"


@bp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    def may(permission: str) -> bool:
        return current_user.is_authenticated and can(current_user, Permission(permission))

    def navigation() -> list[NavGroup]:
        return nav_groups(current_user) if current_user.is_authenticated else []

    return {"may": may, "nav_groups": navigation, "role_label": lambda role: ROLE_LABELS[role]}


@bp.app_template_filter("clinic_date")
def _clinic_date(value: dt.date | None, timezone: str | None = None) -> str:
    """A date as "3 Dec 2026"; a datetime is first moved to the clinic's zone (then ``timezone`` is required)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        if timezone is None:
            raise ValueError("clinic_date needs the clinic's time zone for a datetime")
        value = to_clinic_time(value, timezone).date()
    return format_date(value)


@bp.app_template_filter("clinic_time")
def _clinic_time(moment: dt.datetime | None, timezone: str, fmt: str | None = None, zone: bool = False) -> str:
    """A moment in the clinic's zone: "3 Dec 2026 14:05" unless ``fmt`` asks otherwise (a bare "%H:%M"). ``zone``
    names the zone after it ("14:05 GMT"): a page listing several clinics' moments side by side says whose clock
    each is on, or 10:16 in London and 05:16 in New York read as two moments."""
    if moment is None:
        return ""
    if not fmt:
        return format_clinic_time(moment, timezone, zone=zone)
    local = to_clinic_time(moment, timezone)
    return f"{local.strftime(fmt)} {local.tzname()}" if zone else local.strftime(fmt)


@bp.app_template_filter("field_errors")
def _field_errors(form: Any, *skip: str) -> list[str]:
    """What is wrong with a submitted form, one message per field (its first: a field that could not be read
    is not also out of range), named by the field's label unless the message names it already."""
    messages = []
    for name, errors in form.errors.items():
        if name in skip or not errors:
            continue
        label = form[name].label.text
        message = str(errors[0])
        messages.append(message if message.startswith(label.split(" (")[0]) else f"{label}: {message}")
    return messages


@bp.app_template_filter("counted")
def _counted(count: int, noun: str) -> str:
    """{{ n|counted('container') }}: "1 container", "3 containers" (inventory/words.py)."""
    return counted(count, noun)


@bp.app_template_filter("concentration")
def _concentration(units_per_ml: Decimal, unit: str, source: str | None = None) -> str:
    """{{ c|concentration('U') }}: "8.33 U per 0.1 mL (83.33 U/mL)", to 2 decimals at most (inventory/words.py)."""
    return concentration(units_per_ml, unit, source)


@bp.app_template_filter("per_ml")
def _per_ml(units_per_ml: Decimal, unit: str) -> str:
    """{{ c|per_ml('U') }}: "83.33 U/mL" (inventory/words.py)."""
    return per_ml(units_per_ml, unit)


@bp.app_template_filter("qty")
def _quantity(value: Any) -> str:
    """4.0000 -> 4, 0.5500 -> 0.55: quantities read as a nurse writes them."""
    if value is None:
        return ""
    return plain_quantity(value)
