"""A code scanned into the stock search (the Stock page's "Product or lot", ``GET /api/v1/stock?q=``): a
keyboard-wedge scanner types into whatever field has the focus, so a manager looking for a box scans it there.
A Vialog label finds its container's lot, a box's GS1 code its product's lot of that number, a bare product
code every lot of the product; text that is no code is searched as words, as before."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from tests.factories import World

FAR = dt.date(2099, 12, 31)


def _lots(client, q: str) -> set[tuple[str, str]]:
    response = client.get("/stock?" + urlencode({"q": q}))
    assert response.status_code == 200, response.get_json()
    return {(row["product"]["name"], row["lot"]["number"]) for row in response.get_json()["rows"]}


def _stock(world: World) -> str:
    """Botox lots C3709C3 (London, New York) and B2, Dysport D1; returns a London C3709C3 vial's label."""
    vial = world.receive("botox", lot="C3709C3", expiry=FAR).containers[0]
    world.receive("botox", lot="C3709C3", expiry=FAR, location=world.location("Fridge", world.other_clinic))
    world.receive("botox", lot="B2", expiry=FAR)
    world.receive("dysport", lot="D1", expiry=FAR)
    return vial.label_code


def test_a_vialog_label_finds_its_lot(api, world, session):
    label = _stock(world)
    session.flush()
    assert _lots(api("manager"), label) == {("Botox Cosmetic 100 U", "C3709C3")}
    assert _lots(api("manager"), f"]C1{label.lower()}") == {("Botox Cosmetic 100 U", "C3709C3")}


def test_a_label_of_another_clinic_finds_nothing(api, world, session):
    _stock(world)
    nyc_label = world.receive("dysport", lot="NY9", expiry=FAR,
                              location=world.location("Fridge", world.other_clinic)).containers[0].label_code
    session.flush()
    assert _lots(api("nurse"), nyc_label) == set()


def test_a_boxs_gs1_code_finds_its_lot_and_a_product_code_every_lot(api, world, session):
    _stock(world)
    session.flush()
    gtin = world.botox.gtins[0].gtin
    assert _lots(api("manager"), f"01{gtin}10C3709C3") == {("Botox Cosmetic 100 U", "C3709C3")}
    assert _lots(api("manager"), f"(01){gtin}(10)B2") == {("Botox Cosmetic 100 U", "B2")}
    assert _lots(api("manager"), gtin) == {("Botox Cosmetic 100 U", "C3709C3"), ("Botox Cosmetic 100 U", "B2")}


def test_words_are_still_searched_as_words(api, world, session):
    _stock(world)
    session.flush()
    assert _lots(api("manager"), "dysport") == {("Dysport 300 U", "D1")}
    assert _lots(api("manager"), "c3709") == {("Botox Cosmetic 100 U", "C3709C3")}
