"""GET /trace for a typed lot number on file nowhere: the 404 not_found answer lists the lots in the caller's
clinics the number could be a slip for (``details.did_you_mean``) and picks none; an exact number still traces."""

from __future__ import annotations

import pytest

from tests.api.conftest import error_code


@pytest.fixture
def lots(world):
    """Voluma lot VM88B21 at London; Botox lot VM88B22 (one edit from it) at New York only."""
    london = world.container("firm_filler", lot="VM88B21").lot
    new_york = world.container("botox", lot="VM88B22", location=world.location("Fridge", world.other_clinic)).lot
    world.session.flush()
    return {"lon": london, "nyc": new_york}


def test_a_slip_answers_not_found_with_the_lots_it_could_be(api, lots):
    response = api("safety").get("/trace", query_string={"lot": "VM88B2l"})
    assert (response.status_code, error_code(response)) == (404, "not_found")
    error = response.get_json()["error"]
    assert error["message"] == ("No lot VM88B2l on file. Did you mean VM88B21 (Juvederm Voluma XC 1.0 mL, "
                                "exp. 2027-03-31) or VM88B22 (Botox Cosmetic 100 U, exp. 2027-03-31)?")
    assert error["details"] == {"lot": "VM88B2l", "did_you_mean": [
        {"id": lots["lon"].id, "number": "VM88B21", "product": "Juvederm Voluma XC 1.0 mL"},
        {"id": lots["nyc"].id, "number": "VM88B22", "product": "Botox Cosmetic 100 U"},
    ]}


def test_a_clinic_safety_lead_is_offered_only_its_clinics_lots(api, world, lots):
    lead = api(world.lon_safety_lead())
    error = lead.get("/trace", query_string={"lot": "VM 88 B2l"}).get_json()["error"]
    assert [c["number"] for c in error["details"]["did_you_mean"]] == ["VM88B21"]
    error = lead.get("/trace", query_string={"lot": "VM88B22X"}).get_json()["error"]
    assert error == {"code": "not_found", "message": "No lot VM88B22X on file: it was never received here.",
                     "details": {"lot": "VM88B22X"}}
    assert [c["id"] for c in api("safety").get("/trace", query_string={"lot": "VM88B22X"})
            .get_json()["error"]["details"]["did_you_mean"]] == [lots["nyc"].id]


def test_an_exact_number_still_traces_its_lot(api, lots):
    body = api("safety").get("/trace", query_string={"lot": "vm88b21"}).get_json()
    assert [t["lot"]["id"] for t in body["lots"]] == [lots["lon"].id]


def test_a_short_number_is_offered_look_alikes_only(api, world, lots):
    world.container("filler", lot="AB12")
    world.container("filler", lot="AB13")
    world.session.flush()
    error = api("safety").get("/trace", query_string={"lot": "a8i2"}).get_json()["error"]
    assert [c["number"] for c in error["details"]["did_you_mean"]] == ["AB12"]
