"""Emergency kits: templates of what a kit must hold, kits at a location, and their checks.

A kit's contents are not stored here: they are the containers whose location is the
kit's location, so the ledger alone says what a kit holds.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inventory.models.base import Base, Quantity, created_at, intpk, str_enum
from inventory.models.catalog import Product, ProductKind
from inventory.models.clinic import Clinic, Location
from inventory.models.user import User


class KitStatus(enum.StrEnum):
    READY = "ready"
    EXPIRING_SOON = "expiring_soon"
    NOT_READY = "not_ready"


class KitTemplate(Base):
    """What a kind of kit must hold, shared by every clinic of the chain."""

    __tablename__ = "kit_templates"
    __table_args__ = (
        CheckConstraint("check_interval_days > 0", name="positive_check_interval"),
        CheckConstraint("warning_days >= 0", name="warning_days_not_negative"),
    )

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(120), unique=True, comment="e.g. 'Vascular occlusion kit'")
    description: Mapped[str] = mapped_column(Text, default="", comment="what the kit is for, shown to nurses")
    check_interval_days: Mapped[int] = mapped_column(
        default=7, comment="a kit not checked for longer than this is not ready"
    )
    warning_days: Mapped[int] = mapped_column(
        default=30, comment="horizon before counted stock stops counting: the kit is then expiring soon"
    )
    created_at: Mapped[created_at]

    requirements: Mapped[list[KitRequirement]] = relationship(
        back_populates="template", cascade="all, delete-orphan", order_by="KitRequirement.id"
    )


class KitRequirement(Base):
    """One line of a template: a product, or any single product of a kind, in a minimum quantity."""

    __tablename__ = "kit_requirements"
    __table_args__ = (
        CheckConstraint(
            "(product_id IS NULL AND product_kind IS NOT NULL) OR (product_id IS NOT NULL AND product_kind IS NULL)",
            name="product_or_kind",
        ),
        CheckConstraint("min_quantity > 0", name="positive_min_quantity"),
        CheckConstraint("min_days_to_expiry >= 0", name="min_days_not_negative"),
    )

    id: Mapped[intpk]
    template_id: Mapped[int] = mapped_column(ForeignKey("kit_templates.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(120), comment="what a nurse calls it, e.g. 'Hyaluronidase'")
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id"), comment="this exact product; or else product_kind"
    )
    product_kind: Mapped[ProductKind | None] = mapped_column(
        str_enum(ProductKind, "product_kind"),
        comment="any one product of this kind; units of different products are never added",
    )
    min_quantity: Mapped[Decimal] = mapped_column(Quantity(), comment="in the product's base unit")
    min_days_to_expiry: Mapped[int] = mapped_column(
        default=0, comment="stock counts only if it expires at least this many days from today"
    )

    template: Mapped[KitTemplate] = relationship(back_populates="requirements")
    product: Mapped[Product | None] = relationship()


class Kit(Base):
    """One physical kit: a template at a location of kind 'kit'."""

    __tablename__ = "kits"
    __table_args__ = (UniqueConstraint("clinic_id", "name"),)

    id: Mapped[intpk]
    clinic_id: Mapped[int] = mapped_column(ForeignKey("clinics.id"), comment="indexed by (clinic_id, name)")
    template_id: Mapped[int] = mapped_column(ForeignKey("kit_templates.id"), index=True)
    name: Mapped[str] = mapped_column(String(120), comment="unique within the clinic")
    location_id: Mapped[int] = mapped_column(
        ForeignKey("locations.id"), unique=True, comment="a location of kind 'kit': its containers are the contents"
    )
    created_at: Mapped[created_at]

    clinic: Mapped[Clinic] = relationship()
    template: Mapped[KitTemplate] = relationship()
    location: Mapped[Location] = relationship()


class KitCheck(Base):
    """Someone opened or inspected a kit: who, when, the seal, and the readiness it had then."""

    __tablename__ = "kit_checks"
    __table_args__ = (Index("ix_kit_checks_kit_checked", "kit_id", "checked_at"),)

    id: Mapped[intpk]
    kit_id: Mapped[int] = mapped_column(ForeignKey("kits.id"))
    checked_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    checked_at: Mapped[dt.datetime]
    seal_intact: Mapped[bool] = mapped_column(comment="false: the seal was found broken")
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[KitStatus] = mapped_column(
        str_enum(KitStatus, "kit_status"), comment="readiness computed when the check was recorded"
    )
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=list, comment="the reasons behind that status: [{code, text, data}]"
    )

    kit: Mapped[Kit] = relationship()
    checked_by: Mapped[User] = relationship()

