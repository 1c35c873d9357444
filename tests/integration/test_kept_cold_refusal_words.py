"""The "must be kept cold" refusal says where 2-8 °C comes from: "(label: ...)" only when the product's storage text
is on file, quoting it; a product with none is kept at its kind's range, which the refusal says as the kind's rule
("toxins are kept at 2-8 °C unless the label says otherwise"), never as if a label said it."""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.models import Location, LocationKind
from inventory.receiving import service as receiving
from tests.factories import EVERYWHERE, NOW, refusal


def store_room(world) -> Location:
    room = Location(clinic_id=world.clinic.id, name="Store room", kind=LocationKind.STORAGE)
    world.session.add(room)
    world.session.flush()
    return room


def refused_into(world, product: str, place: Location) -> str:
    error = refusal(lambda: receiving.receive(
        world.session, actor=world.users["manager"], scope=EVERYWHERE, location_id=place.id, containers=1, now=NOW,
        gtin=world.products[product].gtins[0].gtin, lot_number="COLD1", expiry=dt.date(2028, 12, 31)))
    assert error.code == "location_not_refrigerated"
    return error.message


@pytest.mark.parametrize("storage", ["", "   "])
def test_a_product_with_no_storage_text_is_said_to_follow_its_kinds_rule(world, storage):
    world.products["botox"].storage = storage
    world.products["hylenex"].storage = storage
    room = store_room(world)
    assert refused_into(world, "botox", room) == (
        "Botox Cosmetic 100 U must be kept cold (toxins are kept at 2-8 °C unless the label says otherwise), and "
        "Store room is not a temperature-sensitive place: receive it into a fridge, or confirm that it may be kept "
        "here.")
    said = refused_into(world, "hylenex", room)
    assert said.startswith("Hylenex recombinant 150 USP U/mL must be kept cold (hyaluronidase is kept at 2-8 °C "
                           "unless the label says otherwise), and Store room"), said
    assert "label:" not in said


def test_a_product_whose_label_is_on_file_is_quoted(world):
    world.products["botox"].storage = "  Store at +2°C to +8°C, do not freeze "
    assert refused_into(world, "botox", store_room(world)).startswith(
        "Botox Cosmetic 100 U must be kept cold (label: Store at +2°C to +8°C, do not freeze), and Store room")
