"""Emergency kits: the readiness board, a kit with its contents and checks, templates, and the expiry watch.

Restocking a kit needs only the kit-check permission: the nurse who checks a kit is
usually the one who restocks it (see the API module's note).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import Field, FieldList, Form, FormField, RadioField, SelectChoice, SelectField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, StopValidation

from inventory import unit_of_work
from inventory.blueprints.pages import once
from inventory.blueprints.pages.core import bp, page, refused, scope
from inventory.blueprints.pages.fields import NotesField, QuantityField, ScanField, TextField, WholeNumberField
from inventory.errors import DomainError, ValidationError
from inventory.extensions import db
from inventory.models import Location, LocationKind, Product, ProductKind, utcnow
from inventory.kits.models import Kit, KitStatus
from inventory.kits import service as kit_service
from inventory.models.base import plain_quantity
from inventory.services.permissions import Permission, Scope
from inventory.validators import parse_quantity

STATUS_ORDER = {KitStatus.NOT_READY: 0, KitStatus.EXPIRING_SOON: 1, KitStatus.READY: 2}
STATUS_WORDS = {KitStatus.READY: "Ready", KitStatus.EXPIRING_SOON: "Expiring soon", KitStatus.NOT_READY: "Not ready"}


class KitCheckForm(FlaskForm):
    seal_intact = RadioField("Seal", choices=[SelectChoice("yes", "Seal intact"),
                                              SelectChoice("no", "Seal broken or missing")],
                             validators=[InputRequired("Say whether the seal was intact.")])
    notes = NotesField("Notes (what you found, what you replaced)", validators=[Optional(), Length(max=2000)])
    form_key = once.FormKeyField()


class KitAddForm(FlaskForm):
    code = ScanField("Scan the label of a vial or item to put in the kit",
                       validators=[DataRequired("Scan a Vialog label."), Length(max=100)])
    form_key = once.FormKeyField()


class KitRemoveForm(FlaskForm):
    code = ScanField("Scan the label of what you take out", validators=[DataRequired("Scan a Vialog label."),
                                                                          Length(max=100)])
    # No place chosen for her: a scan fired into the code field sends the form at once, and kit stock must not
    # leave for whichever place happened to be first in the list.
    to_location_id = SelectField("Put it in", coerce=int, validators=[NumberRange(min=1, message=(
        "Choose where it goes first: the kit's stock leaves only for a place you name. The scanned code is kept."))])
    form_key = once.FormKeyField()


# --- the board -------------------------------------------------------------------------


@bp.get("/kits")
@page(Permission.KIT_CHECK)
def kits():
    clinic_id = request.args.get("clinic_id", type=int)
    wanted = request.args.get("status", "")
    status = KitStatus(wanted) if wanted in KitStatus._value2member_map_ else None
    try:
        shown = scope().narrowed_to(db.session, clinic_id)
    except DomainError as error:
        refused(error)
        return _kit_board(scope(), None, status, error.status)
    return _kit_board(shown, clinic_id, status)


# Cards on the board at once, the least ready first: a chain's board stays a page, and past it the rest are
# ready or nearly so (a clinic or a status narrows it).
KITS_AT_ONCE = 200


def _kit_board(shown: Scope, clinic_id: int | None, status: KitStatus | None, http_status: int = 200):
    board = sorted(kit_service.readiness(db.session, scope=shown, now=utcnow()),
                   key=lambda k: (STATUS_ORDER[k.status], k.clinic_code, k.name))
    counts = {s: sum(1 for k in board if k.status is s) for s in STATUS_ORDER}
    matching = [k for k in board if status is None or k.status is status]
    # A clinic with filler and no kit with hyaluronidase is not ready as a kit that is (the daily ``vialog kits``
    # says so too): shown first, unless only the kits of another status are asked for. One statement.
    without_kit = (kit_service.clinics_without_a_kit(db.session, scope=shown)
                   if status in (None, KitStatus.NOT_READY) else [])
    clinics = scope().clinics(db.session)
    return render_template("pages/kits.html", board=matching[:KITS_AT_ONCE], matching=len(matching), counts=counts,
                           words=STATUS_WORDS, clinics=clinics, clinic_id=clinic_id, status=status,
                           without_kit=without_kit, not_ready=KitStatus.NOT_READY), http_status


# --- one kit -------------------------------------------------------------------------------


def _render_kit(kit: Kit, *, check_form: KitCheckForm | None = None, add_form: KitAddForm | None = None,
                remove_form: KitRemoveForm | None = None, status: int = 200):
    (state,) = kit_service.readiness(db.session, scope=scope(), now=utcnow(), kit_ids=[kit.id])
    remove_form = remove_form or KitRemoveForm(formdata=None)
    remove_form.to_location_id.choices = _elsewhere(kit)
    return render_template(
        "pages/kit.html", kit=kit, state=state, words=STATUS_WORDS,
        lots=kit_service.contents_by_lot(kit_service.contents(db.session, kit)),
        checks=kit_service.recent_checks(db.session, kit),
        check_form=check_form or KitCheckForm(formdata=None), add_form=add_form or KitAddForm(formdata=None),
        remove_form=remove_form,
    ), status


def _elsewhere(kit: Kit) -> list[SelectChoice]:
    """The other active locations of the kit's clinic, other kits last: where something taken out can go."""
    places = db.session.scalars(
        select(Location).where(Location.clinic_id == kit.clinic_id, Location.is_active,
                               Location.id != kit.location_id)
    )
    ordered = sorted(places, key=lambda place: (place.kind is LocationKind.KIT, place.name))
    return [SelectChoice(0, "Choose where it goes"), *(SelectChoice(place.id, place.name) for place in ordered)]


