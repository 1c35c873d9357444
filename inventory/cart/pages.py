"""The treatment cart: one scan field, then the next sensible action for what was scanned.

Scanning is a GET (it changes nothing); every action is a CSRF-protected POST that
redirects back to the treatment with the scan field focused again. A GET that shows a form which records (a scan,
a vial shown again after a draw, the offer of a separate treatment) carries the sign-in it was made under
(``SIGN_IN_ARG``): one made under an earlier sign-in on this computer is not carried on as whoever is signed in now.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask import session as page_session
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from wtforms import DateField, Field, HiddenField, RadioField, SelectChoice, SelectField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    StopValidation,
)

from inventory import dosing, lifecycle, unit_of_work, words
from inventory.adverse_events import service as adverse_events
from inventory.blueprints.pages import once
from inventory.blueprints.pages.core import bp, page, refused, scope
from inventory.blueprints.pages.fields import QuantityField, TextField, choices_of, location_choices
from inventory.errors import ConfirmationRequired, DomainError, LotExpired, NotFound
from inventory.extensions import db
from inventory.models import Container, Location, LocationKind, Movement, MovementKind, ProductKind, utcnow
from inventory.models.base import plain_quantity
from inventory.services import scanning
from inventory.services.barcodes import parse_scan
from inventory.services.clock import clinic_today, format_clinic_time, to_clinic_time
from inventory.cart import service as cart
from inventory.cart.attention import needs_attention
from inventory.counterfeit import service as counterfeit
from inventory.clinical import service as clinical
from inventory.cold_chain import service as cold_chain
from inventory.services.permissions import Permission, get_in_scope
from inventory.validators import text_problem

WASTE_REASONS = choices_of([
    ("dropped", "Dropped"), ("contaminated", "Contaminated"), ("no_vacuum", "No vacuum when pierced"),
    ("beyond_use", "Past beyond-use time"), ("expired", "Expired"), ("other", "Other (say why)"),
])
# The waste reason a scan's "Do not use" calls for: an expired lot, a vial past its beyond-use time.
_WASTE_REASON_FOR = {"lot_expired": "expired", "beyond_use": "beyond_use"}


def _above_zero(form: FlaskForm, field: Field) -> None:
    """A quantity of 0 said with the field's name, as the quantity's other refusals say it ("Quantity: ...");
    the service refuses it too."""
    if field.data is not None and field.data <= 0:
        raise StopValidation(f"{field.label.text.split(' (')[0]}: give a number above zero.")


class StartForm(FlaskForm):
    location_id = SelectField("Where", coerce=int)
    external_ref = TextField("Patient reference", validators=[
        DataRequired("Scan the patient's card or type the reference."), Length(max=64)])
    name = TextField("Name (new patients)", validators=[Optional(), Length(max=160)])
    date_of_birth = DateField("Date of birth (new patients)", validators=[Optional()])
    # "1": a separate treatment although the patient has one open here (the button offered on that one).
    new_treatment = HiddenField()
    form_key = once.FormKeyField()


# What a vial is mixed with (DOMAIN.md): the label's diluent, or bacteriostatic saline, an off-label choice that is
# recorded as such. The API takes any diluent_name; the page offers these two.
BACTERIOSTATIC = "bacteriostatic 0.9% sodium chloride (off-label)"


class ReconstituteForm(FlaskForm):
    diluent_ml = QuantityField("Diluent (mL)", validators=[
        InputRequired("Type the diluent volume in mL."),
        NumberRange(0.5, 10, "Diluent must be between 0.5 and 10 mL: check the volume."),
    ])
    diluent = SelectField("Diluent", choices=[SelectChoice("label", "As on the label"),
                                              SelectChoice("bacteriostatic", "Bacteriostatic 0.9% saline (off-label)")],
                          default="label")
    diluent_lot = TextField("Diluent lot (optional)", validators=[Optional(), Length(max=40)])
    form_key = once.FormKeyField()


class DrawForm(FlaskForm):
    quantity = QuantityField("Quantity", validators=[InputRequired("Type the quantity, such as 4 or 0.1."), _above_zero])
    unit = SelectField("Unit", choices=[SelectChoice("U"), SelectChoice("mL")])
    # No default: a forgotten choice must be refused, never recorded as some area.
    area = RadioField("Area", choices=choices_of(cart.AREAS), validators=[InputRequired("Choose the treatment area.")])
    area_detail = TextField("Other area", validators=[Optional(), Length(max=120)])
    emergency = SelectField("Why", default="",
                            choices=[SelectChoice("", "Treatment"), SelectChoice("emergency", "Emergency (kit)")])
    # The confirm step of a dose above a limit: the codes confirmed, and why.
    confirm = HiddenField()
    confirm_reason = TextField("Why this dose", validators=[Optional(), Length(max=200)])
    form_key = once.FormKeyField()


class WasteForm(FlaskForm):
    reason = SelectField("Reason", choices=WASTE_REASONS)
    quantity = QuantityField("Quantity (empty = all left)", validators=[Optional(), _above_zero])
    note = TextField("Note", validators=[Optional(), Length(max=200)])
    form_key = once.FormKeyField()


class ReverseForm(FlaskForm):
    reason = TextField("Why is this a mistake?", validators=[DataRequired(), Length(max=200)])
    form_key = once.FormKeyField()


def _cart_locations() -> list[Location]:
    stmt = scope().filter(
        select(Location).where(Location.is_active, Location.kind.in_((LocationKind.CART, LocationKind.ROOM))),
        Location.clinic_id,
    )
    return list(db.session.scalars(stmt.order_by(Location.clinic_id, Location.name)))


@bp.route("/cart", methods=["GET", "POST"])
@page(Permission.CART)
def cart_home():
    form = StartForm()
    ask_name = False  # a new patient's reference was given: the focus goes to Name, for what the nurse types next
    problem = None  # a refusal (FormProblem), said beside the field it names
    locations = _cart_locations()
    form.location_id.choices = location_choices(locations)
    if not form.is_submitted():
        form.location_id.data = _remembered_location(locations)
    if form.validate_on_submit():
        claim = once.claim_form_key(url_for("pages.cart_home"))
        try:
            location = get_in_scope(db.session, Location, form.location_id.data, scope(), "location")
            patient = cart.find_or_create_patient(
                db.session, scope=scope(), clinic_id=location.clinic_id, external_ref=form.external_ref.data.strip(),
                name=(form.name.data or "").strip() or None, date_of_birth=form.date_of_birth.data,
            )
            treatment, opened = cart.continue_or_start_treatment(
                db.session, actor=current_user, scope=scope(), patient_id=patient.id, location_id=location.id,
                now=utcnow(), separate=form.new_treatment.data == "1",
            )
        except DomainError as error:
            said = FormProblem.of(form, error, _START_FIELDS)
            if said.field is None:
                refused(error)  # answered with the form again, a 200: only the marker keeps the patient out
            else:
                unit_of_work.mark_refused()  # said beside its field (cart_home.html), not at the top as well
                problem = said
            # Answered here, at the POST's address: sent again later (Back to this answer, then Reload), once the
            # corrected form has added the patient, it would open a second treatment. It records nothing then.
            form.form_key.data = once.keep_answered(claim, lands=url_for("pages.cart_home"))
            if said.field == "external_ref":
                # What the nurse typed by hand, when a scan kept out of another field replaced it (a vial's label
                # scanned into Name), is hers: given back, and the focus goes back to Name. Else emptied, so that
                # the patient's card scanned next is not appended to it.
                form.external_ref.data = _typed_ref(form.external_ref.data or "")
            ask_name = said.field == "name" or (said.field == "external_ref" and bool(form.external_ref.data))
        else:
            _remember_location(location)
            if opened:
                return once.answered(claim, redirect(url_for("pages.cart_treatment", treatment_id=treatment.id)))
            # Continued, not opened twice: her vials of this session stay usable. A separate one stays one click away.
            flash(_already_open(treatment), "info")
            return once.answered(claim, redirect(url_for("pages.cart_treatment", treatment_id=treatment.id,
                                                         new_for=location.id, **_signed_in_args())))
    elif form.is_submitted():
        problem = FormProblem.of(form, None, _START_FIELDS)
    found = cart.open_treatment_page(db.session, scope=scope(), limit=CART_HOME_OPEN_TREATMENTS)
    return render_template("pages/cart_home.html", form=form, found=found, ask_name=ask_name, problem=problem,
                           **_open_cards(found), attention=needs_attention(db.session, scope=scope(), now=utcnow()))


# The start form's fields, by the names a refusal of the patient's look-up gives (details.field) or its code.
_START_FIELDS = {"external_ref": "external_ref", "name": "name", "date_of_birth": "date_of_birth",
                 "patient_ref_conflict": "external_ref"}


def _typed_ref(refused: str) -> str:
    """What the nurse typed into the patient's reference before a scan replaced it, as vialog.js sends it
    (typed_ref) when a scan kept out of another field of the start form goes to the reference; "" when there is
    none, or it is no reference (too long, invisible characters) or the refused text itself."""
    typed = request.form.get("typed_ref", "").strip()
    if not typed or typed == refused.strip() or text_problem(typed, max_length=64) is not None:
        return ""
    return typed


# The cart lists this many open treatments, newest first; the others are a link away (/cart/open).
CART_HOME_OPEN_TREATMENTS = 20
OPEN_TREATMENTS_PAGE = 50


@bp.get("/cart/open")
@page(Permission.CART)
def open_treatments():
    before = request.args.get("before", type=int)
    found = cart.open_treatment_page(db.session, scope=scope(), limit=OPEN_TREATMENTS_PAGE,
                                     before_id=before if before is not None and 1 <= before <= cart.MAX_ID else None)
    return render_template("pages/cart_open.html", found=found, first_page=before is None, **_open_cards(found))


def _open_cards(found: cart.OpenTreatmentPage) -> dict[str, Any]:
    """What each open treatment's card says beyond the treatment: its standing doses, and since when it has been
    open when that is an earlier day than today at its clinic (forgotten, most likely: its vials stay bound)."""
    now = utcnow()
    since = {t.id: t.started_at for t in found.treatments
             if clinic_today(t.started_at, t.location.clinic.timezone) < clinic_today(now, t.location.clinic.timezone)}
    return {"given": cart.doses_given(db.session, (t.id for t in found.treatments)), "open_since": since}


# The cart location this user started or closed a treatment at last: the start form offers it first.
_CART_LOCATION_KEY = "vialog_cart_location"


def _remember_location(location: Location) -> None:
    page_session[_CART_LOCATION_KEY] = [current_user.id, location.id]


def _remembered_location(locations: list[Location]) -> int | None:
    """The remembered location if it is this user's and still one she may choose (scoped, active), else None."""
    saved = page_session.get(_CART_LOCATION_KEY)
    if not (isinstance(saved, list) and len(saved) == 2 and saved[0] == current_user.id):
        return None
    return saved[1] if any(location.id == saved[1] for location in locations) else None


