"""Request and response models of the counts API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from inventory.blueprints.api.schemas import ContainerRef, Id, Model, Qty, QtyIn, PlainText
from inventory.models import Movement
from inventory.counts.models import Count, CountLine
from inventory.counts.service import MAX_CONTAINERS, LineResult

Status = Literal["draft", "submitted", "posted"]


# --- counts ----------------------------------------------------------------------------------


class CountLineIn(Model):
    container: ContainerRef | None = (
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
    note: Annotated[str, PlainText(2000, min_length=0, multiline=True)] | None = None


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
    is_provisional: bool = Field(description="expected and variance are the ledger as it stood when the line was counted, not yet captured")

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
