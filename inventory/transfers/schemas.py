"""Request and response models of the transfers API (sealed stock sent between clinics of the chain)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy.orm import object_session

from inventory.blueprints.api.schemas import (
    ClinicOut,
    ContainerOut,
    ContainerRef,
    Id,
    LocationOut,
    LotOut,
    Model,
    PlainText,
    ProductRef,
    Qty,
)
from inventory.models import Location
from inventory.services import container_history
from inventory.services.container_history import LostInTransit
from inventory.services.permissions import Scope
from inventory.transfers.models import Transfer, TransferItem
from inventory.transfers.service import (
    MAX_CONTAINERS,
    MAX_LOST_REASON,
    MAX_MISSING_REASON,
    MAX_NOTE,
    MAX_REFUSAL_REASON,
    shows_container_now,
)

Status = Literal["in_transit", "received", "cancelled", "refused", "returned", "lost"]
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
    arrived: Annotated[list[ContainerRef], Field(max_length=MAX_CONTAINERS)] | None = Field(
        default=None,
        description="when something did not arrive: the containers (ids or label codes) of this transfer that did; "
                    "every other one is declared missing in transit. Give this or missing, not both")
    missing: Annotated[list[ContainerRef], Field(min_length=1, max_length=MAX_CONTAINERS)] | None = Field(
        default=None,
        description="the containers (ids or label codes) of this transfer that did not arrive: declared missing in "
                    "transit and written off at the sending clinic (reversal of their transfer_out, then a waste "
                    "with reason missing_in_transit); the others are received")
    missing_reason: Annotated[str, PlainText(MAX_MISSING_REASON, min_length=0)] | None = Field(
        default=None, description="required when something is missing: what the receiver found (e.g. not in the box)")


class TransferRefuseIn(Model):
    reason: Annotated[str, PlainText(MAX_REFUSAL_REASON)] = Field(
        description="what was wrong, in words the sending clinic reads (e.g. box arrived at 14 °C)"
    )
    category: Category = Field(
        default="other",
        description="damaged, temperature (the stock comes back on hold at the source), incomplete, wrong_items "
                    "or other",
    )


class TransferLostIn(Model):
    reason: Annotated[str, PlainText(MAX_LOST_REASON)] = Field(
        description="what is known of the loss, in words both clinics read (e.g. the courier reports the parcel "
                    "lost)"
    )


class TransferQuery(Model):
    direction: Literal["incoming", "outgoing"] | None = Field(
        default=None, description="incoming: to one of the caller's clinics; outgoing: from one; default both"
    )
    status: Status | None = None
    before: Id | None = Field(default=None, description="the previous page's next_before: older settled transfers")
    limit: Annotated[int, Field(ge=1, le=200)] = Field(default=50, description="settled transfers a page")


class TransferItemOut(Model):
    container: ContainerOut = Field(
        description="the container as it is now; when container_as_sent, as it left the sending clinic instead")
    container_as_sent: bool = Field(
        description="true when the container is now at a clinic the caller does not work at (the other end of a "
                    "settled transfer): container then shows only what the transfer records, as it was sent "
                    "(state sealed, remaining the quantity sent, the sending clinic and the location it left "
                    "from, no patient, no reconstitution, not on hold), nothing of its later use")
    now_at_clinic: ClinicOut | None = Field(
        description="when container_as_sent: the clinic that holds the container now; null otherwise")
    quantity: Qty = Field(description="what was sent, in the product's base unit")
    base_unit: str
    out_movement_id: int
    in_movement_id: int | None = Field(
        description="the transfer_in that ended its journey; for a missing container, the reversal of its "
                    "transfer_out at the sending clinic")
    missing: bool = Field(description="declared missing in transit on receipt, or with the whole box lost: it "
                                      "never arrived, and was written off at the sending clinic (state discarded "
                                      "there)")
    missing_movement_id: int | None = Field(
        description="for a missing container, the waste (reason missing_in_transit) that wrote it off")

    @classmethod
    def of(cls, item: TransferItem, scope: Scope, lost: Mapping[int, LostInTransit]) -> TransferItemOut:
        """``lost``: ``losses`` of the transfers this item is listed with."""
        as_sent = not shows_container_now(item, scope)
        # A missing container is in no clinic: nobody holds it now.
        now_at = ClinicOut.of(item.container.clinic) if as_sent and not item.is_missing else None
        return cls(
            container=_container_as_sent(item) if as_sent else ContainerOut.of(item.container, lost=lost),
            container_as_sent=as_sent, now_at_clinic=now_at,
            quantity=item.quantity, base_unit=item.container.product.base_unit,
            out_movement_id=item.out_movement_id, in_movement_id=item.in_movement_id,
            missing=item.is_missing, missing_movement_id=item.missing_movement_id,
        )


def losses(transfers: Sequence[Transfer]) -> dict[int, LostInTransit]:
    """The containers of these transfers that were lost in transit, by id, for their ``container``: those missing
    from one of them as the transfer records it; any other that is discarded (it arrived, and was lost on a later
    transfer) in one statement for them all."""
    found = {item.container_id: LostInTransit(t.id, t.from_clinic.code, t.to_clinic.code)
             for t in transfers for item in t.items if item.is_missing}
    session = object_session(transfers[0]) if transfers else None
    if session is not None:
        found |= container_history.lost_in_transit(
            session, [item.container for t in transfers for item in t.items if not item.is_missing])
    return found


def _container_as_sent(item: TransferItem) -> ContainerOut:
    """The container as the transfer records it: only sealed, full, unbound containers that are not on hold
    are sent, so that is all it was. Its id, label, product and lot are the transfer's own record."""
    c, left = item.container, item.out_movement
    product = c.product
    return ContainerOut(
        id=c.id, label_code=c.label_code,
        product=ProductRef(id=product.id, name=product.name, kind=product.kind.value, base_unit=product.base_unit),
        lot=LotOut.of(c.lot), state="sealed", remaining=item.quantity, base_unit=product.base_unit,
        concentration_u_per_ml=None, diluent_ml=None, reconstituted_at=None, beyond_use_at=None, patient_id=None,
        clinic_id=left.clinic_id, location_id=left.location_id, on_hold=False, hold_reason=None,
        # Lost on this very transfer: the transfer's own record, as its item's missing says.
        lost_in_transit=item.is_missing, lost_in_transit_transfer_id=item.transfer_id if item.is_missing else None,
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
    lost_by: str | None = Field(description="who declared the whole box lost in transit (at either end)")
    lost_at: dt.datetime | None
    lost_reason: str | None = Field(description="why the box was declared lost, in the declarer's words")
    note: str | None
    missing_count: int = Field(description="how many containers were declared missing in transit on receipt "
                                           "(all of them once the box is lost)")
    missing_reason: str | None = Field(description="why, in the receiver's words (the lost reason once the box is "
                                                   "lost); null when nothing was missing")
    items: list[TransferItemOut]

    @classmethod
    def of(cls, t: Transfer, scope: Scope, lost: Mapping[int, LostInTransit] | None = None) -> TransferOut:
        """The transfer as ``scope`` may see it: see ``TransferItemOut.container_as_sent``. ``lost``: ``losses`` of
        a list it is in (looked up here without it)."""
        lost = losses([t]) if lost is None else lost
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
            lost_by=t.lost_by.username if t.lost_by else None, lost_at=t.lost_at, lost_reason=t.lost_reason,
            note=t.note, missing_count=len(t.missing_items), missing_reason=t.missing_reason,
            items=[TransferItemOut.of(item, scope, lost) for item in t.items],
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
