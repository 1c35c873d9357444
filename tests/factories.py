"""Factories: build real rows through the services, never by hand-written inserts.

The one home of every world-building helper the test modules share: clinics, products and users
(``build_world``), stock (``World.receive``), kit locations, patients and the cart's operations
(treatments, reconstitution, draws, waste, corrections), and ``refusal``.

The cart helpers act as ``user`` (a ``World.users`` key or a User; default the London nurse) within
that user's own clinics, so a refusal for another clinic's object shows as the service answers it.
Reconstitution is the exception: it is set-up in most tests that use it and, as always here, may
open a vial at any clinic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.errors import DomainError
from inventory.models import (
    Clinic,
    Container,
    Draw,
    Location,
    LocationKind,
    Movement,
    MovementKind,
    Patient,
    Product,
    ProductGtin,
    Receipt,
    Role,
    Treatment,
    User,
)
from inventory.counterfeit.models import Supplier
from inventory.transfers.models import Transfer
from inventory.services import auth
from inventory.cart import service as cart
from inventory.transfers import service as clinic_transfers
from inventory.receiving import service as receiving
from inventory.demo import PRODUCTS
from inventory.services.permissions import Scope

# A fixed moment, so that no test depends on today's date.
NOW = dt.datetime(2026, 6, 15, 9, 30, tzinfo=dt.UTC)
HASHER = auth.make_hasher(1, 64)
PASSWORD = "correct-horse-battery"
EVERYWHERE = Scope.everything()


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
    supplier: Supplier | None = None  # the chain's one authorised supplier (the receiving page asks for one)

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
            # A test that names a place outside the fridge means to put the box there.
            confirm=("location_not_refrigerated",) if location is not None else (),
        )

    def container(self, product: Product | str = "botox", **kwargs) -> Container:
        return self.receive(product, **kwargs).containers[0]

    def user(self, who: User | str) -> User:
        """A user given as itself or as its key in ``users``."""
        return self.users[who] if isinstance(who, str) else who

    def nyc_manager(self) -> User:
        """A manager of the New York clinic only (made on first use: most tests need none)."""
        return self._extra_user("nyc_manager", "nyc-manager", Role.MANAGER, self.other_clinic)

    def lon_safety_lead(self) -> User:
        """A safety lead of the London clinic only (made on first use)."""
        return self._extra_user("lon_safety", "lon-safety", Role.SAFETY_LEAD, self.clinic)

    def _extra_user(self, key: str, username: str, role: Role, clinic: Clinic) -> User:
        if key not in self.users:
            self.users[key] = make_user(self.session, username, role, [clinic])
            self.session.flush()
        return self.users[key]


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
    supplier = Supplier(name="Allergan Aesthetics (direct)", licence="WDA(H) 0001", is_authorised=True)
    session.add(supplier)
    session.flush()
    return World(session=session, clinic=clinic, other_clinic=other, products=products, users=users,
                 supplier=supplier)


def quantity(text: str) -> Decimal:
    return Decimal(text)


def refusal(call: Callable[[], Any]) -> DomainError:
    """The DomainError that ``call`` raises; the test fails if it raises none."""
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value


def kit_location(world: World, clinic: Clinic | None = None, name: str = "Emergency kit") -> Location:
    """A location of kind ``kit`` (what a kit is, for the ledger), with no kit on it yet."""
    location = Location(clinic_id=(clinic or world.clinic).id, name=name, kind=LocationKind.KIT)
    world.session.add(location)
    world.session.flush()
    return location


def send_transfer(world: World, containers: list[Container], *, user: User | str = "manager",
                  to: Location | None = None, at: dt.datetime = NOW, note: str | None = None) -> Transfer:
    """Puts the containers on the road to another clinic (default: the New York fridge)."""
    actor, scope = _acting(world, user, None)
    return clinic_transfers.send(
        world.session, actor=actor, scope=scope, container_ids=[c.id for c in containers],
        to_location_id=(to or world.location("Fridge", world.other_clinic)).id, now=at, note=note,
    )


def adjustments(session: Session) -> list[Movement]:
    """Every count adjustment, oldest first, as the database has them now (requests included)."""
    session.flush()
    session.expire_all()
    return list(session.scalars(select(Movement).where(Movement.kind == MovementKind.ADJUST).order_by(Movement.id)))


# --- the cart ------------------------------------------------------------------------------------------


def _acting(world: World, user: User | str, scope: Scope | None) -> tuple[User, Scope]:
    actor = world.user(user)
    return actor, scope if scope is not None else Scope.for_user(actor)


def patient(world: World, ref: str, *, clinic: Clinic | None = None, name: str | None = None) -> Patient:
    clinic = clinic or world.clinic
    return cart.find_or_create_patient(
        world.session, scope=EVERYWHERE, clinic_id=clinic.id, external_ref=ref, name=name or f"Patient {ref}"
    )


def start_treatment(world: World, who: Patient | str = "P-001", *, user: User | str = "nurse",
                    clinic: Clinic | None = None, at: dt.datetime = NOW, scope: Scope | None = None) -> Treatment:
    """A treatment in Room 1 of the patient's clinic; ``who`` is a Patient or a new patient's reference."""
    actor, scope = _acting(world, user, scope)
    if isinstance(who, str):
        who = cart.find_or_create_patient(world.session, scope=scope, clinic_id=(clinic or world.clinic).id,
                                          external_ref=who, name=f"Patient {who}")
    room = world.location("Room 1", world.session.get(Clinic, who.clinic_id))
    return cart.start_treatment(world.session, actor=actor, scope=scope, patient_id=who.id, location_id=room.id,
                                now=at)


def reconstitute(world: World, container: Container, diluent_ml: str = "2.5", *, user: User | str = "nurse",
                 at: dt.datetime = NOW, scope: Scope = EVERYWHERE, **kwargs: Any) -> Container:
    return cart.reconstitute(world.session, actor=world.user(user), scope=scope, container_id=container.id,
                             diluent_ml=Decimal(diluent_ml), now=at, **kwargs)


def draw(world: World, treatment: Treatment, container: Container, quantity: str | Decimal, unit: str = "U", *,
         area: str = "glabella", user: User | str = "nurse", at: dt.datetime = NOW, scope: Scope | None = None,
         **kwargs: Any) -> cart.DrawResult:
    actor, scope = _acting(world, user, scope)
    return cart.draw(world.session, actor=actor, scope=scope, treatment_id=treatment.id, container_id=container.id,
                     quantity=Decimal(quantity), unit=unit, area=area, now=at, **kwargs)


def waste(world: World, container: Container, reason: str = "dropped", *, quantity: str | Decimal | None = None,
          user: User | str = "nurse", at: dt.datetime = NOW, scope: Scope | None = None, **kwargs: Any) -> Movement:
    """Wastes ``quantity`` of the container (None: all that is left)."""
    actor, scope = _acting(world, user, scope)
    return cart.waste(world.session, actor=actor, scope=scope, container_id=container.id, reason=reason,
                      quantity=Decimal(quantity) if quantity is not None else None, now=at, **kwargs)


def reverse(world: World, movement: Movement | Draw, reason: str = "wrong vial scanned", *,
            user: User | str = "nurse", at: dt.datetime = NOW, scope: Scope | None = None) -> Movement:
    """Corrects a draw or a waste (given as its Movement, or as the Draw)."""
    actor, scope = _acting(world, user, scope)
    movement_id = movement.movement_id if isinstance(movement, Draw) else movement.id
    return cart.reverse(world.session, actor=actor, scope=scope, movement_id=movement_id, reason=reason, now=at)


def close_treatment(world: World, treatment: Treatment, *, user: User | str = "nurse", at: dt.datetime = NOW,
                    scope: Scope | None = None) -> cart.ClosedTreatment:
    actor, scope = _acting(world, user, scope)
    return cart.close_treatment(world.session, actor=actor, scope=scope, treatment_id=treatment.id, now=at)


def opened_vial(world: World, used: str = "13.5", *, ref: str = "P-1") -> Container:
    """A Botox vial in the London fridge, reconstituted with 2.5 mL, ``used`` units drawn for patient ``ref``
    (13.5 U: 86.5 U left, a number to look for in pages and exports)."""
    vial = world.container("botox")
    reconstitute(world, vial)
    draw(world, start_treatment(world, ref), vial, used)
    world.session.flush()
    return vial


def serial_seen_twice(world: World) -> DomainError:
    """A Botox pack (serial SER9) received in London, then a copy of its code in New York: refused as a
    duplicate serial, and the sign the receiving view keeps for the safety lead written, as it writes it."""
    from inventory.counterfeit import service as counterfeit

    gtin = world.botox.gtins[0].gtin
    manager = world.users["manager"]
    receiving.receive(world.session, actor=manager, scope=EVERYWHERE, location_id=world.location().id,
                      containers=1, now=NOW, code=f"]d201{gtin}17270331" "10LOTA\x1d21SER9")
    error = refusal(lambda: receiving.receive(
        world.session, actor=manager, scope=EVERYWHERE, location_id=world.location("Fridge", world.other_clinic).id,
        containers=1, now=NOW, code=f"]d201{gtin}17270331" "10LOTB\x1d21SER9"))
    counterfeit.sign_of(error, actor_id=manager.id, clinic_id=None, now=NOW, where="receiving")(world.session)
    return error
