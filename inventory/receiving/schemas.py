"""Request and response models of receiving."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from inventory.blueprints.api.schemas import ContainerOut, Day, LotOut, Model, Scanned, PlainText


class ReceiptIn(Model):
    code: Annotated[str, Scanned(500)] | None = Field(
        default=None, description="a GS1 string as scanned; or give gtin, lot and expiry"
    )
    gtin: Annotated[str, PlainText(20)] | None = None
    lot: Annotated[str, PlainText(20)] | None = None
    expiry: Day | None = None
    containers: Annotated[int, Field(ge=1, le=500)]
    location_id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    supplier_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(
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