def _already_open(treatment) -> str:
    """"Omar Reyes already has an open treatment, started 10:02 in Treatment room 1: continue it here."."""
    timezone = treatment.location.clinic.timezone
    started = to_clinic_time(treatment.started_at, timezone)
    when = (started.strftime("%H:%M") if started.date() == to_clinic_time(utcnow(), timezone).date()
            else format_clinic_time(treatment.started_at, timezone))
    return (f"{treatment.patient.name} already has an open treatment, started {when} in "
            f"{treatment.location.name}: continue it here.")


def _start_again_form(treatment) -> StartForm | None:
    """On the treatment the nurse was taken to instead of starting one (?new_for=<location>): a button that starts
    a separate treatment anyway, at the location she chose."""
    raw = request.args.get("new_for", "")
    if treatment.is_closed or not raw.isdigit() or len(raw) > 10:
        return None
    location = next((loc for loc in _cart_locations() if loc.id == int(raw) and loc.clinic_id == treatment.clinic_id),
                    None)
    if location is None:
        return None
    return StartForm(formdata=None, external_ref=treatment.patient.external_ref, location_id=location.id,
                     new_treatment="1")


@bp.get("/cart/treatments/<int:treatment_id>")
@page(Permission.CART)
def cart_treatment(treatment_id: int):
    if _opened_before_this_sign_in():
        # Scanned on a page opened for someone else (signed out and in again in another tab, or by another nurse):
        # nothing is scanned, the page says who is signed in now and opens afresh, with this sign-in's mark.
        flash(_OPENED_BEFORE.format(user=current_user.label), "error")
        return redirect(url_for("pages.cart_treatment", treatment_id=treatment_id))
    treatment = cart.get_treatment(db.session, treatment_id, scope())
    now = utcnow()
    container: Container | None = None
    scan_error: DomainError | None = None
    warnings: list[str] = []
    raw = request.args.get("scan", "")
    ref = request.args.get("container", "")
    try:
        if raw.strip():
            result = scanning.scan(db.session, raw, scope=scope(), now=now, timezone=treatment.location.clinic.timezone)
            warnings = result.warnings
            container = scanning.container_for_cart(
                db.session, result, scope=scope(), clinic_id=treatment.clinic_id, treatment_id=treatment.id,
                location_id=treatment.location_id,
            )
        elif ref:
            container = scanning.container_by_ref(db.session, ref, scope())
    except LotExpired as error:
        # An expired vial is still in the nurse's hand: shown with "Do not use" and the waste form, so that she
        # can discard it (reason "expired") where she scanned it. A box's code names no one vial: refused.
        container = _scanned_vial(raw)
        scan_error = None if container is not None else error
    except DomainError as error:
        scan_error = error
        if isinstance(error, counterfeit.SCAN_SIGNS):
            # A watched lot, or a box whose printed expiry is not its lot's, at the cart: a sign for the safety lead.
            unit_of_work.record_despite_refusal(counterfeit.sign_of(
                error, actor_id=current_user.id, clinic_id=treatment.clinic_id, now=now, where="cart",
                treatment_id=treatment.id))
    return _render_treatment(treatment, container, scan_error=scan_error, scanned=raw.strip()[:60], warnings=warnings,
                             start_again=_start_again_form(treatment))


