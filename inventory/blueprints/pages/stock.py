"""Home, stock on hand, receiving, receipts and containers."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from flask import Response, abort, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import Row, func, select

from inventory import lifecycle
from inventory.blueprints.pages.core import bp, landing_endpoint, page, scope
from inventory.extensions import db
from inventory.models import (
    Container,
    ContainerState,
    Location,
    Lot,
    Movement,
    Product,
    utcnow,
)
from inventory.services import container_history, labels, scanning
from inventory.services.clock import clinic_today
from inventory.services.permissions import Permission


@bp.get("/")
@page(None)
def home():
    return redirect(url_for(landing_endpoint(current_user)))


@bp.get("/stock")
@page(Permission.CART)
def stock():
    live = lifecycle.LIVE_STATES
    stmt = (
        select(
            Product, Lot, Location,
            func.count(Container.id).filter(Container.state == ContainerState.SEALED),
            func.count(Container.id).filter(Container.state == ContainerState.IN_USE),
            func.sum(Container.remaining),
            # Held after a temperature excursion: still stock, but no one may use it until the safety lead decides.
            func.count(Container.id).filter(Container.on_hold_since.is_not(None)),
        )
        .join(Container.product).join(Container.lot).join(Container.location)
        .where(Container.state.in_(live))
        .group_by(Product.id, Lot.id, Location.id)
        .order_by(Product.kind, Product.name, Lot.expiry, Location.name)
    )
    rows = db.session.execute(scope().filter(stmt, Container.clinic_id)).all()
    # The label codes behind every row, in one statement (never one per row): for a reprint or a look.
    labels_stmt = (
        select(Container.lot_id, Container.location_id, Container.label_code, Container.state, Container.remaining,
               Container.on_hold_since.is_not(None).label("on_hold"))
        .where(Container.state.in_(live))
        .order_by(Container.label_code)
    )
    containers: dict[tuple[int, int], list[Row[tuple[int, int, str, ContainerState, Decimal, bool]]]] = defaultdict(list)
    for row in db.session.execute(scope().filter(labels_stmt, Container.clinic_id)):
        containers[row.lot_id, row.location_id].append(row)
    now = utcnow()
    # An active lot past its expiry day (in the clinic's own zone) is shown as expired: it may not be used.
    expired = {(lot.id, location.id) for _, lot, location, *_ in rows
               if lot.expiry < clinic_today(now, location.clinic.timezone)}
    return render_template("pages/stock.html", rows=rows, containers=containers, expired=expired)


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
    return render_template("pages/container.html", container=found, history=history, now=now, expired=expired)


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
