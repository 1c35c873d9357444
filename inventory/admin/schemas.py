"""API models of the administration: users, products, locations and clinics (API.md "Administration")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from inventory.admin.service import MAX_LIMIT_REASON, ProductSaved
from inventory.blueprints.api.schemas import ClinicOut, Id, LocationOut, Model, PlainText, ProductOut, Qty, QtyIn
from inventory.cart.service import AREA_VALUES
from inventory.errors import DomainError
from inventory.models import Clinic, Location, User
from inventory.services.auth import MIN_PASSWORD_LENGTH

Name = Annotated[str, PlainText(120)]  # a name on labels and lists: one line, no tab or control character
Password = Annotated[str, StringConstraints(min_length=1, max_length=200)]
# A new password: the policy (auth.check_password_policy) says its length in its own words; the document says it too.
NewPassword = Annotated[str, StringConstraints(min_length=1, max_length=200),
                        Field(json_schema_extra={"minLength": MIN_PASSWORD_LENGTH},
                              description=f"at least {MIN_PASSWORD_LENGTH} characters, not the username")]
RoleName = Literal["nurse", "manager", "safety_lead", "admin"]
Days = Annotated[int, Field(ge=0, le=365)]
Positive = Annotated[int, Field(ge=1, le=100_000)]
# A decimal string, as every quantity of the API (API.md): a JSON number is refused, as for a draw.
PositiveQty = Annotated[QtyIn, Field(gt=0)]
Gtin = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]

# --- users ------------------------------------------------------------------------------------------

Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
CHAIN_LEVEL = ("true: every clinic of the chain, clinic_ids empty; false: the clinic_ids, at least one; omitted: "
               "empty clinic_ids means chain level. Only a manager, safety lead or admin may be chain level.")


class UserOut(Model):
    id: int
    username: str
    display_name: str
    role: RoleName
    clinic_ids: list[int] = Field(description="empty: chain level, every clinic")
    chain_level: bool = Field(description="works at every clinic of the chain (then clinic_ids is empty)")
    active: bool
    must_change_password: bool
    last_login_at: dt.datetime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id, username=user.username, display_name=user.display_name, role=user.role.value,
            clinic_ids=[] if user.is_chain_level else sorted(c.id for c in user.clinics),
            chain_level=user.is_chain_level, active=user.is_active,
            must_change_password=user.must_change_password, last_login_at=user.last_login_at,
        )


class UserList(Model):
    users: list[UserOut]


class UserIn(Model):
    username: Username
    password: NewPassword
    role: RoleName
    clinic_ids: list[Id] = Field(default_factory=list, description="empty: chain level")
    chain_level: bool | None = Field(default=None, description=CHAIN_LEVEL)
    display_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""
    active: Literal[True] = Field(default=True, description="a new user is active")


class UserPatch(Model):
    username: Username | None = Field(default=None, description="a rename; refused if another user has it in any case")
    role: RoleName | None = None
    clinic_ids: list[Id] | None = Field(default=None, description="empty: chain level")
    chain_level: bool | None = Field(default=None, description=CHAIN_LEVEL)
    active: bool | None = Field(default=None, description="false ends the user's sessions and tokens at once")
    display_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = None


class PasswordIn(Model):
    password: NewPassword
    current_password: Password | None = Field(default=None, description="needed when users change their own")


# --- catalog ----------------------------------------------------------------------------------------

# The service checks each against the cart's areas (422 validation_error), as the cart checks a draw's.
AreaCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40),
                     Field(json_schema_extra={"enum": list(AREA_VALUES)})]
LimitDays = Annotated[int, Field(ge=1, le=3650)]
MOLECULE = "Set on every product of the molecule."


class ProductFields(Model):
    """Every field optional: a PATCH changes what it carries; a POST needs name, kind, base_unit and the
    units or volume per container."""

    name: Name | None = None
    brand: Annotated[str, PlainText(80, min_length=0)] | None = None
    generic_name: Annotated[str, PlainText(120, min_length=0)] | None = None
    manufacturer: Annotated[str, PlainText(120, min_length=0)] | None = None
    kind: Literal["neuromodulator", "filler", "hyaluronidase", "supply"] | None = None
    base_unit: Annotated[str, PlainText(16)] | None = None
    units_per_container: PositiveQty | None = None
    storage: Annotated[str, PlainText(120, min_length=0)] | None = Field(
        default=None, description="as the label says it, e.g. 2-8 °C or room temperature: receiving and the cold "
                                  "chain read 2-8 °C from it (empty: the kind's rule, 2-8 °C for a toxin)")
    molecule: Annotated[str, PlainText(60, min_length=0)] | None = None
    form: Literal["powder", "liquid", "gel"] | None = None
    concentration_per_ml: PositiveQty | None = Field(default=None, description="base units per mL (liquids)")
    volume_ml: PositiveQty | None = None
    beyond_use_hours: Positive | None = Field(
        default=None, description="hours a vial is used after reconstitution (a powder) or first puncture (a ready-to-"
                                  "use liquid); lengthened or cleared: admin only, with reason")
    labelled_diluent: Annotated[str, PlainText(120, min_length=0)] | None = Field(
        default=None, description="a powder's diluent as its label names it, e.g. 0.9% sodium chloride, "
                                  "preservative-free; null or empty clears it")
    labelled_diluent_ml: PositiveQty | None = Field(
        default=None, description="a powder's labelled diluent volume, 0.5 to 10 mL: reconstitution offers it")
    has_lidocaine: bool | None = Field(default=None, description="a filler's: with lidocaine; null: not said")
    material: Annotated[str, PlainText(40, min_length=0)] | None = Field(
        default=None, description="a filler's material, e.g. HA, CaHA, PLLA")
    hyaluronidase_source: Annotated[str, PlainText(40, min_length=0)] | None = Field(
        default=None, description="hyaluronidase's source, e.g. human recombinant, bovine, ovine")
    usual_max_units_per_session: PositiveQty | None = Field(
        default=None, description="a patient's session total above it draws a warning, never a refusal")
    follow_up_days: LimitDays | None = Field(
        default=None, description="the follow-up a treatment with it sets, in days after the treatment")
    label_source: Annotated[str, PlainText(500, min_length=0)] | None = Field(
        default=None, description="where the label facts come from, e.g. the label or the supplier")
    gprime_category: Literal["low", "medium", "high"] | None = None
    gprime_pa: Positive | None = None
    single_dose: bool | None = Field(
        default=None, description="the label's single-dose vial (one patient, one session); taking it off: admin "
                                  "only, with reason; hyaluronidase is always single-dose (422 always_single_patient)")
    multi_patient: bool | None = Field(
        default=None, description="sharing policy: admin only; never with single_dose (422 validation_error, field "
                                  "multi_patient), never for a filler or hyaluronidase (422 always_single_patient); "
                                  "making a product multi-patient needs reason")
    # The label's dose limits: the molecule's, so a value given is set on every product of the molecule (a new
    # product, or one moved to another molecule, takes the molecule's: a value other than it is refused).
    session_max_units: PositiveQty | None = Field(
        default=None, description=f"admin only; the label's maximum in one session, over session_max_areas. {MOLECULE}")
    session_max_areas: list[AreaCode] | None = Field(
        default=None, max_length=len(AREA_VALUES),
        description=f"admin only; the areas the session maximum covers (null or empty: every area). {MOLECULE}")
    cumulative_max_units: PositiveQty | None = Field(
        default=None, description=f"admin only; the most in any cumulative_window_days (given together). {MOLECULE}")
    cumulative_window_days: LimitDays | None = Field(
        default=None, description=f"admin only; the window of cumulative_max_units. {MOLECULE}")
    retreat_interval_days: Positive | None = Field(
        default=None, description=f"admin only; the shortest interval between two treatments. {MOLECULE}")
    gtins: list[Gtin] | None = Field(default=None, max_length=50, description="replaces the product's GTINs")
    active: bool | None = Field(default=None, description="false retires the product: no longer received")

    def changes(self) -> dict[str, Any]:
        """The fields the request carried, as Product attributes. An explicit null clears an optional fact;
        on a field every product has (name, kind, units, flags) it changes nothing."""
        given = self.model_dump(exclude_unset=True, exclude={"gtins", "reason"})
        changes = {_RENAMED.get(name, name): value for name, value in given.items()}
        return {k: v for k, v in changes.items() if v is not None or k not in _REQUIRED}


# API name -> Product attribute.
_RENAMED = {
    "units_per_container": "quantity_per_container", "concentration_per_ml": "strength_per_ml",
    "single_dose": "is_single_dose", "multi_patient": "is_multi_patient", "active": "is_active",
}
# Product attribute -> API name: a refusal names the field as the request sent it (multi_patient, not is_multi_patient).
_SENT_AS = {attribute: sent for sent, attribute in _RENAMED.items()}


@contextmanager
def fields_named_as_sent() -> Iterator[None]:
    """Around a product service call: a refusal's ``details.field`` names the request's field, not the model's."""
    try:
        yield
    except DomainError as refusal:
        field = refusal.details.get("field")
        if isinstance(field, str) and field in _SENT_AS:
            refusal.details["field"] = _SENT_AS[field]
        raise


