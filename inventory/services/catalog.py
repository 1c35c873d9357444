"""Catalog look-ups, and the dose limits the products of one molecule share."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, joinedload, selectinload

from inventory.errors import UnknownProduct
from inventory.models import Product, ProductGtin, ProductKind
from inventory.models.base import plain_quantity


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
        f"GTIN {gtin} is not in Vialog's catalog: the product must be added to the catalog first (a manager or an admin can).", gtin=gtin
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


# --- the label's dose limits, which belong to the molecule ---------------------------------------------

# DOMAIN.md "Dose and interval checks": every limit is per molecule, never per product. The draw reads them
# from the product drawn (inventory/cart/dose_limits.py), so every product of a molecule carries the same
# values: the administration writes a limit to all of them at once (inventory/admin/service.py), and a
# database from before that rule may hold products of one molecule that disagree, which the catalog page
# shows the admin (``limit_disagreements``) rather than a migration choosing one of the values silently.
LIMIT_FIELDS: tuple[str, ...] = (
    "session_max_units", "session_max_areas", "cumulative_max_units", "cumulative_window_days",
    "retreat_interval_days",
)
LIMIT_LABELS: dict[str, str] = {
    "session_max_units": "session maximum",
    "session_max_areas": "areas the session maximum covers",
    "cumulative_max_units": "cumulative maximum",
    "cumulative_window_days": "cumulative window",
    "retreat_interval_days": "re-treatment interval",
}


def area_codes(value: str | Iterable[str] | None) -> frozenset[str]:
    """The areas of a session maximum, stored comma-separated (or given as a list); none: every area."""
    items = (value or "").split(",") if isinstance(value, str) or value is None else value
    return frozenset(a.strip() for a in items if a and a.strip())


def limit_key(field: str, value: Any) -> Hashable:
    """A limit as compared: the areas as a set (their order means nothing), any other value as it is."""
    return area_codes(value) if field == "session_max_areas" else value


def describe_limit(field: str, value: Any, unit: str) -> str:
    """A limit in words: "64 U", "90 days", "glabella, forehead"; "none" (for the areas: "every area")."""
    if field == "session_max_areas":
        return ", ".join(sorted(area_codes(value))) or "every area"
    if value is None:
        return "none"
    if field in ("session_max_units", "cumulative_max_units"):
        return f"{plain_quantity(value)} {unit}"
    return f"{value} days"


@dataclass(frozen=True)
class LimitDisagreement:
    """Products of one molecule holding different values of one limit: the draw then checks a patient against
    whichever product's value the scanned vial carries."""

    molecule: str
    field: str
    values: list[tuple[str, list[Product]]]  # each value in words, with the products holding it

    @property
    def label(self) -> str:
        return LIMIT_LABELS[self.field]

    @property
    def products(self) -> list[Product]:
        return [p for _, products in self.values for p in products]

    def summary(self) -> str:
        """ "120 days on Dysport 300 U; none on Azzalure 125 s.U" """
        return "; ".join(f"{words} on {', '.join(p.name for p in products)}" for words, products in self.values)


def limit_disagreements(products: Iterable[Product]) -> list[LimitDisagreement]:
    """Where products of one molecule disagree on a dose limit, by molecule and limit. Reads nothing more than
    the products given (the catalog page's own list)."""
    by_molecule: dict[str, list[Product]] = {}
    for product in products:
        if product.molecule is not None:
            by_molecule.setdefault(product.molecule, []).append(product)
    found = []
    for molecule, members in sorted(by_molecule.items()):
        members.sort(key=lambda p: p.name)
        for field in LIMIT_FIELDS:
            groups: dict[Hashable, list[Product]] = {}
            for product in members:
                groups.setdefault(limit_key(field, getattr(product, field)), []).append(product)
            if len(groups) > 1:
                found.append(LimitDisagreement(molecule, field, [
                    (describe_limit(field, getattr(held[0], field), held[0].base_unit), held)
                    for held in groups.values()
                ]))
    return found
