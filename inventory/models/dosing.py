"""Typical dose ranges per molecule and treatment area (DOMAIN.md "Dose and interval checks")."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from inventory.models.base import Base, Quantity, intpk

# Rows without a clinic are the chain's defaults.
CHAIN_DEFAULT = "clinic_id IS NULL"


class DoseRange(Base):
    """The usual units of a molecule in one area in one session: above it, the injector sees a warning.

    A clinic's row overrides the chain's default for the same molecule and area.
    """

    __tablename__ = "dose_ranges"
    __table_args__ = (
        CheckConstraint("low > 0 AND high >= low", name="ordered_range"),
        UniqueConstraint("clinic_id", "molecule", "area"),
        # NULLs are distinct in a unique constraint, so the one above lets any number of chain defaults
        # through; this partial index (PostgreSQL and SQLite alike) keeps one per molecule and area.
        Index("uq_dose_ranges_chain_default", "molecule", "area", unique=True,
              postgresql_where=text(CHAIN_DEFAULT), sqlite_where=text(CHAIN_DEFAULT)),
    )

    id: Mapped[intpk]
    clinic_id: Mapped[int | None] = mapped_column(
        ForeignKey("clinics.id"), comment="the clinic this range applies to; NULL: the chain's default"
    )
    molecule: Mapped[str] = mapped_column(String(60), comment="as Product.molecule, e.g. 'onabotulinumtoxinA'")
    area: Mapped[str] = mapped_column(String(40), comment="an area code of the cart, e.g. 'glabella'")
    low: Mapped[Decimal] = mapped_column(Quantity(), comment="in the molecule's units")
    high: Mapped[Decimal] = mapped_column(Quantity(), comment="a session total above this draws a warning")
