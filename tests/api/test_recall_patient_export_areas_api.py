"""The recall patient list says each patient's areas in the cart's words, as the notification list does ("Crow's
feet, left", not crows_feet_left; an "other" area as typed), parted by semicolons since the words may hold a comma.
No column moves."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from recall import exports
from tests.factories import draw, patient, reconstitute, start_treatment

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture
def case_id(api, world, session):
    """A Class II case on Botox lot BTX1; Ann (London) received it in the left crow's feet twice, the glabella and
    an area typed by hand."""
    botox = reconstitute(world, world.container("botox", lot="BTX1"))
    treatment = start_treatment(world, patient(world, "L-7", name="Ann Lee"))
    draw(world, treatment, botox, "6", area="crows_feet_left")
    draw(world, treatment, botox, "20", area="glabella")
    draw(world, treatment, botox, "4", area="other", area_detail="chin dimple")
    draw(world, treatment, botox, "2", area="crows_feet_left")
    session.flush()
    response = api("safety").post("/recalls", {"lot_ids": [botox.lot_id], "reason": "Notice 7",
                                               "recall_class": "II", "source": "manufacturer"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


AREAS = "Crow's feet, left; Glabella (frown lines); chin dimple"


def test_the_patient_list_says_areas_in_the_carts_words(api, case_id):
    safety = api("safety")
    response = safety.get(f"/recalls/{case_id}/patients.csv")
    assert response.status_code == 200
    header, *rows = csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")))
    assert header == list(exports.PATIENT_HEADERS) and header.index("Areas") == 10  # no column moved
    (ann,) = [dict(zip(header, row, strict=True)) for row in rows if row[2] == "Ann Lee"]
    assert ann["Areas"] == AREAS  # each area once, in the order given
    assert "crows_feet_left" not in ann["Areas"]

    book = load_workbook(io.BytesIO(safety.get(f"/recalls/{case_id}/patients.xlsx").get_data()))
    sheet = list(book.worksheets[0].iter_rows(values_only=True))
    (row,) = [row for row in sheet[1:] if row[2] == "Ann Lee"]
    assert row[10] == AREAS
