"""POST /holds/release and /holds/waste: the safety lead ends the holds of many containers with one reason, all or
none, as the single release-hold and waste-held do for one (the same permission, Idempotency-Key and codes)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from inventory.cold_chain.models import ContainerHold
from inventory.models import Movement, MovementKind, utcnow
from tests.api.conftest import error_code

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def held_vials(api, world, session, count: int = 3):
    vials = world.receive("botox", lot="BULK-1", expiry=dt.date(2099, 12, 31), containers=count,
                          now=utcnow() - dt.timedelta(days=2)).containers
    session.flush()
    now = utcnow()
    recorded = api("manager").post(f"/locations/{world.location().id}/excursions", {
        "started_at": (now - dt.timedelta(hours=3)).isoformat(), "ended_at": (now - dt.timedelta(hours=1)).isoformat(),
        "min_c": "9", "max_c": "14"})
    assert recorded.status_code == 201, recorded.get_json()
    return vials


def open_holds(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(ContainerHold.id)).where(ContainerHold.resolved_at.is_(None)))


def test_the_safety_lead_releases_every_vial_of_an_excursion_in_one_request(api, world, session):
    vials = held_vials(api, world, session)
    body = {"container_ids": [v.id for v in vials], "reason": "Manufacturer: stable 72 h up to 25 °C"}

    response = api("safety").post("/holds/release", body, headers={"Idempotency-Key": "bulk-1"})

    assert response.status_code == 200, response.get_json()
    assert [(c["id"], c["on_hold"]) for c in response.get_json()["containers"]] == [(v.id, False) for v in vials]
    assert open_holds(session) == 0
    again = api("safety").post("/holds/release", body, headers={"Idempotency-Key": "bulk-1"})
    assert (again.status_code, again.get_json()) == (200, response.get_json())  # replayed, not refused


def test_the_safety_lead_wastes_them_in_one_request(api, world, session):
    vials = held_vials(api, world, session, 2)

    response = api("safety").post("/holds/waste", {"container_ids": [v.id for v in vials], "reason": "Frozen"})

    assert response.status_code == 200, response.get_json()
    assert [c["state"] for c in response.get_json()["containers"]] == ["discarded", "discarded"]
    assert session.scalar(select(func.count(Movement.id)).where(Movement.kind == MovementKind.WASTE)) == 2


def test_one_that_cannot_be_released_refuses_them_all_naming_it(api, world, session):
    vials = held_vials(api, world, session)
    released = api("safety").post(f"/containers/{vials[1].label_code}/release-hold", {"reason": "Stable"})
    assert released.status_code == 200

    response = api("safety").post("/holds/release", {"container_ids": [v.id for v in vials], "reason": "Stable"})

    assert (response.status_code, error_code(response)) == (409, "holds_not_ended")
    error = response.get_json()["error"]
    assert error["message"] == (f"Nothing was released: 1 of 3 containers cannot be released. Botox Cosmetic 100 U "
                                f"({vials[1].label_code}) is not on hold.")
    assert error["details"]["refused"] == [{"container_id": vials[1].id, "code": "not_on_hold",
                                            "message": f"Botox Cosmetic 100 U ({vials[1].label_code}) is not on hold."}]
    assert open_holds(session) == 2


@pytest.mark.parametrize("who", ["nurse", "manager"])
def test_only_who_decides_holds_may(api, world, session, who):
    vials = held_vials(api, world, session, 1)
    for path in ("/holds/release", "/holds/waste"):
        response = api(who).post(path, {"container_ids": [vials[0].id], "reason": "x"})
        assert (response.status_code, error_code(response)) == (403, "forbidden")
    assert open_holds(session) == 1


@pytest.mark.parametrize("body, field", [
    ({"container_ids": [], "reason": "x"}, "container_ids"),
    ({"container_ids": [1], "reason": "  "}, "reason"),
    ({"container_ids": ["VL-1"], "reason": "x"}, "container_ids.0"),
    ({"reason": "x"}, "container_ids"),
])
def test_a_body_it_cannot_act_on_is_422(api, world, session, body, field):
    response = api("safety").post("/holds/release", body)
    assert (response.status_code, error_code(response)) == (422, "validation_error")
    assert response.get_json()["error"]["details"]["field"] == field
