"""The API's patient reads are recorded in the access log as the pages' are: the history of one patient and
the look-up by reference (names, birth dates, contact details)."""

from __future__ import annotations

from sqlalchemy import select

from inventory.models import AuditEvent
from tests.api.conftest import error_code
from tests.factories import close_treatment, draw, patient, reconstitute, start_treatment


def access_entries(session) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "patient_data.viewed")
                                .order_by(AuditEvent.id)))


def test_the_history_logs_one_entry_with_viewer_patient_and_clinic(api, world, session):
    amelia = patient(world, "P-1001", name="Amelia Hart")
    treatment = start_treatment(world, amelia)
    draw(world, treatment, reconstitute(world, world.container("botox")), "20")
    close_treatment(world, treatment)
    session.flush()

    response = api("nurse").get(f"/patients/{amelia.id}/history")
    assert response.status_code == 200 and response.get_json()["molecules"]

    [entry] = access_entries(session)
    assert entry.actor_id == world.users["nurse"].id
    assert (entry.object_type, entry.object_id, entry.clinic_id) == ("patient", str(amelia.id), world.clinic.id)
    assert entry.details == {"view": "patient_history_api", "patient_ids": [amelia.id]}


def test_another_clinics_history_is_a_404_and_logs_nothing(api, world, session):
    new_york = patient(world, "P-2001", clinic=world.other_clinic)
    session.flush()
    response = api("nurse").get(f"/patients/{new_york.id}/history")
    assert response.status_code == 404 and error_code(response) == "not_found"
    assert api("nurse").get("/patients/999999/history").status_code == 404
    assert access_entries(session) == []


def test_the_checklist_reads_the_history_without_logging_it_as_a_look_at_the_record(api, world, session):
    # The checklist is the treatment's own page at the cart, not a look-up of the record.
    treatment = start_treatment(world, patient(world, "P-1001"))
    session.flush()
    assert api("nurse").get(f"/treatments/{treatment.id}/checklist").status_code == 200
    assert access_entries(session) == []


def test_a_look_up_by_reference_logs_the_reference_and_the_patients_answered(api, world, session):
    london = patient(world, "P-1001")
    new_york = patient(world, "P-1001", clinic=world.other_clinic)
    session.flush()

    nurse = api("nurse").get("/patients?external_ref=P-1001")
    assert [p["id"] for p in nurse.get_json()["patients"]] == [london.id]
    manager = api("manager").get("/patients?external_ref=P-1001")  # chain level: both clinics
    assert sorted(p["id"] for p in manager.get_json()["patients"]) == sorted([london.id, new_york.id])
    assert api("nurse").get("/patients?external_ref=P-404").get_json()["patients"] == []

    first, second, third = access_entries(session)
    assert first.actor_id == world.users["nurse"].id and first.object_type == "patient"
    assert first.details == {"view": "patients_api", "query": "P-1001", "patient_ids": [london.id], "patients": 1}
    assert second.actor_id == world.users["manager"].id
    assert sorted(second.details["patient_ids"]) == sorted([london.id, new_york.id])
    assert third.details == {"view": "patients_api", "query": "P-404", "patient_ids": [], "patients": 0}


def test_a_refused_look_up_logs_nothing(api, world, session):
    assert api("nurse").get("/patients").status_code == 422  # no reference
    assert api().get("/patients?external_ref=P-1001").status_code == 401
    assert access_entries(session) == []


def test_find_or_add_logs_a_patient_found_on_file_but_not_one_it_adds_or_refuses(api, world, session):
    # Its answer carries the record's name, birth date and contact details, as the look-up by reference does.
    amelia = patient(world, "P-1001", name="Amelia Hart")
    session.flush()
    nurse = api("nurse")

    found = nurse.post("/patients", {"external_ref": "P-1001"})
    assert found.status_code == 201 and found.get_json()["id"] == amelia.id
    added = nurse.post("/patients", {"external_ref": "P-1002", "name": "Bea Long"})
    assert added.status_code == 201 and added.get_json()["id"] != amelia.id
    conflict = nurse.post("/patients", {"external_ref": "P-1001", "name": "Someone Else"})
    assert conflict.status_code == 409 and error_code(conflict) == "patient_ref_conflict"

    [entry] = access_entries(session)
    assert entry.actor_id == world.users["nurse"].id
    assert (entry.object_type, entry.object_id, entry.clinic_id) == ("patient", str(amelia.id), world.clinic.id)
    assert entry.details == {"view": "patients_api_find", "patient_ids": [amelia.id]}
