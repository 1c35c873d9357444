"""Administration pages: users, one's own password, the managed catalog, locations and clinic settings.

Each form posts to the same service the API calls; a refusal re-renders the form with what was typed
and the service's message (``refused`` rolls the request back).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from markupsafe import Markup
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from sqlalchemy import select

from inventory.admin import service, trail
from inventory.cart.service import AREA_LABELS, AREA_VALUES, AREAS
from inventory.blueprints.pages import once
from inventory.blueprints.pages.core import bp, landing_endpoint, page, refused, remember_session_version, scope
from inventory.blueprints.pages.fields import QuantityField, TextField, choices_of
from inventory.errors import DomainError
from inventory.extensions import db
from inventory.models import LocationKind, Product, ProductKind, Role, utcnow
from inventory.models.base import plain_quantity
from inventory.security import safe_redirect_target
from inventory.services import catalog
from inventory.services.permissions import CHAIN_LEVEL_ROLES, ROLE_LABELS, Permission

ROLE_CHOICES = [SelectChoice(r.value, ROLE_LABELS[r]) for r in Role]


def _hasher() -> Any:
    return current_app.extensions["password_hasher"]


def _clinic_choices() -> list[SelectChoice]:
    return [SelectChoice(c.id, f"{c.code} · {c.name}") for c in service.list_clinics(db.session, scope())]


# --- users ------------------------------------------------------------------------------------------


# Where a user works is chosen, never inferred: no clinic ticked is refused, not read as "every clinic"
# (a forgotten tick must not give a nurse every clinic's patients). Every clinic is a box of its own.
CHAIN_LEVEL_LABEL = "Every clinic of the chain (chain level: manager, safety lead or admin only)"


class NewUserForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=80)])
    display_name = StringField("Name shown", validators=[Optional(), Length(max=120)])
    role = SelectField("Role", choices=ROLE_CHOICES)
    clinic_ids = SelectMultipleField("Clinics", coerce=int)
    chain_level = BooleanField(CHAIN_LEVEL_LABEL)
    password = PasswordField("First password", validators=[DataRequired(), Length(max=200)])
    form_key = once.FormKeyField()


class EditUserForm(FlaskForm):
    username = StringField("Username", validators=[Optional(), Length(max=80)])
    display_name = StringField("Name shown", validators=[Optional(), Length(max=120)])
    role = SelectField("Role", choices=ROLE_CHOICES)
    clinic_ids = SelectMultipleField("Clinics", coerce=int)
    chain_level = BooleanField(CHAIN_LEVEL_LABEL)


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=200)])


class OwnPasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired(), Length(max=200)])
    password = PasswordField("New password", validators=[DataRequired(), Length(max=200)])
    confirm = PasswordField("New password again", validators=[DataRequired(), Length(max=200)])


def _render_users(form: NewUserForm | None = None, status: int = 200) -> tuple[str, int]:
    form = form or NewUserForm(formdata=None)
    form.clinic_ids.choices = _clinic_choices()
    return render_template("pages/admin_users.html", users=service.list_users(db.session, scope()), form=form,
                           chain_level=scope().clinic_ids is None, chain_roles=CHAIN_LEVEL_ROLES), status


@bp.get("/users")
@page(Permission.USERS)
def users():
    form = NewUserForm(formdata=None)
    asked = request.args.get("clinic_id", type=int)  # from a clinic's page: the new user works there
    if asked is not None and any(c.value == asked for c in _clinic_choices()):
        form.clinic_ids.data = [asked]
    return _render_users(form)


@bp.post("/users")
@page(Permission.USERS)
def user_create():
    form = NewUserForm()
    form.clinic_ids.choices = _clinic_choices()
    if not form.validate():
        return _render_users(form, 422)
    claim = once.claim_form_key(url_for("pages.users"))
    try:
        user = service.create_user(
            db.session, _hasher(), actor=current_user, scope=scope(), username=form.username.data,
            password=form.password.data, role=Role(form.role.data), clinic_ids=form.clinic_ids.data or [],
            chain_level=form.chain_level.data, display_name=form.display_name.data or "", now=utcnow(),
        )
    except DomainError as error:
        refused(error)
        return _render_users(form, error.status)
    flash(f"{user.username} can sign in now, as {ROLE_LABELS[user.role]}.", "ok")
    return once.answered(claim, redirect(url_for("pages.users")))


def _render_user(user_id: int, form: EditUserForm | None = None, reset_form: ResetPasswordForm | None = None,
                 status: int = 200) -> tuple[str, int]:
    user = service.get_user(db.session, user_id, scope())
    if form is None:
        form = EditUserForm(formdata=None, username=user.username, display_name=user.display_name,
                            role=user.role.value, clinic_ids=[] if user.is_chain_level else [c.id for c in user.clinics],
                            chain_level=user.is_chain_level)
    form.clinic_ids.choices = _clinic_choices()
    zone = trail.user_timezone(user)
    return render_template(
        "pages/admin_user.html", user=user, form=form, reset_form=reset_form or ResetPasswordForm(formdata=None),
        zone=zone, trail=trail.lines(db.session, service.audit_trail(db.session, "user", user.id), timezone=zone),
        is_self=user.id == current_user.id,
        chain_level=scope().clinic_ids is None, chain_roles=CHAIN_LEVEL_ROLES,
    ), status


def _user_or_404(user_id: int) -> Any:
    try:
        return service.get_user(db.session, user_id, scope())
    except DomainError:
        return None


@bp.get("/users/<int:user_id>")
@page(Permission.USERS)
def user_detail(user_id: int):
    if _user_or_404(user_id) is None:
        abort(404, f"No user with id {user_id}.")
    return _render_user(user_id)


@bp.post("/users/<int:user_id>")
@page(Permission.USERS)
def user_update(user_id: int):
    if _user_or_404(user_id) is None:
        abort(404, f"No user with id {user_id}.")
    form = EditUserForm()
    form.clinic_ids.choices = _clinic_choices()
    if not form.validate():
        return _render_user(user_id, form, status=422)
    try:
        service.update_user(db.session, actor=current_user, scope=scope(), user_id=user_id, now=utcnow(),
                            role=Role(form.role.data), clinic_ids=form.clinic_ids.data or [],
                            chain_level=form.chain_level.data, display_name=form.display_name.data or "",
                            username=form.username.data or None)
    except DomainError as error:
        refused(error)
        return _render_user(user_id, form, status=error.status)
    flash("Saved.", "ok")
    return redirect(url_for("pages.user_detail", user_id=user_id))


@bp.post("/users/<int:user_id>/active")
@page(Permission.USERS)
def user_set_active(user_id: int):
    if _user_or_404(user_id) is None:
        abort(404, f"No user with id {user_id}.")
    active = request.form.get("active") == "1"
    try:
        user = service.update_user(db.session, actor=current_user, scope=scope(), user_id=user_id, now=utcnow(),
                                   active=active)
    except DomainError as error:
        refused(error)
        return _render_user(user_id, status=error.status)
    flash(f"{user.username} is {'active again' if active else 'deactivated: signed out everywhere'}.", "ok")
    return redirect(url_for("pages.user_detail", user_id=user_id))


@bp.post("/users/<int:user_id>/password")
@page(Permission.USERS)
def user_reset_password(user_id: int):
    if _user_or_404(user_id) is None:
        abort(404, f"No user with id {user_id}.")
    if user_id == current_user.id:
        return redirect(url_for("pages.account_password"))
    form = ResetPasswordForm()
    if not form.validate():
        return _render_user(user_id, reset_form=form, status=422)
    try:
        user = service.change_password(db.session, _hasher(), actor=current_user, scope=scope(), user_id=user_id,
                                       password=form.password.data, now=utcnow())
    except DomainError as error:
        refused(error)
        return _render_user(user_id, reset_form=form, status=error.status)
    flash(f"Password of {user.username} reset: they are signed out and choose a new one at next sign-in.", "ok")
    return redirect(url_for("pages.user_detail", user_id=user_id))


@bp.route("/account/password", methods=["GET", "POST"])
@page(None)
def account_password():
    # A password an admin set (a new account's first, or a reset) is changed before any other page: the page says
    # why at once, and once it is changed the user goes on to the page they asked for at sign-in (?next=, a
    # same-site path only), or to their start page.
    must_change = current_user.must_change_password
    next_page = safe_redirect_target(request.args.get("next")) if must_change else None
    reason = None
    if must_change:
        reason = ("An admin set your password: choose a new one of your own to continue."
                  if service.password_was_reset(db.session, current_user.id)
                  else "An admin set your first password: choose your own to continue.")

    def show(form: OwnPasswordForm, status: int) -> tuple[str, int]:
        return render_template("pages/account_password.html", form=form, reason=reason, next_page=next_page), status

    form = OwnPasswordForm()
    if request.method == "POST" and form.validate():
        if form.password.data != form.confirm.data:
            form.confirm.errors = ["The two new passwords differ."]
            return show(form, 422)
        try:
            user = service.change_password(
                db.session, _hasher(), actor=current_user._get_current_object(), scope=scope(),
                user_id=current_user.id, password=form.password.data, current_password=form.current_password.data,
                now=utcnow(),
            )
        except DomainError as error:
            refused(error)
            return show(form, error.status)
        remember_session_version(user)  # this session goes on; every other one ended
        if must_change:  # no session of theirs was open elsewhere to speak of: the admin's password ended them
            flash("Your password is set.", "ok")
            return redirect(next_page or url_for(landing_endpoint(user)))
        flash("Password changed. Your other sessions and API tokens were signed out.", "ok")
        return redirect(url_for("pages.account_password"))
    return show(form, 422 if request.method == "POST" else 200)


# --- catalog ----------------------------------------------------------------------------------------

KIND_CHOICES = [SelectChoice(k.value) for k in ProductKind]
# Quantities have at most 4 decimals: the least above 0.
ABOVE_ZERO = NumberRange(min=Decimal("0.0001"), message="Must be above 0.")
OPTIONAL_CHOICE = [SelectChoice("", "-")]


class ProductForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    brand = StringField("Brand", validators=[Optional(), Length(max=80)])
    generic_name = StringField("Generic name", validators=[Optional(), Length(max=120)])
    # The adverse event report names it (MedWatch / Yellow Card): one not on file says so there and links here.
    manufacturer = TextField("Manufacturer (as on the label)", validators=[Optional(), Length(max=120)])
    kind = SelectField("Kind", choices=KIND_CHOICES)
    molecule = StringField("Molecule", validators=[Optional(), Length(max=60)])
    form = SelectField("Form", default="", choices=[
        *OPTIONAL_CHOICE, SelectChoice("powder"), SelectChoice("liquid"), SelectChoice("gel"),
    ])
    base_unit = StringField("Base unit", validators=[DataRequired(), Length(max=16)])
    quantity_per_container = QuantityField("Units or mL per container", validators=[Optional()])
    volume_ml = QuantityField("Volume per container (mL)", validators=[Optional()])
    strength_per_ml = QuantityField("Concentration per mL (liquids)", validators=[Optional()])
    beyond_use_hours = IntegerField("Beyond-use hours", validators=[Optional(), NumberRange(1, 100_000)])
    gprime_category = SelectField("G′ category (fillers)", default="", choices=[
        *OPTIONAL_CHOICE, SelectChoice("low"), SelectChoice("medium"), SelectChoice("high"),
    ])
    gprime_pa = IntegerField("G′ (Pa)", validators=[Optional(), NumberRange(1, 100_000)])
    is_single_dose = BooleanField("Single-dose (label)")
    is_multi_patient = BooleanField("Multi-patient within beyond-use time (admin)")
    # The label's dose limits, the molecule's (service: set on each of its products).
    session_max_units = QuantityField("Session maximum (admin)", validators=[Optional(), ABOVE_ZERO])
    session_max_areas = SelectMultipleField("Areas the session maximum covers (none ticked: every area)",
                                            choices=choices_of(AREAS))
    cumulative_max_units = QuantityField("Cumulative maximum (admin)", validators=[Optional(), ABOVE_ZERO])
    cumulative_window_days = IntegerField("Cumulative window, days (admin)",
                                          validators=[Optional(), NumberRange(1, 3650)])
    retreat_interval_days = IntegerField("Re-treatment interval, days (admin)",
                                         validators=[Optional(), NumberRange(1, 3650)])
    # The label's facts, for the kinds they apply to (the service refuses one a kind or form does not have).
    storage = TextField("Storage (as on the label)",
                        validators=[Optional(), Length(max=service.LABEL_TEXT_FIELDS["storage"])])
    follow_up_days = IntegerField("Follow-up after a treatment (days)", validators=[Optional(), NumberRange(1, 3650)])
    label_source = TextField("Label source", validators=[Optional(), Length(max=service.LABEL_TEXT_FIELDS["label_source"])])
    usual_max_units_per_session = QuantityField("Usual maximum a session", validators=[Optional(), ABOVE_ZERO])
    labelled_diluent = TextField("Labelled diluent",
                                 validators=[Optional(), Length(max=service.LABEL_TEXT_FIELDS["labelled_diluent"])])
    labelled_diluent_ml = QuantityField("Labelled diluent volume (mL)", validators=[Optional(), ABOVE_ZERO])
    material = TextField("Material", validators=[Optional(), Length(max=service.LABEL_TEXT_FIELDS["material"])])
    has_lidocaine = SelectField("Lidocaine", default="", choices=[
        SelectChoice("", "not said"), SelectChoice("yes", "with lidocaine"), SelectChoice("no", "without lidocaine"),
    ])
    hyaluronidase_source = TextField(
        "Source", validators=[Optional(), Length(max=service.LABEL_TEXT_FIELDS["hyaluronidase_source"])])
    gtins = StringField("GTINs (comma-separated)", validators=[Optional(), Length(max=1000)])
    is_active = BooleanField("Received and in use (untick to retire)", default=True)
    # Why: the service requires it when the save loosens a label limit (on this product or its molecule's).
    reason = TextField("Why (needed when a change loosens a dose limit: a maximum raised or removed, a window or "
                       "interval shortened, fewer areas counted; lengthens the beyond-use time, takes the single-dose "
                       "mark off, or lets patients share a vial)",
                       validators=[Optional(), Length(max=service.MAX_LIMIT_REASON)])
    form_key = once.FormKeyField()  # a new product is added once (the edit form is a change, not an addition)

    def limits(self) -> dict[str, Any]:
        """The dose limits typed (a cumulative maximum without its days: the service refuses it, as for the API)."""
        return {name: getattr(self, name).data or None for name in service.LIMIT_FIELDS}

    def fields_for(self, admin: bool, product: Product | None = None) -> dict[str, Any]:
        values: dict[str, Any] = {
            "name": self.name.data, "brand": self.brand.data or self.name.data.split(" ")[0],
            "generic_name": self.generic_name.data or "", "kind": self.kind.data, "molecule": self.molecule.data or None,
            "form": self.form.data or None, "base_unit": self.base_unit.data,
            "quantity_per_container": self.quantity_per_container.data, "volume_ml": self.volume_ml.data,
            "strength_per_ml": self.strength_per_ml.data, "beyond_use_hours": self.beyond_use_hours.data,
            "gprime_category": self.gprime_category.data or None, "gprime_pa": self.gprime_pa.data,
            "is_single_dose": self.is_single_dose.data, "is_active": self.is_active.data,
        }
        if self.manufacturer.raw_data or product is None:  # a post without the field leaves it as it is
            values["manufacturer"] = (self.manufacturer.data or "").strip()
        for name in LABEL_FACTS:  # so do the label's facts: a field not posted is left as it is
            if product is None or name in request.form:
                value = getattr(self, name).data
                values[name] = LIDOCAINE.get(value) if name == "has_lidocaine" else value
        if admin:  # a manager's form shows the policy fields read-only and never sends them
            values["is_multi_patient"] = self.is_multi_patient.data
            # A limit sent is set on the whole molecule, and a form posts every field: only what the admin changed
            # from what the page showed is sent (for a new product, what was filled in; the rest comes from the
            # molecule).
            values |= {name: value for name, value in self.limits().items() if catalog.limit_key(name, value)
                       != catalog.limit_key(name, getattr(product, name) if product is not None else None)}
        return values

    def gtin_list(self) -> list[str]:
        return [g for g in (self.gtins.data or "").replace(",", "\n").split() if g]


# The label's facts the product form carries beyond what it is and its quantities (service.PRODUCT_FIELDS).
LABEL_FACTS = ("storage", "follow_up_days", "label_source", "usual_max_units_per_session", "labelled_diluent",
               "labelled_diluent_ml", "material", "has_lidocaine", "hyaluronidase_source")
LIDOCAINE = {"yes": True, "no": False}
QUANTITY_FIELDS = ("quantity_per_container", "volume_ml", "strength_per_ml", "session_max_units",
                   "cumulative_max_units", "usual_max_units_per_session", "labelled_diluent_ml")


def _product_form(product: Product | None) -> ProductForm:
    if product is None:
        return ProductForm(formdata=None)
    form = ProductForm(formdata=None, obj=product)
    for name in QUANTITY_FIELDS:  # "100", as people write it, not the column's "100.0000"
        value = getattr(form, name).data
        if isinstance(value, Decimal):
            getattr(form, name).data = Decimal(plain_quantity(value))
    form.has_lidocaine.data = {True: "yes", False: "no"}.get(product.has_lidocaine, "")  # type: ignore[arg-type]
    form.kind.data = product.kind.value
    form.form.data = product.form.value if product.form else ""
    form.gprime_category.data = product.gprime_category.value if product.gprime_category else ""
    form.gtins.data = ", ".join(g.gtin for g in product.gtins)  # one line: an input drops newlines
    form.session_max_areas.data = sorted(catalog.area_codes(product.session_max_areas), key=_area_order)
    return form


def _render_product(product: Product | None, form: ProductForm, status: int = 200,
                    reason_required: bool = False) -> tuple[str, int]:
    same = service.same_molecule(db.session, product) if product is not None else []
    disagreements = catalog.limit_disagreements([product, *same]) if product is not None and same else []
    loosening = service.latest_loosening(db.session, product.id) if product is not None else None
    # Received once, its unit, size, form, concentration and volume are what its stock and history are counted in.
    containers = service.containers_on_file(db.session, product.id) if product is not None else 0
    return render_template(
        "pages/admin_product.html", product=product, form=form, is_admin=current_user.role is Role.ADMIN,
        same_molecule=same, disagreements=disagreements, loosening=loosening, reason_required=reason_required,
        containers_on_file=containers, units=list(dict.fromkeys(u for us in service.KIND_UNITS.values() for u in us)),
        # Who changed the product's limits, sharing and presentation, when and why: a product is the chain's, so
        # on the chain's clock (CLINIC_TZ), as the suppliers page and the recall pages say the chain's moments.
        chain_tz=current_app.config["CLINIC_TZ"],
        trail=trail.lines(db.session, service.audit_trail(db.session, "product", product.id),
                          timezone=current_app.config["CLINIC_TZ"]) if product is not None else [],
    ), status


def _saved(message: str, saved: service.ProductSaved) -> None:
    flash(f"{message} {saved.note}" if saved.note else message, "ok")


@bp.app_template_filter("limit_disagreements")
def _limit_disagreements(kinds: list[tuple[ProductKind, list[Product]]]) -> list[catalog.LimitDisagreement]:
    """The catalog page's products of one molecule that disagree on a dose limit (no query: its own list)."""
    return catalog.limit_disagreements(p for _, products in kinds for p in products)


