"""The catalog's manufacturer reads back: GET /products and the administration's answers carry it (null when none is
on file), and what a PATCH sets is what the adverse event report names."""

from __future__ import annotations

import csv
import io

import pytest

from tests.api.test_safety_api import event_body, filler_drawn

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

NOT_ON_FILE = "manufacturer not on file: add it in the catalog"


def _catalog(client) -> dict[int, dict]:
    response = client.get("/products")
    assert response.status_code == 200, response.get_json()
    return {p["id"]: p for p in response.get_json()["products"]}


def _report_manufacturer(client, event_id: int) -> str:
    response = client.get(f"/adverse-events/{event_id}/report.csv")
    assert response.status_code == 200, response.get_data(as_text=True)
    (row,) = csv.DictReader(io.StringIO(response.get_data(as_text=True)))
    return row["manufacturer"]


def test_the_catalog_answers_each_products_manufacturer_or_null(api, world, session):
    world.products["syringe"].manufacturer = "  "  # blank is none on file, as the report reads it
    session.flush()

    products = _catalog(api("nurse"))

    assert products[world.filler.id]["manufacturer"] == world.filler.manufacturer != ""
    assert products[world.products["syringe"].id]["manufacturer"] is None


def test_a_manufacturer_patched_reads_back_and_the_report_names_it(api, world, session):
    nurse, manager = api("nurse"), api("manager")
    treatment, _ = filler_drawn(nurse, world)
    event = nurse.post("/adverse-events", event_body(treatment)).get_json()
    world.filler.manufacturer = ""
    session.flush()
    assert _catalog(nurse)[world.filler.id]["manufacturer"] is None
    assert _report_manufacturer(nurse, event["id"]) == NOT_ON_FILE

    patched = manager.patch(f"/products/{world.filler.id}", {"manufacturer": " Allergan Aesthetics "})

    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["manufacturer"] == "Allergan Aesthetics"
    assert _catalog(nurse)[world.filler.id]["manufacturer"] == "Allergan Aesthetics"
    assert _report_manufacturer(nurse, event["id"]) == "Allergan Aesthetics"

    cleared = manager.patch(f"/products/{world.filler.id}", {"manufacturer": ""})
    assert cleared.status_code == 200 and cleared.get_json()["manufacturer"] is None
    assert _report_manufacturer(nurse, event["id"]) == NOT_ON_FILE


def test_a_product_added_with_its_manufacturer_answers_it(api, world):
    manager = api("manager")

    added = manager.post("/products", {"name": "Restylane Kysse 1 mL", "brand": "Restylane", "kind": "filler",
                                       "form": "gel", "base_unit": "mL", "volume_ml": "1",
                                       "manufacturer": "Galderma"})

    assert added.status_code == 201, added.get_json()
    assert added.get_json()["manufacturer"] == "Galderma"
    assert _catalog(manager)[added.get_json()["id"]]["manufacturer"] == "Galderma"
