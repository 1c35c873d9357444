"""A box scanned at the cart takes the clinic's stock before an emergency kit's.

A manufacturer's code names a lot, not a vial: the cart picks one of the lot's sealed vials. One in an
emergency kit is the last choice (a draw from it leaves the kit short), taken only when the clinic holds no
other usable vial of that lot: QA found the Hylenex box code picking a kit vial with four in the fridge.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from inventory.cold_chain import service as cold_chain
from inventory.errors import UnknownContainer
from inventory.models import Container, Location, LocationKind, Treatment
from inventory.services import scanning
from inventory.services.permissions import Scope
from tests import kit_factories
from tests.factories import EVERYWHERE, NOW, World, refusal, start_treatment, waste

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

LOT = "HYL2205"
EXPIRY = dt.date(2027, 3, 31)
BEFORE = NOW - dt.timedelta(days=2)  # stock received before the excursion of the on-hold test


def box_code(world: World) -> str:
    """The Hylenex box's GS1 DataMatrix, as the scanner types it."""
    return f"]d201{world.products['hylenex'].gtins[0].gtin}17{EXPIRY:%y%m%d}10{LOT}"


def hylenex(world: World, location: Location, count: int = 1) -> list[Container]:
    return world.receive("hylenex", lot=LOT, expiry=EXPIRY, containers=count, location=location,
                         now=BEFORE).containers


def kit_vials(world: World, count: int = 2) -> list[Container]:
    """An emergency kit of the London clinic, stocked first: its vials have the lowest ids of the lot."""
    kit = kit_factories.new_kit(world, name="Emergency kit (room 2)")
    return kit_factories.stock(world, kit, "hylenex", count=count, lot=LOT, expiry=EXPIRY, now=BEFORE)


def scanned_at_the_cart(world: World, treatment: Treatment) -> Container:
    scope = Scope.for_user(world.users["nurse"])
    result = scanning.scan(world.session, box_code(world), scope=scope, now=NOW, timezone="Europe/London")
    return scanning.container_for_cart(world.session, result, scope=scope, clinic_id=treatment.clinic_id,
                                       treatment_id=treatment.id, location_id=treatment.location_id)


def test_a_box_scan_takes_a_fridge_vial_before_an_emergency_kits(world):
    kit_vials(world)
    fridge = hylenex(world, world.location("Fridge"), count=4)
    treatment = start_treatment(world, "P-KIT")  # in Room 1, where none of the lot is

    picked = scanned_at_the_cart(world, treatment)

    assert picked.id == fridge[0].id
    assert picked.location.name == "Fridge"


def test_a_box_scan_still_takes_a_vial_at_the_treatments_own_location_first(world):
    kit_vials(world)
    hylenex(world, world.location("Fridge"))
    (here,) = hylenex(world, world.location("Room 1"))

    assert scanned_at_the_cart(world, start_treatment(world, "P-HERE")).id == here.id


def test_a_kit_vial_is_taken_when_the_clinic_holds_no_other_of_the_lot(world):
    first_in_kit, _ = kit_vials(world)
    (fridge,) = hylenex(world, world.location("Fridge"))
    waste(world, fridge, user="manager", scope=EVERYWHERE)  # the fridge's last vial of the lot is gone
    hylenex(world, world.location("Fridge", world.other_clinic))  # another clinic's stock is not this clinic's

    picked = scanned_at_the_cart(world, start_treatment(world, "P-LAST"))

    assert picked.id == first_in_kit.id
    assert picked.location.kind is LocationKind.KIT  # what the cart page shows as a kit item


def test_a_kit_vial_is_taken_before_a_fridge_vial_on_hold(world):
    first_in_kit, _ = kit_vials(world)
    (fridge,) = hylenex(world, world.location("Fridge"))
    cold_chain.record_excursion(
        world.session, actor=world.users["manager"], scope=EVERYWHERE, location_id=world.location("Fridge").id,
        started_at=NOW - dt.timedelta(hours=6), ended_at=NOW - dt.timedelta(hours=2),
        min_c=Decimal("9"), max_c=Decimal("14.5"), now=NOW,
    )
    assert fridge.is_on_hold

    assert scanned_at_the_cart(world, start_treatment(world, "P-HOLD")).id == first_in_kit.id


def test_a_box_scan_with_nothing_of_the_lot_left_is_refused(world):
    for vial in kit_vials(world, count=1):
        waste(world, vial, user="manager", scope=EVERYWHERE)

    error = refusal(lambda: scanned_at_the_cart(world, start_treatment(world, "P-NONE")))

    assert isinstance(error, UnknownContainer) and "has no sealed vial here" in error.message
