"""An API QA pass: a refusal's details read as the rest of the API writes its values. A hold's ``on_hold_since`` and a
vial's ``beyond_use_at`` said "+00:00" in a ``container_on_hold`` or ``beyond_use`` refusal where every answer's
moments say "Z" (``GET /holds``, the container itself); and a quantity of zero repeated its field in its problem
("quantity: give a number above zero.") where every other refusal gives the problem alone."""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.models import utcnow
from tests.api.conftest import error_code
from tests.factories import reconstitute

FAR = dt.date(2099, 12, 31)


def refusal(response, status: int, code: str) -> dict:
    assert (response.status_code, error_code(response)) == (status, code), response.get_data(as_text=True)[:400]
    return response.get_json()["error"]


def treatment(nurse, world) -> dict:
    patient = nurse.post("/patients", {"external_ref": "MRN-Z", "name": "Ada Z"}).get_json()
    started = nurse.post("/treatments", {"patient_id": patient["id"], "location_id": world.location("Room 1").id})
    assert started.status_code == 201, started.get_json()
    return started.get_json()


def draw(nurse, treatment_id: int, container, quantity: str = "4") -> object:
    return nurse.post(f"/treatments/{treatment_id}/draws",
                      {"container": container.label_code, "quantity": quantity, "unit": "U", "area": "glabella"})


def held_vial(api, world, session):
    """A reconstituted Botox vial in the London fridge, held by an excursion that ended an hour ago."""
    vial = world.container("botox", expiry=FAR, now=utcnow() - dt.timedelta(days=3))
    reconstitute(world, vial, at=utcnow() - dt.timedelta(hours=4))
    session.flush()
    now = utcnow()
    recorded = api("manager").post(f"/locations/{world.location().id}/excursions", {
        "started_at": (now - dt.timedelta(hours=3)).isoformat(), "ended_at": (now - dt.timedelta(hours=1)).isoformat(),
        "min_c": "9", "max_c": "14"})
    assert recorded.status_code == 201, recorded.get_json()
    return vial


def test_a_hold_refusal_says_since_when_in_utc_with_z_as_the_hold_itself(api, world, session):
    vial = held_vial(api, world, session)
    nurse = api("nurse")
    (hold,) = nurse.get("/holds").get_json()["holds"]
    assert hold["on_hold_since"].endswith("Z")

    drawn = refusal(draw(nurse, treatment(nurse, world)["id"], vial), 409, "container_on_hold")  # ensure_not_on_hold
    wasted = refusal(nurse.post(f"/containers/{vial.label_code}/waste", {"quantity": "10", "reason": "dropped"}),
                     409, "container_on_hold")  # ensure_may_waste: only the safety lead wastes a held vial

    for error in (drawn, wasted):
        assert error["details"]["on_hold_since"] == hold["on_hold_since"]
        assert error["details"]["on_hold_since"].endswith("Z") and "+00:00" not in error["details"]["on_hold_since"]


def test_a_beyond_use_refusal_says_when_in_utc_with_z_as_the_container_itself(api, world, session):
    stale = world.container("botox", expiry=FAR, now=utcnow() - dt.timedelta(days=2))
    reconstitute(world, stale, at=utcnow() - dt.timedelta(hours=25))
    session.flush()
    nurse = api("nurse")

    error = refusal(draw(nurse, treatment(nurse, world)["id"], stale), 409, "beyond_use")

    said = error["details"]["beyond_use_at"]
    assert said == nurse.get(f"/containers/{stale.label_code}").get_json()["beyond_use_at"]
    assert said.endswith("Z") and "+00:00" not in said
    assert dt.datetime.fromisoformat(said) == stale.beyond_use_at


@pytest.mark.parametrize(("path", "field"), [("draws", "quantity"), ("reconstitute", "diluent_ml")])
def test_a_quantity_of_zero_gives_its_problem_without_its_field_again(api, world, session, path, field):
    vial = world.container("botox", expiry=FAR)
    session.flush()
    nurse = api("nurse")
    if path == "draws":
        reconstitute(world, vial, at=utcnow() - dt.timedelta(hours=1))
        session.flush()
        response = draw(nurse, treatment(nurse, world)["id"], vial, "0")
    else:
        response = nurse.post(f"/containers/{vial.label_code}/reconstitute", {"diluent_ml": "0"})

    error = refusal(response, 422, "validation_error")

    assert error["message"] == f"{field}: give a number above zero."  # the field named once, for the reader
    assert error["details"] == {"field": field, "fields": [{"field": field, "problem": "give a number above zero"}]}
