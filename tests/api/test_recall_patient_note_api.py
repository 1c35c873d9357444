"""A recall patient line's note follows its status (QA: a line moved from notified, "spoke to her", to unreachable
through the API kept the note, and the export read "unreachable ... spoke to her"). A status changed without a note
clears the line's note (the audit trail keeps the old one); the same status without a note keeps it; a note sent is
the note, and an empty one clears it. The page, which shows the note in its field before saving, sends what the field
holds: the same rule, in the service (tests/pages/test_recall_patient_note_pages.py)."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from inventory.models import AuditEvent
from recall.models import RecallPatient
from tests import recall_helpers as rh
from tests.factories import patient, reconstitute


@pytest.fixture
def case(api, world):
    vial = reconstitute(world, world.container("botox", lot="NT4821A"))
    ann = patient(world, "L-1", name="Ann Lee")
    rh.give(world, rh.treat(world, ann), vial, "4")
    created = api("safety").post("/recalls", {"lot_ids": [vial.lot_id], "reason": "maker's notice 7",
                                              "recall_class": "II", "source": "manufacturer"})
    assert created.status_code == 201, created.get_json()
    return created.get_json()["id"], ann


def line_of(session, case_id: int, patient_id: int) -> RecallPatient:
    session.expire_all()
    return session.scalar(select(RecallPatient).where(RecallPatient.case_id == case_id,
                                                      RecallPatient.patient_id == patient_id))


def test_the_qa_case_a_status_changed_without_a_note_clears_the_old_note(api, session, case):
    case_id, ann = case
    lead = api("safety")
    path = f"/recalls/{case_id}/patients/{ann.id}"
    told = lead.patch(path, {"status": "notified", "method": "phone", "note": "spoke to her"})
    assert told.get_json()["note"] == "spoke to her"
    unreachable = lead.patch(path, {"status": "unreachable"})
    assert unreachable.status_code == 200
    assert (unreachable.get_json()["status"], unreachable.get_json()["note"]) == ("unreachable", None)
    assert line_of(session, case_id, ann.id).note is None
    assert lead.get(path).get_json()["note"] is None
    export = lead.get(f"/recalls/{case_id}/notifications.csv").get_data(as_text=True)
    assert "spoke to her" not in export
    header, *rows = list(csv.reader(io.StringIO(export.lstrip("\ufeff"))))
    (row,) = [r for r in rows if "Ann Lee" in r]
    assert row[header.index("Status")] == "unreachable" and row[header.index("Note")] == ""
    # The audit trail keeps the old note.
    session.expire_all()
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "recall.patient_updated")
                             .order_by(AuditEvent.id)).all()
    assert events[-1].details["note_before"] == "spoke to her"
    assert events[-2].details["note"] == "spoke to her"


def test_the_same_status_without_a_note_keeps_it_and_a_sent_note_replaces_it(api, session, case):
    case_id, ann = case
    lead = api("safety")
    path = f"/recalls/{case_id}/patients/{ann.id}"
    lead.patch(path, {"status": "unreachable", "note": "no answer twice"})
    assert lead.patch(path, {"status": "unreachable"}).get_json()["note"] == "no answer twice"
    assert lead.patch(path, {"status": "notified", "method": "letter", "note": "letter sent"}).get_json()["note"] == (
        "letter sent")
    assert lead.patch(path, {"status": "notified", "method": "letter", "note": ""}).get_json()["note"] is None
