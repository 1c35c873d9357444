"""Request and response models of receiving."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from inventory.blueprints.api.schemas import ContainerOut, Day, Id, LotOut, Model, Scanned, PlainText
from inventory.receiving import returns


class ReceiptIn(Model):
    code: Annotated[str, Scanned(500)] | None = Field(
        default=None, description="a GS1 string as scanned; or give gtin, lot and expiry"
    )
    gtin: Annotated[str, PlainText(20)] | None = None
    lot: Annotated[str, PlainText(20)] | None = None
    expiry: Day | None = None
    containers: Annotated[int, Field(ge=1, le=500)]
    location_id: Id
    supplier_id: Id | None = Field(
        default=None, description="who delivered it (GET /suppliers); refused unless authorised"
    )
    confirm: list[Literal["separator_lost", "location_not_refrigerated"]] = Field(
        default_factory=list, max_length=2,
        description='"separator_lost": the scanned lot was compared with the box and is right as read; '
                    '"location_not_refrigerated": a box kept at 2-8 °C may go into this place all the same',
    )

    @model_validator(mode="after")
    def _code_or_typed(self) -> ReceiptIn:
        if self.code is None and self.gtin is None:
            raise ValueError("give the scanned code, or gtin, lot and expiry")
        return self


class ReceiptOut(Model):
    receipt_id: int
    lot: LotOut
    containers: list[ContainerOut]
    supplier_id: int | None = None
    supplier: str | None = Field(default=None, description="the supplier's name; null: not recorded")
    serial: str | None = Field(
        default=None, description="the pack serial (GS1 AI 21) read from the code, received once per product in the "
        "chain; null: the code carried none",
    )


class ReturnIn(Model):
    container_ids: list[Id] | None = Field(
        default=None, max_length=500,
        description="the receipt's containers to return; leave out to return every one still sealed and untouched "
                    "since it arrived")
    reason: Annotated[str, PlainText(40)] = Field(
        json_schema_extra={"enum": list(returns.REASON_VALUES)},
        description="why it goes back: " + ", ".join(f"{value} ({words})" for value, words in returns.REASONS))
    note: Annotated[str, PlainText(returns.MAX_NOTE, min_length=0)] | None = Field(
        default=None, description="what was wrong, the delivery note's number; required when reason is 'other'")


class ReturnOut(Model):
    receipt_id: int
    supplier_id: int | None
    supplier: str | None = Field(description="the supplier's name; null: not recorded")
    reason: str
    note: str | None
    returned: list[ContainerOut] = Field(description="each container returned, now empty: out of stock")
    movement_ids: list[int] = Field(description="the return movement of each, in the same order")
    message: str = Field(description="what was returned, in words")

    @classmethod
    def of(cls, done: returns.SupplierReturn) -> ReturnOut:
        return cls(
            receipt_id=done.receipt.id, supplier_id=done.receipt.supplier_id, supplier=done.supplier,
            reason=done.reason, note=done.note, returned=[ContainerOut.of(c, lost={}) for c, _ in done.returned],
            movement_ids=[m.id for _, m in done.returned], message=done.words,
        )
