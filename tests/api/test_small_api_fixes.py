"""QA's small API defects: a CSV file's charset sent twice, a recall patient's PATCH answering without the
draws its GET shows, and ``{"follow_up_done": false}`` answering 200 while changing nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from inventory.models import AuditEvent, Treatment
from tests.api.conftest import error_code
from tests.api.test_recall_api import Data
from tests.factories import NOW, start_treatment
from tests import recall_helpers as rh

CSV = "text/csv; charset=utf-8"


@pytest.fixture
def data(world):
    return Data(world)


def open_case(client, data, recall_class: str = "I") -> dict:
    opened = client.post("/recalls", {"lot_ids": [data.lot.id], "reason": "Notice 19", "recall_class": recall_class,
                                      "source": "manufacturer"})
    assert opened.status_code == 201, opened.get_json()
    return opened.get_json()


# --- CSV: one charset ---------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["patients", "notifications", "containers"])
def test_every_recall_csv_names_its_charset_once(api, data, which):
    client = api("safety")
    case = open_case(client, data)
    response = client.get(f"/recalls/{case['id']}/{which}.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == CSV
    assert response.data.startswith("\ufeff".encode()) and response.data.decode("utf-8-sig")


def test_the_reconciliation_csv_names_its_charset_once(api, world):
    response = api("manager").get("/reports/reconciliation.csv?from=2026-06-01&to=2026-06-30")
    assert response.status_code == 200 and response.headers["Content-Type"] == CSV


# --- a recall patient's PATCH answers with the draws its GET shows ----------------------------------


def patient_line(case: dict, patient_id: int) -> dict:
    (line,) = [p for p in case["patients"] if p["patient"]["id"] == patient_id]
    return line


def test_the_patch_of_a_recall_patient_answers_with_the_same_draws_as_the_get(api, data):
    client = api("safety")
    case_id = open_case(client, data)["id"]
    answer = client.patch(f"/recalls/{case_id}/patients/{data.ann.id}", {"status": "notified", "method": "phone"})

    assert answer.status_code == 200, answer.get_json()
    patched = answer.get_json()
    assert [(d["draw_id"], d["lot_number"], d["area"], d["reversed"]) for d in patched["draws"]] == \
        [(data.draw.id, "C3709C3", "glabella", False)]
    assert patched == patient_line(client.get(f"/recalls/{case_id}").get_json(), data.ann.id)


def test_the_patch_answer_carries_a_reversed_draw_marked_as_the_get_does(api, data, world):
    client = api("safety")
    case_id = open_case(client, data)["id"]
    rh.reverse(world, data.draw, at=NOW + dt.timedelta(hours=1))
    answer = client.patch(f"/recalls/{case_id}/patients/{data.ann.id}", {"status": "notified", "method": "letter",
                                                                          "note": "told: not given after all"})
    assert answer.status_code == 200, answer.get_json()
    assert [d["reversed"] for d in answer.get_json()["draws"]] == [True]
    assert answer.get_json() == patient_line(client.get(f"/recalls/{case_id}").get_json(), data.ann.id)


def test_a_clinic_safety_lead_patching_sees_only_their_clinics_draws(api, data, world):
    chain = api("safety")
    case_id = open_case(chain, data)["id"]
    lon = api(world.lon_safety_lead())
    answer = lon.patch(f"/recalls/{case_id}/patients/{data.ann.id}", {"status": "unreachable"})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == patient_line(lon.get(f"/recalls/{case_id}").get_json(), data.ann.id)
    assert {d["clinic_code"] for d in answer.get_json()["draws"]} == {"LON"}
    refused = lon.patch(f"/recalls/{case_id}/patients/{data.nyc_patient.id}", {"status": "unreachable"})
    assert (refused.status_code, error_code(refused)) == (404, "not_found")


# --- follow_up_done: false undoes the mark -------------------------------------------------------------


def follow_up_events(session, treatment_id: int) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent.action).where(
        AuditEvent.object_type == "treatment", AuditEvent.object_id == str(treatment_id),
        AuditEvent.action.like("treatment.follow_up%")).order_by(AuditEvent.id)))


def test_follow_up_done_false_undoes_the_mark_and_the_audit_trail_records_it(api, world, session):
    nurse = api("nurse")
    treatment = start_treatment(world, "A")
    due = dt.date.today() + dt.timedelta(days=3)
    nurse.patch(f"/treatments/{treatment.id}", {"follow_up_on": due.isoformat()})
    assert nurse.patch(f"/treatments/{treatment.id}", {"follow_up_done": True}).get_json()["follow_up_done_at"]
    assert nurse.get("/follow-ups").get_json()["follow_ups"] == []

    undone = nurse.patch(f"/treatments/{treatment.id}", {"follow_up_done": False})

    assert undone.status_code == 200, undone.get_json()
    assert (undone.get_json()["follow_up_done_at"], undone.get_json()["follow_up_on"]) == (None, due.isoformat())
    assert [f["treatment_id"] for f in nurse.get("/follow-ups").get_json()["follow_ups"]] == [treatment.id]
    assert session.get(Treatment, treatment.id).follow_up_done_at is None
    assert follow_up_events(session, treatment.id) == [
        "treatment.follow_up", "treatment.follow_up_done", "treatment.follow_up_reopened"]
    reopened = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "treatment.follow_up_reopened")).one()
    assert reopened.actor_id == world.users["nurse"].id and reopened.details["follow_up_on"] == due.isoformat()

    again = nurse.patch(f"/treatments/{treatment.id}", {"follow_up_done": False})  # nothing to undo: no change
    assert again.status_code == 200 and again.get_json()["follow_up_done_at"] is None
    assert len(follow_up_events(session, treatment.id)) == 3


def test_follow_up_done_false_without_a_follow_up_is_refused(api, world, session):
    treatment = start_treatment(world, "A")
    response = api("nurse").patch(f"/treatments/{treatment.id}", {"follow_up_done": False})
    assert (response.status_code, error_code(response)) == (422, "validation_error")
    assert response.get_json()["error"]["details"]["field"] == "follow_up_done"
    assert follow_up_events(session, treatment.id) == []


def test_another_clinics_follow_up_cannot_be_undone(api, world):
    theirs = start_treatment(world, "B", clinic=world.other_clinic, user="other_nurse")
    other = api("other_nurse")
    other.patch(f"/treatments/{theirs.id}", {"follow_up_on": (dt.date.today() + dt.timedelta(days=3)).isoformat()})
    other.patch(f"/treatments/{theirs.id}", {"follow_up_done": True})
    response = api("nurse").patch(f"/treatments/{theirs.id}", {"follow_up_done": False})
    assert (response.status_code, error_code(response)) == (404, "not_found")
    world.session.refresh(theirs)
    assert theirs.follow_up_done_at is not None
