"""Request and response models of the cart's API: patients, treatments, reconstitution, draws, waste."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from inventory.blueprints.api.schemas import ContainerOut, ContainerRef, Day, Id, Model, Qty, QtyIn, Text, PlainText
from inventory.models import Draw, Movement, Patient, Treatment
from inventory.cart import service as cart

ShortText = Annotated[str, PlainText(200, min_length=0)]


# --- patients ---------------------------------------------------------------------


class PatientIn(Model):
    external_ref: Annotated[str, PlainText(64)]
    name: Annotated[str, PlainText(160)] | None = Field(
        default=None, description="needed when the patient is new"
    )
    date_of_birth: Day | None = None
    clinic_id: Id | None = Field(default=None, description="needed only if the caller works at several clinics")


class PatientQuery(Model):
    external_ref: Annotated[str, PlainText(64)]


class PatientContactIn(Model):
    """Contact details for recall notifications; only the fields given change, null clears one. A phone must be
    a number a person can dial and an email an address a mail can be sent to (422 validation_error, field phone
    or email), as on the patient page: the service checks both, this model only their lengths."""

    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] | None = None
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)] | None = None
    address: Annotated[str, StringConstraints(max_length=500)] | None = None

    @model_validator(mode="after")
    def _something(self) -> PatientContactIn:
        if not self.model_fields_set:
            raise ValueError("give phone, email or address")
        return self


class PatientOut(Model):
    id: int
    clinic_id: int
    external_ref: str
    name: str
    date_of_birth: dt.date | None
    phone: str | None = None
    email: str | None = None
    address: str | None = None

    @classmethod
    def of(cls, patient: Patient) -> PatientOut:
        return cls(
            id=patient.id, clinic_id=patient.clinic_id, external_ref=patient.external_ref, name=patient.name,
            date_of_birth=patient.date_of_birth, phone=patient.phone, email=patient.email, address=patient.address,
        )


class PatientList(Model):
    patients: list[PatientOut]


# --- treatments and draws ----------------------------------------------------------------


class TreatmentIn(Model):
    patient_id: Id
    location_id: Id


class DrawIn(Model):
    container: ContainerRef = Field(description="the container's id or its Vialog label code, as scanned")
    quantity: QtyIn
    unit: Annotated[str, PlainText(16)] = Field(
        description='"U" (the product\'s own units) or "mL"; a supply takes its base unit'
    )
    area: str = Field(json_schema_extra={"enum": list(cart.AREA_VALUES)})
    area_detail: ShortText | None = Field(default=None, description="required when area is 'other'")
    reason: Literal["emergency"] | None = None
    confirm: list[Literal["above_label_max", "above_cumulative_limit", "retreatment_too_soon"]] = Field(
        default_factory=list, max_length=3,
        description="the warnings of a 409 confirmation_required that the injector confirms",
    )
    confirm_reason: ShortText | None = Field(default=None, description="why, when confirming (a touch-up, ...)")
    adverse_event_id: Id | None = Field(
        default=None, description="hyaluronidase only: the adverse event this rescue dose treats (same patient)"
    )


class DoseWarningOut(Model):
    code: str = Field(description="above_typical_range, above_usual_session_total, above_label_max, "
                                  "above_cumulative_limit, retreatment_too_soon")
    message: str


class DrawLineOut(Model):
    """One draw of a treatment, without its container's details."""

    id: int
    movement_id: int = Field(description="the draw's movement: POST /movements/{movement_id}/reverse corrects it")
    container_id: int
    label_code: str
    product_id: int
    product_name: str
    lot_number: str
    quantity_units: Qty = Field(description="in the product's base unit")
    base_unit: str
    quantity_ml: Qty | None
    concentration_u_per_ml: Qty | None
    entered_unit: str
    area: str
    area_detail: str | None
    reason: str | None
    injector_id: int
    at: dt.datetime
    is_reversed: bool
    dose_warnings: list[str] = Field(description="the codes of the dose warnings the injector was shown, if any")
    confirmed_warnings: list[str] = Field(description="those she confirmed, with confirm_reason")
    confirm_reason: str | None

    @classmethod
    def of(cls, draw: Draw, is_reversed: bool = False) -> DrawLineOut:
        container = draw.container
        return cls(
            id=draw.id, movement_id=draw.movement_id, container_id=container.id, label_code=container.label_code,
            product_id=container.product_id, product_name=container.product.name, lot_number=container.lot.number,
            quantity_units=draw.quantity, base_unit=container.product.base_unit, quantity_ml=draw.quantity_ml,
            concentration_u_per_ml=draw.concentration_u_per_ml, entered_unit=draw.entered_unit, area=draw.area,
            area_detail=draw.area_detail, reason=draw.reason, injector_id=draw.injector_id, at=draw.at,
            is_reversed=is_reversed, dose_warnings=_codes(draw.dose_warnings),
            confirmed_warnings=_codes(draw.confirmed_warnings), confirm_reason=draw.confirm_reason,
        )