@bp.get("/kits/<int:kit_id>")
@page(Permission.KIT_CHECK)
def kit(kit_id: int):
    return _render_kit(kit_service.get_kit(db.session, kit_id, scope()))


@bp.post("/kits/<int:kit_id>/checks")
@page(Permission.KIT_CHECK)
def kit_check(kit_id: int):
    found = kit_service.get_kit(db.session, kit_id, scope())
    form = KitCheckForm()
    if not form.validate():
        # Said at the top too: the check form sits below the fold, under the scan field that has the focus.
        for errors in form.errors.values():
            for error in errors:
                flash(f"Check not recorded: {error}", "error")
        return _render_kit(found, check_form=form, status=422)
    claim = once.claim_form_key(url_for("pages.kit", kit_id=found.id))
    check = kit_service.record_check(db.session, actor=current_user, scope=scope(), kit_id=found.id,
                                     seal_intact=form.seal_intact.data == "yes", notes=form.notes.data or "",
                                     now=utcnow())
    flash(f"Check recorded: {STATUS_WORDS[check.status].lower()}.", "ok" if check.status is KitStatus.READY else "info")
    return once.answered(claim, redirect(url_for("pages.kit", kit_id=found.id)))


@bp.post("/kits/<int:kit_id>/contents")
@page(Permission.KIT_CHECK)
def kit_add(kit_id: int):
    found = kit_service.get_kit(db.session, kit_id, scope())
    form = KitAddForm()
    if not form.validate():
        return _render_kit(found, add_form=form, status=422)
    claim = once.claim_form_key(url_for("pages.kit", kit_id=found.id))
    try:
        container = kit_service.add_to_kit(db.session, actor=current_user, scope=scope(), kit_id=found.id,
                                           container_ref=form.code.data.strip(), now=utcnow())
    except DomainError as error:
        refused(error)
        return _render_kit(found, add_form=form, status=error.status)
    flash(f"Added {container.product.name}, lot {container.lot.number} ({container.label_code}).", "ok")
    return once.answered(claim, redirect(url_for("pages.kit", kit_id=found.id)))


@bp.post("/kits/<int:kit_id>/remove")
@page(Permission.KIT_CHECK)
def kit_remove(kit_id: int):
    found = kit_service.get_kit(db.session, kit_id, scope())
    form = KitRemoveForm()
    form.to_location_id.choices = _elsewhere(found)
    if not form.validate():
        return _render_kit(found, remove_form=form, status=422)
    claim = once.claim_form_key(url_for("pages.kit", kit_id=found.id))
    try:
        container = kit_service.remove_from_kit(
            db.session, actor=current_user, scope=scope(), kit_id=found.id, container_ref=form.code.data.strip(),
            to_location_id=form.to_location_id.data, now=utcnow(),
        )
    except DomainError as error:
        refused(error)
        return _render_kit(found, remove_form=form, status=error.status)
    flash(f"Took {container.product.name} ({container.label_code}) out, into {container.location.name}.", "ok")
    return once.answered(claim, redirect(url_for("pages.kit", kit_id=found.id)))


# --- templates and new kits (managers) ------------------------------------------------------


# A number and then words: "1500 U", "10 syringes", "2 x"; the number alone is what the line wants.
_NUMBER_THEN_WORDS = re.compile(r"\s*([0-9]+(?:[.,][0-9]+)?)\s*[^\s0-9.,].*", re.DOTALL)


