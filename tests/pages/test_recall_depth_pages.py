"""The recall case page (widening, many containers at once, a letter per patient) and the access log's filters."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from inventory.models import AuditEvent, Patient
from recall import services
from recall.models import NotificationStatus, RecallPatient
from tests.api.test_recall_api import Data
from tests.factories import NOW
from tests.pages.conftest import csrf_token


@pytest.fixture
def data(world):
    return Data(world)


def test_the_case_page_offers_widening_bulk_marking_and_a_letter_per_patient(browser_client, data, world, session):
    opened = services.open_recall(session, actor=world.users["safety"], lot_ids=[data.lot.id], reason="Notice 19",
                                  recall_class="III", source="manufacturer", now=NOW)
    case = {"id": opened.id, "containers": [{"container_id": c.container_id} for c in opened.containers]}
    session.get(Patient, data.ann.id).address = "1 High Street\r\nLondon"  # as a browser sends a typed address
    session.flush()
    client = browser_client("safety")
    html = client.get(f"/recalls/{case['id']}").get_data(as_text=True)
    assert 'id="widen-case"' in html and 'id="bulk-containers"' in html and "1 High Street" in html
    token = csrf_token(client, f"/recalls/{case['id']}")
    ids = [str(c["container_id"]) for c in case["containers"]]
    client.post(f"/recalls/{case['id']}/containers", data={"container_ids": ids, "status": "destroyed",
                                                           "csrf_token": token})
    client.post(f"/recalls/{case['id']}/widen", data={"csrf_token": token})
    session.expire_all()
    statuses = set(session.scalars(select(RecallPatient.status).where(RecallPatient.case_id == case["id"])))
    assert statuses == {NotificationStatus.PENDING}
    html = client.get(f"/recalls/{case['id']}").get_data(as_text=True)
    assert "Left stock." in html and 'id="widen-case"' not in html

    letter = client.get(f"/recalls/{case['id']}/patients/{data.ann.id}/letter")
    assert letter.status_code == 200
    text = letter.get_data(as_text=True)
    assert "Dear Ann Lee" in text and "C3709C3" in text and "glabella" in text.lower()
    assert "Difficulty swallowing" in text and "1 High Street, London" in text and "recall case" in text
    assert "1 High Street\r, London" not in text and "Street , London" not in text  # one line, no stray break
    assert client.get(f"/recalls/{case['id']}/patients/999999/letter").status_code == 404
    session.expire_all()
    viewed = session.scalars(select(AuditEvent).where(AuditEvent.action == "patient_data.viewed")).all()
    assert any(e.details.get("view") == "recall_letter" for e in viewed)


def test_the_access_log_filters_by_user_patient_date_and_kind_and_shows_names(browser_client, data, world, session):
    now = dt.datetime.now(dt.UTC)
    lead, admin = world.users["safety"], world.users["admin"]
    services.record_access(session, viewer=lead, action=services.VIEWED, object_type="patient",
                           object_id=str(data.ann.id), now=now, details={"view": "patient_lots",
                                                                          "patient_ids": [data.ann.id]})
    services.record_access(session, viewer=admin, action=services.EXPORTED, object_type="recall_case",
                           object_id="1", now=now, details={"list": "patients", "format": "csv", "rows": 1,
                                                            "patient_ids": [data.nyc_patient.id]})
    services.record_access(session, viewer=lead, action=services.VIEWED, object_type="lot", object_id="1",
                           now=now - dt.timedelta(days=40), details={"view": "lot_trace", "lot_ids": [data.lot.id],
                                                                     "patient_ids": []})
    session.flush()
    client = browser_client("admin")

    def rows(**query) -> list[str]:
        html = client.get("/access-log", query_string=query).get_data(as_text=True)
        return html.split("<tbody>")[1].split("</tbody>")[0].split("<tr data-action=")[1:]

    assert len(rows()) == 3
    by_lead = rows(user=lead.id)
    assert len(by_lead) == 2
    about_ann = rows(patient=data.ann.id)
    assert len(about_ann) == 1 and "Ann Lee (L-1)" in about_ann[0]  # a name, not an id
    today = now.date().isoformat()
    assert len(rows(**{"from": today, "to": today})) == 2
    assert len(rows(kind="exported")) == 1 and "Ned Ray (N-1)" in rows(kind="exported")[0]
    old = rows(**{"to": (now - dt.timedelta(days=30)).date().isoformat()})
    assert len(old) == 1 and "Botox Cosmetic 100 U C3709C3" in old[0]
    assert client.get("/access-log?from=yesterday").status_code == 200  # a bad date is said, not a 500
