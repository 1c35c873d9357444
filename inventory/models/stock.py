"""Lots, physical containers and the append-only ledger of movements."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inventory.models.base import BigId, Base, Quantity, created_at, intpk, sealed, str_enum
from inventory.models.catalog import Product
from inventory.models.clinic import Clinic, Location
from inventory.models.user import User


class LotStatus(enum.StrEnum):
    ACTIVE = "active"
    QUARANTINED = "quarantined"
    RECALLED = "recalled"


class Lot(Base):
    """Product + lot number + expiry. Its status holds at every location at once."""

    __tablename__ = "lots"
    __table_args__ = (UniqueConstraint("product_id", "number_key"),)

    id: Mapped[intpk]
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    number: Mapped[str] = mapped_column(String(20), comment="as printed")
    number_key: Mapped[str] = mapped_column(String(20), index=True, comment="trimmed, upper-case: for matching")
    expiry: Mapped[dt.date] = mapped_column(Date, comment="usable through the end of this day, clinic time")
    expiry_raw: Mapped[str | None] = mapped_column(String(6), comment="YYMMDD exactly as printed (AI 17)")
    status: Mapped[LotStatus] = mapped_column(str_enum(LotStatus, "lot_status"), default=LotStatus.ACTIVE)
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[dt.datetime | None]
    created_at: Mapped[created_at]
    row_seal: Mapped[sealed]

    product: Mapped[Product] = relationship()


class ContainerState(enum.StrEnum):
    SEALED = "sealed"
    IN_USE = "in_use"
    EMPTY = "empty"
    DISCARDED = "discarded"
    # Sent to another clinic and not yet received (inventory/transfers/service.py): it holds
    # nothing in any clinic's ledger until then, so nothing can draw, mix, count or move it.
    IN_TRANSIT = "in_transit"


class Receipt(Base):
    """One delivery of one lot into one location."""

    __tablename__ = "receipts"

    id: Mapped[intpk]
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    received_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    received_at: Mapped[dt.datetime]
    container_count: Mapped[int]
    scanned_code: Mapped[str | None] = mapped_column(Text, comment="what the scanner typed, if scanned")
    # The table belongs to the counterfeit feature (inventory/counterfeit/models.py); the core names it only.
    supplier_id: Mapped[int | None] = mapped_column(
        ForeignKey("suppliers.id"), index=True,
        comment="who delivered it; NULL only for receipts recorded before suppliers were (migration 0009)",
    )

    lot: Mapped[Lot] = relationship()
    location: Mapped[Location] = relationship()
    received_by: Mapped[User] = relationship()
    containers: Mapped[list[Container]] = relationship(back_populates="receipt", order_by="Container.id")


# A container that still holds stock somewhere (the predicate of ix_containers_live_location).
LIVE_STOCK = "state IN ('sealed', 'in_use') AND remaining > 0"


class Container(Base):
    """One physical vial, syringe, ampoule or item, with its own printed label."""

    __tablename__ = "containers"
    __table_args__ = (
        CheckConstraint("remaining >= 0", name="remaining_not_negative"),
        CheckConstraint("state <> 'in_transit' OR remaining = 0", name="in_transit_holds_nothing"),
        Index("ix_containers_lot_state", "lot_id", "state"),
        Index("ix_containers_clinic_state", "clinic_id", "state"),
        # Live stock by place (kit readiness, 1,000 kits at once): only the few containers still holding
        # something, so the kits' stock is read from a small index instead of scanning every container
        # the chain ever received (docs/performance.md, migration 0005_performance).
        Index("ix_containers_live_location", "location_id", "lot_id",
              postgresql_where=text(LIVE_STOCK), sqlite_where=text(LIVE_STOCK), postgresql_include=["remaining"]),
        # A pack serial is unique per product across the chain (issue 19): the receipt looks it up here, and
        # the index holds when two receipts of one serial race (migration 0014_unique_serial).
        Index("uq_containers_product_serial", "product_id", "serial", unique=True,
              postgresql_where=text("serial IS NOT NULL"), sqlite_where=text("serial IS NOT NULL")),
    )

    id: Mapped[intpk]
    label_code: Mapped[str] = mapped_column(String(16), unique=True, comment="Code128 on Vialog's own label")
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"))
    receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipts.id"), index=True)
    serial: Mapped[str | None] = mapped_column(String(20), comment="GS1 AI 21, when the pack carries one")
    state: Mapped[ContainerState] = mapped_column(
        str_enum(ContainerState, "container_state"), default=ContainerState.SEALED
    )
    initial_quantity: Mapped[Decimal] = mapped_column(Quantity())
    remaining: Mapped[Decimal] = mapped_column(
        Quantity(), comment="cache of the ledger sum, written in the movement's transaction"
    )

    diluent_ml: Mapped[Decimal | None] = mapped_column(Quantity())
    concentration_u_per_ml: Mapped[Decimal | None] = mapped_column(Quantity())
    diluent_name: Mapped[str | None] = mapped_column(String(120))
    diluent_lot: Mapped[str | None] = mapped_column(String(40))
    reconstituted_at: Mapped[dt.datetime | None]
    reconstituted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    beyond_use_at: Mapped[dt.datetime | None]

    # A single-patient container belongs to the treatment that first drew from it.
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    opened_treatment_id: Mapped[int | None] = mapped_column(ForeignKey("treatments.id"))
    opened_at: Mapped[dt.datetime | None]
    # On hold (a cold-chain excursion where it was kept): not drawn, mixed or moved, and not counted by a kit,
    # until a safety lead releases or wastes it. Counts still see it: it is still stock.
    on_hold_since: Mapped[dt.datetime | None] = mapped_column(
        comment="set while the container is on hold; NULL when it may be used"
    )
    hold_reason: Mapped[str | None] = mapped_column(Text, comment="why it is on hold, in words a nurse reads")
    created_at: Mapped[created_at]
    # Tamper evidence (inventory/services/audit_chain.py): read under the container's lock, written with its
    # balance, so a stock change needs no statement to find the movement it chains to.
    chain_head: Mapped[str | None] = mapped_column(
        String(64), comment="row_hash of the container's newest movement; NULL before its first"
    )

    product: Mapped[Product] = relationship()
    lot: Mapped[Lot] = relationship()
    location: Mapped[Location] = relationship()
    clinic: Mapped[Clinic] = relationship()
    receipt: Mapped[Receipt | None] = relationship(back_populates="containers")

    @property
    def is_reconstituted(self) -> bool:
        return self.reconstituted_at is not None

    @property
    def is_on_hold(self) -> bool:
        return self.on_hold_since is not None


class MovementKind(enum.StrEnum):
    RECEIVE = "receive"
    RECONSTITUTE = "reconstitute"
    DRAW = "draw"
    WASTE = "waste"
    ADJUST = "adjust"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    RETURN = "return"
    REVERSAL = "reversal"


# The predicate of ix_movements_emergency_location_at (cart.EMERGENCY is the reason of emergency kit use).
EMERGENCY_DRAW = "kind = 'draw' AND reason = 'emergency'"


class Movement(Base):
    """One change of stock. Inserted, never updated or deleted; mistakes get a reversal."""

    __tablename__ = "movements"
    __table_args__ = (
        CheckConstraint("balance_after >= 0", name="balance_not_negative"),
        CheckConstraint(
            "(kind = 'reversal') = (reverses_id IS NOT NULL)", name="reversal_names_original"
        ),
        Index("ix_movements_container_id_id", "container_id", "id"),
        Index("ix_movements_clinic_at", "clinic_id", "at"),
        Index("ix_movements_lot_at", "lot_id", "at"),
        # Kit readiness (emergency draws at kit locations) and per-location reconciliation.
        Index("ix_movements_location_at", "location_id", "at"),
        # Emergency kit use (kits.readiness): a handful of rows, found without scanning the whole ledger.
        Index("ix_movements_emergency_location_at", "location_id", "at",
              postgresql_where=text(EMERGENCY_DRAW), sqlite_where=text(EMERGENCY_DRAW)),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    container_id: Mapped[int] = mapped_column(ForeignKey("containers.id"))
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    kind: Mapped[MovementKind] = mapped_column(str_enum(MovementKind, "movement_kind"))
    quantity: Mapped[Decimal] = mapped_column(Quantity(), comment="signed, in the product's base unit")
    balance_after: Mapped[Decimal] = mapped_column(Quantity())
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[dt.datetime]
    reason: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    treatment_id: Mapped[int | None] = mapped_column(ForeignKey("treatments.id"), index=True)
    reverses_id: Mapped[int | None] = mapped_column(
        ForeignKey("movements.id"), unique=True, comment="unique: a movement is reversed at most once"
    )
    # Tamper evidence (inventory/services/audit_chain.py fills both before every flush).
    prev_hash: Mapped[str] = mapped_column(
        String(64), comment="row_hash of the same container's previous movement; 64 zeros for its first"
    )
    row_hash: Mapped[str] = mapped_column(
        String(64), comment="SHA-256 of this movement's canonical fields and prev_hash"
    )

    container: Mapped[Container] = relationship()
    actor: Mapped[User] = relationship()