@bp.app_template_filter("area_names")
def _area_names(value: str | None) -> str:
    return ", ".join(AREA_LABELS.get(a, a) for a in sorted(catalog.area_codes(value), key=_area_order))


def _area_order(area: str) -> int:
    return AREA_VALUES.index(area) if area in AREA_VALUES else len(AREA_VALUES)


@bp.route("/catalog/new", methods=["GET", "POST"])
@page(Permission.CATALOG)
def product_new():
    _refuse_clinic_level()
    if request.method == "GET":
        return _render_product(None, _product_form(None))
    form = ProductForm()
    if not form.validate():
        return _render_product(None, form, 422)
    claim = once.claim_form_key(url_for("pages.catalog"))
    try:
        saved = service.add_product(db.session, actor=current_user, fields=form.fields_for(_is_admin()),
                                    gtins=form.gtin_list(), now=utcnow(),
                                    reason=(form.reason.data or None) if _is_admin() else None)
    except DomainError as error:
        refused(error)
        asks_why = _ask_why(form, error)
        _show_beside(form, error)
        return _render_product(None, form, error.status, reason_required=asks_why)
    _saved(f"{saved.product.name} added to the catalog.", saved)
    return once.answered(claim, redirect(url_for("pages.catalog") + f"#product-{saved.product.id}"))


