"""Request and response models of the reconciliation API."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, create_model

from inventory.blueprints.api.schemas import Id, Model, Qty
from inventory.reconciliation.service import ProductTotals, Reconciliation, ReconciliationRow



# "from" is a keyword, so the model is built by create_model; its stubs reject the **{...} of field definitions.
ReportQuery = create_model(  # type: ignore[call-overload]
    "ReportQuery",
    __base__=Model,
    __doc__="A period of calendar dates in each clinic's time zone, both included; a location, a clinic, or every clinic.",
    **{
        "from": (dt.date, Field(description="first day, YYYY-MM-DD")),
        "to": (dt.date, Field(description="last day, YYYY-MM-DD (included)")),
        "location_id": (Id | None, Field(default=None, description="one location; left out: all your clinics")),
        "clinic_id": (Id | None, Field(default=None, description="one of your clinics; left out: all of them")),
    },
)

_FIGURES = ("opening", "received", "drawn", "wasted", "adjusted", "transfers_in", "transfers_out", "returned",
            "expected_closing", "in_transit_at_end")
IN_TRANSIT_AT_END = (
    "sent from here to another clinic on or before the period's last day (clinic time) and neither received nor "
    "called back or returned by its end; not part of expected_closing"
)


CONTAINERS_COUNTED = (
    "of the lot's containers here, how many the count covered: each container counted by its label, and the sealed "
    "ones a count by lot covered; null without a count"
)
CONTAINERS_AT_COUNT = (
    "how many of the lot's containers the ledger held here when the count was made (submitted); null without a count"
)
PARTLY_COUNTED = (
    "containers_counted < containers_at_count: the count covered only some of the lot's containers here, so counted, "
    "expected_at_count and variance are those of the containers it covered, not of the whole lot"
)
SUPPLIER = (
    "who delivered the lot to this clinic, as on its receipts (several: comma-separated); stock taken in by transfer "
    "names the supplier of the first clinic's receipt, e.g. \"Northfield Medical Wholesale (via transfer from LON)\"; "
    "null when no receipt recorded one"
)

_OVER_COUNTED_ROWS = (
    "added up over the counted rows only (rows_counted of rows); null when none of the product's rows was counted"
)


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
    in_transit_at_end: Qty = Field(description=IN_TRANSIT_AT_END)
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
    containers_counted: int | None = Field(description=CONTAINERS_COUNTED)
    containers_at_count: int | None = Field(description=CONTAINERS_AT_COUNT)
    partly_counted: bool = Field(description=PARTLY_COUNTED)
    supplier: str | None = Field(description=SUPPLIER)

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
            containers_counted=row.containers_counted, containers_at_count=row.containers_at_count,
            partly_counted=row.partly_counted, supplier=row.supplier,
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
    in_transit_at_end: Qty = Field(description=IN_TRANSIT_AT_END)
    counted: Qty | None = Field(description=f"counted, {_OVER_COUNTED_ROWS}")
    expected_at_count: Qty | None = Field(description=f"expected at count, {_OVER_COUNTED_ROWS}")
    variance: Qty | None = Field(description=f"counted - expected_at_count, {_OVER_COUNTED_ROWS}")
    rows: int = Field(description="the product's rows these totals add up")
    rows_counted: int = Field(description="of those rows, the ones a count posted in the period counted")

    @classmethod
    def of(cls, group: ProductTotals) -> ProductTotalsOut:
        return cls(
            product_id=group.product.id, product=group.product.name, base_unit=group.product.base_unit,
            **{name: group.total(name) for name in _FIGURES},
            counted=group.counted_total("counted"), expected_at_count=group.counted_total("expected_at_count"),
            variance=group.counted_total("variance"), rows=len(group.rows), rows_counted=group.rows_counted,
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
