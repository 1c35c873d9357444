"""Transfers of sealed stock between clinics of the chain.

A transfer is sent by one clinic and received by another, some time later. Sending
writes a TRANSFER_OUT of each container's whole content at its source location and
marks the container ``in_transit`` (holding nothing: it is in no clinic's stock);
receiving moves the container to the destination and writes a TRANSFER_IN of the same
quantity there. The destination may refuse it instead (damaged, warm, incomplete, not what was
ordered): the goods travel back still in transit, and the source records their return with a
TRANSFER_IN at home. Or it receives what arrived and declares the rest missing in transit: each missing
container's TRANSFER_OUT is reversed and the container wasted (reason ``missing_in_transit``) at the source,
where its stock was last. A box lost whole on the road (on its way there, or back after a refusal) is declared
lost by either end: every container is written off the same way, and the transfer ends ``lost``. The container
keeps its id, label, lot and history throughout. These
tables only say what travelled, between whom, and which movements carried it: the
ledger stays the only record of stock.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inventory.models.base import BigId, Base, Quantity, created_at, intpk, str_enum
from inventory.models.clinic import Clinic, Location
from inventory.models.stock import Container, Movement
from inventory.models.user import User


class TransferStatus(enum.StrEnum):
    IN_TRANSIT = "in_transit"  # sent, not yet received: the containers are in no clinic's stock
    RECEIVED = "received"  # taken into the destination clinic's stock
    CANCELLED = "cancelled"  # called back while in transit: everything returned to the source
    # Refused by the destination: on its way back, still in no clinic's stock, until the source records it.
    REFUSED = "refused"
    # Refused, then recorded back at the source. Kept apart from CANCELLED (the sender's own decision): a
    # manager reading the list sees which consignments the other clinic turned away, and why.
    RETURNED = "returned"
    # The whole box never arrived (on its way there, or on its way back after a refusal), declared so by either
    # end: every container was written off at the source, as a container missing from a box is (a REVERSAL of its
    # TRANSFER_OUT and a WASTE, reason missing_in_transit), so no stock comes back onto a shelf and none stays in
    # transit for ever. Who declared it, when and why are lost_by, lost_at and lost_reason.
    LOST = "lost"


class RefusalCategory(enum.StrEnum):
    """Why the destination refused a consignment, in a word a report can group by (the reason says the rest)."""

    DAMAGED = "damaged"
    TEMPERATURE = "temperature"  # the cold chain broke on the road: the source holds what comes back
    INCOMPLETE = "incomplete"
    WRONG_ITEMS = "wrong_items"
    OTHER = "other"


class Transfer(Base):
    """One consignment of sealed containers from one clinic to another."""

    __tablename__ = "transfers"
    __table_args__ = (
        CheckConstraint("from_clinic_id <> to_clinic_id", name="between_two_clinics"),
        CheckConstraint(
            "(status = 'received') = (received_at IS NOT NULL AND received_by_id IS NOT NULL "
            "AND received_location_id IS NOT NULL)",
            name="received_has_receiver",
        ),
        CheckConstraint(
            "(status = 'cancelled') = (cancelled_at IS NOT NULL AND cancelled_by_id IS NOT NULL)",
            name="cancelled_has_canceller",
        ),
        # A returned transfer was refused first, and keeps who refused it and why; so does a refused one lost on its
        # way back (a lost transfer without a refusal has none of these facts).
        CheckConstraint(
            "(status IN ('refused', 'returned') OR (status = 'lost' AND refused_at IS NOT NULL)) = "
            "(refused_at IS NOT NULL AND refused_by_id IS NOT NULL "
            "AND refusal_reason IS NOT NULL AND refusal_category IS NOT NULL)",
            name="refused_has_refuser",
        ),
        CheckConstraint(
            "(status = 'returned') = (returned_at IS NOT NULL AND returned_by_id IS NOT NULL)",
            name="returned_has_returner",
        ),
        CheckConstraint(
            "(status = 'lost') = (lost_at IS NOT NULL AND lost_by_id IS NOT NULL AND lost_reason IS NOT NULL)",
            name="lost_has_declarer",
        ),
        # Each clinic's incoming and outgoing lists: by clinic, open ones first, newest first.
        Index("ix_transfers_from_clinic_status", "from_clinic_id", "status", "sent_at"),
        Index("ix_transfers_to_clinic_status", "to_clinic_id", "status", "sent_at"),
    )

    id: Mapped[intpk]
    from_clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), comment="the sending clinic")
    to_clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), comment="the receiving clinic")
    to_location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id"), comment="where the sender asked for it to go, in the receiving clinic"
    )
    received_location_id: Mapped[int | None] = mapped_column(
        ForeignKey("locations.id"), comment="where it was put away on receipt (the receiver may choose another)"
    )
    status: Mapped[TransferStatus] = mapped_column(
        str_enum(TransferStatus, "transfer_status"), default=TransferStatus.IN_TRANSIT,
        comment="in_transit, received, cancelled, refused (on its way back), returned or lost (written off)",
    )
    sent_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    sent_at: Mapped[dt.datetime]
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    received_at: Mapped[dt.datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cancelled_at: Mapped[dt.datetime | None]
    refused_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    refused_at: Mapped[dt.datetime | None]
    refusal_category: Mapped[RefusalCategory | None] = mapped_column(
        str_enum(RefusalCategory, "transfer_refusal_category"),
        comment="damaged, temperature, incomplete, wrong_items or other",
    )
    refusal_reason: Mapped[str | None] = mapped_column(Text, comment="the destination's words: what was wrong")
    returned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    returned_at: Mapped[dt.datetime | None] = mapped_column(comment="when the source recorded the refused stock back")
    lost_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), comment="who declared the whole box lost in transit (at either end)")
    lost_at: Mapped[dt.datetime | None] = mapped_column(comment="when the box was declared lost and written off")
    lost_reason: Mapped[str | None] = mapped_column(Text, comment="the declarer's words: what is known of the loss")
    note: Mapped[str | None] = mapped_column(Text, comment="from the sender: courier, reason, anything to know")
    created_at: Mapped[created_at]

    from_clinic: Mapped[Clinic] = relationship(foreign_keys=[from_clinic_id])
    to_clinic: Mapped[Clinic] = relationship(foreign_keys=[to_clinic_id])
    to_location: Mapped[Location] = relationship(foreign_keys=[to_location_id])
    received_location: Mapped[Location | None] = relationship(foreign_keys=[received_location_id])
    sent_by: Mapped[User] = relationship(foreign_keys=[sent_by_id])
    received_by: Mapped[User | None] = relationship(foreign_keys=[received_by_id])
    cancelled_by: Mapped[User | None] = relationship(foreign_keys=[cancelled_by_id])
    refused_by: Mapped[User | None] = relationship(foreign_keys=[refused_by_id])
    returned_by: Mapped[User | None] = relationship(foreign_keys=[returned_by_id])
    lost_by: Mapped[User | None] = relationship(foreign_keys=[lost_by_id])
    items: Mapped[list[TransferItem]] = relationship(back_populates="transfer", order_by="TransferItem.id")

    @property
    def is_in_transit(self) -> bool:
        return self.status is TransferStatus.IN_TRANSIT

    @property
    def is_refused(self) -> bool:
        """Refused and not yet recorded back: the source has a return to record."""
        return self.status is TransferStatus.REFUSED

    @property
    def is_lost(self) -> bool:
        """Declared lost in transit as a whole: every container was written off at the source."""
        return self.status is TransferStatus.LOST

    @property
    def lost_declaring_clinic(self) -> Clinic | None:
        """The clinic that declared the box lost (None unless it was), on whose clock its ``lost_at`` is said, as a
        refusal is said on the destination's. Which end spoke follows declare_lost: the source when the declarer
        works there (a chain-level one speaks for the source, whose loss it is) or when the box had been refused
        (only the source declares it lost then); the destination otherwise."""
        declarer = self.lost_by
        if declarer is None:
            return None
        if (self.refused_at is not None or declarer.is_chain_level
                or any(clinic.id == self.from_clinic_id for clinic in declarer.clinics)):
            return self.from_clinic
        return self.to_clinic

    @property
    def is_on_the_road(self) -> bool:
        """Its containers are in no clinic's stock: on the way there, or on the way back."""
        return self.status in (TransferStatus.IN_TRANSIT, TransferStatus.REFUSED)

    @property
    def missing_items(self) -> list[TransferItem]:
        """The items declared missing in transit when it was received, or all of them once it is lost (none
        otherwise)."""
        return [item for item in self.items if item.is_missing]

    @property
    def missing_reason(self) -> str | None:
        """Why containers were declared missing (one declaration, one reason: the receiver's, or the lost reason);
        None if none was."""
        return next((item.missing.reason for item in self.items if item.missing is not None), None)