def _ask_why(form: ProductForm, error: DomainError) -> bool:
    """The service asks for a reason only when the save loosens a rule: the reason field then says which."""
    if error.details.get("field") != "reason":
        return False
    loosened = {item.get("field") for item in error.details.get("loosened") or []}
    if "multi_patient" in loosened:
        form.reason.label.text = "Why (required: this save lets patients share a vial)"
    elif loosened <= set(service.LIMIT_FIELDS):
        form.reason.label.text = "Why (required: this save loosens a dose limit)"
    else:  # the beyond-use time lengthened, the single-dose mark taken off (with a dose limit or not)
        form.reason.label.text = "Why (required: this save loosens what the label allows)"
    form.reason.errors = [error.message]
    return True


# The API's field names a refusal gives (details.field, details.fields) -> the product form's fields.
_FORM_FIELDS = {"multi_patient": "is_multi_patient", "single_dose": "is_single_dose",
                **{api: attribute for attribute, api, _ in service.PRESENTATION_FIELDS}}


def _show_beside(form: ProductForm, error: DomainError) -> None:
    """A refusal naming a field of the form (a manager lengthening the beyond-use time, hyaluronidase unmarked
    single-dose) is said beside it too, what was typed kept; the reason field is ``_ask_why``'s."""
    field = error.details.get("field")
    name = _FORM_FIELDS.get(field, field) if isinstance(field, str) else None
    if name is not None and name != "reason" and name in form:
        form[name].errors = [error.message]


