"""Request and response models of suppliers and the watch list (API.md "Administration", "Clinical safety")."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from inventory.blueprints.api.schemas import Id, LotOut, Model, PlainText
from inventory.counterfeit.models import Supplier, WatchedLot
from inventory.counterfeit.service import MAX_REASON, Unwatched, Watched

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Licence = Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)]


Reason = Annotated[str, PlainText(MAX_REASON, multiline=True)]
LICENCE_HELP = ("wholesale/distribution licence or registration number as printed on the licence: required to "
                "authorise; one without a digit, or of zeros alone (a placeholder such as n/a, tbc, 000), is refused "
                "(422): leave it out until the number is known")
REASON_HELP = ("why the supplier is authorised (who checked its licence, where, and when): required when authorising, "
               "on record (audit supplier.authorised); any other change may carry one too")


class SupplierIn(Model):
    """Authorised (the default) only by a chain-level manager or chain-level admin (403 forbidden otherwise: a clinic-level
    manager adds it with ``authorised`` false, for review), and only with ``licence`` and ``reason`` (422)."""

    name: Name
    licence: Licence | None = Field(default=None, description=LICENCE_HELP)
    authorised: bool = True
    reason: Reason | None = Field(default=None, description=REASON_HELP)


class SupplierPatch(Model):
    """Only the fields given change. Authorising or stopping a supplier, and any change to an authorised one, are a
    chain-level manager's or an admin's (403 forbidden); authorising takes a ``licence`` (given or on file) and a
    ``reason`` (422), and an authorised supplier's licence is not cleared."""

    name: Name | None = None
    licence: Licence | None = Field(default=None, description=LICENCE_HELP)
    authorised: bool | None = None
    reason: Reason | None = Field(default=None, description=REASON_HELP)

    @model_validator(mode="after")
    def _something(self) -> SupplierPatch:
        if not self.model_fields_set - {"reason"}:
            raise ValueError("give name, licence or authorised")
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("a supplier keeps a name")
        if "authorised" in self.model_fields_set and self.authorised is None:
            raise ValueError("authorised is true or false")
        return self


class SupplierOut(Model):
    id: int
    name: str
    licence: str | None
    authorised: bool

    @classmethod
    def of(cls, supplier: Supplier) -> SupplierOut:
        return cls(id=supplier.id, name=supplier.name, licence=supplier.licence, authorised=supplier.is_authorised)


class SupplierList(Model):
    suppliers: list[SupplierOut]


class WatchIn(Model):
    """The product is named by ``product_id``, by ``gtin``, or by both when they name the same product (422 on
    ``gtin`` when they name two)."""

    product_id: Id | None = None
    gtin: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)] | None = None
    lot_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _product(self) -> WatchIn:
        # Neither is refused here; both are the service's to judge (counterfeit._product): taken when they name one
        # product, refused on gtin when they name two.
        if self.product_id is None and self.gtin is None:
            raise ValueError("give product_id or gtin, or both of the same product")
        return self


class WatchedOut(Model):
    id: int
    product_id: int
    product_name: str
    lot_number: str
    source: str
    note: str | None
    added_by: str
    added_at: dt.datetime

    @classmethod
    def of(cls, entry: WatchedLot) -> WatchedOut:
        return cls(id=entry.id, product_id=entry.product_id, product_name=entry.product.name,
                   lot_number=entry.lot_number, source=entry.source, note=entry.note,
                   added_by=entry.added_by.display_name or entry.added_by.username, added_at=entry.added_at)


class WatchedCreated(WatchedOut):
    quarantined_lots: list[LotOut] = Field(
        description="lots on file this entry quarantined at once: of its number, or one that differs from it only by "
                    "punctuation (XE-77812 for XE77812; the lot's status_reason says which)")

    @classmethod
    def of_watched(cls, watched: Watched) -> WatchedCreated:
        return cls(**WatchedOut.of(watched.entry).model_dump(),
                   quarantined_lots=[LotOut.of(lot) for lot in watched.quarantined])


class WatchList(Model):
    entries: list[WatchedOut]


class UnwatchIn(Model):
    reason: Annotated[str, PlainText(MAX_REASON, multiline=True)] = Field(
        description="why the lot is taken off the watch list (who confirmed it genuine, and how): on record")


class UnwatchDeleteIn(Model):
    """DELETE's body: optional, as the contract's DELETE carries none (clients from before reasons keep working)."""

    reason: Annotated[str, PlainText(MAX_REASON, multiline=True)] | None = Field(
        default=None, description="why the lot is taken off the watch list; recorded as not given when absent")


class UnwatchedOut(WatchedOut):
    reason: str
    quarantined_lots: list[LotOut] = Field(
        description="lots of that number that stay quarantined: release each (POST /lots/<id>/release) if it may "
                    "be used again")

    @classmethod
    def of_unwatched(cls, unwatched: Unwatched) -> UnwatchedOut:
        return cls(**WatchedOut.of(unwatched.entry).model_dump(), reason=unwatched.reason,
                   quarantined_lots=[LotOut.of(lot) for lot in unwatched.quarantined])
