"""The recall exports say what a person reads: each quantity on the notification list names its product (a Dysport
50 U is not Botox units) and its area in the cart's words, and the container list names each container's product.
Columns stay where they were: a new one is added at the end."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from recall import exports
from tests.factories import draw, patient, reconstitute, start_treatment

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

OLD_CONTAINER_HEADERS = ["Clinic", "Location", "Label", "Lot", "State", "Remaining", "Unit", "Status", "Note",
                         "Updated by", "Updated at (clinic time)"]


@pytest.fixture
def case_id(api, world, session):
    """A Class II case on Botox lot BTX1 and Dysport lot DYS1; Ann (London) received 20 U of Botox in the glabella,
    4 U into an area typed by hand and 50 U of Dysport in the left crow's feet."""
    botox = reconstitute(world, world.container("botox", lot="BTX1"))
    dysport = reconstitute(world, world.container("dysport", lot="DYS1"))
    treatment = start_treatment(world, patient(world, "L-7", name="Ann Lee"))
    draw(world, treatment, botox, "20", area="glabella")
    draw(world, treatment, botox, "4", area="other", area_detail="chin dimple")
    draw(world, treatment, dysport, "50", area="crows_feet_left")
    session.flush()
    response = api("safety").post("/recalls", {"lot_ids": [botox.lot_id, dysport.lot_id], "reason": "Notice 7",
                                               "recall_class": "II", "source": "manufacturer"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def rows_of(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_each_quantity_names_its_product_and_each_area_its_words(api, case_id):
    header, *rows = rows_of(api("safety").get(f"/recalls/{case_id}/notifications.csv"))
    assert header == list(exports.NOTIFICATION_HEADERS)
    (ann,) = [dict(zip(header, row, strict=True)) for row in rows if row[2] == "Ann Lee"]
    assert ann["Received"] == ("Botox Cosmetic 100 U: 20 U in Glabella (frown lines); "
                               "Botox Cosmetic 100 U: 4 U in chin dimple; "
                               "Dysport 300 U: 50 U in Crow's feet, left")
    # Words that hold a comma: the areas are parted by semicolons.
    assert ann["Areas"] == "Glabella (frown lines); chin dimple; Crow's feet, left"
    assert ann["Lots"] == "Botox Cosmetic 100 U BTX1, Dysport 300 U DYS1"


def test_the_container_list_adds_the_product_last_and_moves_no_column(api, case_id):
    safety = api("safety")
    header, *rows = rows_of(safety.get(f"/recalls/{case_id}/containers.csv"))
    assert header == [*OLD_CONTAINER_HEADERS, "Product"]
    assert sorted((row[3], row[-1]) for row in rows) == [("BTX1", "Botox Cosmetic 100 U"), ("DYS1", "Dysport 300 U")]
    assert {row[6] for row in rows} == {"U"}
    book = load_workbook(io.BytesIO(safety.get(f"/recalls/{case_id}/containers.xlsx").get_data()))
    sheet = list(book.worksheets[0].iter_rows(values_only=True))
    assert list(sheet[0]) == [*OLD_CONTAINER_HEADERS, "Product"]
    assert sorted(row[-1] for row in sheet[1:]) == ["Botox Cosmetic 100 U", "Dysport 300 U"]