# A cart page's GET that shows a form which records carries this sign-in's mark: the scan form sends it, and the
# redirects that show a vial again (after a draw) or offer a separate treatment add it. Made at random at the first
# cart page after a sign-in and kept in the page session, which every sign-in and sign-out clears
# (blueprints/pages/auth.py): a page opened under an earlier sign-in on this computer carries another mark, and the
# user now signed in never finds that page's vial and draw form ready under her name without being told.
SIGN_IN_ARG = "signed_in"
_SIGN_IN_MARK_KEY = "vialog_sign_in_mark"
_OPENED_BEFORE = ("This page was opened before the last sign-in on this computer: you are signed in as {user}. "
                  "Nothing was scanned: scan again to record as {user}.")


def _sign_in_mark() -> str:
    mark = page_session.get(_SIGN_IN_MARK_KEY)
    if not isinstance(mark, str):
        mark = secrets.token_urlsafe(12)
        page_session[_SIGN_IN_MARK_KEY] = mark
    return mark


def _signed_in_args() -> dict[str, str]:
    return {SIGN_IN_ARG: _sign_in_mark()}


def _opened_before_this_sign_in() -> bool:
    """The request carries the mark of another sign-in than this one. A request with no mark (an address typed or
    linked from elsewhere, which shows the page of whoever is signed in, as any page does) is not refused."""
    sent = request.args.get(SIGN_IN_ARG)
    return sent is not None and not secrets.compare_digest(sent.encode(), _sign_in_mark().encode())


