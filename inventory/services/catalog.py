"""Catalog look-ups."""

from __future__ import annotations

from functools import cache

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, joinedload, selectinload

from inventory.errors import UnknownProduct
from inventory.models import Product, ProductGtin, ProductKind


@cache
def _product_for_gtin_statement() -> Select[Product]:
    # Built once per process (SQL, never data): every scanned box looks its GTIN up. With all the product's
    # GTINs, which the scan's answer lists: loaded later, they would cost each scan a second round trip.
    return (select(Product).join(ProductGtin).where(ProductGtin.gtin == bindparam("gtin"))
            .options(joinedload(Product.gtins)))


def product_for_gtin(session: Session, gtin: str) -> Product:
    """``gtin`` is already normalised to 14 digits. Raises UnknownProduct."""
    product = session.scalars(_product_for_gtin_statement(), {"gtin": gtin}).unique().first()
    if product is None:
        raise unknown_gtin(gtin)
    return product


def unknown_gtin(gtin: str) -> UnknownProduct:
    """The error for a GTIN the catalog lacks, wherever it is looked up (one message for the nurse)."""
    return UnknownProduct(
        f"GTIN {gtin} is not in Vialog's catalog. Ask a manager to add the product first.", gtin=gtin
    )


def list_products(session: Session) -> list[Product]:
    return list(
        session.scalars(
            select(Product).options(selectinload(Product.gtins)).order_by(Product.kind, Product.name)
        )
    )


def products_by_kind(session: Session) -> list[tuple[ProductKind, list[Product]]]:
    """The catalog as a clinic reads it: toxins, fillers, hyaluronidase, then supplies, each by name."""
    products = list_products(session)
    grouped = [(kind, [p for p in products if p.kind is kind]) for kind in ProductKind]
    return [(kind, members) for kind, members in grouped if members]
