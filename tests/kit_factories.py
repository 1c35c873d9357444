"""Kit factories shared by the kit tests: a small template, kits at kit locations, stock, checks."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from inventory.models import Container, Location, Movement, MovementKind, ProductKind
from inventory.kits.models import Kit, KitCheck, KitTemplate
from inventory.services import ledger
from inventory.kits import service as kits
from inventory.kits.service import RequirementSpec
from inventory.transfers import moves
from tests.factories import EVERYWHERE, NOW, kit_location

TODAY = dt.date(2026, 6, 15)  # NOW in London (and in New York)
KIT_CREATED = NOW - dt.timedelta(days=90)  # before any moment a test judges: a past board leaves out later kits
FAR = dt.date(2027, 3, 31)


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def template(world, *, hyaluronidase_days: int = 0, warning_days: int = 30, interval: int = 7,
             name: str = "Vascular occlusion kit"):
    """Hyaluronidase >= 300 units of one product (two Hylenex vials), syringes >= 2."""
    return kits.create_template(
        world.session, name=name, check_interval_days=interval, warning_days=warning_days,
        requirements=[
            RequirementSpec("Hyaluronidase", Decimal(300), product_kind=ProductKind.HYALURONIDASE,
                            min_days_to_expiry=hyaluronidase_days),
            RequirementSpec("Syringes 1 mL", Decimal(2), product_id=world.products["syringe"].id),
        ],
    )


def new_kit(world, clinic=None, *, name: str = "Emergency kit (room 1)", **template_options) -> Kit:
    clinic = clinic or world.clinic
    found = world.session.scalar(select(KitTemplate).where(KitTemplate.name == "Vascular occlusion kit"))
    tpl = found or template(world, **template_options)
    kit = kits.create_kit(world.session, scope=EVERYWHERE, template_id=tpl.id, name=name,
                          location_id=kit_location(world, clinic, name).id)
    kit.created_at = KIT_CREATED
    world.session.flush()
    return kit


def stock(world, kit: Kit, product: str = "hylenex", *, count: int = 1, lot: str = "2205123",
          expiry: dt.date = FAR, now: dt.datetime = NOW):
    return restock(world, kit.location, product, count=count, lot=lot, expiry=expiry, now=now)


def restock(world, location: Location, product: str = "hylenex", *, count: int = 1, lot: str = "2205123",
            expiry: dt.date = FAR, now: dt.datetime = NOW) -> list[Container]:
    """As a clinic stocks a kit: received into the clinic's fridge (a box is never received into a kit), then
    moved into the kit's location."""
    received = world.receive(product, lot=lot, expiry=expiry, containers=count,
                             location=world.location("Fridge", location.clinic), now=now).containers
    for container in received:
        moves.move_container(world.session, actor=world.users["manager"], scope=EVERYWHERE,
                             container_id=container.id, to_location_id=location.id, now=now, reason="kit restock")
    return received


def stocked_kit(world, **options) -> Kit:
    kit = new_kit(world, **options)
    stock(world, kit, "hylenex", count=2)
    stock(world, kit, "syringe", count=2, lot="SY2026")
    return kit


def check(world, kit: Kit, *, at: dt.datetime = NOW, seal_intact: bool = True) -> KitCheck:
    return kits.record_check(world.session, actor=world.users["nurse"], scope=EVERYWHERE, kit_id=kit.id,
                             seal_intact=seal_intact, notes="", now=at)


def state(world, kit: Kit, now: dt.datetime = NOW) -> kits.KitReadiness:
    (found,) = kits.readiness(world.session, scope=EVERYWHERE, now=now, kit_ids=[kit.id])
    return found


def texts(found: kits.KitReadiness) -> list[str]:
    return [reason.text for reason in found.reasons]


def codes(found: kits.KitReadiness) -> list[str]:
    return [reason.code for reason in found.reasons]


def emergency_draw(world, container, quantity: str = "150", at: dt.datetime = NOW) -> Movement:
    locked = ledger.lock_container(world.session, container.id, EVERYWHERE)
    movement = ledger.record(world.session, locked, kind=MovementKind.DRAW, quantity=-Decimal(quantity),
                             actor=world.users["nurse"], at=at, reason="emergency")
    world.session.flush()
    return movement