def _keep_presentation(form: ProductForm, error: DomainError, product: Product) -> None:
    """A presentation field refused (product_in_use): shown again as it stays (the page shows it read-only), with
    why beside it; the rest of what was typed is kept."""
    if error.code != service.ProductInUse.code:
        return
    for item in error.details.get("fields") or []:
        name = _FORM_FIELDS.get(item.get("field"))
        if name is None:
            continue
        value = getattr(product, name)
        if name == "form":
            value = value.value if value is not None else ""
        elif isinstance(value, Decimal):
            value = value.normalize()  # "100", as the message says it, not "100.0000"
        getattr(form, name).data = value
        getattr(form, name).errors = [f"Stays {item['from'] if item['from'] is not None else 'empty'}: containers "
                                      "of it are on file. A new presentation is a new product."]


def _is_admin() -> bool:
    return bool(current_user.role is Role.ADMIN)


def _refuse_clinic_level() -> None:
    """The product forms are a chain-level user's: a clinic-level manager or admin reads the catalog page."""
    if not service.may_change_catalog(current_user):
        abort(403, service.PRODUCTS_ARE_THE_CHAINS)


@bp.route("/catalog/<int:product_id>/edit", methods=["GET", "POST"])
@page(Permission.CATALOG)
def product_edit(product_id: int):
    _refuse_clinic_level()
    product = db.session.get(Product, product_id)
    if product is None:
        abort(404, f"No product with id {product_id}.")
    if request.method == "GET":
        return _render_product(product, _product_form(product))
    form = ProductForm()
    if not form.validate():
        return _render_product(product, form, 422)
    try:
        saved = service.change_product(db.session, actor=current_user, product_id=product_id,
                                       fields=form.fields_for(_is_admin(), product), gtins=form.gtin_list(),
                                       now=utcnow(), reason=form.reason.data if _is_admin() else None)
    except DomainError as error:
        refused(error)
        asks_why = _ask_why(form, error)
        _show_beside(form, error)
        _keep_presentation(form, error, product)  # as saved: the refusal rolled the request back
        return _render_product(product, form, error.status, reason_required=asks_why)
    _saved(f"{product.name} saved.", saved)
    return redirect(url_for("pages.catalog") + f"#product-{product_id}")