def _codes(stored: str | None) -> list[str]:
    """A draw keeps its warnings' codes comma-separated."""
    return stored.split(",") if stored else []


class DrawOut(Model):
    id: int
    treatment_id: int
    movement_id: int
    quantity_units: Qty = Field(description="in the product's base unit")
    quantity_ml: Qty | None
    concentration_u_per_ml: Qty | None
    entered_unit: str
    area: str
    area_detail: str | None
    reason: str | None
    at: dt.datetime
    container: ContainerOut
    warnings: list[DoseWarningOut] = Field(description="per patient and molecule; confirmed ones included")
    confirmed_warnings: list[str]
    confirm_reason: str | None
    adverse_event_id: int | None = Field(default=None, description="the adverse event this rescue dose treats")

    @classmethod
    def of(cls, result: cart.DrawResult) -> DrawOut:
        draw = result.draw
        return cls(
            id=draw.id, treatment_id=draw.treatment_id, movement_id=draw.movement_id, quantity_units=draw.quantity,
            quantity_ml=draw.quantity_ml, concentration_u_per_ml=draw.concentration_u_per_ml,
            entered_unit=draw.entered_unit, area=draw.area, area_detail=draw.area_detail, reason=draw.reason,
            at=draw.at, container=ContainerOut.of(result.container),
            warnings=[DoseWarningOut(code=w.code, message=w.message) for w in result.warnings],
            confirmed_warnings=_codes(draw.confirmed_warnings),
            confirm_reason=draw.confirm_reason, adverse_event_id=result.adverse_event_id,
        )


class ProductTotalOut(Model):
    product_id: int
    product_name: str
    base_unit: str
    quantity: Qty

    @classmethod
    def of(cls, total: cart.ProductTotal) -> ProductTotalOut:
        product = total.product
        return cls(
            product_id=product.id, product_name=product.name, base_unit=product.base_unit, quantity=total.quantity
        )


class TreatmentOut(Model):
    id: int
    clinic_id: int
    patient: PatientOut
    location_id: int
    injector_id: int
    started_at: dt.datetime
    closed_at: dt.datetime | None
    follow_up_on: dt.date | None = Field(
        description="as set, or the product's default after the patient's first draw of a molecule; null when none"
    )
    draws: list[DrawLineOut]
    totals: list[ProductTotalOut] = Field(description="per product, leaving out reversed draws; never summed across")

    @classmethod
    def of(cls, treatment: Treatment, summary: cart.TreatmentSummary | None = None) -> TreatmentOut:
        return cls(
            id=treatment.id, clinic_id=treatment.clinic_id, patient=PatientOut.of(treatment.patient),
            location_id=treatment.location_id, injector_id=treatment.injector_id, started_at=treatment.started_at,
            closed_at=treatment.closed_at, follow_up_on=treatment.follow_up_on,
            draws=[DrawLineOut.of(line.draw, line.is_reversed) for line in summary.draws] if summary else [],
            totals=[ProductTotalOut.of(t) for t in summary.totals] if summary else [],
        )


class MovementOut(Model):
    id: int
    kind: str
    container_id: int
    quantity: Qty = Field(description="signed, in the product's base unit")
    balance_after: Qty
    reason: str | None
    note: str | None
    at: dt.datetime
    treatment_id: int | None
    reverses_id: int | None
    container: ContainerOut

    @classmethod
    def of(cls, movement: Movement) -> MovementOut:
        return cls(
            id=movement.id, kind=movement.kind.value, container_id=movement.container_id,
            quantity=movement.quantity, balance_after=movement.balance_after, reason=movement.reason,
            note=movement.note, at=movement.at, treatment_id=movement.treatment_id,
            reverses_id=movement.reverses_id, container=ContainerOut.of(movement.container),
        )


class ClosedTreatmentOut(Model):
    treatment: TreatmentOut
    wasted: list[MovementOut] = Field(description="single-patient remainders wasted on closing")
    held: list[ContainerOut] = Field(description="filler syringes held for this patient by the clinic's policy")
    set_aside: list[ContainerOut] = Field(
        description="single-patient remainders of a quarantined or recalled lot: not wasted, kept for the safety lead")


# --- reconstitution and waste --------------------------------------------------------


class ReconstituteIn(Model):
    diluent_ml: QtyIn
    diluent_name: Text | None = Field(default=None, description="defaults to the product's labelled diluent")
    diluent_lot: Annotated[str, PlainText(40, min_length=0)] | None = None


class WasteIn(Model):
    quantity: QtyIn | None = Field(default=None, description="leave out to waste everything left")
    reason: str = Field(json_schema_extra={"enum": list(cart.WASTE_REASON_VALUES)})
    note: ShortText | None = Field(default=None, description="required when reason is 'other'")


class ReverseIn(Model):
    reason: Text


class BeyondUseWasteIn(Model):
    container_ids: list[Id] | None = Field(
        default=None, max_length=500, description="leave out to waste every container past beyond-use"
    )


class ContainerList(Model):
    containers: list[ContainerOut]


class MovementList(Model):
    movements: list[MovementOut]
