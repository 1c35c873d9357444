"""Request and response models of the transfers API (sealed stock sent between clinics of the chain)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field

from inventory.blueprints.api.schemas import ClinicOut, ContainerOut, LocationOut, Model, Qty, Scanned, PlainText
from inventory.models import Location
from inventory.transfers.models import Transfer, TransferItem
from inventory.transfers.service import MAX_CONTAINERS, MAX_NOTE, MAX_REFUSAL_REASON

Id = Annotated[int, Field(ge=1, le=2**31 - 1)]
ContainerRef = Annotated[int, Field(ge=1, le=2**31 - 1)] | Annotated[str, Scanned(500)]
Status = Literal["in_transit", "received", "cancelled", "refused", "returned"]
Category = Literal["damaged", "temperature", "incomplete", "wrong_items", "other"]


class TransferIn(Model):
    to_location_id: Id = Field(description="a receiving location of another clinic (see GET /transfers/destinations)")
    containers: Annotated[list[ContainerRef], Field(min_length=1, max_length=MAX_CONTAINERS)] = Field(
        description="container ids or Vialog label codes; sealed, full, of usable lots, all of one clinic"
    )
    note: Annotated[str, PlainText(MAX_NOTE, min_length=0, multiline=True)] | None = None


class TransferReceiveIn(Model):
    location_id: Id | None = Field(default=None, description="where to put it away; default: the planned location")
    confirm: list[Literal["location_not_refrigerated"]] = Field(
        default_factory=list, max_length=1,
        description='"location_not_refrigerated": a box kept at 2-8 °C may go into this place all the same')


class TransferRefuseIn(Model):
    reason: Annotated[str, PlainText(MAX_REFUSAL_REASON)] = Field(
        description="what was wrong, in words the sending clinic reads (e.g. box arrived at 14 °C)"
    )
    category: Category = Field(
        default="other",
        description="damaged, temperature (the stock comes back on hold at the source), incomplete, wrong_items "
                    "or other",
    )


class TransferQuery(Model):
    direction: Literal["incoming", "outgoing"] | None = Field(
        default=None, description="incoming: to one of the caller's clinics; outgoing: from one; default both"
    )
    status: Status | None = None
    before: Id | None = Field(default=None, description="the previous page's next_before: older settled transfers")
    limit: Annotated[int, Field(ge=1, le=200)] = Field(default=50, description="settled transfers a page")


class TransferItemOut(Model):
    container: ContainerOut
    quantity: Qty = Field(description="what was sent, in the product's base unit")
    base_unit: str
    out_movement_id: int
    in_movement_id: int | None

    @classmethod
    def of(cls, item: TransferItem) -> TransferItemOut:
        return cls(
            container=ContainerOut.of(item.container), quantity=item.quantity,
            base_unit=item.container.product.base_unit, out_movement_id=item.out_movement_id,
            in_movement_id=item.in_movement_id,
        )


class TransferOut(Model):
    id: int
    status: Status
    from_clinic: ClinicOut
    to_clinic: ClinicOut
    to_location: LocationOut = Field(description="where the sender asked for it to go")
    received_location: LocationOut | None = Field(description="where it was put away on receipt")
    sent_by: str
    sent_at: dt.datetime
    received_by: str | None
    received_at: dt.datetime | None
    cancelled_by: str | None
    cancelled_at: dt.datetime | None
    refused_by: str | None = Field(description="who at the destination refused it")
    refused_at: dt.datetime | None
    refusal_category: Category | None
    refusal_reason: str | None
    returned_by: str | None = Field(description="who at the source recorded the refused stock back")
    returned_at: dt.datetime | None
    note: str | None
    items: list[TransferItemOut]

    @classmethod
    def of(cls, t: Transfer) -> TransferOut:
        return cls(
            id=t.id, status=t.status.value, from_clinic=ClinicOut.of(t.from_clinic), to_clinic=ClinicOut.of(t.to_clinic),
            to_location=LocationOut.of(t.to_location),
            received_location=LocationOut.of(t.received_location) if t.received_location else None,
            sent_by=t.sent_by.username, sent_at=t.sent_at,
            received_by=t.received_by.username if t.received_by else None, received_at=t.received_at,
            cancelled_by=t.cancelled_by.username if t.cancelled_by else None, cancelled_at=t.cancelled_at,
            refused_by=t.refused_by.username if t.refused_by else None, refused_at=t.refused_at,
            refusal_category=t.refusal_category.value if t.refusal_category else None,
            refusal_reason=t.refusal_reason,
            returned_by=t.returned_by.username if t.returned_by else None, returned_at=t.returned_at,
            note=t.note, items=[TransferItemOut.of(item) for item in t.items],
        )


class TransferList(Model):
    transfers: list[TransferOut]
    next_before: int | None = Field(
        description="pass as before for the next page of settled transfers; null on the last page")


class DestinationOut(Model):
    location_id: int
    location: str
    kind: str
    clinic: ClinicOut

    @classmethod
    def of(cls, location: Location) -> DestinationOut:
        return cls(location_id=location.id, location=location.name, kind=location.kind.value,
                   clinic=ClinicOut.of(location.clinic))


class DestinationList(Model):
    destinations: list[DestinationOut]