# --- locations --------------------------------------------------------------------------------------

LOCATION_KINDS = [SelectChoice(k.value) for k in LocationKind]


class LocationForm(FlaskForm):
    clinic_id = SelectField("Clinic", coerce=int)
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    kind = SelectField("Kind", choices=LOCATION_KINDS)
    temperature_sensitive = BooleanField("Temperature-sensitive (an excursion here holds what it keeps)")
    # "1" once the admin ticked or unticked the box themself (vialog.js): only then is an unticked box a no. Else
    # an unticked box says nothing, and the location is what its kind is (a fridge: temperature-sensitive).
    temperature_chosen = HiddenField(default="")
    form_key = once.FormKeyField()

    def temperature(self) -> bool | None:
        """Ticked: yes. Unticked: no when the admin said so, else None (the service's default for the kind)."""
        if self.temperature_chosen.data == "1":
            return bool(self.temperature_sensitive.data)
        return True if self.temperature_sensitive.data else None


class LocationEditForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the location a name."), Length(max=120)])
    kind = SelectField("Kind", choices=LOCATION_KINDS)
    temperature_sensitive = BooleanField("Temperature-sensitive")


# Locations listed at once, each with its form; beyond it (a chain whose clinics keep many kits) the page lists
# the clinics, each with its count, and one clinic's locations once it is chosen.
LOCATIONS_AT_ONCE = 200