def _scanned_vial(raw: str) -> Container | None:
    """The container a scanned Vialog label names, or None for any other code."""
    try:
        code = parse_scan(raw)
        if code.kind != "container" or code.label_code is None:
            return None
        return scanning.container_by_label(db.session, code.label_code, scope())
    except DomainError:
        return None


def _render_treatment(treatment, container: Container | None, *, scan_error: DomainError | None = None,
                      scanned: str = "", warnings: list[str] | None = None, draw_form: DrawForm | None = None,
                      reconstitute_form: ReconstituteForm | None = None, waste_form: WasteForm | None = None,
                      waste_problem: FormProblem | None = None,
                      confirmation: ConfirmationRequired | None = None, start_again: StartForm | None = None,
                      status: int = 200):
    now = utcnow()
    refusal = None
    if container is not None and not treatment.is_closed:
        # Everything the draw would refuse, said now: before a quantity is typed.
        refusal = lifecycle.scan_refusal(container, treatment, now)
    if refusal is not None:
        warnings = []  # "Do not use" says what matters; a warning beside it would say it twice
    # Rendered in answer to a POST too (a refused draw, mix or waste, kept as typed): the other forms start empty,
    # never filled from that POST (the waste form's Quantity is not the draw's).
    if draw_form is None:
        draw_form = _draw_form(container, offer=True, formdata=None)
    if waste_form is None:
        # "Do not use ... waste what is left" of an expired or past beyond-use vial: its reason is chosen for her.
        waste_form = WasteForm(formdata=None, reason=_WASTE_REASON_FOR.get(refusal.code if refusal else "", "dropped"))
    wastes = _wastes(treatment)
    history = clinical.patient_history(db.session, scope=scope(), patient_id=treatment.patient_id, now=now,
                                       before_treatment_id=treatment.id)
    # A hyaluronidase dose may name the patient's adverse event it treats (the event then shows it).
    rescue_events = (
        adverse_events.open_events_for_patient(db.session, scope=scope(), patient_id=treatment.patient_id)
        if container is not None and container.product.kind is ProductKind.HYALURONIDASE else []
    )
    events = adverse_events.list_events(db.session, viewer=current_user, scope=scope(), treatment_id=treatment.id)
    return render_template(
        "pages/cart_treatment.html", treatment=treatment, container=container, scan_error=scan_error,
        history=history, checklist_flags=clinical.checklist_flags(treatment),
        refusal=refusal, scanned=scanned, warnings=warnings or [], now=now, draw_form=draw_form,
        confirmation=confirmation, reconstitute_form=reconstitute_form or _reconstitute_form(container, formdata=None),
        waste_form=waste_form, waste_problem=waste_problem, wastes=wastes, waste_reasons=dict(cart.WASTE_REASONS),
        reverse_form=ReverseForm(formdata=None),
        reversed_ids=cart.reversed_ids(db.session, [d.movement_id for d in treatment.draws] + [w.id for w in wastes]),
        area_labels=dict(cart.AREAS), rescue_events=rescue_events, events=events, kind_labels=adverse_events.KIND_LABELS,
        warning_words=dosing.WARNING_WORDS, waste_refusal=_waste_refusal(container, treatment),
        close_form=once.OnceForm(formdata=None), start_again=start_again, new_form_key=once.new_form_key,
        signed_in=_signed_in_args(),
        # A liquid's label strength (Hylenex 150 USP U/mL): the mL the draw form offers converts with it.
        label_per_ml=(lifecycle.concentration(container)
                      if container is not None and not container.product.is_toxin else None),
    ), status