class TransferItem(Base):
    """One container of a transfer, the quantity that left with it and the movements that carried it."""

    __tablename__ = "transfer_items"
    __table_args__ = (
        UniqueConstraint("transfer_id", "container_id"),
        CheckConstraint("quantity > 0", name="positive_quantity"),
    )

    id: Mapped[intpk]
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfers.id"), index=True)
    container_id: Mapped[int] = mapped_column(
        ForeignKey("containers.id"), index=True, comment="the same container at both ends: its label travels"
    )
    quantity: Mapped[Decimal] = mapped_column(
        Quantity(), comment="what was sent, in the product's base unit: the whole sealed container"
    )
    out_movement_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("movements.id"), unique=True, comment="the TRANSFER_OUT at the source location"
    )
    in_movement_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("movements.id"), unique=True,
        comment="the TRANSFER_IN on receipt (at the destination) or on cancelling (back at the source)",
    )

    transfer: Mapped[Transfer] = relationship(back_populates="items")
    container: Mapped[Container] = relationship()
    # Where the container left from: what another clinic is shown of it once it is no longer theirs.
    out_movement: Mapped[Movement] = relationship(foreign_keys=[out_movement_id], viewonly=True)
    # Loaded only when asked (or by the transfer views' eager options): calling back or recording a return
    # never reads it.
    missing: Mapped[TransferItemMissing | None] = relationship(back_populates="item")

    @property
    def is_missing(self) -> bool:
        """Declared missing in transit by the destination: it never arrived, and was written off at the source."""
        return self.missing is not None

    @property
    def missing_movement_id(self) -> int | None:
        return self.missing.waste_movement_id if self.missing is not None else None


