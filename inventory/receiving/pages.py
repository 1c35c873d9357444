"""The receiving page: scan a box (or type GTIN, lot and expiry), choose where it goes, print the labels."""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, DateField, HiddenField, RadioField, SelectChoice, SelectField
from wtforms.validators import InputRequired, NumberRange, Optional
from inventory.blueprints.pages.fields import ScanField, TextField, WholeNumberField, location_choices

from inventory import unit_of_work
from inventory.blueprints.pages import once
from inventory.blueprints.pages.core import bp, flash_refusal, page, scope
from inventory.cold_chain import service as cold_chain
from inventory.counterfeit import service as counterfeit
from inventory.counterfeit.models import Supplier
from inventory.errors import DomainError, NotFound, SeparatorLost, SupplierNotAuthorised, ValidationError
from inventory.transfers.service import LocationIsKit
from inventory.extensions import db
from inventory.models import Container, Location, LocationKind, Receipt, User, utcnow
from inventory.receiving import returns, service as receiving
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
    # The box scanned before a refusal that was not about the box (the supplier, the place), or that asks for what
    # its code did not settle (the lot, the expiry, which reading of its lot): kept, so the manager adds only the
    # rest and presses Receive again without scanning the box a second time.
    scanned = HiddenField(validators=[Optional()])
    gtin = TextField("GTIN", validators=[Optional()])
    lot = TextField("Lot", validators=[Optional()])
    expiry = DateField("Expiry", validators=[Optional()])
    # InputRequired, not DataRequired: that one took 0 and 1.5 (data 0, None) for nothing typed, and put its own
    # words over the field's ("type a whole number") and the range's.
    containers = WholeNumberField("How many", default=1, validators=[
        InputRequired("type how many vials or syringes arrived."),
        NumberRange(1, receiving.MAX_CONTAINERS_PER_RECEIPT,
                    message=f"receive at least 1 and at most {receiving.MAX_CONTAINERS_PER_RECEIPT} at a time."),
    ])
    location_id = SelectField("Into", coerce=int)
    # Required here (every receipt names its supplier; API clients from before suppliers may omit it), by
    # receiving.receive (supplier_required): a box refused for itself (a watched lot, an expiry that contradicts its
    # lot) says so before "choose the supplier". Any id is let through, and a stopped supplier refused in words.
    supplier_id = SelectField("Supplier", coerce=int, validate_choice=False, validators=[Optional()])
    # Offered once the kept box's lot may have swallowed what followed it (a lost separator): "as_read" confirms
    # the lot as scanned, "separated" takes the shorter lot and what ran into it (its serial) as the code's own.
    lot_reading = RadioField("Which lot the box prints", validate_choice=False, validators=[Optional()],
                             choices=[SelectChoice("as_read", "as read"), SelectChoice("separated", "separated")])
    # Offered once a box kept at 2-8 °C was refused for a place that is not temperature-sensitive.
    keep_here = BooleanField("Keep it here all the same: it goes into a fridge Vialog does not watch yet, or its "
                             "label allows this place")
    form_key = once.FormKeyField()


@bp.route("/receive", methods=["GET", "POST"])
@page(Permission.RECEIVE)
def receive():
    form = ReceiveForm()
    form.location_id.choices = location_choices(_receiving_locations())
    suppliers = counterfeit.authorised_suppliers(db.session)
    form.supplier_id.choices = [SelectChoice(0, "Choose the supplier")] + [
        SelectChoice(s.id, s.name) for s in suppliers
    ]
    fresh_scan = (form.code.data or "").strip()
    code = fresh_scan or (form.scanned.data or "").strip() or None
    if fresh_scan:
        form.lot_reading.data = None  # a reading chosen for the box kept before, not for this one
    if form.validate_on_submit():
        now = utcnow()
        confirm = [cold_chain.LocationNotRefrigerated.code] if form.keep_here.data else []
        lot_number = form.lot.data or None
        if form.lot_reading.data == "as_read":
            confirm.append(SeparatorLost.code)
        elif form.lot_reading.data == "separated" and lot_number is None and code:
            # receiving.receive reads the code with the separator restored when given the shorter lot.
            box = receiving.read_box(db.session, code)
            lot_number = box.separated.lot if box and box.separated else None
        claim = once.claim_form_key(url_for("pages.receive"))
        gtin, expiry, supplier_id = form.gtin.data or None, form.expiry.data, form.supplier_id.data or None
        try:
            receipt = receiving.receive(
                db.session, actor=current_user, scope=scope(), location_id=form.location_id.data,
                containers=form.containers.data, now=now, code=code, gtin=gtin, lot_number=lot_number,
                expiry=expiry, supplier_id=supplier_id, supplier_required=True, confirm=confirm,
            )
        except DomainError as error:
            unit_of_work.mark_refused()
            # A counterfeit sign is kept for the safety lead although nothing else is; a form sent twice, one sign.
            sign = receiving.refusal_sign(
                db.session, error, actor_id=current_user.id, now=now, location_id=form.location_id.data, code=code,
                gtin=gtin, lot_number=lot_number, expiry=expiry, supplier_id=supplier_id,
                request_key=request.form.get(once.FIELD) or None)
            if sign is not None:
                unit_of_work.record_despite_refusal(sign)
                error = receiving.told_the_safety_lead(error)
            flash_refusal(error)
            return _receive_page(form, suppliers, code if _keeps_the_scan(error) else None,
                                 ask_keep_here=isinstance(error, cold_chain.LocationNotRefrigerated)), error.status
        flash(f"Received {receipt.container_count} × {receipt.lot.product.name}, lot {receipt.lot.number}.", "ok")
        return once.answered(claim, redirect(url_for("pages.receipt", receipt_id=receipt.id)))
    return _receive_page(form, suppliers, code), 422 if form.errors else 200


