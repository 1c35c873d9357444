"""The expiry watch: usable stock expiring within a window, by location, soonest first, products apart."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from inventory.errors import ValidationError
from inventory.models import LotStatus, MovementKind
from inventory.services import ledger
from inventory.kits.service import expiring_stock
from inventory.services.permissions import Scope
from tests.factories import EVERYWHERE, NOW
from tests.kit_factories import days


def watch(world, days_ahead: int = 30, now: dt.datetime = NOW, scope: Scope = EVERYWHERE):
    return [
        (place.clinic_code, place.location, [(lot.product, lot.lot, lot.days_left, lot.containers, lot.remaining)
                                             for lot in place.lots])
        for place in expiring_stock(world.session, scope=scope, now=now, days=days_ahead)
    ]


def test_lots_within_the_window_by_location_soonest_first(world):
    fridge, cart = world.location("Fridge"), world.location("Cart")
    world.receive("botox", lot="B20", expiry=days(20), containers=3, location=fridge)
    world.receive("hylenex", lot="H5", expiry=days(5), location=fridge)
    world.receive("botox", lot="B12", expiry=days(12), location=cart)
    world.receive("botox", lot="B200", expiry=days(200), location=cart)
    assert watch(world) == [
        ("LON", "Fridge", [("Hylenex recombinant 150 USP U/mL", "H5", 5, 1, Decimal(150)),
                           ("Botox Cosmetic 100 U", "B20", 20, 3, Decimal(300))]),
        ("LON", "Cart", [("Botox Cosmetic 100 U", "B12", 12, 1, Decimal(100))]),
    ]


@pytest.mark.parametrize(("expires_in", "listed"), [(0, True), (30, True), (31, False), (-1, False)])
def test_the_window_is_inclusive_and_expired_stock_is_not_usable(world, expires_in, listed):
    # Received the day before it expired, so that even the expired lot could be received.
    world.receive("botox", lot="EDGE", expiry=days(expires_in), now=NOW - dt.timedelta(days=2))
    assert (watch(world) != []) is listed


def test_different_products_in_one_place_are_never_summed(world):
    world.receive("botox", lot="SAME1", expiry=days(10), containers=2)
    world.receive("dysport", lot="SAME1", expiry=days(10), containers=2)
    (place,) = watch(world)
    assert sorted(place[2]) == [("Botox Cosmetic 100 U", "SAME1", 10, 2, Decimal(200)),
                                ("Dysport 300 U", "SAME1", 10, 2, Decimal(600))]


def test_only_usable_stock_counts(world, session):
    (empty,) = world.receive("botox", lot="EMPTY", expiry=days(3)).containers
    locked = ledger.lock_container(session, empty.id, EVERYWHERE)
    ledger.record(session, locked, kind=MovementKind.DRAW, quantity=Decimal(-100), actor=world.users["nurse"], at=NOW)
    quarantined = world.receive("botox", lot="QUAR", expiry=days(3)).lot
    quarantined.status = LotStatus.QUARANTINED
    (opened,) = world.receive("filler", lot="OPEN", expiry=days(3)).containers
    locked = ledger.lock_container(session, opened.id, EVERYWHERE)
    ledger.record(session, locked, kind=MovementKind.DRAW, quantity=Decimal("-0.2"), actor=world.users["nurse"], at=NOW)
    session.flush()
    assert watch(world) == [("LON", "Fridge", [("Juvederm Volbella XC 0.55 mL", "OPEN", 3, 1, Decimal("0.35"))])]


def test_days_left_use_each_clinics_own_date(world):
    """At 02:00 UTC on 16 June it is already the 16th in London but still the 15th in New York."""
    late = dt.datetime(2026, 6, 16, 2, 0, tzinfo=dt.UTC)
    world.receive("botox", lot="LON15", expiry=days(0))
    world.receive("botox", lot="NYC15", expiry=days(0), location=world.location("Fridge", world.other_clinic))
    assert watch(world, now=late) == [("NYC", "Fridge", [("Botox Cosmetic 100 U", "NYC15", 0, 1, Decimal(100))])]


def test_the_watch_is_scoped_to_the_callers_clinics_and_validates_the_window(world):
    world.receive("botox", lot="NYC1", expiry=days(3), location=world.location("Fridge", world.other_clinic))
    assert watch(world, scope=Scope.for_user(world.users["nurse"])) == []
    assert [place[0] for place in watch(world, scope=Scope.for_user(world.users["other_nurse"]))] == ["NYC"]
    with pytest.raises(ValidationError):
        expiring_stock(world.session, scope=EVERYWHERE, now=NOW, days=-1)