class TransferItemMissing(Base):
    """A container of a transfer that never arrived: declared missing by the destination when it received the rest,
    or one of a box declared lost as a whole (by either end).

    It never arrived, so it never entered the destination's ledger: it is written off at the source, where its
    stock was last, by a REVERSAL of its TRANSFER_OUT (the item's ``in_movement_id``: its journey ended, at no
    other clinic) and a WASTE of the same quantity (reason ``missing_in_transit``). Who declared it and when are
    the transfer's receiver and receipt, or its ``lost_by`` and ``lost_at``; this row says which container and
    why. A table of its own, rather than columns of the transfers, so that a transfer reads the same whether or
    not one of its containers was lost.
    """

    __tablename__ = "transfer_missing_items"
    __table_args__ = (
        CheckConstraint("reversal_movement_id <> waste_movement_id", name="two_movements"),
    )

    id: Mapped[intpk]
    item_id: Mapped[int] = mapped_column(
        ForeignKey("transfer_items.id"), unique=True, comment="the transfer's item that never arrived"
    )
    reversal_movement_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("movements.id"), unique=True,
        comment="the REVERSAL of its TRANSFER_OUT at the source (also the item's in_movement_id)",
    )
    waste_movement_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("movements.id"), unique=True,
        comment="the WASTE (reason missing_in_transit) that wrote it off at the source",
    )
    reason: Mapped[str] = mapped_column(
        Text, comment="the declarer's words on what did not arrive (the receiver's, or the lost reason of a box)")
    created_at: Mapped[created_at]

    item: Mapped[TransferItem] = relationship(back_populates="missing")
