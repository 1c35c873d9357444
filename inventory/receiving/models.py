"""The register of pack serials received (DOMAIN.md "Counterfeits, suppliers and the cold chain")."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from inventory.models.base import Base, intpk
from inventory.models.catalog import Product
from inventory.models.stock import Receipt


class PackSerial(Base):
    """A manufacturer's pack serial (GS1 AI 21) as received: one pack, so one receipt, whatever the number of
    vials or syringes in it. A second receipt of the same product and serial anywhere in the chain is a copied
    box: the unique constraint refuses it even when two receipts race (receiving answers duplicate_serial).

    The receipt's containers carry the serial too when the pack is a single container (containers.serial,
    what the cart matches a scanned box code with); a pack of several has it here only, since a container's
    serial is unique per product (migration 0014)."""

    __tablename__ = "pack_serials"
    __table_args__ = (UniqueConstraint("product_id", "serial"),)

    id: Mapped[intpk]
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), comment="unique with serial: chain-wide")
    serial: Mapped[str] = mapped_column(String(20), comment="GS1 AI 21 as printed on the pack")
    receipt_id: Mapped[int] = mapped_column(
        ForeignKey("receipts.id"), unique=True, comment="the receipt that took the pack in: its containers"
    )

    product: Mapped[Product] = relationship()
    receipt: Mapped[Receipt] = relationship()