def _render_locations(form: LocationForm | None = None, status: int = 200,
                      clinic_id: int | None = None, edited: tuple[int, LocationEditForm] | None = None) -> tuple[str, int]:
    """``edited``: a location's form as posted and refused, shown in its place with what was typed and why."""
    form = form or LocationForm(formdata=None)
    form.clinic_id.choices = _clinic_choices()
    if clinic_id is not None and form.clinic_id.data is None:
        form.clinic_id.data = clinic_id
    try:
        shown = scope().narrowed_to(db.session, clinic_id)
    except DomainError as error:
        refused(error)
        status, clinic_id, shown = error.status, None, scope()
    per_clinic = service.locations_per_clinic(db.session, scope())
    too_many = clinic_id is None and sum(c.active + c.retired for c in per_clinic) > LOCATIONS_AT_ONCE
    locations = [] if too_many else service.list_locations(db.session, shown)  # too many: the clinics first
    edit_forms = {loc.id: LocationEditForm(formdata=None, obj=loc, prefix=f"loc{loc.id}", kind=loc.kind.value)
                  for loc in locations}
    if edited is not None and edited[0] in edit_forms:
        edit_forms[edited[0]] = edited[1]
    return render_template("pages/admin_locations.html", locations=locations, form=form, edit_forms=edit_forms,
                           per_clinic=per_clinic, clinic_id=clinic_id, too_many=too_many), status


def _clinic_asked() -> int | None:
    return request.args.get("clinic_id", type=int)


@bp.get("/locations")
@page(Permission.CATALOG)
def locations():
    return _render_locations(clinic_id=_clinic_asked())