def _receive_page(form: ReceiveForm, suppliers: list[Supplier], scanned: str | None, *,
                  ask_keep_here: bool = False) -> str:
    """The form again; a kept scan fills in what its code established (shown, not sent: the code is)."""
    box = receiving.read_box(db.session, scanned) if scanned else None
    return render_template("pages/receive.html", form=form, suppliers=suppliers, scanned=scanned, box=box,
                           ask_keep_here=ask_keep_here)


def _keeps_the_scan(error: DomainError) -> bool:
    """A refusal that was not about the box, or that asks for what its code did not settle: the lot or expiry
    it lacks (or typed wrong beside it), which reading of a lot that swallowed what followed it."""
    if isinstance(error, SeparatorLost):
        return True
    if isinstance(error, ValidationError) and error.details.get("field") in {"lot", "expiry"}:
        return True
    return _not_about_the_box(error)


def _not_about_the_box(error: DomainError) -> bool:
    """A refusal for who delivered it, where it goes or how many (receiving.receive checks the supplier once the
    box passed its own checks; its only NotFound is an unknown supplier or place): the scanned box itself was
    fine."""
    if isinstance(error, ValidationError):
        return error.details.get("field") in _NOT_THE_BOX
    return isinstance(error, (NotFound, SupplierNotAuthorised, LocationIsKit, cold_chain.LocationNotRefrigerated))


_NOT_THE_BOX = {"supplier_id", "location_id", "containers"}


@bp.get("/receipts/<int:receipt_id>")
@page(Permission.RECEIVE)
def receipt(receipt_id: int):
    return _receipt_page(receiving.get_receipt(db.session, receipt_id, scope()))


@bp.post("/receipts/<int:receipt_id>/return")
@page(Permission.RECEIVE)
def receipt_return(receipt_id: int):
    """Return to the supplier: the containers ticked ("chosen"), or every one that may go back ("all")."""
    found = receiving.get_receipt(db.session, receipt_id, scope())
    typed = ReturnTyped.of(request.form)
    claim = once.claim_form_key(url_for("pages.receipt", receipt_id=receipt_id))
    try:
        done = returns.return_to_supplier(
            db.session, actor=current_user, scope=scope(), receipt_id=found.id, reason=typed.reason,
            note=typed.note, now=utcnow(), container_ids=None if typed.every else typed.container_ids(),
        )
    except DomainError as error:
        unit_of_work.mark_refused()
        return _receipt_page(found, typed=typed, refusal=error), error.status
    flash(done.words, "ok")
    return once.answered(claim, redirect(url_for("pages.receipt", receipt_id=found.id, _anchor="returns")))


@dataclass(frozen=True)
class ReturnTyped:
    """The return form as sent: shown again as it was after a refusal (what was ticked, the reason, the note)."""

    ticked: tuple[str, ...]
    reason: str
    note: str
    every: bool

    @classmethod
    def of(cls, form: MultiDict[str, str]) -> ReturnTyped:
        return cls(ticked=tuple(form.getlist("container_ids")), reason=form.get("reason", ""),
                   note=form.get("note", ""), every=form.get("which") == "all")

    def container_ids(self) -> list[int]:
        """The ids ticked; raises ValidationError for anything the form's boxes do not send."""
        if not all(value.isascii() and value.isdigit() and len(value) <= 9 for value in self.ticked):
            raise ValidationError("Tick the containers from the list.", field="container_ids")
        return [int(value) for value in self.ticked]


def _receipt_page(found: Receipt, *, typed: ReturnTyped | None = None, refusal: DomainError | None = None) -> str:
    supplier = counterfeit.supplier_names(db.session, {found.supplier_id}).get(found.supplier_id or 0)
    return render_template("pages/receipt.html", receipt=found, supplier=supplier,
                           standings=returns.standings(db.session, found), reasons=returns.REASONS,
                           typed=typed, refusal=refusal)


@bp.app_template_global("returned_to_supplier")
def _returned_to_supplier(container: Container) -> str | None:
    """How a container went back to the supplier, in words, for its page ("Returned to Allergan Aesthetics
    (direct): wrong product, 15 Jun 2026 10:30 by manager"); None for any other. A statement for an empty one."""
    movement = returns.returned_to_supplier(db.session, container)
    if movement is None:
        return None
    who = db.session.get(User, movement.actor_id)
    return returns.returned_said(movement, container.clinic.timezone, who.label if who is not None else None)
