"""Request and response models of the counts and reconciliation API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, create_model, model_validator

from inventory.blueprints.api.schemas import Model, Qty
from inventory.models import Count, CountLine, Movement
from inventory.services.counts import MAX_CONTAINERS, LineResult
from inventory.services.reconciliation import ProductTotals, Reconciliation, ReconciliationRow

Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
QtyIn = Annotated[Decimal, Field(description='a decimal string, e.g. "4" or "0.1"', allow_inf_nan=False)]
Status = Literal["draft", "submitted", "posted"]


# --- counts ----------------------------------------------------------------------------------


class CountLineIn(Model):
    container: Id | Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] | None = (
        Field(default=None, description="a container's id or Vialog label code: what is left in it is counted")
    )
    lot_id: Id | None = Field(default=None, description="a lot: its sealed containers at the location are counted")
    counted: QtyIn | None = Field(
        default=None,
        description="in the product's base unit; left out on a container line it means sealed and full",
    )
    containers: Annotated[int, Field(ge=0, le=MAX_CONTAINERS)] | None = Field(
        default=None, description="sealed containers found (lot lines), instead of or with counted"
    )

    @model_validator(mode="after")
    def _one_target(self) -> CountLineIn:
        if (self.container is None) == (self.lot_id is None):
            raise ValueError('give either "container" or "lot_id"')
        return self


class CountIn(Model):
    location_id: Id
    lines: Annotated[list[CountLineIn], Field(min_length=1, max_length=5000)]
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


class CountQuery(Model):
    location_id: Id | None = None


class CountLineOut(Model):
    id: int
    container_id: int | None = Field(description="empty for a lot line (sealed containers of the lot)")
    label_code: str | None
    lot_id: int
    lot_number: str
    product_id: int
    product_name: str
    base_unit: str
    counted: Qty
    containers_counted: int | None = Field(description="sealed containers found")
    expected: Qty | None = Field(description="what the ledger held: captured at posting, provisional before; "
                                             "never shown for a draft (the sheet is blind)")
    expected_containers: int | None
    variance: Qty | None = Field(description="counted - expected")
    is_provisional: bool = Field(description="expected and variance are today's ledger, not yet captured")

    @classmethod
    def blind(cls, line: CountLine) -> CountLineOut:
        return cls(
            id=line.id, container_id=line.container_id,
            label_code=line.container.label_code if line.container is not None else None, lot_id=line.lot_id,
            lot_number=line.lot.number, product_id=line.lot.product_id, product_name=line.lot.product.name,
            base_unit=line.lot.product.base_unit, counted=line.counted, containers_counted=line.containers_counted,
            expected=None, expected_containers=None, variance=None, is_provisional=False,
        )

    @classmethod
    def of(cls, result: LineResult) -> CountLineOut:
        line = result.line
        return cls(
            id=line.id, container_id=line.container_id,
            label_code=result.container.label_code if result.container is not None else None, lot_id=result.lot.id,
            lot_number=result.lot.number, product_id=result.product.id, product_name=result.product.name,
            base_unit=result.product.base_unit, counted=result.counted, containers_counted=result.containers_counted,
            expected=result.expected, expected_containers=result.expected_containers, variance=result.variance,
            is_provisional=result.is_provisional,
        )


class AdjustmentOut(Model):
    movement_id: int
    container_id: int
    label_code: str
    quantity: Qty = Field(description="signed, in the product's base unit")
    balance_after: Qty

    @classmethod
    def of(cls, movement: Movement) -> AdjustmentOut:
        return cls(movement_id=movement.id, container_id=movement.container_id,
                   label_code=movement.container.label_code, quantity=movement.quantity,
                   balance_after=movement.balance_after)


class CountSummaryOut(Model):
    id: int
    clinic_id: int
    location_id: int
    location_name: str
    status: Status
    counted_by_id: int
    counted_by: str
    started_at: dt.datetime
    counted_at: dt.datetime | None
    approved_by_id: int | None
    approved_by: str | None
    posted_at: dt.datetime | None
    note: str | None
    line_count: int

    @classmethod
    def fields_of(cls, count: Count) -> dict[str, Any]:
        return dict(
            id=count.id, clinic_id=count.clinic_id, location_id=count.location_id, location_name=count.location.name,
            status=count.status.value, counted_by_id=count.counted_by_id, counted_by=count.counted_by.label,
            started_at=count.started_at, counted_at=count.counted_at, approved_by_id=count.approved_by_id,
            approved_by=count.approved_by.label if count.approved_by is not None else None,
            posted_at=count.posted_at, note=count.note, line_count=len(count.lines),
        )

    @classmethod
    def of(cls, count: Count) -> CountSummaryOut:
        return cls(**cls.fields_of(count))


class CountList(Model):
    counts: list[CountSummaryOut]


class CountOut(CountSummaryOut):
    lines: list[CountLineOut]
    variances: list[CountLineOut] = Field(description="the lines whose count differs from the ledger")
    adjustments: list[AdjustmentOut] = Field(description="the ADJUST movements posting wrote (empty before)")


# --- reconciliation ------------------------------------------------------------------------------

ReportQuery = create_model(
    "ReportQuery",
    __base__=Model,
    __doc__="A period of calendar dates in each clinic's time zone, both included; a location, or every clinic.",
    **{
        "from": (dt.date, Field(description="first day, YYYY-MM-DD")),
        "to": (dt.date, Field(description="last day, YYYY-MM-DD (included)")),
        "location_id": (Id | None, Field(default=None, description="one location; left out: all your clinics")),
    },
)

_FIGURES = ("opening", "received", "drawn", "wasted", "adjusted", "transfers_in", "transfers_out", "returned",
            "expected_closing")


class ReconciliationRowOut(Model):
    clinic_id: int
    clinic_code: str
    location_id: int
    location: str
    product_id: int
    product: str
    base_unit: str
    lot_id: int
    lot: str
    expiry: dt.date
    opening: Qty
    received: Qty
    drawn: Qty
    wasted: Qty
    adjusted: Qty
    transfers_in: Qty
    transfers_out: Qty
    returned: Qty
    expected_closing: Qty = Field(
        description="opening + received - drawn - wasted + adjusted + transfers_in - transfers_out - returned"
    )
    count_id: int | None = Field(description="the last count posted in the period for this lot here")
    counted_at: dt.datetime | None
    counted: Qty | None
    expected_at_count: Qty | None
    variance: Qty | None = Field(description="counted - expected_at_count")
    sealed_at_start: int
    sealed_at_end: int
    sealed_counted: int | None
    sealed_expected_at_count: int | None
    sealed_variance: int | None

    @classmethod
    def of(cls, row: ReconciliationRow) -> ReconciliationRowOut:
        return cls(
            clinic_id=row.clinic.id, clinic_code=row.clinic.code, location_id=row.location.id,
            location=row.location.name, product_id=row.product.id, product=row.product.name,
            base_unit=row.product.base_unit, lot_id=row.lot.id, lot=row.lot.number, expiry=row.lot.expiry,
            **{name: getattr(row, name) for name in _FIGURES},
            count_id=row.count_id, counted_at=row.counted_at, counted=row.counted,
            expected_at_count=row.expected_at_count, variance=row.variance, sealed_at_start=row.sealed_opening,
            sealed_at_end=row.sealed_closing, sealed_counted=row.sealed_counted,
            sealed_expected_at_count=row.sealed_expected_at_count, sealed_variance=row.sealed_variance,
        )


class ProductTotalsOut(Model):
    """One product's totals: never added across products."""

    product_id: int
    product: str
    base_unit: str
    opening: Qty
    received: Qty
    drawn: Qty
    wasted: Qty
    adjusted: Qty
    transfers_in: Qty
    transfers_out: Qty
    returned: Qty
    expected_closing: Qty
    variance: Qty

    @classmethod
    def of(cls, group: ProductTotals) -> ProductTotalsOut:
        return cls(
            product_id=group.product.id, product=group.product.name, base_unit=group.product.base_unit,
            **{name: group.total(name) for name in _FIGURES}, variance=group.total_variance(),
        )


class ReconciliationOut(Model):
    period_from: dt.date
    period_to: dt.date
    location_id: int | None
    clinic_ids: list[int]
    rows: list[ReconciliationRowOut]
    totals: list[ProductTotalsOut]

    @classmethod
    def of(cls, rec: Reconciliation) -> ReconciliationOut:
        return cls(
            period_from=rec.period.start, period_to=rec.period.end,
            location_id=rec.location.id if rec.location is not None else None,
            clinic_ids=[c.id for c in rec.clinics], rows=[ReconciliationRowOut.of(r) for r in rec.rows],
            totals=[ProductTotalsOut.of(g) for g in rec.by_product()],
        )