def _waste_refusal(container: Container | None, treatment) -> DomainError | None:
    """Why this user may not waste the container here, said instead of the form: its lot is recalled or
    quarantined (set it aside for the safety lead), it is on hold (the safety lead's decision), or it was opened
    for another patient (its waste belongs to her treatment)."""
    if container is None:
        return None
    try:
        cart.ensure_may_waste_at(container, treatment)
        lifecycle.ensure_may_waste(container, decides_holds=cold_chain.may_decide_holds(current_user))
    except DomainError as refusal:
        return refusal
    return None


def _wastes(treatment) -> list[Movement]:
    """The wastes recorded in this treatment (at the cart, and of the remainders its closing wasted), oldest
    first: each may be corrected from its page, as a draw may."""
    return list(db.session.scalars(
        select(Movement).where(Movement.treatment_id == treatment.id, Movement.kind == MovementKind.WASTE)
        .options(joinedload(Movement.container).joinedload(Container.product),
                 joinedload(Movement.container).joinedload(Container.lot), joinedload(Movement.actor))
        .order_by(Movement.at, Movement.id)
    ))


@dataclass(frozen=True)
class FormProblem:
    """Why a submitted form was refused, said beside the field it names (``field``: the form's field), or at the
    top of the form when it names none; ``code`` is the API's code of the same refusal (None: the form's own)."""

    message: str
    field: str | None = None
    code: str | None = None

    @classmethod
    def of(cls, form: FlaskForm, error: DomainError | None, fields: dict[str, str]) -> FormProblem:
        """The form's first field error, or the service's refusal; ``fields`` maps the service's field names
        (details.field) and codes to the form's fields."""
        if error is None:
            for name, errors in form.errors.items():
                if errors:  # a field the page shows, or the form's own (its CSRF token): at the top of the form
                    return cls(str(errors[0]), name if name in fields.values() else None)
            return cls("Check the form.")
        named = str(error.details.get("field") or "")
        return cls(error.message, fields.get(named) or fields.get(error.code), error.code)


_POSTED = object()  # a form filled from the request's POST, as Flask-WTF does by default


def _draw_form(container: Container | None, *, offer: bool = False, formdata: Any = _POSTED) -> DrawForm:
    form = DrawForm() if formdata is _POSTED else DrawForm(formdata=formdata)
    if container is not None and not container.product.is_toxin:
        # What the draw accepts (lifecycle.dose): the base unit, and mL when the concentration is known (a
        # Hylenex vial's label, a Hyalase vial's reconstitution). "U" is the API's alias of the base unit: not
        # offered beside it (a toxin's list, U and mL, is its own).
        product = container.product
        form.unit.choices = [SelectChoice(unit) for unit in lifecycle.accepted_units(
            product, lifecycle.concentration(container)) if unit != lifecycle.UNITS or unit == product.base_unit]
    if container is not None and offer:
        # Shown: the product's usual areas. Accepted: any area, as the API does.
        form.area.choices = choices_of(cart.areas_for(container.product))
        if formdata is None and container.location.kind is LocationKind.KIT:
            # A vial taken from an emergency kit is an emergency until the nurse says otherwise (readiness
            # counts any use of a kit whatever the reason; this records why, for the rescue and the trail).
            form.emergency.data = cart.EMERGENCY
    return form


