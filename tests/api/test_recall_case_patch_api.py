"""API.md's recalls row, "GET/PATCH /api/v1/recalls/<id> ... /patients/<pid>", read as a client reads it (API QA:
both answered 405): ``GET .../patients/<pid>`` answers one patient's line as the case lists it, recorded in the
access log; ``PATCH /recalls/<id>`` changes what the case page lets a safety lead change on a case itself, its
status, to closed, under the same rule as ``POST .../close``."""

from __future__ import annotations

from sqlalchemy import select

from inventory.models import AuditEvent
from tests.api.conftest import error_code
from tests.api.test_recall_api import Data


def opened(api, data, recall_class: str = "II") -> dict:
    created = api("safety").post("/recalls", {"lot_ids": [data.lot.id], "reason": "Allergan notice 14",
                                              "recall_class": recall_class, "source": "manufacturer"})
    assert created.status_code == 201, created.get_json()
    return created.get_json()


def test_one_patients_line_is_read_as_the_case_lists_it_and_the_look_is_recorded(api, world, session):
    data = Data(world)
    case = opened(api, data)
    client = api("safety")
    listed = next(p for p in client.get(f"/recalls/{case['id']}").get_json()["patients"]
                  if p["patient"]["id"] == data.ann.id)
    response = client.get(f"/recalls/{case['id']}/patients/{data.ann.id}")
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == listed
    session.expire_all()
    looked = session.scalars(select(AuditEvent).where(AuditEvent.action == "patient_data.viewed",
                                                      AuditEvent.object_type == "patient")).all()
    assert [(e.object_id, e.details["view"], e.details["case_id"]) for e in looked] == [
        (str(data.ann.id), "recall_patient", case["id"])]
    # The line after a PATCH is the line a GET reads.
    patched = client.patch(f"/recalls/{case['id']}/patients/{data.ann.id}", {"status": "notified", "method": "phone"})
    assert client.get(f"/recalls/{case['id']}/patients/{data.ann.id}").get_json() == patched.get_json()


def test_a_patient_not_on_the_list_or_not_the_callers_is_not_found(api, world):
    data = Data(world)
    case = opened(api, data)
    lon = api(world.lon_safety_lead())
    other = lon.get(f"/recalls/{case['id']}/patients/{data.nyc_patient.id}")  # a New York patient
    assert (other.status_code, error_code(other)) == (404, "not_found")
    assert lon.get(f"/recalls/{case['id']}/patients/{data.ann.id}").status_code == 200
    stranger = api("safety").get(f"/recalls/{case['id']}/patients/999999")
    assert (stranger.status_code, error_code(stranger)) == (404, "not_found")
    assert error_code(api("safety").get(f"/recalls/999999/patients/{data.ann.id}")) == "not_found"
    assert api("nurse").get(f"/recalls/{case['id']}/patients/{data.ann.id}").status_code == 403


def test_patch_closes_a_case_under_the_close_rule(api, world):
    data = Data(world)
    case = opened(api, data)
    client = api("safety")
    still_open = client.patch(f"/recalls/{case['id']}", {"status": "closed"})
    assert (still_open.status_code, error_code(still_open)) == (409, "recall_open_items")
    for who in (data.ann, data.nyc_patient):
        client.patch(f"/recalls/{case['id']}/patients/{who.id}", {"status": "unreachable"})
    for line in case["containers"]:
        client.patch(f"/recalls/{case['id']}/containers/{line['container_id']}", {"status": "destroyed"})
    closed = client.patch(f"/recalls/{case['id']}", {"status": "closed"}, headers={"Idempotency-Key": "close-1"})
    assert closed.status_code == 200, closed.get_json()
    assert closed.get_json()["status"] == "closed" and closed.get_json()["id"] == case["id"]
    replay = client.patch(f"/recalls/{case['id']}", {"status": "closed"}, headers={"Idempotency-Key": "close-1"})
    assert replay.get_json() == closed.get_json()
    again = client.patch(f"/recalls/{case['id']}", {"status": "closed"})
    assert (again.status_code, error_code(again)) == (409, "recall_closed")


def test_patch_changes_nothing_else_of_a_case(api, world):
    data = Data(world)
    case = opened(api, data)
    client = api("safety")
    reopen = client.patch(f"/recalls/{case['id']}", {"status": "open"})
    assert (reopen.status_code, error_code(reopen)) == (422, "validation_error")
    assert reopen.get_json()["error"]["details"]["field"] == "status"
    for body in ({"reason": "another notice"}, {"recall_class": "I"}, {}):
        refused = client.patch(f"/recalls/{case['id']}", body)
        assert (refused.status_code, error_code(refused)) == (422, "validation_error"), body
    assert api("nurse").patch(f"/recalls/{case['id']}", {"status": "closed"}).status_code == 403
    assert error_code(client.patch("/recalls/999999", {"status": "closed"})) == "not_found"
    assert client.get(f"/recalls/{case['id']}").get_json()["status"] == "open"
