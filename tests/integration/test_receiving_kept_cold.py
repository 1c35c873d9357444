"""A box whose label keeps it at 2-8 °C arrives into a temperature-sensitive place, where an excursion would hold
it: received into a treatment room or a store cupboard its cold chain would go unwatched. The person receiving may
confirm the place (a fridge Vialog does not watch yet); a label that allows room temperature is never asked."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from inventory.cold_chain.service import needs_fridge
from inventory.models import AuditEvent, Container, Location, LocationKind
from inventory.receiving import service as receiving
from tests.factories import EVERYWHERE, NOW, refusal

def store_room(world) -> Location:
    room = Location(clinic_id=world.clinic.id, name="Store room", kind=LocationKind.STORAGE)
    world.session.add(room)
    world.session.flush()
    assert room.temperature_sensitive is False
    return room


def receive(world, product, location, confirm=()):
    return receiving.receive(world.session, actor=world.users["manager"], scope=EVERYWHERE, location_id=location.id,
                             containers=2, now=NOW, gtin=world.products[product].gtins[0].gtin, lot_number="COLD1",
                             expiry=dt.date(2028, 12, 31), confirm=confirm)


def containers(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Container.id)))


@pytest.mark.parametrize("storage, fridge", [
    ("2-8 °C", True), ("2-8 °C, do not freeze", True), ("Store at +2°C to +8°C", True), ("2 to 8 °C", True),
    ("at or below 25 °C", False), ("below 25 °C", False), ("up to 25 °C", False), ("12-18 °C", False),
])
def test_a_label_that_names_2_to_8_keeps_the_product_in_a_fridge(world, storage, fridge):
    product = world.products["botox"]
    product.storage = storage
    assert needs_fridge(product) is fridge


def test_a_toxin_kept_at_2_to_8_is_refused_outside_a_temperature_sensitive_place(world, session):
    for place in (store_room(world), world.location("Room 1"), world.location("Cart")):
        error = refusal(lambda: receive(world, "botox", place))
        assert error.code == "location_not_refrigerated"
        assert error.message == (f"Botox Cosmetic 100 U must be kept cold (label: 2-8 °C), and {place.name} is not a "
                                 "temperature-sensitive place: receive it into a fridge, or confirm that it may be "
                                 "kept here.")
        assert error.details == {"product_id": world.botox.id, "location_id": place.id}
    assert containers(session) == 0


def test_the_fridge_takes_it_and_a_confirmed_place_does_too(world, session):
    assert receive(world, "botox", world.location("Fridge")).container_count == 2
    room = store_room(world)
    confirmed = receive(world, "botox", room, confirm=("location_not_refrigerated",))
    assert {c.location_id for c in confirmed.containers} == {room.id}
    assert containers(session) == 4
    # QA: who let a fridge product onto a shelf must be on record.
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "stock.kept_outside_fridge")).all()
    assert (event.actor_id, event.object_type, event.object_id) == (world.users["manager"].id, "receipt",
                                                                    str(confirmed.id))
    assert (event.details["product_id"], event.details["location"]) == (world.botox.id, "Store room")


def test_a_product_whose_label_allows_room_temperature_goes_anywhere(world, session):
    world.botox.storage = "at or below 25 °C"  # as Xeomin's label says
    room = store_room(world)
    assert receive(world, "botox", room).container_count == 2
    assert receive(world, "filler", room).container_count == 2  # fillers: up to 25 °C
