"""Request and response models of the kits and expiry-watch API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, RootModel, model_validator

from inventory.blueprints.api.schemas import ID_OR_LABEL, ContainerOut, Id, Model, Qty, QtyIn, Scanned, PlainText
from inventory.kits.models import Kit, KitCheck, KitStatus, KitTemplate
from inventory.kits.service import EXPIRY_WINDOWS, MAX_EXPIRY_DAYS, ClinicWithoutKit, KitReadiness, LocationExpiry

Status = Literal["ready", "expiring_soon", "not_ready"]
Name = Annotated[str, PlainText(120)]


class ReasonOut(Model):
    code: str = Field(description="requirement_short, expiring, quarantined_inside, recalled_inside, "
                                  "expired_inside, never_checked, check_overdue, seal_broken, emergency_use, "
                                  "kit_used (a draw or waste at the kit since its last check, not recorded as "
                                  "an emergency), not_counted_inside, on_hold_inside")
    text: str
    severity: Literal["expiring_soon", "not_ready"]
    data: dict[str, Any]


class KitReadinessOut(Model):
    kit_id: int
    name: str
    location: str
    status: Status
    reasons: list[str] = Field(description="the reasons in words, most urgent first")
    details: list[ReasonOut] = Field(description="the same reasons with their data")
    clinic_id: int
    clinic_code: str
    location_id: int
    template: str
    last_check_at: dt.datetime | None
    last_checked_by: str | None

    @classmethod
    def of(cls, state: KitReadiness) -> KitReadinessOut:
        return cls(
            kit_id=state.kit_id, name=state.name, location=state.location, status=state.status.value,
            reasons=[r.text for r in state.reasons], details=[ReasonOut(**r.as_dict()) for r in state.reasons],
            clinic_id=state.clinic_id, clinic_code=state.clinic_code, location_id=state.location_id,
            template=state.template, last_check_at=state.last_check_at, last_checked_by=state.last_checked_by,
        )


class KitReadinessList(RootModel[list[KitReadinessOut]]):
    """A top-level list, as API.md shows it."""


class ClinicWithoutKitOut(Model):
    clinic_id: int
    code: str
    status: Literal["not_ready"] = Field(description="always not_ready: as a kit that is")
    reason: str = Field(description="why, and what to do, in words")
    filler_containers: int = Field(description="filler containers at the clinic, sealed or in use, something left")

    @classmethod
    def of(cls, clinic: ClinicWithoutKit) -> ClinicWithoutKitOut:
        return cls(clinic_id=clinic.clinic_id, code=clinic.clinic_code, status="not_ready", reason=clinic.text,
                   filler_containers=clinic.filler_containers)


class ClinicsWithoutKitOut(Model):
    clinics_without_kit: list[ClinicWithoutKitOut] = Field(
        description="the caller's clinics that hold filler and no emergency kit whose template asks for "
                    "hyaluronidase, by code")


class ClinicsWithoutKitQuery(Model):
    clinic_id: Id | None = Field(default=None, description="one of your clinics; left out: all of them")


class KitCheckIn(Model):
    seal_intact: bool
    notes: Annotated[str, PlainText(2000, min_length=0, multiline=True)] = ""


class KitCheckOut(Model):
    id: int
    kit_id: int
    checked_by: str
    checked_at: dt.datetime
    seal_intact: bool
    notes: str
    status: Status = Field(description="the kit's readiness with this check counted")
    reasons: list[str]
    details: list[ReasonOut]

    @classmethod
    def of(cls, check: KitCheck) -> KitCheckOut:
        return cls(
            id=check.id, kit_id=check.kit_id, checked_by=check.checked_by.username, checked_at=check.checked_at,
            seal_intact=check.seal_intact, notes=check.notes, status=check.status.value,
            reasons=[r["text"] for r in check.reasons], details=[ReasonOut(**r) for r in check.reasons],
        )


class KitOut(Model):
    id: int
    clinic_id: int
    clinic_code: str
    name: str
    template_id: int
    template: str
    location_id: int
    location: str

    @classmethod
    def of(cls, kit: Kit) -> KitOut:
        return cls(id=kit.id, clinic_id=kit.clinic_id, clinic_code=kit.clinic.code, name=kit.name,
                   template_id=kit.template_id, template=kit.template.name, location_id=kit.location_id,
                   location=kit.location.name)


class KitList(Model):
    kits: list[KitOut]


class RequirementLineOut(Model):
    label: str
    need: Qty
    have: Qty = Field(description="what counts: for a kind, the best pool (USP units across products, IU with IU, other units within one product)")
    unit: str | None
    product: str | None = Field(description="the product that counts (for a kind: the best single product)")
    min_days_to_expiry: int
    met: bool


class KitDetailOut(KitOut):
    status: Status
    reasons: list[str]
    details: list[ReasonOut]
    last_check_at: dt.datetime | None
    checklist: list[RequirementLineOut] = Field(description="each requirement and what counts for it")
    contents: list[ContainerOut] = Field(description="the live containers at the kit's location")


class KitIn(Model):
    template_id: Id
    name: Name
    location_id: Id | None = Field(default=None, description="an existing location of kind 'kit'")
    clinic_id: Id | None = Field(default=None, description="or: create a kit location named after the kit here")

    @model_validator(mode="after")
    def _one_place(self) -> KitIn:
        if (self.location_id is None) == (self.clinic_id is None):
            raise ValueError("give location_id (an existing kit location) or clinic_id (a new one), not both")
        return self


class KitContentIn(Model):
    container: Annotated[Id | Annotated[str, Scanned(100)], ID_OR_LABEL] = Field(
        description="container id or Vialog label code, as scanned")


class KitRemoveIn(Model):
    to_location_id: Id


class RequirementIn(Model):
    label: Name
    product_id: Id | None = None
    product_kind: Literal["neuromodulator", "filler", "hyaluronidase", "supply"] | None = None
    min_quantity: Annotated[QtyIn, Field(gt=0)] = Field(
        description="in the product's base unit, as a decimal string"
    )
    min_days_to_expiry: Annotated[int, Field(ge=0, le=3650)] = 0

    @model_validator(mode="after")
    def _product_or_kind(self) -> RequirementIn:
        if (self.product_id is None) == (self.product_kind is None):
            raise ValueError("name either a product_id or a product_kind: one of the two, not both or neither")
        return self


class KitTemplateIn(Model):
    name: Name
    description: Annotated[str, PlainText(2000, min_length=0, multiline=True)] = ""
    check_interval_days: Annotated[int, Field(ge=1, le=365)] = 7
    warning_days: Annotated[int, Field(ge=0, le=365)] = 30
    requirements: Annotated[list[RequirementIn], Field(min_length=1, max_length=50)]


class RequirementOut(Model):
    id: int
    label: str
    product_id: int | None
    product: str | None
    product_kind: str | None
    min_quantity: Qty
    unit: str | None
    min_days_to_expiry: int


class KitTemplateOut(Model):
    id: int
    name: str
    description: str
    check_interval_days: int
    warning_days: int
    requirements: list[RequirementOut]

    @classmethod
    def of(cls, template: KitTemplate) -> KitTemplateOut:
        return cls(
            id=template.id, name=template.name, description=template.description,
            check_interval_days=template.check_interval_days, warning_days=template.warning_days,
            requirements=[
                RequirementOut(
                    id=r.id, label=r.label, product_id=r.product_id, product=r.product.name if r.product else None,
                    product_kind=r.product_kind.value if r.product_kind else None, min_quantity=r.min_quantity,
                    unit=r.product.base_unit if r.product else None, min_days_to_expiry=r.min_days_to_expiry,
                )
                for r in template.requirements
            ],
        )


class KitTemplateList(Model):
    templates: list[KitTemplateOut]


class KitReadinessQuery(Model):
    clinic_id: Id | None = Field(default=None, description="one of your clinics; left out: all of them")
    status: KitStatus | None = Field(default=None, description="only the kits of this status")


class ExpiringQuery(Model):
    days: Annotated[int, Field(ge=0, le=MAX_EXPIRY_DAYS)] = EXPIRY_WINDOWS[0]


class ExpiringLotOut(Model):
    product_id: int
    product: str
    product_kind: str
    lot_id: int
    lot: str
    expiry: dt.date
    days_left: int
    containers: int
    remaining: Qty
    base_unit: str


class ExpiringLocationOut(Model):
    location_id: int
    location: str
    location_kind: str
    clinic_id: int
    clinic_code: str
    lots: list[ExpiringLotOut]

    @classmethod
    def of(cls, place: LocationExpiry) -> ExpiringLocationOut:
        return cls(
            location_id=place.location_id, location=place.location, location_kind=place.location_kind.value,
            clinic_id=place.clinic_id, clinic_code=place.clinic_code,
            lots=[
                ExpiringLotOut(product_id=lot.product_id, product=lot.product, product_kind=lot.product_kind.value,
                               lot_id=lot.lot_id, lot=lot.lot, expiry=lot.expiry, days_left=lot.days_left,
                               containers=lot.containers, remaining=lot.remaining, base_unit=lot.unit)
                for lot in place.lots
            ],
        )


class ExpiringOut(Model):
    days: int
    locations: list[ExpiringLocationOut] = Field(description="by location, soonest first; products never summed")