def _reconstitute_form(container: Container | None, *, formdata: Any = _POSTED) -> ReconstituteForm:
    form = ReconstituteForm() if formdata is _POSTED else ReconstituteForm(formdata=formdata)
    if container is not None and container.product.labelled_diluent_ml and form.diluent_ml.data is None:
        form.diluent_ml.data = container.product.labelled_diluent_ml.normalize()
    return _name_label_diluent(form, container) if container is not None else form


def _name_label_diluent(form: ReconstituteForm, container: Container) -> ReconstituteForm:
    if container.product.labelled_diluent:
        form.diluent.choices = [SelectChoice("label", f"{container.product.labelled_diluent} (label)"),
                                SelectChoice("bacteriostatic", "Bacteriostatic 0.9% saline (off-label)")]
    return form


def _refused_form(error: DomainError | None, message: str, treatment_id: int, container: Container, *,
                  draw_form: DrawForm | None = None, reconstitute_form: ReconstituteForm | None = None):
    """The treatment page again, with the refused form as the nurse typed it (a quantity that was no quantity
    is not written back: QuantityField), and why it was refused; nothing was written."""
    if error is not None:
        refused(error)
    else:
        unit_of_work.mark_refused()
        flash(message, "error")
    if draw_form is not None:
        draw_form.area.choices = choices_of(cart.areas_for(container.product))
    treatment = cart.get_treatment(db.session, treatment_id, scope())
    return _render_treatment(treatment, container, draw_form=draw_form, reconstitute_form=reconstitute_form,
                             status=error.status if error is not None else 422)


def _refused_waste(error: DomainError | None, form: WasteForm, treatment_id: int, container: Container):
    """The treatment page again with the waste form open as the nurse filled it (reason, quantity, note), and why
    it was refused beside the field concerned; nothing was written."""
    unit_of_work.mark_refused()  # said in the waste form, not at the top of the page as well
    treatment = cart.get_treatment(db.session, treatment_id, scope())
    return _render_treatment(treatment, container, waste_form=form,
                             waste_problem=FormProblem.of(form, error, _WASTE_FIELDS),
                             status=error.status if error is not None else 422)


def _back(treatment_id: int, container: Container | None = None, anchor: str = ""):
    args: dict[str, Any] = {"container": container.label_code, **_signed_in_args()} if container is not None else {}
    return redirect(url_for("pages.cart_treatment", treatment_id=treatment_id, **args) + anchor)


def _keep_answered(claim: int | None, treatment_id: int, container: Container) -> str:
    """A draw, mix or waste refused (or a dose asked to be confirmed) is answered at the form's address: sent again
    by the browser later (Back, then Reload), after the nurse did it with a corrected form, it must not do it a
    second time now that it would be allowed (a hold released, a quantity put back). Its key stays claimed, the
    repeat lands on the vial (once.keep_answered); the new key returned is for the form shown again."""
    return once.keep_answered(claim, lands=_back(treatment_id, container).location)


def _refused(error: DomainError, treatment_id: int, container: Container | None = None):
    refused(error)  # a 302 to the treatment: the marker, not the status, rolls it back
    return _back(treatment_id, container)


def _first_error(form: FlaskForm, fallback: str) -> str:
    """The first thing wrong with a submitted form, in the form's own words."""
    for errors in form.errors.values():
        for error in errors:
            return str(error)
    return fallback


def _event_id(raw: str | None) -> int | None:
    """The adverse event a rescue dose treats, as the draw form's select sends it (empty: none)."""
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) <= 10 else None


def _container_from_form() -> Container:
    return scanning.container_by_ref(db.session, request.form.get("container", ""), scope())


