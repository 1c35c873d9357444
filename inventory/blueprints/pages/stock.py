"""Home, stock on hand, receiving, receipts and containers."""

from __future__ import annotations

import dataclasses

from flask import Response, abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from inventory.blueprints.pages.core import bp, landing_endpoint, page, scope
from inventory.errors import ValidationError
from inventory.extensions import db
from inventory.models import Container, GPrimeCategory, Movement, ProductKind, utcnow
from inventory.services import container_history, labels, scanning, stock_on_hand
from inventory.services.clock import clinic_today
from inventory.services.permissions import Permission
from inventory.services.stock_on_hand import StockFilters


@bp.get("/")
@page(None)
def home():
    return redirect(url_for(landing_endpoint(current_user)))


@bp.get("/stock")
@page(Permission.CART)
def stock():
    """Stock on hand, narrowed by the filter form and read a page at a time (inventory/services/stock_on_hand.py)."""
    try:
        filters, limit, cursor = _stock_form(request.args)
    except ValidationError as error:
        return _stock_page(StockFilters(), stock_on_hand.DEFAULT_LIMIT, error=error.message), 422
    choices = stock_on_hand.filter_choices(db.session, scope(), clinic_id=filters.clinic_id,
                                           location_id=filters.location_id)
    notes = []
    if filters.clinic_id and filters.location_id and filters.location_id not in {loc.id for loc in choices.locations}:
        # The clinic was changed with the last clinic's location still chosen (no script empties the select):
        # the clinic is what was just picked.
        filters = dataclasses.replace(filters, location_id=None)
        notes.append("The location chosen is not at this clinic: showing all its locations.")
    if filters.gprime_category and filters.kind and not stock_on_hand.gprime_applies(filters.kind):
        # The kind was changed from Fillers with a firmness still chosen (no script hides the select): the kind
        # is what was just picked.
        filters = dataclasses.replace(filters, gprime_category=None)
        notes.append(f"Only fillers have a firmness (G′): showing all {filters.kind.value} stock.")
    note = " ".join(notes) or None
    try:
        found = stock_on_hand.stock_on_hand(db.session, scope(), now=utcnow(), filters=filters, limit=limit,
                                            cursor=cursor, count=True)
    except ValidationError as error:
        if error.details.get("field") == "limit":
            limit = stock_on_hand.DEFAULT_LIMIT  # not kept in the form: its next search would fail again
        return _stock_page(filters, limit, choices=choices, error=error.message), 422
    return _stock_page(filters, limit, choices=choices, found=found, note=note, paged=cursor is not None)


def _stock_page(filters: StockFilters, limit: int, *, choices: stock_on_hand.FilterChoices | None = None,
                found: stock_on_hand.StockPage | None = None, note: str | None = None, error: str | None = None,
                paged: bool = False) -> str:
    if choices is None:
        choices = stock_on_hand.filter_choices(db.session, scope())
    # What the Previous and Next links keep: the filters as the form sent them.
    kept: dict[str, object] = {
        "clinic_id": filters.clinic_id, "location_id": filters.location_id,
        "kind": filters.kind.value if filters.kind else None,
        "gprime_category": filters.gprime_category.value if filters.gprime_category else None,
        "q": filters.q or None,
        "held_only": "1" if filters.held_only else None, "set_aside_only": "1" if filters.set_aside_only else None,
        "limit": limit if limit != stock_on_hand.DEFAULT_LIMIT else None,
    }
    return render_template("pages/stock.html", filters=filters, choices=choices, found=found, note=note,
                           error=error, paged=paged, limit=limit, kept={k: v for k, v in kept.items() if v},
                           default_limit=stock_on_hand.DEFAULT_LIMIT,
                           offer_gprime=stock_on_hand.gprime_applies(filters.kind) or bool(filters.gprime_category))


def _stock_form(args: MultiDict[str, str]) -> tuple[StockFilters, int, str | None]:
    """The filter form's fields (an empty one is "all"); raises ValidationError for a value no choice of the
    form sends."""
    kind = args.get("kind", "").strip()
    if kind and kind not in {k.value for k in ProductKind}:
        raise ValidationError("Choose a kind from the list.", field="kind")
    gprime = args.get("gprime_category", "").strip()
    if gprime and gprime not in {g.value for g in GPrimeCategory}:
        raise ValidationError("Choose a firmness (G′) from the list.", field="gprime_category")
    limit = _whole_number(args, "limit", "Rows a page")
    filters = StockFilters(
        clinic_id=_whole_number(args, "clinic_id", "Clinic"),
        location_id=_whole_number(args, "location_id", "Location"),
        kind=ProductKind(kind) if kind else None, gprime_category=GPrimeCategory(gprime) if gprime else None,
        q=stock_on_hand.search_text(args.get("q", "")),
        held_only=_ticked(args, "held_only"), set_aside_only=_ticked(args, "set_aside_only"),
    )
    return (filters, stock_on_hand.DEFAULT_LIMIT if limit is None else limit,
            args.get("cursor", "").strip() or None)


def _ticked(args: MultiDict[str, str], name: str) -> bool:
    return args.get(name, "") not in ("", "0")


def _whole_number(args: MultiDict[str, str], name: str, label: str) -> int | None:
    text = args.get(name, "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise ValidationError(f"{label}: choose one from the list.", field=name)
    return int(text)


@bp.get("/containers/<container_ref>")
@page(Permission.CART)
def container(container_ref: str):
    found = scanning.container_by_ref(db.session, container_ref, scope())
    movements = db.session.scalars(
        select(Movement).where(Movement.container_id == found.id).order_by(Movement.id)
    ).all()
    now = utcnow()
    expired = found.lot.expiry < clinic_today(now, found.location.clinic.timezone)
    history = container_history.for_viewer(db.session, movements, scope())
    return render_template("pages/container.html", container=found, history=history, now=now, expired=expired,
                           holds=container_history.holds_of(db.session, found))


@bp.app_template_global("lost_in_transit")
def _lost_in_transit(container: Container) -> container_history.LostInTransit | None:
    """Where a container shown as discarded really went, if it never arrived (the container page, the cart's scan):
    its row still names the shelf it left from, where it was written off. Live stock costs no statement."""
    return container_history.lost_in_transit(db.session, [container]).get(container.id)


@bp.get("/containers/<container_ref>/label.svg")
@page(Permission.CART)
def container_label_svg(container_ref: str):
    found = scanning.container_by_ref(db.session, container_ref, scope())
    return Response(labels.render_svg(labels.label_text(found)), mimetype="image/svg+xml")


@bp.get("/containers/<container_ref>/label.png")
@page(Permission.CART)
def container_label_png(container_ref: str):
    try:
        dpi = labels.parse_dpi(request.args.get("dpi", labels.DEFAULT_DPI))
    except ValueError as error:
        abort(400, str(error))
    found = scanning.container_by_ref(db.session, container_ref, scope())
    return Response(labels.render_png(labels.label_text(found), dpi=dpi), mimetype="image/png")
