"""Counterfeit defence: the chain's suppliers and the watch list of suspect lot numbers (DOMAIN.md
"Counterfeits, suppliers and the cold chain")."""

from __future__ import annotations

import datetime as dt
import unicodedata

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from inventory.models.base import Base, created_at, intpk
from inventory.models.catalog import Product
from inventory.models.user import User


SUPPLIER_KEY_LENGTH = 480


def supplier_key(text: str) -> str:
    """A supplier's name or licence number as they are compared: its letters and digits in order, case, spaces,
    punctuation and full-width forms set aside ("acme  pharma", "ACME-Pharma." and "Ａｃｍｅ Pharma" are "Acme
    Pharma"; "wda(h)90211" is "WDA(H) 90211"). A stopped supplier back on the list under a copy of its name or
    licence would deliver again. Migration 0027 keeps a frozen copy of this function: change both, and re-key the
    table, or never. Pure."""
    return "".join(c for c in unicodedata.normalize("NFKC", text).casefold() if unicodedata.category(c)[0] in "LMN")


def licence_key(licence: str | None) -> str | None:
    """``supplier_key`` of a licence; None for none (or one without a letter or digit, which names nothing)."""
    return (supplier_key(licence) or None) if licence is not None else None


class Supplier(Base):
    """Who delivers stock. A receipt from a supplier that is not authorised is refused."""

    __tablename__ = "suppliers"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(120), unique=True, comment="as on the delivery note")
    # Set with the name (the validator below; the default for a Core INSERT): unique, so no two suppliers read alike.
    name_key: Mapped[str] = mapped_column(
        String(SUPPLIER_KEY_LENGTH), unique=True, index=True,
        default=lambda context: supplier_key(context.get_current_parameters()["name"]),
        comment="supplier_key(name): unique, so no two suppliers' names differ only in case, spaces or punctuation",
    )
    licence: Mapped[str | None] = mapped_column(String(120), comment="wholesale licence or registration number")
    licence_key: Mapped[str | None] = mapped_column(
        String(SUPPLIER_KEY_LENGTH), unique=True, index=True,
        default=lambda context: licence_key(context.get_current_parameters().get("licence")),
        comment="supplier_key(licence), NULL without one: unique, so a licence belongs to one supplier",
    )
    is_authorised: Mapped[bool] = mapped_column(default=True, comment="false: receipts from it are refused")
    created_at: Mapped[created_at]

    @validates("name")
    def _keep_name_key(self, _name: str, name: str) -> str:
        # Whoever sets a name (a new supplier, a rename) sets its key with it: the two never disagree.
        self.name_key = supplier_key(name)
        return name

    @validates("licence")
    def _keep_licence_key(self, _name: str, licence: str | None) -> str | None:
        self.licence_key = licence_key(licence)
        return licence


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