@bp.post("/cart/treatments/<int:treatment_id>/reconstitute")
@page(Permission.CART)
def cart_reconstitute(treatment_id: int):
    container = _container_from_form()
    form = _name_label_diluent(ReconstituteForm(), container)
    if not form.validate():
        return _refused_form(None, _first_error(form, "Diluent must be between 0.5 and 10 mL."), treatment_id,
                             container, reconstitute_form=form)
    assert form.diluent_ml.data is not None  # validated: NumberRange refuses a field left blank
    claim = once.claim_form_key(_back(treatment_id, container).location)
    try:
        cart.reconstitute(
            db.session, actor=current_user, scope=scope(), container_id=container.id,
            diluent_ml=Decimal(form.diluent_ml.data), diluent_lot=form.diluent_lot.data or None, now=utcnow(),
            diluent_name=BACTERIOSTATIC if form.diluent.data == "bacteriostatic" else None,  # None: the label's
            treatment_id=treatment_id,
        )
    except DomainError as error:
        form.form_key.data = _keep_answered(claim, treatment_id, container)
        return _refused_form(error, error.message, treatment_id, container, reconstitute_form=form)
    assert container.concentration_u_per_ml is not None  # cart.reconstitute has just set it
    per_tenth = words.hundredths(container.concentration_u_per_ml / 10)  # 8.33, as the page shows it
    flash(f"Reconstituted: {per_tenth} {container.product.base_unit} per 0.1 mL. Print the new label.", "ok")
    return once.answered(claim, _back(treatment_id, container))


@bp.post("/cart/treatments/<int:treatment_id>/draws")
@page(Permission.CART)
def cart_draw(treatment_id: int):
    container = _container_from_form()
    form = _draw_form(container)
    if not form.validate():
        return _refused_form(None, _first_error(form, "Type a quantity, such as 4 or 0.1, and choose the area."),
                             treatment_id, container, draw_form=form)
    assert form.quantity.data is not None  # InputRequired: QuantityField reads spaces alone as nothing typed
    claim = once.claim_form_key(_back(treatment_id, container).location)
    try:
        result = cart.draw(
            db.session, actor=current_user, scope=scope(), treatment_id=treatment_id, container_id=container.id,
            quantity=form.quantity.data,
            unit=form.unit.data, area=form.area.data,
            area_detail=form.area_detail.data or None, reason=form.emergency.data or None,
            confirm=[code for code in (form.confirm.data or "").split(",") if code],
            confirm_reason=form.confirm_reason.data or None, adverse_event_id=_event_id(request.form.get("adverse_event_id")),
            now=utcnow(),
        )
    except ConfirmationRequired as needed:
        # Not a dead end: the same page asks for the confirmation, with what was typed kept.
        unit_of_work.mark_refused()
        form.form_key.data = _keep_answered(claim, treatment_id, container)
        form.confirm.data = ",".join(w["code"] for w in needed.details["warnings"])
        form.area.choices = choices_of(cart.areas_for(container.product))
        return _render_treatment(cart.get_treatment(db.session, treatment_id, scope()), container, draw_form=form,
                                 confirmation=needed, status=409)
    except DomainError as error:
        form.form_key.data = _keep_answered(claim, treatment_id, container)
        return _refused_form(error, error.message, treatment_id, container, draw_form=form)
    draw = result.draw
    unit = container.product.base_unit
    shown = f"{draw.quantity.normalize():f} {unit}"
    if draw.quantity_ml is not None and unit != "mL":
        shown += f" ({draw.quantity_ml.normalize():f} mL)"
    where = draw.area_detail if draw.area == "other" and draw.area_detail else dict(cart.AREAS)[draw.area].lower()
    flash(f"Recorded {shown} into {where}.", "ok")
    for warning in result.warnings:
        flash(warning.message + (" Confirmed." if warning.needs_confirmation else ""), "warning")
    emptied = result.container
    if emptied.remaining == 0:
        # Emptied by this very dose: say what to do with it and clear the scan. Shown again, it would say in red
        # "Do not use ... is empty", which right after her own dose reads as if that dose was wrong.
        kind = emptied.product.kind
        what = {ProductKind.FILLER: "Syringe", ProductKind.SUPPLY: "Item"}.get(kind, "Vial")
        flash(f"{what} {emptied.label_code} ({emptied.product.name}) is now "
              + ("used up." if kind is ProductKind.SUPPLY else "empty: discard it in the sharps bin."), "ok")
        return once.answered(claim, _back(treatment_id))
    return once.answered(claim, _back(treatment_id, container))


# The waste form's fields, by the names a refusal of cart.waste gives (details.field) or by its code.
_WASTE_FIELDS = {"reason": "reason", "quantity": "quantity", "note": "note", "insufficient_quantity": "quantity"}


