"""The kit board over the API narrows as the page does: ``clinic_id`` (one of the caller's clinics; another is
404, as a missing one) and ``status`` (only the kits not ready, say, for a chain's morning round)."""

from __future__ import annotations

import pytest

from inventory.models import utcnow
from tests.api.conftest import error_code
from tests.kit_factories import check, new_kit, stocked_kit


@pytest.fixture
def board(world):
    ready = stocked_kit(world, name="London ready")
    check(world, ready, at=utcnow())  # requests run at the real clock
    new_kit(world, name="London empty")
    new_kit(world, world.other_clinic, name="New York empty")


def _names(response) -> set[str]:
    assert response.status_code == 200, response.get_json()
    return {state["name"] for state in response.get_json()}


def test_a_chain_safety_lead_reads_one_clinic_or_one_status(api, world, board):
    client = api("safety")
    assert _names(client.get("/kits/readiness")) == {"London ready", "London empty", "New York empty"}
    assert _names(client.get(f"/kits/readiness?clinic_id={world.other_clinic.id}")) == {"New York empty"}
    assert _names(client.get("/kits/readiness?status=not_ready")) == {"London empty", "New York empty"}
    assert _names(client.get(f"/kits/readiness?clinic_id={world.clinic.id}&status=ready")) == {"London ready"}


def test_another_clinic_is_not_found_and_a_bad_value_is_invalid(api, world, board):
    nurse = api("nurse")  # London's
    for clinic_id in (world.other_clinic.id, 999999):
        response = nurse.get(f"/kits/readiness?clinic_id={clinic_id}")
        assert response.status_code == 404 and error_code(response) == "not_found"
    for query in ("status=broken", "clinic_id=abc", "clinic_id=0"):
        response = nurse.get(f"/kits/readiness?{query}")
        assert response.status_code == 422 and error_code(response) == "validation_error", query
