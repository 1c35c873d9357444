"""Home, stock on hand, receiving, receipts and containers."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import Row, func, select
from wtforms import DateField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, NumberRange, Optional

from inventory import lifecycle
from inventory.blueprints.pages.core import bp, landing_endpoint, page, refused, scope
from inventory.errors import DomainError
from inventory.extensions import db
from inventory.models import Container, ContainerState, Location, LocationKind, Lot, Movement, Product, utcnow
from inventory.services import labels, receiving, scanning
from inventory.services.permissions import Permission


# Boxes arrive into stores and fridges first; kits are restocked by moving stock, never by receiving.
_RECEIVING_ORDER = {LocationKind.FRIDGE: 0, LocationKind.STORAGE: 1, LocationKind.CART: 2, LocationKind.ROOM: 3}


def _receiving_locations() -> list[Location]:
    stmt = scope().filter(
        select(Location).where(Location.is_active, Location.kind != LocationKind.KIT), Location.clinic_id
    )
    locations = db.session.scalars(stmt).all()
    return sorted(locations, key=lambda loc: (loc.clinic.code, _RECEIVING_ORDER.get(loc.kind, 9), loc.name))


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
        )
        .join(Container.product).join(Container.lot).join(Container.location)
        .where(Container.state.in_(live))
        .group_by(Product.id, Lot.id, Location.id)
        .order_by(Product.kind, Product.name, Lot.expiry, Location.name)
    )
    rows = db.session.execute(scope().filter(stmt, Container.clinic_id)).all()
    # The label codes behind every row, in one statement (never one per row): for a reprint or a look.
    labels_stmt = (
        select(Container.lot_id, Container.location_id, Container.label_code, Container.state, Container.remaining)
        .where(Container.state.in_(live))
        .order_by(Container.label_code)
    )
    containers: dict[tuple[int, int], list[Row[tuple[int, int, str, ContainerState, Decimal]]]] = defaultdict(list)
    for row in db.session.execute(scope().filter(labels_stmt, Container.clinic_id)):
        containers[row.lot_id, row.location_id].append(row)
    return render_template("pages/stock.html", rows=rows, containers=containers, today=utcnow().date())


class ReceiveForm(FlaskForm):
    code = StringField("Scan the box", validators=[Optional()])
    gtin = StringField("GTIN", validators=[Optional()])
    lot = StringField("Lot", validators=[Optional()])
    expiry = DateField("Expiry", validators=[Optional()])
    containers = IntegerField("How many", default=1, validators=[DataRequired(), NumberRange(1, 500)])
    location_id = SelectField("Into", coerce=int)


@bp.route("/receive", methods=["GET", "POST"])
@page(Permission.RECEIVE)
def receive():
    form = ReceiveForm()
    form.location_id.choices = [(loc.id, f"{loc.clinic.code} · {loc.name}") for loc in _receiving_locations()]
    if form.validate_on_submit():
        try:
            receipt = receiving.receive(
                db.session, actor=current_user, scope=scope(), location_id=form.location_id.data,
                containers=form.containers.data, now=utcnow(), code=(form.code.data or "").strip() or None,
                gtin=form.gtin.data or None, lot_number=form.lot.data or None, expiry=form.expiry.data,
            )
        except DomainError as error:
            refused(error)
            return render_template("pages/receive.html", form=form), error.status
        flash(f"Received {receipt.container_count} × {receipt.lot.product.name}, lot {receipt.lot.number}.", "ok")
        return redirect(url_for("pages.receipt", receipt_id=receipt.id))
    return render_template("pages/receive.html", form=form), 422 if form.errors else 200


@bp.get("/receipts/<int:receipt_id>")
@page(Permission.RECEIVE)
def receipt(receipt_id: int):
    return render_template("pages/receipt.html", receipt=receiving.get_receipt(db.session, receipt_id, scope()))


@bp.get("/containers/<container_ref>")
@page(Permission.CART)
def container(container_ref: str):
    found = scanning.container_by_ref(db.session, container_ref, scope())
    movements = db.session.scalars(
        select(Movement).where(Movement.container_id == found.id).order_by(Movement.id)
    ).all()
    return render_template("pages/container.html", container=found, movements=movements, now=utcnow())


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
