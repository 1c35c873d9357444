"""The receiving page: scan a box (or type GTIN, lot and expiry), choose where it goes, print the labels."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, DateField, HiddenField, SelectChoice, SelectField
from wtforms.validators import DataRequired, NumberRange, Optional
from inventory.blueprints.pages.fields import ScanField, TextField, WholeNumberField, location_choices

from inventory import unit_of_work
from inventory.blueprints.pages.core import bp, page, refused, scope
from inventory.cold_chain import service as cold_chain
from inventory.counterfeit import service as counterfeit
from inventory.errors import DomainError, NotFound, SupplierNotAuthorised, ValidationError
from inventory.transfers.service import LocationIsKit
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
    # The box scanned before a refusal that was not about the box (the supplier, the place): kept, so the
    # manager fixes the rest and presses Receive again without scanning the box a second time.
    scanned = HiddenField(validators=[Optional()])
    gtin = TextField("GTIN", validators=[Optional()])
    lot = TextField("Lot", validators=[Optional()])
    expiry = DateField("Expiry", validators=[Optional()])
    containers = WholeNumberField("How many", default=1, validators=[DataRequired(), NumberRange(1, 500)])
    location_id = SelectField("Into", coerce=int)
    # Required here (every receipt names its supplier); API clients from before suppliers may omit it.
    # Any id is let through to receiving.receive, which says in words why a stopped supplier is refused.
    supplier_id = SelectField("Supplier", coerce=int, validate_choice=False,
                              validators=[DataRequired("Choose who delivered this box.")])
    # Offered once a box kept at 2-8 °C was refused for a place that is not temperature-sensitive.
    keep_here = BooleanField("Keep it here all the same: it goes into a fridge Vialog does not watch yet, or its "
                             "label allows this place")


@bp.route("/receive", methods=["GET", "POST"])
@page(Permission.RECEIVE)
def receive():
    form = ReceiveForm()
    form.location_id.choices = location_choices(_receiving_locations())
    suppliers = counterfeit.authorised_suppliers(db.session)
    form.supplier_id.choices = [SelectChoice(0, "Choose the supplier")] + [
        SelectChoice(s.id, s.name) for s in suppliers
    ]
    code = (form.code.data or "").strip() or (form.scanned.data or "").strip() or None
    if form.validate_on_submit():
        now = utcnow()
        try:
            receipt = receiving.receive(
                db.session, actor=current_user, scope=scope(), location_id=form.location_id.data,
                containers=form.containers.data, now=now, code=code,
                gtin=form.gtin.data or None, lot_number=form.lot.data or None, expiry=form.expiry.data,
                supplier_id=form.supplier_id.data,
                confirm=[cold_chain.LocationNotRefrigerated.code] if form.keep_here.data else [],
            )
        except DomainError as error:
            refused(error)
            if isinstance(error, counterfeit.COUNTERFEIT_SIGNS):
                unit_of_work.record_despite_refusal(counterfeit.sign_of(
                    error, actor_id=current_user.id, clinic_id=None, now=now, where="receiving"))
            return render_template("pages/receive.html", form=form, suppliers=suppliers,
                                   scanned=code if _not_about_the_box(error) else None,
                                   ask_keep_here=isinstance(error, cold_chain.LocationNotRefrigerated)), error.status
        flash(f"Received {receipt.container_count} × {receipt.lot.product.name}, lot {receipt.lot.number}.", "ok")
        return redirect(url_for("pages.receipt", receipt_id=receipt.id))
    return (render_template("pages/receive.html", form=form, suppliers=suppliers, scanned=code),
            422 if form.errors else 200)


def _not_about_the_box(error: DomainError) -> bool:
    """A refusal for who delivered it, where it goes or how many (receiving.receive checks these before it
    reads the code; its only NotFound is an unknown supplier or place): the scanned box itself was fine."""
    if isinstance(error, ValidationError):
        return error.details.get("field") in _NOT_THE_BOX
    return isinstance(error, (NotFound, SupplierNotAuthorised, LocationIsKit, cold_chain.LocationNotRefrigerated))


_NOT_THE_BOX = {"supplier_id", "location_id", "containers"}


@bp.get("/receipts/<int:receipt_id>")
@page(Permission.RECEIVE)
def receipt(receipt_id: int):
    found = receiving.get_receipt(db.session, receipt_id, scope())
    supplier = counterfeit.supplier_names(db.session, {found.supplier_id}).get(found.supplier_id or 0)
    return render_template("pages/receipt.html", receipt=found, supplier=supplier)
