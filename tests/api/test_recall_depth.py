"""Recall depth by class, patient contact details on the lists, the notification list as xlsx and CSV, the
patient letter, many containers at once, and the access log filtered by user, patient and date."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from inventory.models import AuditEvent, Patient
from tests.api.conftest import error_code
from tests.api.test_recall_api import Data


@pytest.fixture
def data(world):
    return Data(world)


def open_case(api, data, recall_class: str) -> dict:
    response = api("safety").post("/recalls", {"lot_ids": [data.lot.id], "reason": "Notice 19",
                                               "recall_class": recall_class, "source": "manufacturer"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_class_one_and_two_notify_every_patient_and_three_starts_not_required(api, data):
    assert {p["status"] for p in open_case(api, data, "II")["patients"]} == {"pending"}


def test_a_class_three_case_starts_not_required_and_the_safety_lead_may_widen_it(api, data, session):
    lead = api("safety")
    case = open_case(api, data, "III")
    assert [p["status"] for p in case["patients"]] == ["not_required", "not_required"]
    assert case["progress"]["patients_done"] == case["progress"]["patients_total"] == 2  # nothing to do yet
    widened = lead.post(f"/recalls/{case['id']}/widen")
    assert (widened.status_code, widened.get_json()) == (200, {"widened": 2})
    again = lead.get(f"/recalls/{case['id']}").get_json()
    assert {p["status"] for p in again["patients"]} == {"pending"}
    # A Class III line may be set back to not required, one by one.
    ann = lead.patch(f"/recalls/{case['id']}/patients/{data.ann.id}", {"status": "not_required"})
    assert (ann.status_code, ann.get_json()["status"]) == (200, "not_required")


def test_only_a_class_three_case_leaves_a_patient_out(api, data):
    case = open_case(api, data, "I")
    response = api("safety").patch(f"/recalls/{case['id']}/patients/{data.ann.id}", {"status": "not_required"})
    assert (response.status_code, error_code(response)) == (422, "validation_error")


def test_contact_details_are_set_at_the_patients_clinic_and_shown_on_the_list(api, data, session):
    nurse = api("nurse")  # London
    response = nurse.patch(f"/patients/{data.ann.id}", {"phone": "+44 20 7946 0000", "email": "ann@example.org",
                                                         "address": "1 High Street\nLondon"})
    assert response.status_code == 200
    assert response.get_json()["email"] == "ann@example.org"
    assert nurse.patch(f"/patients/{data.nyc_patient.id}", {"phone": "1"}).status_code == 404  # not her clinic
    bad = nurse.patch(f"/patients/{data.ann.id}", {"email": "not an address"})
    assert (bad.status_code, error_code(bad)) == (422, "validation_error")
    assert nurse.patch(f"/patients/{data.ann.id}", {}).status_code == 422
    cleared = nurse.patch(f"/patients/{data.ann.id}", {"address": None}).get_json()
    assert (cleared["address"], cleared["phone"]) == (None, "+44 20 7946 0000")

    case = open_case(api, data, "II")
    ann = next(p for p in case["patients"] if p["patient"]["id"] == data.ann.id)
    assert ann["contact"] == {"phone": "+44 20 7946 0000", "email": "ann@example.org", "address": None}


def test_the_notification_list_exports_contacts_lots_dates_areas_and_status(api, data, session):
    session.get(Patient, data.ann.id).phone = "=cmd|' /C calc'!A0"  # typed by a person: never a formula
    session.flush()
    case = open_case(api, data, "II")
    lead = api("safety")
    response = lead.get(f"/recalls/{case['id']}/notifications.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    header = rows[0]
    assert header[:7] == ["Clinic", "Patient reference", "Patient name", "Date of birth", "Phone", "Email", "Address"]
    ann = next(r for r in rows[1:] if r[2] == "Ann Lee")
    by = dict(zip(header, ann, strict=True))
    assert by["Phone"] == "'=cmd|' /C calc'!A0"
    assert by["Lots"] == "Botox Cosmetic 100 U C3709C3" and by["Areas"] == "Glabella (frown lines)" and by["Status"] == "pending"
    assert by["Treatment dates (clinic time)"]
    book = load_workbook(io.BytesIO(lead.get(f"/recalls/{case['id']}/notifications.xlsx").get_data()))
    assert [c.value for c in book.worksheets[0][1]][:5] == header[:5]
    session.expire_all()
    exported = session.scalars(select(AuditEvent).where(AuditEvent.action == "patient_data.exported")).all()
    assert [e.details["list"] for e in exported] == ["notifications", "notifications"]
    assert api("nurse").get(f"/recalls/{case['id']}/notifications.csv").status_code == 403


def test_many_containers_are_marked_at_once_or_none(api, data, session):
    case = open_case(api, data, "II")
    lead = api("safety")
    ids = sorted(c["container_id"] for c in case["containers"])
    refused = lead.post(f"/recalls/{case['id']}/containers", {"container_ids": [*ids[:2], 999999],
                                                              "status": "destroyed"})
    assert (refused.status_code, error_code(refused)) == (404, "not_found")
    assert {c["status"] for c in lead.get(f"/recalls/{case['id']}").get_json()["containers"]} == {"open"}
    done = lead.post(f"/recalls/{case['id']}/containers", {"container_ids": ids, "status": "returned",
                                                           "note": "courier 42"})
    assert done.status_code == 200
    assert {c["status"] for c in done.get_json()["containers"]} == {"returned"}


def test_a_class_three_case_closes_without_notifying_once_its_containers_are_done(api, data):
    case = open_case(api, data, "III")
    lead = api("safety")
    ids = [c["container_id"] for c in case["containers"]]
    assert lead.post(f"/recalls/{case['id']}/close").status_code == 409
    lead.post(f"/recalls/{case['id']}/containers", {"container_ids": ids, "status": "destroyed"})
    closed = lead.post(f"/recalls/{case['id']}/close")
    assert (closed.status_code, closed.get_json()["status"]) == (200, "closed")
    assert {p["status"] for p in closed.get_json()["patients"]} == {"not_required"}