_REQUIRED = {"name", "brand", "generic_name", "manufacturer", "kind", "base_unit", "quantity_per_container", "storage",
             "is_single_dose", "is_multi_patient", "is_active"}


class ProductName(Model):
    id: int
    name: str


class ProductAdminOut(ProductOut):
    """A product as the administration answers: with every dose limit, and what the save did to the other products
    of its molecule."""

    session_max_areas: list[str] = Field(default_factory=list,
                                         description="the areas the session maximum covers; empty: every area")
    cumulative_max_units: Qty | None = None
    cumulative_window_days: int | None = None
    labelled_diluent: str | None = None
    material: str | None = None
    usual_max_units_per_session: Qty | None = None
    follow_up_days: int | None = None
    label_source: str = ""
    also_set_on: list[ProductName] = Field(
        default_factory=list, description="the molecule's other products whose dose limits this request set too")
    note: str | None = Field(default=None, description="what the request did beyond the product, in words")

    @classmethod
    def saved(cls, saved: ProductSaved) -> ProductAdminOut:
        product = saved.product
        return cls(**dict(ProductOut.of(product)) | {
            "session_max_areas": [a for a in (product.session_max_areas or "").split(",") if a],
            "cumulative_max_units": product.cumulative_max_units,
            "cumulative_window_days": product.cumulative_window_days,
            "labelled_diluent": product.labelled_diluent, "material": product.material,
            "usual_max_units_per_session": product.usual_max_units_per_session,
            "follow_up_days": product.follow_up_days, "label_source": product.label_source or "",
            "also_set_on": [ProductName(id=p.id, name=p.name) for p in saved.also_set_on],
            "note": saved.note,
        })


