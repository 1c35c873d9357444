"""Temperature excursions and the container holds they put in place.

A hold's current state lives on the container itself (``Container.on_hold_since`` and ``hold_reason``, read
by the lifecycle rules); these rows keep why each hold was put in place and how it ended.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inventory.models import Container, Location, User
from inventory.models.base import Base, Quantity, intpk, str_enum


class ExcursionSource(enum.StrEnum):
    MANUAL = "manual"
    LOGGER = "logger"  # found in a data logger's readings (CSV import)


class Excursion(Base):
    """A span of time when a temperature-sensitive location left 2-8 °C."""

    __tablename__ = "excursions"
    __table_args__ = (
        CheckConstraint("ended_at >= started_at", name="ends_after_start"),
        CheckConstraint("max_c >= min_c", name="max_not_below_min"),
        Index("ix_excursions_location_started", "location_id", "started_at"),
    )

    id: Mapped[intpk]
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id"))
    started_at: Mapped[dt.datetime]
    ended_at: Mapped[dt.datetime]
    min_c: Mapped[Decimal] = mapped_column(Quantity(), comment="lowest temperature seen, °C")
    max_c: Mapped[Decimal] = mapped_column(Quantity(), comment="highest temperature seen, °C")
    note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[ExcursionSource] = mapped_column(str_enum(ExcursionSource, "excursion_source"))
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime]

    location: Mapped[Location] = relationship()
    recorded_by: Mapped[User] = relationship()
    holds: Mapped[list[ContainerHold]] = relationship(back_populates="excursion", order_by="ContainerHold.id")


class HoldOutcome(enum.StrEnum):
    RELEASED = "released"
    WASTED = "wasted"


class ContainerHold(Base):
    """One container put on hold by one excursion, and how the safety lead ended it."""

    __tablename__ = "container_holds"
    __table_args__ = (
        CheckConstraint("(outcome IS NULL) = (resolved_at IS NULL)", name="outcome_when_resolved"),
        Index("ix_container_holds_container_id", "container_id"),
    )

    id: Mapped[intpk]
    excursion_id: Mapped[int] = mapped_column(ForeignKey("excursions.id"), index=True)
    container_id: Mapped[int] = mapped_column(ForeignKey("containers.id"))
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"))
    held_at: Mapped[dt.datetime]
    resolved_at: Mapped[dt.datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[HoldOutcome | None] = mapped_column(str_enum(HoldOutcome, "hold_outcome"))
    reason: Mapped[str | None] = mapped_column(String(200), comment="why it was released or wasted")

    excursion: Mapped[Excursion] = relationship(back_populates="holds")
    container: Mapped[Container] = relationship()
    resolved_by: Mapped[User | None] = relationship()
