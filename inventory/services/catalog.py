"""Catalog look-ups."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from inventory.errors import UnknownProduct
from inventory.models import Product, ProductGtin


def product_for_gtin(session: Session, gtin: str) -> Product:
    """``gtin`` is already normalised to 14 digits. Raises UnknownProduct."""
    product = session.scalar(select(Product).join(ProductGtin).where(ProductGtin.gtin == gtin))
    if product is None:
        raise UnknownProduct(
            f"GTIN {gtin} is not in Vialog's catalog. Ask a manager to add the product first.", gtin=gtin
        )
    return product


def list_products(session: Session) -> list[Product]:
    return list(
        session.scalars(
            select(Product).options(selectinload(Product.gtins)).order_by(Product.kind, Product.name)
        )
    )