@bp.post("/locations")
@page(Permission.CATALOG)
def location_create():
    form = LocationForm()
    form.clinic_id.choices = _clinic_choices()
    if not form.validate():
        return _render_locations(form, 422, clinic_id=_clinic_asked())
    claim = once.claim_form_key(url_for("pages.locations"))
    try:
        location = service.create_location(
            db.session, actor=current_user, scope=scope(), clinic_id=form.clinic_id.data, name=form.name.data,
            kind=form.kind.data, temperature_sensitive=form.temperature(), now=utcnow(),
        )
    except DomainError as error:
        refused(error)
        return _render_locations(form, error.status, clinic_id=_clinic_asked())
    cold = " It is temperature-sensitive: an excursion there holds what it keeps." if location.temperature_sensitive \
        else ""
    flash(f"{location.name} added.{cold}", "ok")
    return once.answered(claim, redirect(url_for("pages.locations", clinic_id=location.clinic_id)))


@bp.post("/locations/<int:location_id>")
@page(Permission.CATALOG)
def location_update(location_id: int):
    form = LocationEditForm(prefix=f"loc{location_id}")
    action = request.form.get("action", "save")
    try:
        if action in ("retire", "restore"):
            location = service.update_location(db.session, actor=current_user, scope=scope(),
                                               location_id=location_id, now=utcnow(), active=action == "restore")
        elif form.validate():
            location = service.update_location(
                db.session, actor=current_user, scope=scope(), location_id=location_id, now=utcnow(),
                name=form.name.data, kind=form.kind.data, temperature_sensitive=form.temperature_sensitive.data,
            )
        else:  # the form's message beside its field, with what was typed
            return _render_locations(status=422, clinic_id=_clinic_asked(), edited=(location_id, form))
    except DomainError as error:
        refused(error)
        if action in ("retire", "restore"):
            return _render_locations(status=error.status, clinic_id=_clinic_asked())
        if error.details.get("field") in form:
            form[error.details["field"]].errors = [error.message]
        return _render_locations(status=error.status, clinic_id=_clinic_asked(), edited=(location_id, form))
    flash(f"{location.name} {'retired' if not location.is_active else 'saved'}.", "ok")
    return redirect(url_for("pages.locations", clinic_id=location.clinic_id, _anchor=f"location-{location.id}"))


# --- clinics ----------------------------------------------------------------------------------------


class ClinicForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=20)])
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    timezone = StringField("Time zone (e.g. Europe/Paris)", validators=[DataRequired(), Length(max=64)])
    filler_hold_days = IntegerField("Days an opened filler is held for the same patient", default=0,
                                    validators=[InputRequired(), NumberRange(0, service.MAX_SETTING_DAYS)])
    kit_warning_days = IntegerField("Kit warning horizon (days)", default=30,
                                    validators=[InputRequired(), NumberRange(0, service.MAX_SETTING_DAYS)])
    # Only the clinic's own page shows the box; a clinic opened from the list starts with it off, as in the API.
    receipts_need_supplier = BooleanField("Every receipt names its supplier")
    # Why: the service requires it when the save loosens a setting (service.loosened_settings).
    reason = TextField("Why (needed when a save loosens a setting: an opened filler held more days than before, or "
                       "receipts no longer needing their supplier)",
                       validators=[Optional(), Length(max=service.MAX_LIMIT_REASON)])
    form_key = once.FormKeyField()

    def settings(self) -> service.ClinicSettings:
        return service.ClinicSettings(filler_hold_days=self.filler_hold_days.data,
                                      kit_warning_days=self.kit_warning_days.data,
                                      receipts_need_supplier=self.receipts_need_supplier.data)


_SETTING_ASKS = {frozenset({"filler_hold_days"}): "Why (required: this save holds an opened filler more days)",
                 frozenset({"receipts_need_supplier"}): "Why (required: this save lets boxes in without their "
                                                        "supplier)"}


def _ask_why_for_clinic(form: ClinicForm, error: DomainError) -> None:
    """A setting loosened without a reason: the refusal beside the reason field, which says it is required."""
    if error.details.get("field") == "reason":
        loosened = {item.get("field") for item in error.details.get("loosened") or []}
        form.reason.label.text = _SETTING_ASKS.get(frozenset(loosened), "Why (required: this save loosens safety "
                                                                        "settings)")
        form.reason.errors = [error.message]
    elif error.details.get("field") in form:
        form[error.details["field"]].errors = [error.message]


def _render_clinics(form: ClinicForm | None = None, status: int = 200) -> tuple[str, int]:
    return render_template("pages/admin_clinics.html", clinics=service.list_clinics(db.session, scope()),
                           form=form or ClinicForm(formdata=None), chain_level=scope().clinic_ids is None,
                           zones=service.time_zones()), status


