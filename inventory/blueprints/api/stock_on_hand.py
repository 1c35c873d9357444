"""Stock on hand (``GET /stock``): the Stock page's list, a page at a time (inventory/services/stock_on_hand.py)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints

from inventory import validators
from inventory.blueprints.api.core import current_scope, operation
from inventory.blueprints.api.schemas import Id, Model, ProductRef, Qty
from inventory.extensions import db
from inventory.models import GPrimeCategory, ProductKind, utcnow
from inventory.services import stock_on_hand
from inventory.services.permissions import Permission
from inventory.services.stock_on_hand import StockFilters, StockRow


def _blank_is_none(value: Any) -> Any:
    # A filter form sends its "all" choice as an empty value: the same as leaving the parameter out.
    return None if isinstance(value, str) and not value.strip() else value


def _search_text(value: Any) -> Any:
    # A search is words or a code a scanner typed into it: the GS (U+001D) between a GS1 code's fields is part of
    # the code, any other invisible character is refused as in any typed text (PlainText).
    if isinstance(value, str):
        problem = validators.text_problem(value.replace("\x1d", ""), max_length=stock_on_hand.MAX_SEARCH_LENGTH)
        if problem is not None:
            raise ValueError(problem)
    return value


SearchText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=stock_on_hand.MAX_SEARCH_LENGTH),
                       BeforeValidator(_search_text)]


class StockQuery(Model):
    clinic_id: Annotated[Id | None, BeforeValidator(_blank_is_none)] = Field(
        default=None, description="one of the caller's clinics (another: 404); default all of them")
    location_id: Annotated[Id | None, BeforeValidator(_blank_is_none)] = Field(
        default=None, description="one of the caller's locations (another: 404); with clinic_id, one of its own")
    kind: Annotated[Literal["neuromodulator", "filler", "hyaluronidase", "supply"] | None,
                    BeforeValidator(_blank_is_none)] = None
    gprime_category: Annotated[Literal["low", "medium", "high"] | None, BeforeValidator(_blank_is_none)] = Field(
        default=None, description="only fillers of this G' (firmness) category; with a kind, that kind must be filler")
    q: SearchText = Field(
        default="", description="words each found, ignoring case, in the product's name or brand or in the lot "
                                "number (spaces in a lot number ignored: 'ab 12' finds AB12); or a code scanned "
                                "(a Vialog label, a box's GS1 code with its GS separators, a product code)")
    held_only: bool = Field(default=False, description="only containers on hold after a temperature excursion")
    set_aside_only: bool = Field(
        default=False, description="only stock set aside for the safety lead: the containers of a recalled or "
                                   "quarantined lot, and the containers on hold")
    limit: Annotated[int, Field(ge=1, le=stock_on_hand.MAX_LIMIT)] = Field(
        default=stock_on_hand.DEFAULT_LIMIT, description="rows a page")
    cursor: Annotated[Annotated[str, StringConstraints(max_length=40)] | None, BeforeValidator(_blank_is_none)] = Field(
        default=None, description="the previous answer's next_cursor (or previous_cursor); none: the first page")


class StockLotOut(Model):
    id: int
    number: str
    expiry: dt.date
    status: Literal["active", "quarantined", "recalled"]


class StockLocationOut(Model):
    id: int
    name: str
    clinic_id: int
    clinic_code: str


class StockRowOut(Model):
    product: ProductRef
    lot: StockLotOut
    location: StockLocationOut
    sealed: int = Field(description="sealed containers")
    opened: int = Field(description="containers in use")
    remaining: Qty = Field(description="what they hold, in the product's base unit")
    on_hold: int = Field(description="of them, containers on hold after a temperature excursion")
    expired: bool = Field(description="the lot is past its expiry day in the clinic's own time zone")
    label_codes: list[str] = Field(description="the row's containers' labels")

    @classmethod
    def of(cls, row: StockRow) -> StockRowOut:
        product, lot, location = row.product, row.lot, row.location
        return cls(
            product=ProductRef(id=product.id, name=product.name, kind=product.kind.value, base_unit=product.base_unit),
            lot=StockLotOut(id=lot.id, number=lot.number, expiry=lot.expiry, status=lot.status.value),
            location=StockLocationOut(id=location.id, name=location.name, clinic_id=row.clinic.id,
                                      clinic_code=row.clinic.code),
            sealed=row.sealed, opened=row.opened, remaining=row.remaining, on_hold=row.on_hold, expired=row.expired,
            label_codes=[line.label_code for line in row.labels],
        )


class StockList(Model):
    rows: list[StockRowOut]
    next_cursor: str | None = Field(description="the cursor of the next page; null on the last")
    previous_cursor: str | None = Field(description="the cursor of the page before; null on the first")


@operation("GET", "/stock", summary="Stock on hand by product, lot and location, a page at a time",
           permission=Permission.CART, query=StockQuery, response=StockList, errors=(404, 422))
def list_stock(query: StockQuery) -> StockList:
    filters = StockFilters(clinic_id=query.clinic_id, location_id=query.location_id,
                           kind=ProductKind(query.kind) if query.kind else None,
                           gprime_category=GPrimeCategory(query.gprime_category) if query.gprime_category else None,
                           q=query.q, held_only=query.held_only, set_aside_only=query.set_aside_only)
    found = stock_on_hand.stock_on_hand(db.session, current_scope(), now=utcnow(), filters=filters,
                                        limit=query.limit, cursor=query.cursor)
    return StockList(rows=[StockRowOut.of(row) for row in found.rows], next_cursor=found.next_cursor,
                     previous_cursor=found.previous_cursor)
