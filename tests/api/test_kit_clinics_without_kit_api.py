"""A clinic that holds filler and no emergency kit with hyaluronidase is not ready (DOMAIN.md), as ``vialog kits``
and the Kits board say. GET /api/v1/kits/readiness answers the contract's top-level list of kits, which has no room
for a clinic without one, so the clinics are read beside it: GET /api/v1/kits/readiness/clinics-without-kit, with the
readiness list's ``clinic_id``. The readiness list itself is unchanged."""

from __future__ import annotations

from tests.api.conftest import error_code
from tests.factories import make_clinic
from tests.kit_factories import stocked_kit

PATH = "/kits/readiness/clinics-without-kit"
REASON = ("2 filler containers here, and hyaluronidase is kept wherever filler is injected: make a kit (Kit "
          "templates, New kit) before the next filler treatment")


def _filler(world, clinic, count: int = 2) -> None:
    world.receive("filler", containers=count, location=world.location("Room 1", clinic))


def _scene(world) -> None:
    stocked_kit(world, name="London kit")  # London: filler and a kit that asks for hyaluronidase
    _filler(world, world.clinic)
    _filler(world, world.other_clinic)  # New York: filler, and no kit


def test_each_of_the_callers_clinics_with_filler_and_no_kit_is_not_ready_with_its_reason(api, world):
    _scene(world)
    safety = api("safety")
    response = safety.get(PATH)
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"clinics_without_kit": [
        {"clinic_id": world.other_clinic.id, "code": "NYC", "status": "not_ready", "reason": REASON,
         "filler_containers": 2}]}
    readiness = safety.get("/kits/readiness").get_json()  # the contract's list, as it was: kits only
    assert isinstance(readiness, list) and [state["name"] for state in readiness] == ["London kit"]


def test_only_the_callers_clinics_and_the_clinic_asked_for(api, world):
    _scene(world)
    assert api("nurse").get(PATH).get_json() == {"clinics_without_kit": []}  # London's nurse
    assert [c["code"] for c in api("other_nurse").get(PATH).get_json()["clinics_without_kit"]] == ["NYC"]
    safety = api("safety")
    assert safety.get(f"{PATH}?clinic_id={world.clinic.id}").get_json() == {"clinics_without_kit": []}
    assert [c["code"] for c in safety.get(f"{PATH}?clinic_id={world.other_clinic.id}").get_json()[
        "clinics_without_kit"]] == ["NYC"]
    _filler(world, make_clinic(world.session, "PAR"), count=1)
    assert [(c["code"], c["filler_containers"]) for c in safety.get(PATH).get_json()["clinics_without_kit"]] == [
        ("NYC", 2), ("PAR", 1)]


def test_another_clinic_is_not_found_and_a_bad_value_is_invalid(api, world):
    _scene(world)
    nurse = api("nurse")
    for clinic_id in (world.other_clinic.id, 999999):
        response = nurse.get(f"{PATH}?clinic_id={clinic_id}")
        assert (response.status_code, error_code(response)) == (404, "not_found")
    for query in ("clinic_id=abc", "clinic_id=0", "status=ready"):
        response = nurse.get(f"{PATH}?{query}")
        assert (response.status_code, error_code(response)) == (422, "validation_error"), query


def test_openapi_describes_it_for_whoever_checks_kits(api, world):
    paths = api("nurse").get("/openapi.json").get_json()["paths"]
    operation = paths["/api/v1/kits/readiness/clinics-without-kit"]["get"]
    assert operation["x-vialog-permission"] == "kit_check"
