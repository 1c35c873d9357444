"""The API's lists of a clinic's things narrow to one clinic with ``?clinic_id=`` as the kit board does (one of
the caller's clinics; another, or one not on file, is 404 as a missing one), instead of answering the caller's
every clinic while seeming to have filtered (a chain's integration reading New York's holds got London's too)."""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.models import utcnow
from tests.api.conftest import error_code
from tests.factories import reconstitute
from tests.kit_factories import new_kit

FAR = dt.date(2030, 12, 31)


@pytest.fixture
def both_clinics(world, api):
    """In London and in New York: a kit, a vial past its beyond-use time, a vial on hold after an excursion."""
    now = utcnow()  # requests run at the real clock
    for clinic in (world.clinic, world.other_clinic):
        new_kit(world, clinic, name=f"{clinic.code} kit")
        opened = world.container("botox", lot=f"BU{clinic.code}", expiry=FAR, now=now - dt.timedelta(days=3),
                                 location=world.location("Room 1", clinic))
        reconstitute(world, opened, at=now - dt.timedelta(days=2))
        world.container("botox", lot=f"HD{clinic.code}", expiry=FAR, now=now - dt.timedelta(days=2),
                        location=world.location("Fridge", clinic))
        fridge = world.location("Fridge", clinic)
        recorded = api("manager").post(f"/locations/{fridge.id}/excursions", {
            "started_at": (now - dt.timedelta(hours=3)).isoformat(), "ended_at": (now - dt.timedelta(hours=1)).isoformat(),
            "min_c": "9.5", "max_c": "13", "note": "door left open"})
        assert recorded.status_code == 201, recorded.get_json()


LISTS = {
    "/kits": lambda body: {k["clinic_id"] for k in body["kits"]},
    "/locations": lambda body: {loc["clinic_id"] for loc in body["locations"]},
    "/holds": lambda body: {h["container"]["clinic_id"] for h in body["holds"]},
    "/containers/beyond-use": lambda body: {c["clinic_id"] for c in body["containers"]},
}


def _clinics(response, path: str) -> set[int]:
    assert response.status_code == 200, response.get_json()
    return LISTS[path](response.get_json())


@pytest.mark.parametrize("path", list(LISTS))
def test_a_chain_user_reads_one_clinic_or_all(api, world, both_clinics, path):
    safety = api("safety")
    assert _clinics(safety.get(path), path) == {world.clinic.id, world.other_clinic.id}
    assert _clinics(safety.get(f"{path}?clinic_id={world.other_clinic.id}"), path) == {world.other_clinic.id}
    assert _clinics(safety.get(f"{path}?clinic_id={world.clinic.id}"), path) == {world.clinic.id}


@pytest.mark.parametrize("path", list(LISTS))
def test_another_clinic_is_not_found_and_a_bad_value_is_invalid(api, world, both_clinics, path):
    nurse = api("nurse")  # London's
    assert _clinics(nurse.get(f"{path}?clinic_id={world.clinic.id}"), path) == {world.clinic.id}
    for clinic_id in (world.other_clinic.id, 999999):
        response = nurse.get(f"{path}?clinic_id={clinic_id}")
        assert (response.status_code, error_code(response)) == (404, "not_found"), clinic_id
    for query in ("clinic_id=abc", "clinic_id=0", "clinic=2"):
        response = nurse.get(f"{path}?{query}")
        assert (response.status_code, error_code(response)) == (422, "validation_error"), query