LIMIT_REASON = ("why: required when the change loosens a label limit on any product it reaches (a session or "
                "cumulative maximum raised or cleared, a cumulative window or re-treatment interval shortened or "
                "cleared, a session maximum kept over fewer areas), lengthens or clears the beyond-use time, takes "
                "the single-dose mark off or makes the product multi-patient, else 422 validation_error, field reason; "
                "kept in the audit trail whenever given")


class ProductChange(ProductFields):
    """A PATCH: the product fields, and why when it loosens a label limit (DOMAIN.md: never looser without an admin
    recording why)."""

    reason: Annotated[str, PlainText(MAX_LIMIT_REASON, min_length=0)] | None = Field(default=None,
                                                                                      description=LIMIT_REASON)


class ProductCreate(ProductFields):
    name: Name
    kind: Literal["neuromodulator", "filler", "hyaluronidase", "supply"]
    base_unit: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
    reason: Annotated[str, PlainText(MAX_LIMIT_REASON, min_length=0)] | None = Field(
        default=None, description="why: required when the product is added multi-patient, else 422 validation_error, "
                                  "field reason; kept in the audit trail whenever given")


# --- locations --------------------------------------------------------------------------------------

LocationKindName = Literal["room", "fridge", "cart", "storage", "kit"]


class LocationIn(Model):
    clinic_id: Id
    name: Name
    kind: LocationKindName
    temperature_sensitive: bool | None = Field(default=None, description="default: true for a fridge")


