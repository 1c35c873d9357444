"""A number typed where a code is scanned is answered as a number, with its own code (QA: "113" was read as a GS1
code and refused as "The production date in this code (3, YYMMDD) is not a real date", "1725" as an expiry date).
A number is too short to be any code Vialog reads: shorter than a GTIN (8, 12, 13 or 14 digits) and than a GS1
code with its GTIN (AI 01 and 14 digits); longer digit strings are read as codes as before."""

from __future__ import annotations

import pytest

from tests.api.conftest import error_code

MESSAGE = ("That looks like a number, not a code: type quantities in the Quantity field. Here, scan the vial's "
           "Vialog label or the box's code.")


@pytest.mark.parametrize("typed", ["113", "1725", "7", "1234567", "0.1", "2,5", ".5", " 40 "])
def test_a_number_is_answered_as_a_number(api, typed):
    response = api("nurse").post("/scans", {"code": typed})
    assert (response.status_code, error_code(response)) == (422, "number_not_code")
    assert response.get_json()["error"] == {"code": "number_not_code", "message": MESSAGE, "details": {"raw": typed}}


@pytest.mark.parametrize(("typed", "code"), [
    ("12345678", "bad_check_digit"),  # a GTIN-8's length: read as a product number
    ("]d2113", "unreadable_code"),  # a scanner's symbology identifier: a code, however short
    ("1.2.3", "unreadable_code"),
    ("VL1234", "unreadable_code"),
])
def test_what_could_be_a_code_is_read_as_one(api, typed, code):
    response = api("nurse").post("/scans", {"code": typed})
    assert (response.status_code, error_code(response)) == (422, code)


def test_a_patients_numeric_reference_is_still_named_as_a_patients(api, world):
    from tests.factories import start_treatment

    start_treatment(world, "1725")
    response = api("nurse").post("/scans", {"code": "1725"})
    assert error_code(response) == "unreadable_code"
    assert response.get_json()["error"]["message"].startswith("1725 is a patient's reference, not a vial's code.")


def test_a_bare_gtin_still_names_the_product_and_asks_for_the_lot(api, world):
    body = api("nurse").post("/scans", {"code": world.botox.gtins[0].gtin}).get_json()
    assert (body["kind"], body["product"]["name"], body["warnings"]) == (
        "gtin", "Botox Cosmetic 100 U", ["This code names the product only: scan or type the lot and expiry too."])
