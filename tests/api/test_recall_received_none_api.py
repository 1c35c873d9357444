"""PATCH /recalls/<id>/patients/<pid> with not_required: a Class III case leaves any patient out; a Class I or II
case only one whose every dose from its lots was reversed (she received none of them). Otherwise 422
validation_error, saying which dose stands."""

from __future__ import annotations

import pytest

from tests import recall_helpers as rh
from tests.api.conftest import error_code
from tests.api.test_recall_api import Data
from tests.api.test_recall_depth import open_case  # the case as the recall API's other tests open it


@pytest.fixture
def data(world):
    return Data(world)


def ann_of(case: dict, data) -> dict:
    return next(p for p in case["patients"] if p["patient"]["id"] == data.ann.id)


@pytest.mark.parametrize("recall_class", ["I", "II"])
def test_a_patient_whose_dose_was_reversed_is_set_not_required(api, data, world, recall_class):
    lead = api("safety")
    case = open_case(api, data, recall_class)
    assert ann_of(case, data)["received_none"] is False
    rh.reverse(world, data.draw)  # Ann's 0.1 mL was recorded on her by mistake, then corrected

    listed = ann_of(lead.get(f"/recalls/{case['id']}").get_json(), data)
    assert (listed["status"], listed["received_none"], [d["reversed"] for d in listed["draws"]]) == (
        "pending", True, [True])
    response = lead.patch(f"/recalls/{case['id']}/patients/{data.ann.id}",
                          {"status": "not_required", "note": "never given"})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["method"], body["note"], body["received_none"]) == (
        "not_required", None, "never given", True)
    after = lead.get(f"/recalls/{case['id']}").get_json()
    assert after["progress"]["patients_done"] == 1  # Ned is still to notify


@pytest.mark.parametrize("recall_class", ["I", "II"])
def test_a_patient_who_received_the_lot_is_not_left_out_of_a_class_one_or_two_case(api, data, recall_class):
    case = open_case(api, data, recall_class)

    response = api("safety").patch(f"/recalls/{case['id']}/patients/{data.ann.id}", {"status": "not_required"})

    assert (response.status_code, error_code(response)) == (422, "validation_error")
    error = response.get_json()["error"]
    assert error["message"].startswith(
        "Ann Lee received 4 U (0.1 mL) of Botox Cosmetic 100 U lot C3709C3 on 15 June 2026")
    assert f"Class {recall_class} recall notifies every patient" in error["message"]
    assert (error["details"]["field"], error["details"]["draw_ids"]) == ("status", [data.draw.id])
    assert ann_of(api("safety").get(f"/recalls/{case['id']}").get_json(), data)["status"] == "pending"


@pytest.mark.parametrize("reversed_first", [False, True])
def test_a_class_three_case_leaves_out_any_patient(api, data, world, reversed_first):
    lead = api("safety")
    case = open_case(api, data, "III")
    assert lead.post(f"/recalls/{case['id']}/widen").status_code == 200
    if reversed_first:
        rh.reverse(world, data.draw)

    response = lead.patch(f"/recalls/{case['id']}/patients/{data.ann.id}", {"status": "not_required"})

    assert (response.status_code, response.get_json()["status"]) == (200, "not_required")
    assert response.get_json()["received_none"] is reversed_first


def test_a_patient_not_on_the_list_is_not_found_whatever_the_status(api, data):
    case = open_case(api, data, "I")
    response = api("safety").patch(f"/recalls/{case['id']}/patients/999999", {"status": "not_required"})
    assert (response.status_code, error_code(response)) == (404, "not_found")
