"""``GET /api/v1/reports/reconciliation`` (and its downloads) asked for ``clinic_id`` with a ``location_id`` of
another clinic: ``404 not_found`` as documented, its message saying which clinic has no such location rather than
"No location with id 8." (untrue of a location the caller sees), and telling nothing of another clinic's."""

from __future__ import annotations

import pytest

from tests.api.conftest import error_code
from tests.reconciliation_factories import build_history

JUNE_QUERY = "from=2026-06-01&to=2026-06-30"

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def test_a_location_of_another_clinic_than_the_one_asked_says_which_clinic_has_none(api, world, session):
    build_history(world)
    session.flush()
    lon, nyc_fridge = world.clinic, world.location("Fridge", world.other_clinic).id
    for suffix in ("", ".xlsx", ".csv"):
        response = api("manager").get(f"/reports/reconciliation{suffix}?{JUNE_QUERY}&clinic_id={lon.id}"
                                      f"&location_id={nyc_fridge}")
        assert response.status_code == 404 and error_code(response) == "not_found", suffix
        assert response.get_json()["error"]["message"] == (
            f"LON has no location with id {nyc_fridge}: choose one of LON's locations, or leave the location out.")


def test_a_manager_of_one_clinic_reads_the_same_of_another_clinics_location_as_of_none(api, world, session):
    build_history(world)
    session.flush()
    client = api("clinic_manager")  # London's only
    messages = []
    for location_id in (world.location("Fridge", world.other_clinic).id, 999999):
        response = client.get(f"/reports/reconciliation?{JUNE_QUERY}&location_id={location_id}")
        assert response.status_code == 404 and error_code(response) == "not_found"
        messages.append(response.get_json()["error"]["message"].replace(str(location_id), "N"))
    assert messages[0] == messages[1] == (
        "LON has no location with id N: choose one of LON's locations, or leave the location out.")