@bp.post("/cart/treatments/<int:treatment_id>/waste")
@page(Permission.CART)
def cart_waste(treatment_id: int):
    container = _container_from_form()
    form = WasteForm()
    if not form.validate():
        return _refused_waste(None, form, treatment_id, container)
    claim = once.claim_form_key(_back(treatment_id).location)
    try:
        # The waste is this treatment's: cart.waste checks the treatment before anything is written.
        cart.waste(
            db.session, actor=current_user, scope=scope(), container_id=container.id, reason=form.reason.data,
            quantity=Decimal(form.quantity.data) if form.quantity.data is not None else None,
            note=form.note.data or None, now=utcnow(), treatment_id=treatment_id,
        )
    except DomainError as error:
        form.form_key.data = _keep_answered(claim, treatment_id, container)
        return _refused_waste(error, form, treatment_id, container)
    flash(f"Wasted from {container.label_code}: {container.remaining.normalize():f} {container.product.base_unit} left.", "ok")
    return once.answered(claim, _back(treatment_id))


@bp.post("/cart/treatments/<int:treatment_id>/movements/<int:movement_id>/reverse")
@page(Permission.CART)
def cart_reverse(treatment_id: int, movement_id: int):
    form = ReverseForm()
    if not form.validate():
        flash("Say why the entry is a mistake.", "error")
        return _back(treatment_id)
    claim = once.claim_form_key(_back(treatment_id).location)
    try:
        # Only a movement of this treatment, open or closed (cart.reverse checks it before writing).
        reversal = cart.reverse(db.session, actor=current_user, scope=scope(), movement_id=movement_id,
                                reason=form.reason.data, now=utcnow(), treatment_id=treatment_id)
    except NotFound:
        raise  # no such treatment, or no such entry in it: answered as a missing page, not sent back to one
    except DomainError as error:
        return _refused(error, treatment_id)
    if reversal.container.state in lifecycle.LIVE_STATES:
        flash("Corrected: the quantity is back in its container; the original entry stays in the history.", "ok")
    else:  # the container was already wasted or emptied: the units went with it (cart.reverse)
        flash(f"Corrected: the entry is undone. {reversal.container.label_code} was already out of use, so the "
              "quantity is recorded as gone with it, not back on a shelf; the original entry stays in the history.",
              "ok")
    return once.answered(claim, _back(treatment_id))


@bp.post("/cart/treatments/<int:treatment_id>/close")
@page(Permission.CART)
def cart_close(treatment_id: int):
    claim = once.claim_form_key(url_for("pages.cart_home"))
    try:
        closed = cart.close_treatment(
            db.session, actor=current_user, scope=scope(), treatment_id=treatment_id, now=utcnow()
        )
    except DomainError as error:
        return _refused(error, treatment_id)
    message = "Treatment closed."
    for waste in closed.wasted:  # which vial and how much: the nurse throws it away now
        message += (f" Wasted what was left of {waste.container.product.name} {waste.container.label_code}:"
                    f" {plain_quantity(-waste.quantity)} {waste.container.product.base_unit} (single-patient).")
    if closed.held:
        message += f" {len(closed.held)} syringe(s) held for this patient."
    for kept in closed.set_aside:  # recalled or quarantined: the vial itself is the safety lead's, not the bin's
        message += (f" Do not throw away {kept.product.name} {kept.label_code}: lot {kept.lot.number} is "
                    f"{kept.lot.status.value}, set it aside for the safety lead with what is left in it.")
    flash(message, "ok")
    _remember_location(closed.treatment.location)
    return once.answered(claim, redirect(url_for("pages.cart_home")))


@bp.app_template_filter("use_ended_at")
def use_ended_at(container: Container) -> Any:
    return lifecycle.use_ended_at(container)


@bp.route("/cart/beyond-use", methods=["GET", "POST"])
@page(Permission.CART)
def beyond_use():
    now = utcnow()
    if request.method == "POST":
        FlaskForm().validate_on_submit()  # CSRF is checked globally; nothing else to read
        claim = once.claim_form_key(url_for("pages.beyond_use"))
        wasted = cart.waste_beyond_use(db.session, actor=current_user, scope=scope(), now=now)
        left = len(cart.beyond_use_containers(db.session, scope=scope(), now=now))
        done = (f"Wasted what was left in {words.counted(len(wasted), 'container')} past beyond-use or hold."
                if wasted else "Nothing was wasted.")
        if left:  # what waste_beyond_use leaves: stock of a recalled or quarantined lot, the safety lead's
            done += (f" Still listed: {words.counted(left, 'container')} of a recalled or quarantined lot. Only the "
                     f"safety lead wastes such stock: set {'it' if left == 1 else 'them'} aside.")
        flash(done, "ok")
        return once.answered(claim, redirect(url_for("pages.beyond_use")))
    containers = cart.beyond_use_containers(db.session, scope=scope(), now=now)
    return render_template("pages/beyond_use.html", containers=containers, now=now, form_key=once.new_form_key())
