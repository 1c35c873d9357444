"""Factories: build real rows through the services, never by hand-written inserts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.orm import Session

from inventory.models import Clinic, Container, Location, LocationKind, Product, ProductGtin, Receipt, Role, User
from inventory.services import auth, receiving
from inventory.services.demo import PRODUCTS
from inventory.services.permissions import Scope

# A fixed moment, so that no test depends on today's date.
NOW = dt.datetime(2026, 6, 15, 9, 30, tzinfo=dt.UTC)
HASHER = auth.make_hasher(1, 64)
PASSWORD = "correct-horse-battery"


def product_spec(name: str) -> dict:
    return next(dict(spec) for spec in PRODUCTS if spec["name"] == name)


def make_product(session: Session, name: str, **overrides) -> Product:
    spec = product_spec(name) | overrides
    gtin = spec.pop("gtin")
    product = Product(**spec, gtins=[ProductGtin(gtin=gtin)])
    session.add(product)
    session.flush()
    return product


def make_clinic(session: Session, code: str, timezone: str = "Europe/London") -> Clinic:
    clinic = Clinic(code=code, name=f"Clinic {code}", timezone=timezone)
    session.add(clinic)
    session.flush()
    for name, kind in [("Fridge", LocationKind.FRIDGE), ("Cart", LocationKind.CART), ("Room 1", LocationKind.ROOM)]:
        session.add(Location(clinic_id=clinic.id, name=name, kind=kind))
    session.flush()
    return clinic


def make_user(session: Session, username: str, role: Role, clinics: list[Clinic] | None) -> User:
    return auth.create_user(session, HASHER, username=username, password=PASSWORD, role=role, clinics=clinics)


@dataclass
class World:
    session: Session
    clinic: Clinic
    other_clinic: Clinic
    products: dict[str, Product]
    users: dict[str, User]
    locations: dict[str, Location] = field(default_factory=dict)

    @property
    def botox(self) -> Product:
        return self.products["botox"]

    @property
    def filler(self) -> Product:
        return self.products["filler"]

    def location(self, name: str = "Fridge", clinic: Clinic | None = None) -> Location:
        clinic = clinic or self.clinic
        return next(loc for loc in clinic.locations if loc.name == name)

    def receive(
        self,
        product: Product | str = "botox",
        *,
        lot: str = "C3709C3",
        expiry: dt.date = dt.date(2027, 3, 31),
        containers: int = 1,
        location: Location | None = None,
        now: dt.datetime = NOW,
    ) -> Receipt:
        if isinstance(product, str):
            product = self.products[product]
        return receiving.receive(
            self.session, actor=self.users["manager"], scope=Scope.everything(),
            location_id=(location or self.location()).id, containers=containers, now=now,
            gtin=product.gtins[0].gtin, lot_number=lot, expiry=expiry,
        )

    def container(self, product: Product | str = "botox", **kwargs) -> Container:
        return self.receive(product, **kwargs).containers[0]


def build_world(session: Session) -> World:
    clinic = make_clinic(session, "LON")
    other = make_clinic(session, "NYC", "America/New_York")
    products = {
        "botox": make_product(session, "Botox Cosmetic 100 U"),
        "dysport": make_product(session, "Dysport 300 U"),
        "daxxify": make_product(session, "Daxxify 100 U"),
        "filler": make_product(session, "Juvederm Volbella XC 0.55 mL"),
        "firm_filler": make_product(session, "Juvederm Voluma XC 1.0 mL"),
        "hylenex": make_product(session, "Hylenex recombinant 150 USP U/mL"),
        "syringe": make_product(session, "Syringe 1 mL Luer-lock"),
    }
    users = {
        "nurse": make_user(session, "nurse", Role.NURSE, [clinic]),
        "manager": make_user(session, "manager", Role.MANAGER, None),
        "safety": make_user(session, "safety", Role.SAFETY_LEAD, None),
        "admin": make_user(session, "admin", Role.ADMIN, None),
        "clinic_manager": make_user(session, "lon-manager", Role.MANAGER, [clinic]),
        "other_nurse": make_user(session, "nyc-nurse", Role.NURSE, [other]),
    }
    session.flush()
    return World(session=session, clinic=clinic, other_clinic=other, products=products, users=users)


def quantity(text: str) -> Decimal:
    return Decimal(text)