@bp.get("/clinics")
@page(Permission.USERS)
def clinics():
    return _render_clinics()


@bp.post("/clinics")
@page(Permission.USERS)
def clinic_create():
    form = ClinicForm()
    if not form.validate():
        return _render_clinics(form, 422)
    claim = once.claim_form_key(url_for("pages.clinics"))
    try:
        clinic = service.create_clinic(db.session, actor=current_user, scope=scope(), code=form.code.data,
                                       name=form.name.data, timezone=form.timezone.data, settings=form.settings(),
                                       now=utcnow(), reason=form.reason.data)
    except DomainError as error:
        refused(error)
        _ask_why_for_clinic(form, error)
        return _render_clinics(form, error.status)
    flash(Markup("{} opened: <a href=\"{}\">add its locations</a> next, then <a href=\"{}\">its people</a>.").format(
        clinic.name, url_for("pages.locations", clinic_id=clinic.id, _anchor="new-location"),
        url_for("pages.users", clinic_id=clinic.id, _anchor="new-user")), "ok")
    return once.answered(claim, redirect(url_for("pages.clinic_settings", clinic_id=clinic.id)))


class DoseRangeForm(FlaskForm):
    molecule = StringField("Molecule", validators=[DataRequired(), Length(max=60)])
    area = SelectField("Area", choices=choices_of(AREA_LABELS.items()))
    low = QuantityField("Usual low (units)", validators=[Optional()])
    high = QuantityField("Usual high (units)", validators=[Optional()])
    reason = TextField("Why (needed when the high is above the chain's)", validators=[Optional(), Length(max=300)])


def _render_clinic(clinic_id: int, form: ClinicForm | None = None, range_form: DoseRangeForm | None = None,
                   status: int = 200) -> tuple[str, int]:
    clinic = service.get_clinic(db.session, clinic_id, scope())
    form = form or ClinicForm(formdata=None, obj=clinic)
    molecules = sorted({m for m in db.session.scalars(select(Product.molecule)) if m is not None})
    return render_template("pages/admin_clinic.html", clinic=clinic, form=form,
                           range_form=range_form or DoseRangeForm(formdata=None), molecules=molecules,
                           zones=service.time_zones(), setup=service.clinic_setup(db.session, clinic),
                           ranges=service.dose_ranges(db.session, clinic.id), area_labels=AREA_LABELS,
                           trail=trail.lines(db.session, service.audit_trail(db.session, "clinic", clinic.id),
                                             timezone=clinic.timezone)), status


@bp.get("/clinics/<int:clinic_id>")
@page(Permission.USERS)
def clinic_settings(clinic_id: int):
    try:
        return _render_clinic(clinic_id)
    except DomainError as error:
        abort(error.status, error.message)


@bp.post("/clinics/<int:clinic_id>")
@page(Permission.USERS)
def clinic_update(clinic_id: int):
    try:
        service.get_clinic(db.session, clinic_id, scope())
    except DomainError as error:
        abort(error.status, error.message)
    form = ClinicForm()
    if not form.validate():
        return _render_clinic(clinic_id, form, status=422)
    try:
        service.update_clinic(db.session, actor=current_user, scope=scope(), clinic_id=clinic_id, now=utcnow(),
                              code=form.code.data, name=form.name.data, timezone=form.timezone.data,
                              settings=form.settings(), reason=form.reason.data)
    except DomainError as error:
        refused(error)
        _ask_why_for_clinic(form, error)
        return _render_clinic(clinic_id, form, status=error.status)
    flash("Clinic settings saved.", "ok")
    return redirect(url_for("pages.clinic_settings", clinic_id=clinic_id))



@bp.post("/clinics/<int:clinic_id>/dose-ranges")
@page(Permission.USERS)
def clinic_dose_range(clinic_id: int):
    try:
        service.get_clinic(db.session, clinic_id, scope())
    except DomainError as error:
        abort(error.status, error.message)
    form = DoseRangeForm()
    if not form.validate():
        return _render_clinic(clinic_id, range_form=form, status=422)
    try:
        service.set_dose_range(db.session, actor=current_user, scope=scope(), clinic_id=clinic_id,
                               molecule=form.molecule.data, area=form.area.data, low=form.low.data,
                               high=form.high.data, reason=form.reason.data, now=utcnow())
    except DomainError as error:
        refused(error)
        return _render_clinic(clinic_id, range_form=form, status=error.status)
    removed = form.low.data is None and form.high.data is None
    flash("The clinic's own range was removed: the chain's default applies." if removed else "Typical range saved.",
          "ok")
    return redirect(url_for("pages.clinic_settings", clinic_id=clinic_id))
