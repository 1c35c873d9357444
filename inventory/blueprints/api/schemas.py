"""Request and response models of the API. They validate requests and generate the OpenAPI document."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, StringConstraints
from pydantic import WithJsonSchema
from pydantic_core import PydanticCustomError
from sqlalchemy.orm import object_session

from inventory import MAX_DATABASE_ID, errors, validators
from inventory.models import Clinic, Container, Location, Lot, Product
from inventory.models.base import plain_quantity
from inventory.services import container_history


def _plain_text(multiline: bool, max_length: int) -> BeforeValidator:
    # Before the type's own stripping: str.strip() would quietly drop U+001C-U+001F and U+0085 at the ends.
    def check(value: Any) -> Any:
        if isinstance(value, str):
            problem = validators.text_problem(value, multiline=multiline, max_length=max_length)
            if problem is not None:
                raise ValueError(problem)
        return value

    return BeforeValidator(check)


@dataclass(frozen=True)
class PlainText(annotated_types.GroupedMetadata):
    """``Annotated[str, PlainText(200)]``: free text a person typed, checked by the one text validator
    (inventory/validators.py): no control characters (tab and line breaks only when ``multiline``), lone
    surrogates or non-characters, and the length the OpenAPI document states. Codes a scanner sends (GS
    separators) are not free text: see Scanned."""

    max_length: int = 200
    min_length: int = 1
    multiline: bool = False

    def __iter__(self) -> Iterator[Any]:
        yield StringConstraints(strip_whitespace=True, min_length=self.min_length, max_length=self.max_length)
        yield _plain_text(self.multiline, self.max_length)


@dataclass(frozen=True)
class Scanned(annotated_types.GroupedMetadata):
    """``Annotated[str, Scanned(500)]``: a code as a scanner sent it. GS (U+001D) separates GS1 fields and a
    scanner may end with a tab or a line break; any other control character is refused."""

    max_length: int = 500

    def __iter__(self) -> Iterator[Any]:
        max_length = self.max_length

        def check(value: Any) -> Any:
            if isinstance(value, str):
                problem = validators.text_problem(value.replace("\x1d", ""), multiline=True, max_length=max_length)
                if problem is not None:
                    raise ValueError(problem)
            return value

        yield StringConstraints(min_length=1, max_length=max_length)
        yield BeforeValidator(check)


Text = Annotated[str, PlainText(200)]
# Quantities travel as decimal strings without trailing zeros: "4", "0.55", "100".
Qty = Annotated[Decimal, PlainSerializer(plain_quantity, return_type=str, when_used="json")]


def _typed_quantity(value: Any) -> Any:
    # Custom errors: a ValueError's message would reach the nurse as "Value error, Quantity: ...".
    # A JSON number is refused, as API.md says: a float may already have lost the dose's digits in the sender.
    if not isinstance(value, str | Decimal):
        raise PydanticCustomError("quantity", 'a quantity is a decimal string in quotes, such as "4" or "0.1"')
    try:
        return validators.parse_quantity(str(value))
    except errors.ValidationError as error:
        # The field's name comes first in the API's message already: "quantity: -2 is below zero. ..."
        raise PydanticCustomError("quantity", error.message.removeprefix("Quantity: ")) from None


# A quantity someone typed: the same validator as the pages (parse_quantity), and its shape in OpenAPI.
QtyIn = Annotated[
    Decimal,
    BeforeValidator(_typed_quantity),
    WithJsonSchema({"type": "string", "pattern": validators.QUANTITY_PATTERN,
                    "description": 'a decimal string, e.g. "4" or "0.1": at most 4 digits and 4 decimals'}),
]


# --- ids, dates and times in a JSON body ----------------------------------------------------------
# A body is validated strictly (inventory/blueprints/api/core.py, ``_read_input``): an integer field takes a JSON
# integer only (not true, 3.0 or "3"), a boolean true or false only, a list a list. JSON has no date or time, so
# those arrive as strings, which strict validation of the parsed body would refuse: Day and Moment read them here,
# in the one shape API.md gives them. A query string keeps its lax reading ("?limit=50" is text by nature).

MAX_ID = MAX_DATABASE_ID  # ids are INTEGER on PostgreSQL
# An id in a body (a JSON integer, strictly) or a query: the one API id type every schema module imports.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MOMENT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
                     r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?")
_OFFSET = re.compile(r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$")


def _day(value: Any) -> Any:
    # The error types are pydantic's own: plain_problem (core.py) says each in words, from what was sent.
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("date_type", "Input should be a date string")
    if not _DAY.fullmatch(value):
        raise PydanticCustomError("date_parsing", "Input should be a date like 2027-03-31")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("date_value", "Input should be a day of the calendar") from None


def _moment(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise PydanticCustomError("timezone_aware", "Input should have its offset")
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("datetime_type", "Input should be a date and time string")
    if not _MOMENT.fullmatch(value):
        raise PydanticCustomError("datetime_parsing", "Input should be a date and time like 2027-03-31T14:30:00Z")
    if not _OFFSET.search(value):
        raise PydanticCustomError("timezone_aware", "Input should have its offset")
    try:
        return dt.datetime.fromisoformat(value.upper())
    except ValueError:
        raise PydanticCustomError("datetime_value", "Input should be a moment of the calendar") from None


# A date: "YYYY-MM-DD" only (not a time, a number or "31/03/2027"). OpenAPI: a string of format date.
Day = Annotated[dt.date, BeforeValidator(_day)]
# A moment: ISO 8601 with its offset ("2027-03-31T14:30:00Z", "...T09:30:00-05:00"), never a bare time, a
# date alone or a Unix timestamp. OpenAPI: a string of format date-time.
Moment = Annotated[dt.datetime, BeforeValidator(_moment)]


def _id_or_label(value: Any) -> Any:
    # Before the union: true or 3.0 is one problem of the field, not one per member ("a whole number", "text").
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError("id_or_label", "Input should be an id or a label code")
    return value


# A container named by its id or by its label as scanned: a numeric string is read as the id
# (scanning.container_id_of), as a scanner that sends digits means it.
ID_OR_LABEL = BeforeValidator(_id_or_label)
ContainerRef = Annotated[Id | Annotated[str, Scanned(500)], ID_OR_LABEL]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- auth -------------------------------------------------------------------


class TokenIn(Model):
    username: Annotated[str, PlainText(80)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    # A password an admin set (a new account, a reset) is replaced before the first token: an integration that
    # provisions its own account sends its own password here, with the one the admin gave as ``password``.
    new_password: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


class TokenOut(Model):
    token: str
    expires_at: dt.datetime
    role: str


# --- catalog ------------------------------------------------------------------


class ClinicOut(Model):
    id: int
    code: str
    name: str
    timezone: str

    @classmethod
    def of(cls, clinic: Clinic) -> ClinicOut:
        return cls(id=clinic.id, code=clinic.code, name=clinic.name, timezone=clinic.timezone)


class ClinicList(Model):
    clinics: list[ClinicOut]


class LocationOut(Model):
    id: int
    clinic_id: int
    name: str
    kind: str

    @classmethod
    def of(cls, location: Location) -> LocationOut:
        return cls(id=location.id, clinic_id=location.clinic_id, name=location.name, kind=location.kind.value)


class LocationList(Model):
    locations: list[LocationOut]


class ProductOut(Model):
    id: int
    name: str
    brand: str
    manufacturer: str | None = Field(default=None, description="as on the label; null: not on file (the adverse "
                                                               "event report then says so)")
    kind: str
    base_unit: str
    gtins: list[str]
    units_per_container: Qty = Field(description="base units in one vial, syringe or item")
    requires_reconstitution: bool
    beyond_use_hours: int | None
    labelled_diluent_ml: Qty | None
    is_multi_patient: bool
    gprime_category: str | None
    gprime_pa: int | None
    has_lidocaine: bool | None
    hyaluronidase_source: str | None
    strength_per_ml: Qty | None
    storage: str
    # Administration (v1 additions).
    molecule: str | None = None
    form: str | None = Field(default=None, description="powder, liquid or gel; null for supplies")
    concentration_per_ml: Qty | None = Field(default=None, description="base units per mL of a liquid")
    volume_ml: Qty | None = Field(default=None, description="mL in one container of a liquid or gel")
    single_dose: bool = False
    multi_patient: bool = False
    # The label's dose limits, the molecule's: every product of a molecule holds the same (inventory/admin/service.py).
    session_max_units: Qty | None = None
    session_max_areas: list[str] = Field(default_factory=list,
                                         description="the areas the session maximum covers; empty: every area")
    cumulative_max_units: Qty | None = None
    cumulative_window_days: int | None = Field(default=None, description="the window of cumulative_max_units")
    retreat_interval_days: int | None = None
    active: bool = Field(default=True, description="false: retired, no longer received; its history stays")

    @classmethod
    def of(cls, product: Product) -> ProductOut:
        return cls(
            id=product.id, name=product.name, brand=product.brand, kind=product.kind.value,
            manufacturer=(product.manufacturer or "").strip() or None,
            base_unit=product.base_unit, gtins=[g.gtin for g in product.gtins],
            units_per_container=product.quantity_per_container,
            requires_reconstitution=product.requires_reconstitution,
            beyond_use_hours=product.beyond_use_hours, labelled_diluent_ml=product.labelled_diluent_ml,
            is_multi_patient=product.is_multi_patient,
            gprime_category=product.gprime_category.value if product.gprime_category else None,
            gprime_pa=product.gprime_pa, has_lidocaine=product.has_lidocaine,
            hyaluronidase_source=product.hyaluronidase_source, strength_per_ml=product.strength_per_ml,
            storage=product.storage, molecule=product.molecule, form=product.form.value if product.form else None,
            concentration_per_ml=product.strength_per_ml, volume_ml=product.volume_ml,
            single_dose=product.is_single_dose, multi_patient=product.is_multi_patient,
            session_max_units=product.session_max_units,
            session_max_areas=[a for a in (product.session_max_areas or "").split(",") if a],
            cumulative_max_units=product.cumulative_max_units, cumulative_window_days=product.cumulative_window_days,
            retreat_interval_days=product.retreat_interval_days, active=product.is_active,
        )


class ProductList(Model):
    products: list[ProductOut]


class ProductRef(Model):
    id: int
    name: str
    kind: str
    base_unit: str


# --- lots and containers ------------------------------------------------------


class LotOut(Model):
    id: int
    product_id: int
    product_name: str
    number: str
    expiry: dt.date
    expiry_raw: str | None
    status: Literal["active", "quarantined", "recalled"]
    status_reason: str | None

    @classmethod
    def of(cls, lot: Lot) -> LotOut:
        return cls(
            id=lot.id, product_id=lot.product_id, product_name=lot.product.name, number=lot.number,
            expiry=lot.expiry, expiry_raw=lot.expiry_raw, status=lot.status.value, status_reason=lot.status_reason,
        )


class LotList(Model):
    lots: list[LotOut]


class ClinicQuery(Model):
    """A list of the caller's clinics' things, narrowed to one of them as the kit board is
    (Scope.narrowed_to: another clinic, or one not on file, is 404 not_found)."""

    clinic_id: Id | None = Field(default=None, description="one of your clinics; left out: all of them")


class LotQuery(Model):
    number: Annotated[str, PlainText(40, min_length=0)] | None = None
    gtin: Annotated[str, PlainText(20, min_length=0)] | None = None


class ContainerOut(Model):
    id: int
    label_code: str
    product: ProductRef
    lot: LotOut
    state: Literal["sealed", "in_use", "empty", "discarded", "in_transit"]
    remaining: Qty
    base_unit: str
    concentration_u_per_ml: Qty | None
    diluent_ml: Qty | None
    reconstituted_at: dt.datetime | None
    beyond_use_at: dt.datetime | None
    patient_id: int | None
    clinic_id: int
    location_id: int
    on_hold: bool = Field(default=False, description="held (a cold-chain excursion): no draw, mixing, kit or transfer to another clinic; it may be moved to another place of its clinic, keeping its hold")
    hold_reason: str | None = None
    lost_in_transit: bool = Field(
        default=False,
        description="never arrived where it was sent (declared missing on receipt, or with the whole box lost): "
                    "written off (state discarded) at the clinic and location it left from, which clinic_id and "
                    "location_id still name; it is on no shelf there")
    lost_in_transit_transfer_id: int | None = Field(
        default=None, description="when lost_in_transit: the transfer it was lost on; null otherwise")

    @classmethod
    def of(cls, c: Container, *, lost: Mapping[int, container_history.LostInTransit] | None = None) -> ContainerOut:
        """``lost``: the containers lost in transit of a list this one is in, looked up once for the whole list
        (``container_history.lost_in_transit``); without it, looked up here (a statement only for a discarded
        container)."""
        if lost is None:
            session = object_session(c)
            lost = container_history.lost_in_transit(session, [c]) if session is not None else {}
        loss = lost.get(c.id)
        return cls(
            id=c.id, label_code=c.label_code,
            product=ProductRef(id=c.product.id, name=c.product.name, kind=c.product.kind.value, base_unit=c.product.base_unit),
            lot=LotOut.of(c.lot), state=c.state.value, remaining=c.remaining, base_unit=c.product.base_unit,
            concentration_u_per_ml=c.concentration_u_per_ml, diluent_ml=c.diluent_ml,
            reconstituted_at=c.reconstituted_at, beyond_use_at=c.beyond_use_at, patient_id=c.patient_id,
            clinic_id=c.clinic_id, location_id=c.location_id, on_hold=c.on_hold_since is not None,
            hold_reason=c.hold_reason, lost_in_transit=loss is not None,
            lost_in_transit_transfer_id=loss.transfer_id if loss is not None else None,
        )


# --- scans and receipts ---------------------------------------------------------


class ScanIn(Model):
    code: Annotated[str, Scanned(500)]


class ScanOut(Model):
    kind: Literal["gs1", "gtin", "container"]
    gtin: str | None
    lot: str | None
    expiry: dt.date | None
    expiry_raw: str | None
    serial: str | None
    product: ProductOut | None
    lot_record: LotOut | None = Field(description="the lot on file, if Vialog knows it")
    container: ContainerOut | None
    warnings: list[str]


def _details_required(schema: dict[str, Any]) -> None:
    # Required in the document, though the model defaults it: json_error writes {} when there is nothing more to say.
    # (json_schema_serialization_defaults_required would split the model into -Input and -Output schemas.)
    schema["required"] = [*schema.get("required", []), "details"]


class ErrorBody(Model):
    """Every error answer's one shape: a stable ``code``, a ``message`` a nurse understands, and ``details`` always (an
    empty object when there is nothing more to say, so a client reads ``error.details.x`` without a test)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_details_required)

    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorOut(Model):
    error: ErrorBody