class LocationAdminOut(LocationOut):
    temperature_sensitive: bool
    active: bool = Field(description="false: retired, no longer offered anywhere")

    @classmethod
    def of(cls, location: Location) -> LocationAdminOut:
        return cls(id=location.id, clinic_id=location.clinic_id, name=location.name, kind=location.kind.value,
                   temperature_sensitive=location.temperature_sensitive, active=location.is_active)


class LocationPatch(Model):
    name: Name | None = None
    kind: LocationKindName | None = None
    temperature_sensitive: bool | None = None
    active: bool | None = Field(default=None, description="false retires it; refused while it holds stock")


# --- clinics ----------------------------------------------------------------------------------------


class DoseRangeOut(Model):
    molecule: str
    area: str
    low: Qty
    high: Qty
    clinics_own: bool = Field(description="false: the chain's default applies")


class DoseRangeIn(Model):
    molecule: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    area: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    low: PositiveQty | None = Field(default=None, description="low and high null: remove the clinic's own range")
    high: PositiveQty | None = None
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = Field(
        default=None, description="why: required when the high is above the chain's default (a looser range)")


RECEIPTS_NEED_SUPPLIER = ("true: a receipt at this clinic without supplier_id is refused (422 validation_error, "
                          "field supplier_id); default false, as the contract's receipt body has no supplier")


class ClinicAdminOut(ClinicOut):
    filler_hold_days: int
    kit_warning_days: int
    receipts_need_supplier: bool = Field(description=RECEIPTS_NEED_SUPPLIER)
    dose_ranges: list[DoseRangeOut] = Field(default_factory=list, description="typical ranges the cart applies")

    @classmethod
    def of(cls, clinic: Clinic, ranges: list[Any] | None = None) -> ClinicAdminOut:
        return cls(id=clinic.id, code=clinic.code, name=clinic.name, timezone=clinic.timezone,
                   filler_hold_days=clinic.filler_hold_days, kit_warning_days=clinic.kit_warning_days,
                   receipts_need_supplier=clinic.receipts_need_supplier,
                   dose_ranges=[DoseRangeOut(molecule=r.molecule, area=r.area, low=r.low, high=r.high,
                                             clinics_own=r.is_clinics_own) for r in ranges or []])


class ClinicPatch(Model):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)] | None = None
    name: Name | None = None
    timezone: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None
    filler_hold_days: Days | None = None
    kit_warning_days: Days | None = None
    receipts_need_supplier: bool | None = Field(default=None, description=RECEIPTS_NEED_SUPPLIER)
    dose_ranges: list[DoseRangeIn] | None = Field(default=None, max_length=100,
                                                  description="sets (or, with null low and high, removes) these")
    reason: Annotated[str, PlainText(MAX_LIMIT_REASON, min_length=0)] | None = Field(
        default=None, description="why: required when filler_hold_days is made longer (more than the clinic's, or, "
                                  "opening a clinic, more than 0), else 422 validation_error, field reason; kept in "
                                  "the audit trail whenever given")


class ClinicIn(ClinicPatch):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
    name: Name
    timezone: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]

