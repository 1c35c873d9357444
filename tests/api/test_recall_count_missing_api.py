"""A recall case never records as returned to the supplier a container a count found missing (a posted count's
adjustment, reason ``count``, emptied it): ``409 recall_item_wasted``, as for one the ledger shows wasted. It is
marked destroyed; once a later count finds it again, it is back in stock and may be returned."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from inventory.models import ContainerState, Movement, MovementKind, utcnow
from tests.api.conftest import error_code
from tests.api.test_set_aside_waste_api import open_recall, syringe

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

FAR = dt.date(2099, 12, 31)


def post_count(api, world, container, counted: str) -> int:
    sheet = api("clinic_manager").post("/counts", {"location_id": world.location().id,
                                                    "lines": [{"container": container.label_code, "counted": counted}]})
    assert sheet.status_code == 201, sheet.get_json()
    posted = api("manager").post(f"/counts/{sheet.get_json()['id']}/post")
    assert posted.status_code == 200, posted.get_json()
    return sheet.get_json()["id"]


def line_status(api, case_id: int, container) -> str:
    body = api("safety").get(f"/recalls/{case_id}").get_json()
    (line,) = [c for c in body["containers"] if c["container_id"] == container.id]
    return line["status"]


def test_a_syringe_a_count_found_missing_is_not_marked_returned_but_destroyed(api, world, session):
    container = syringe(world, session, lot="VM77C")
    other = world.container("filler", lot="VM77C", expiry=FAR, now=utcnow() - dt.timedelta(days=1))
    session.flush()
    case = open_recall(api, container.lot_id)
    count_id = post_count(api, world, container, "0")
    session.expire_all()
    assert (container.state, container.remaining) == (ContainerState.EMPTY, Decimal(0))
    adjustment = session.scalar(select(Movement).where(Movement.container_id == container.id,
                                                       Movement.kind == MovementKind.ADJUST))

    response = api("safety").patch(f"/recalls/{case['id']}/containers/{container.id}", {"status": "returned"})

    assert (response.status_code, error_code(response)) == (409, "recall_item_wasted")
    error = response.get_json()["error"]
    assert error["message"].startswith(
        f"Juvederm Volbella XC 0.55 mL ({container.label_code}) was found missing by count {count_id} (posted by ")
    assert "so it cannot have been returned to the supplier. Mark it destroyed" in error["message"]
    details = error["details"]
    assert (details["container_id"], details["movement_id"], details["missing"], details["count_id"],
            details["reason"]) == (container.id, adjustment.id, True, count_id, "count")
    assert line_status(api, case["id"], container) == "open"
    # Many at once: all or none.
    bulk = api("safety").post(f"/recalls/{case['id']}/containers",
                              {"container_ids": [container.id, other.id], "status": "returned"})
    assert (bulk.status_code, error_code(bulk)) == (409, "recall_item_wasted")
    assert line_status(api, case["id"], other) == "open"

    destroyed = api("safety").patch(f"/recalls/{case['id']}/containers/{container.id}",
                                    {"status": "destroyed", "note": "missing at the count"})

    assert destroyed.status_code == 200, destroyed.get_json()
    assert destroyed.get_json()["status"] == "destroyed"
    returned = api("safety").patch(f"/recalls/{case['id']}/containers/{other.id}", {"status": "returned"})
    assert returned.status_code == 200, returned.get_json()


def test_a_syringe_found_again_by_a_later_count_may_be_returned(api, world, session):
    container = syringe(world, session, lot="VM77C")
    case = open_recall(api, container.lot_id)
    post_count(api, world, container, "0")
    post_count(api, world, container, "0.55")

    returned = api("safety").patch(f"/recalls/{case['id']}/containers/{container.id}", {"status": "returned"})

    assert returned.status_code == 200, returned.get_json()
    assert returned.get_json()["status"] == "returned"
