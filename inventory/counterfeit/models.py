"""Counterfeit defence: the chain's suppliers and the watch list of suspect lot numbers (DOMAIN.md
"Counterfeits, suppliers and the cold chain")."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inventory.models.base import Base, created_at, intpk
from inventory.models.catalog import Product
from inventory.models.user import User


class Supplier(Base):
    """Who delivers stock. A receipt from a supplier that is not authorised is refused."""

    __tablename__ = "suppliers"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(120), unique=True, comment="as on the delivery note")
    licence: Mapped[str | None] = mapped_column(String(120), comment="wholesale licence or registration number")
    is_authorised: Mapped[bool] = mapped_column(default=True, comment="false: receipts from it are refused")
    created_at: Mapped[created_at]


class WatchedLot(Base):
    """A suspect lot number of one product (a counterfeit alert): receiving or scanning it is refused."""

    __tablename__ = "watched_lots"
    __table_args__ = (UniqueConstraint("product_id", "number_key"),)

    id: Mapped[intpk]
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), comment="unique with number_key")
    lot_number: Mapped[str] = mapped_column(String(20), comment="as the alert prints it")
    number_key: Mapped[str] = mapped_column(String(20), comment="normalised like lots.number_key, for matching")
    source: Mapped[str] = mapped_column(String(200), comment="the alert: who issued it, its reference")
    note: Mapped[str | None] = mapped_column(Text)
    added_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    added_at: Mapped[dt.datetime]

    product: Mapped[Product] = relationship()
    added_by: Mapped[User] = relationship()

    @property
    def display_number(self) -> str:
        return display_lot_number(self.lot_number)


def display_lot_number(typed: str) -> str:
    """A watched lot number as Vialog shows it (upper case and without spaces, as lots are printed), whatever
    the safety lead typed: matching goes by ``number_key``, so neither case nor spacing tells two lots apart."""
    return "".join(typed.split()).upper()
