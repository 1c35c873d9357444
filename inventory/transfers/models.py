"""Transfers of sealed stock between clinics of the chain.

A transfer is sent by one clinic and received by another, some time later. Sending
writes a TRANSFER_OUT of each container's whole content at its source location and
marks the container ``in_transit`` (holding nothing: it is in no clinic's stock);
receiving moves the container to the destination and writes a TRANSFER_IN of the same
quantity there. The container keeps its id, label, lot and history throughout. These
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
from inventory.models.stock import Container
from inventory.models.user import User


class TransferStatus(enum.StrEnum):
    IN_TRANSIT = "in_transit"  # sent, not yet received: the containers are in no clinic's stock
    RECEIVED = "received"  # taken into the destination clinic's stock
    CANCELLED = "cancelled"  # called back while in transit: everything returned to the source


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
        comment="in_transit, received or cancelled",
    )
    sent_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    sent_at: Mapped[dt.datetime]
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    received_at: Mapped[dt.datetime | None]
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    cancelled_at: Mapped[dt.datetime | None]
    note: Mapped[str | None] = mapped_column(Text, comment="from the sender: courier, reason, anything to know")
    created_at: Mapped[created_at]

    from_clinic: Mapped[Clinic] = relationship(foreign_keys=[from_clinic_id])
    to_clinic: Mapped[Clinic] = relationship(foreign_keys=[to_clinic_id])
    to_location: Mapped[Location] = relationship(foreign_keys=[to_location_id])
    received_location: Mapped[Location | None] = relationship(foreign_keys=[received_location_id])
    sent_by: Mapped[User] = relationship(foreign_keys=[sent_by_id])
    received_by: Mapped[User | None] = relationship(foreign_keys=[received_by_id])
    cancelled_by: Mapped[User | None] = relationship(foreign_keys=[cancelled_by_id])
    items: Mapped[list[TransferItem]] = relationship(back_populates="transfer", order_by="TransferItem.id")

    @property
    def is_in_transit(self) -> bool:
        return self.status is TransferStatus.IN_TRANSIT


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
