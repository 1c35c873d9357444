"""Exploratory QA: a product's counting unit and size were changed while it held stock (Botox Cosmetic 100 U made
50 mL a vial), so every vial and dose on file was read in mL. Once any container of a product is on file, its base
unit, units per container, form, concentration and volume stay as they are: `PATCH /products/<id>` is refused
409 product_in_use, nothing written; a product never received may still be corrected."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from inventory.models import AuditEvent, Container, ContainerState, Movement, Product
from tests.api.conftest import error_code

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

FAR = dt.date(2099, 12, 31)  # requests run at the real clock: lots must outlive it


def _fresh(session, product: Product) -> Product:
    session.expire_all()
    return session.get(Product, product.id)


def _product_events(session, product: Product) -> int:
    return session.scalar(select(func.count(AuditEvent.id)).where(
        AuditEvent.object_type == "product", AuditEvent.object_id == str(product.id))) or 0


def test_qa_repro_a_product_holding_stock_keeps_its_unit_and_size(api, world, session):
    botox = world.botox
    vial = world.container("botox", lot="LOCK1", expiry=FAR)
    events = _product_events(session, botox)

    refused = api("manager").patch(f"/products/{botox.id}", {"base_unit": "mL", "units_per_container": "50"})

    assert (refused.status_code, error_code(refused)) == (409, "product_in_use"), refused.get_json()
    error = refused.get_json()["error"]
    assert error["message"].startswith(
        "Botox Cosmetic 100 U cannot change its base unit (U to mL) or its units or mL per container (100 to 50): "
        "1 container of it is on file")
    assert "A new presentation (another unit, size or form) is a new product: add it to the catalog" in error["message"]
    assert error["details"] == {
        "product_id": botox.id, "containers": 1, "field": "base_unit",
        "fields": [{"field": "base_unit", "from": "U", "to": "mL"},
                   {"field": "units_per_container", "from": "100", "to": "50"}]}
    botox = _fresh(session, botox)
    assert (botox.base_unit, botox.quantity_per_container) == ("U", Decimal(100))
    assert session.get(Container, vial.id).remaining == Decimal(100)
    assert _product_events(session, botox) == events  # nothing audited: nothing changed


@pytest.mark.parametrize(("key", "change", "field"), [
    ("botox", {"units_per_container": "50"}, "units_per_container"),
    ("botox", {"form": "liquid", "concentration_per_ml": "100"}, "form"),  # would no longer be reconstituted
    ("hylenex", {"concentration_per_ml": "200"}, "concentration_per_ml"),
    ("filler", {"volume_ml": "1"}, "volume_ml"),
    ("filler", {"base_unit": "each"}, "base_unit"),
])
def test_each_fact_that_reads_recorded_quantities_is_refused_once_received(api, world, session, key, change, field):
    product = world.products[key]
    world.container(key, lot="LOCK2", expiry=FAR)
    before = {name: getattr(product, name) for name in (
        "base_unit", "quantity_per_container", "form", "strength_per_ml", "volume_ml", "requires_reconstitution")}

    refused = api("admin").patch(f"/products/{product.id}", change)

    assert (refused.status_code, error_code(refused)) == (409, "product_in_use"), refused.get_json()
    assert refused.get_json()["error"]["details"]["field"] == field
    product = _fresh(session, product)
    assert {name: getattr(product, name) for name in before} == before


def test_a_product_used_up_keeps_its_unit_for_its_history(api, world, session):
    dysport = world.products["dysport"]
    vial = world.container("dysport", lot="USED2", expiry=FAR)
    wasted = api("nurse").post(f"/containers/{vial.label_code}/waste", {"reason": "dropped"})
    assert wasted.status_code == 201, wasted.get_json()
    session.expire_all()
    assert session.get(Container, vial.id).state is ContainerState.DISCARDED  # nothing left in stock

    refused = api("admin").patch(f"/products/{dysport.id}", {"base_unit": "s.U"})

    assert (refused.status_code, error_code(refused)) == (409, "product_in_use"), refused.get_json()
    assert refused.get_json()["error"]["details"]["containers"] == 1
    assert _fresh(session, dysport).base_unit == "U"
    assert {m.quantity for m in session.scalars(select(Movement).where(Movement.container_id == vial.id))} == {
        Decimal(300), Decimal(-300)}


def test_a_product_never_received_is_corrected_until_its_first_container(api, world, session):
    daxxify = world.products["daxxify"]
    manager = api("manager")

    corrected = manager.patch(f"/products/{daxxify.id}", {"units_per_container": "50"})

    assert corrected.status_code == 200, corrected.get_json()
    assert corrected.get_json()["units_per_container"] == "50"
    world.container("daxxify", lot="FIRST1", expiry=FAR)
    refused = manager.patch(f"/products/{daxxify.id}", {"units_per_container": "100"})
    assert (refused.status_code, error_code(refused)) == (409, "product_in_use"), refused.get_json()
    assert _fresh(session, daxxify).quantity_per_container == Decimal(50)


def test_restating_the_facts_is_no_change_and_the_rest_of_a_refused_patch_is_not_written(api, world, session):
    botox = world.botox
    world.container("botox", lot="LOCK3", expiry=FAR)
    manager = api("manager")
    restated = manager.patch(f"/products/{botox.id}", {"base_unit": " U ", "units_per_container": "100.00",
                                                       "form": "powder", "storage": "2-8 °C, in its carton"})
    assert restated.status_code == 200, restated.get_json()
    events = _product_events(session, botox)

    refused = manager.patch(f"/products/{botox.id}", {
        "name": "Botox Cosmetic 50 mL", "storage": "room temperature", "gtins": [botox.gtins[0].gtin, "5901234123457"],
        "base_unit": "mL"})

    assert (refused.status_code, error_code(refused)) == (409, "product_in_use"), refused.get_json()
    botox = _fresh(session, botox)
    assert (botox.name, botox.storage, botox.base_unit) == ("Botox Cosmetic 100 U", "2-8 °C, in its carton", "U")
    assert [g.gtin for g in botox.gtins] == [world.botox.gtins[0].gtin]
    assert _product_events(session, botox) == events
