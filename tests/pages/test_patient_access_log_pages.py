"""Every look at a patient's record on the Patients pages is one access-log entry, listed on the access-log
page beside the trace's (DOMAIN.md: "every such access is recorded")."""

from __future__ import annotations

import re

from sqlalchemy import select

from inventory.models import AuditEvent, Patient
from tests.factories import World, patient


def access_entries(session) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "patient_data.viewed")
                                .order_by(AuditEvent.id)))


def _patients(world: World, session) -> tuple[Patient, Patient, Patient]:
    amelia = patient(world, "P-1001", name="Amelia Hart")
    anna = patient(world, "P-1002", name="Anna Amelia Reyes")
    new_york = patient(world, "P-1003", name="Amelia Stone", clinic=world.other_clinic)
    session.flush()
    return amelia, anna, new_york


def test_opening_a_record_logs_one_entry_with_viewer_patient_and_clinic(browser_client, world, session):
    amelia, _, _ = _patients(world, session)
    response = browser_client("nurse").get(f"/patients/{amelia.id}")
    assert response.status_code == 200 and "Amelia Hart" in response.get_data(as_text=True)

    [entry] = access_entries(session)
    assert entry.actor_id == world.users["nurse"].id
    assert (entry.object_type, entry.object_id, entry.clinic_id) == ("patient", str(amelia.id), world.clinic.id)
    assert entry.details == {"view": "patient_record", "patient_ids": [amelia.id]}


def test_another_clinics_record_is_a_404_and_logs_nothing(browser_client, world, session):
    _, _, new_york = _patients(world, session)
    nurse = browser_client("nurse")
    assert nurse.get(f"/patients/{new_york.id}").status_code == 404
    assert nurse.get("/patients/999999").status_code == 404
    assert access_entries(session) == []


def test_a_search_logs_the_query_and_the_patients_it_showed(browser_client, world, session):
    amelia, anna, _ = _patients(world, session)
    page = browser_client("nurse").get("/patients?q=amelia").get_data(as_text=True)
    shown = [int(i) for i in re.findall(r'<tr data-patient="(\d+)">', page)]
    assert sorted(shown) == sorted([amelia.id, anna.id])  # New York's Amelia is not hers to find

    [entry] = access_entries(session)
    assert entry.actor_id == world.users["nurse"].id and entry.object_type == "patient"
    assert entry.details == {"view": "patients_search", "query": "amelia", "patient_ids": shown, "patients": 2}


def test_an_empty_search_shows_nobody_and_logs_nothing(browser_client, world, session):
    _patients(world, session)
    assert browser_client("nurse").get("/patients?q=%20").status_code == 200
    assert browser_client("nurse").get("/patients").status_code == 200
    assert access_entries(session) == []


def test_the_access_log_page_lists_and_filters_the_record_and_the_search(browser_client, world, session):
    amelia, anna, _ = _patients(world, session)
    nurse = browser_client("nurse")
    nurse.get(f"/patients/{amelia.id}")
    nurse.get("/patients?q=reyes")
    admin = browser_client("admin")

    for kind in ("access", "viewed"):
        html = admin.get(f"/access-log?kind={kind}").get_data(as_text=True)
        assert "patient record" in html and "patients search" in html
        assert "searched <span class=\"mono\">reyes</span>" in html
        assert "Amelia Hart (P-1001)" in html and "Anna Amelia Reyes (P-1002)" in html
    assert "patient record" not in admin.get("/access-log?kind=exported").get_data(as_text=True)

    # Filtered by patient: Amelia's record, not the search that found only Anna.
    html = admin.get(f"/access-log?patient={amelia.id}").get_data(as_text=True)
    assert "patient record" in html and "patients search" not in html
    html = admin.get(f"/access-log?patient={anna.id}").get_data(as_text=True)
    assert "patients search" in html and "patient record" not in html
    # Filtered by who: the nurse's two looks.
    html = admin.get(f"/access-log?user={world.users['nurse'].id}").get_data(as_text=True)
    assert html.count('data-action="patient_data.viewed"') == 2


def test_a_refused_contact_save_that_shows_the_record_again_logs_it(browser_client, world, session):
    """The record is on screen again beside the refusal: its access is logged although the save is not kept."""
    from tests.pages.conftest import csrf_token

    amelia, _, _ = _patients(world, session)
    nurse = browser_client("nurse")
    token = csrf_token(nurse, f"/patients/{amelia.id}")
    before = len(access_entries(session))
    response = nurse.post(f"/patients/{amelia.id}/contact", data={"csrf_token": token, "email": "not-an-email",
                                                                   "phone": "", "address": ""})
    assert response.status_code == 422 and "Amelia Hart" in response.get_data(as_text=True)
    entries = access_entries(session)
    assert len(entries) == before + 1
    assert entries[-1].details == {"view": "patient_record", "patient_ids": [amelia.id]}
    assert entries[-1].actor_id == world.users["nurse"].id
    session.refresh(amelia)
    assert amelia.email is None  # the refused save itself is not kept