class MinimumField(QuantityField):
    """A template line's minimum. A manager types it at a desk, where nothing is scanned, so a refused entry is
    written back as typed, to be put right (the cart's quantity fields clear one: a code is never appended to);
    one typed with its unit ("1500 U") is told to give the number alone."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        try:
            super().process_formdata(valuelist)
        except ValueError:
            with_words = _NUMBER_THEN_WORDS.fullmatch(self._typed)
            number = _quantity_or_none(with_words[1]) if with_words else None
            if number is None:
                raise
            raise ValueError(f"type the minimum as a number, such as {plain_quantity(number)}") from None

    def _value(self) -> str:
        return self._typed if self.process_errors else super()._value()


def _quantity_or_none(text: str) -> Decimal | None:
    try:
        return parse_quantity(text)
    except ValidationError:
        return None


def _minimum_above_zero(form: Form, field: Field) -> None:
    # The service refuses it too (kit_service._requirement); said here beside the line, in the line's words.
    if field.data is not None and field.data <= 0:
        raise StopValidation("the minimum is above 0, such as 1500 or 10")


class RequirementForm(Form):
    """One line of a template; a line left blank is ignored."""

    label = TextField("Label", validators=[Optional(), Length(max=120, message="at most 120 characters")])
    target = SelectField("Product or kind", validate_choice=False)  # checked by the service
    min_quantity = MinimumField("Minimum (base units)", validators=[Optional(), _minimum_above_zero])
    min_days_to_expiry = WholeNumberField("Days to expiry at least", default=0, validators=[
        Optional(), NumberRange(0, 3650, "the days to expiry are 0 to 3650")])


class TemplateForm(FlaskForm):
    name = TextField("Template name", validators=[DataRequired(), Length(max=120)])
    description = NotesField("What it is for", validators=[Optional(), Length(max=2000)])
    check_interval_days = WholeNumberField("Check every (days)", default=7, validators=[InputRequired(),
                                                                                    NumberRange(1, 365)])
    warning_days = WholeNumberField("Warn this many days before stock stops counting", default=30,
                                validators=[InputRequired(), NumberRange(0, 365)])
    requirements = FieldList(FormField(RequirementForm), min_entries=8, max_entries=30)
    form_key = once.FormKeyField()


class NewKitForm(FlaskForm):
    template_id = SelectField("Template", coerce=int)
    name = TextField("Kit name", validators=[DataRequired(), Length(max=120)])
    place = SelectField("Where")
    form_key = once.FormKeyField()


def _targets() -> list[SelectChoice]:
    products = db.session.scalars(select(Product).where(Product.is_active).order_by(Product.kind, Product.name))
    return (
        [SelectChoice("", "-")]
        + [SelectChoice(f"kind:{k.value}", f"Any {k.value} product") for k in ProductKind]
        + [SelectChoice(f"product:{p.id}", f"{p.name} ({p.base_unit})") for p in products]
    )


def _places() -> list[SelectChoice]:
    free = [SelectChoice(f"location:{loc.id}", f"{loc.clinic.code} · {loc.name}")
            for loc in kit_service.free_kit_locations(db.session, scope())]
    clinics = scope().clinics(db.session)
    return free + [SelectChoice(f"clinic:{c.id}", f"{c.code} · a new kit location named after the kit")
                   for c in clinics]


def _template_forms(template_form: TemplateForm | None = None, kit_form: NewKitForm | None = None):
    template_form = template_form or TemplateForm(formdata=None)
    targets = _targets()
    for entry in template_form.requirements:
        entry.form.target.choices = targets
    kit_form = kit_form or NewKitForm(formdata=None)
    templates = kit_service.list_templates(db.session)
    kit_form.template_id.choices = [SelectChoice(t.id, t.name) for t in templates]
    kit_form.place.choices = _places()
    return template_form, kit_form, templates


def _render_templates(template_form: TemplateForm | None = None, kit_form: NewKitForm | None = None,
                      status: int = 200):
    template_form, kit_form, templates = _template_forms(template_form, kit_form)
    return render_template(
        "pages/kit_templates.html", template_form=template_form, kit_form=kit_form, templates=templates,
        kits_per_template=kit_service.kits_per_template(db.session, scope()), pooling=kit_service.POOLING,
        line_problems=_line_problems(template_form),
    ), status


def _line_problems(form: TemplateForm) -> dict[str, str]:
    """What is wrong with each requirement line, by the id of the field it is said beside, naming the line:
    "Requirement 1: type the minimum as a number, such as 1500"."""
    problems = {}
    for number, entry in enumerate(form.requirements, start=1):
        for field in entry.form:
            if field.errors:
                name = field.label.text.split(" (")[0]
                message = str(field.errors[0])
                if message.startswith(f"{name}: "):  # a shared field's words: "Minimum: at most 4 decimal places."
                    message = f"{name.lower()}: {message.removeprefix(f'{name}: ')}"
                problems[field.id] = f"Requirement {number}: {message}"
    return problems


class _LineRefused(ValueError):
    """A requirement line the page cannot read: said beside the field of that line (``field``)."""

    def __init__(self, line: RequirementForm, field: str, message: str) -> None:
        super().__init__(message)
        self.line, self.field = line, field


@bp.get("/kit-templates")
@page(Permission.CATALOG)
def kit_templates():
    return _render_templates()


def _requirement_specs(form: TemplateForm) -> list[kit_service.RequirementSpec]:
    specs = []
    for entry in form.requirements:
        line = entry.form
        label, target = (line.label.data or "").strip(), line.target.data or ""
        if not label and not target:
            continue
        missing = "label" if not label else "target" if not target else (
            "min_quantity" if line.min_quantity.data is None else None)
        if missing is not None:
            raise _LineRefused(line, missing, "give a label, a product or kind, and a minimum.")
        kind, _, value = target.partition(":")
        if kind == "product" and not (value.isascii() and value.isdigit() and len(value) <= 10 and 0 < int(value) < 2**31):
            raise _LineRefused(line, "target", "choose a product from the list.")
        specs.append(kit_service.RequirementSpec(
            label=label, min_quantity=Decimal(line.min_quantity.data),
            product_id=int(value) if kind == "product" else None,
            product_kind=ProductKind(value) if kind == "kind" else None,
            min_days_to_expiry=line.min_days_to_expiry.data or 0,
        ))
    return specs


@bp.post("/kit-templates")
@page(Permission.CATALOG)
def kit_template_create():
    form = TemplateForm()
    _template_forms(form)
    if not form.validate():
        return _render_templates(form, status=422)
    claim = once.claim_form_key(url_for("pages.kit_templates"))
    try:
        template = kit_service.create_template(
            db.session, name=form.name.data, description=form.description.data or "",
            check_interval_days=form.check_interval_days.data, warning_days=form.warning_days.data,
            requirements=_requirement_specs(form),
        )
    except _LineRefused as problem:
        unit_of_work.mark_refused()  # the claim goes with it: the corrected form is still good
        problem.line[problem.field].errors = [str(problem)]  # said beside it, the line named (_line_problems)
        return _render_templates(form, status=422)
    except DomainError as error:
        refused(error)
        return _render_templates(form, status=error.status)
    flash(f"Template {template.name} created with {len(template.requirements)} requirements.", "ok")
    return once.answered(claim, redirect(url_for("pages.kit_templates")))


@bp.post("/kits/new")
@page(Permission.CATALOG)
def kit_create():
    form = NewKitForm()
    _template_forms(kit_form=form)
    if not form.validate():
        return _render_templates(kit_form=form, status=422)
    kind, _, value = form.place.data.partition(":")
    claim = once.claim_form_key(url_for("pages.kit_templates"))
    try:
        created = kit_service.create_kit(
            db.session, scope=scope(), template_id=form.template_id.data, name=form.name.data,
            location_id=int(value) if kind == "location" else None, clinic_id=int(value) if kind == "clinic" else None,
        )
    except DomainError as error:
        refused(error)
        return _render_templates(kit_form=form, status=error.status)
    flash(f"Kit {created.name} created: scan its contents in, then record its first check.", "ok")
    return once.answered(claim, redirect(url_for("pages.kit", kit_id=created.id)))


# --- the expiry watch ------------------------------------------------------------------------


@bp.get("/stock/expiring")
@page(Permission.CART)
def expiring():
    asked = request.args.get("days", "").strip()
    days = kit_service.EXPIRY_WINDOWS[0]
    not_understood = None
    if asked:
        if asked.isascii() and asked.isdigit() and int(asked) <= kit_service.MAX_EXPIRY_DAYS:
            days = int(asked)  # any window the API takes, not only the quick choices
        else:
            not_understood = (f"{asked[:20]!r} is not a window of 0 to {kit_service.MAX_EXPIRY_DAYS} days: "
                              f"showing {days} days.")
    places = kit_service.expiring_stock(db.session, scope=scope(), now=utcnow(), days=days)
    return render_template("pages/expiring.html", places=places, days=days, windows=kit_service.EXPIRY_WINDOWS,
                           not_understood=not_understood)
