"""The receiving page: scan a box (or type GTIN, lot and expiry), choose where it goes, print the labels."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField
from wtforms.validators import DataRequired, NumberRange, Optional
from inventory.blueprints.pages.fields import ScanField, TextField, WholeNumberField

from inventory.blueprints.pages.core import bp, page, refused, scope
from inventory.errors import DomainError
from inventory.extensions import db
from inventory.models import Location, LocationKind, utcnow
from inventory.receiving import service as receiving
from inventory.services.permissions import Permission

# Boxes arrive into stores and fridges first; kits are restocked by moving stock, never by receiving.
_RECEIVING_ORDER = {LocationKind.FRIDGE: 0, LocationKind.STORAGE: 1, LocationKind.CART: 2, LocationKind.ROOM: 3}


def _receiving_locations() -> list[Location]:
    stmt = scope().filter(
        select(Location).where(Location.is_active, Location.kind != LocationKind.KIT), Location.clinic_id
    )
    locations = db.session.scalars(stmt).all()
    return sorted(locations, key=lambda loc: (loc.clinic.code, _RECEIVING_ORDER.get(loc.kind, 9), loc.name))


class ReceiveForm(FlaskForm):
    code = ScanField("Scan the box", validators=[Optional()])
    gtin = TextField("GTIN", validators=[Optional()])
    lot = TextField("Lot", validators=[Optional()])
    expiry = DateField("Expiry", validators=[Optional()])
    containers = WholeNumberField("How many", default=1, validators=[DataRequired(), NumberRange(1, 500)])
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
