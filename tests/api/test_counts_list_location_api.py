"""GET /counts?location_id= of a place outside the caller's clinics (or not on file) is 404, as the stock list
answers it: an empty list read as "that fridge was never counted" to a London manager asking about New York's."""

from __future__ import annotations

from tests.api.conftest import error_code


def test_a_location_outside_the_callers_clinics_is_not_found(world, api):
    london_manager = api("clinic_manager")
    own = london_manager.get(f"/counts?location_id={world.location().id}")
    assert own.status_code == 200, own.get_json()

    other = london_manager.get(f"/counts?location_id={world.location('Fridge', world.other_clinic).id}")
    assert other.status_code == 404 and error_code(other) == "not_found"
    assert error_code(london_manager.get("/counts?location_id=987654")) == "not_found"
    # A chain-level manager reads either clinic's.
    assert api("manager").get(f"/counts?location_id={world.location('Fridge', world.other_clinic).id}").status_code == 200
