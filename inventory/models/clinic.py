"""Clinics of a chain and the places inside them where stock is kept."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inventory.models.base import Base, created_at, intpk, str_enum


class Clinic(Base):
    __tablename__ = "clinics"

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(20), unique=True, comment="short code used on the CLI")
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), comment="IANA zone; times are shown in it")
    filler_hold_days: Mapped[int] = mapped_column(
        default=0, comment="days an opened filler syringe may be held for the same patient"
    )
    kit_warning_days: Mapped[int] = mapped_column(
        default=30, server_default=text("30"),
        comment="the clinic's warning horizon for emergency-kit stock, in days (DOMAIN.md: default 30)",
    )
    # Off by default: the contract's receipt body predates suppliers, and integrations send it without one.
    receipts_need_supplier: Mapped[bool] = mapped_column(
        default=False, server_default=false(),
        comment="a receipt at this clinic must name its supplier (DOMAIN.md: only authorised suppliers)",
    )
    created_at: Mapped[created_at]

    locations: Mapped[list[Location]] = relationship(back_populates="clinic", order_by="Location.name")


class LocationKind(enum.StrEnum):
    ROOM = "room"
    FRIDGE = "fridge"
    CART = "cart"
    STORAGE = "storage"
    KIT = "kit"


def _fridges_are_sensitive(context: Any) -> bool:
    """A fridge keeps 2-8 °C stock unless said otherwise; rooms, carts, storage and kits do not."""
    return str(context.get_current_parameters().get("kind")) in (LocationKind.FRIDGE, LocationKind.FRIDGE.value)


class Location(Base):
    __tablename__ = "locations"
    __table_args__ = (UniqueConstraint("clinic_id", "name"),)

    id: Mapped[intpk]
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[LocationKind] = mapped_column(str_enum(LocationKind, "location_kind"))
    is_active: Mapped[bool] = mapped_column(default=True)
    temperature_sensitive: Mapped[bool] = mapped_column(
        default=_fridges_are_sensitive, server_default=false(),
        comment="a fridge or other place whose temperature matters: an excursion there puts stock on hold",
    )

    clinic: Mapped[Clinic] = relationship(back_populates="locations")
