"""QA's report through the API: after a recall case closed, a nurse's corrections put a destroyed vial of the
recalled lot back in the fridge and took a notified patient's dose off the record. Both are refused now; on an
open case the same correction is taken and the patient's line asks the safety lead to tell them again."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from inventory.models import AuditEvent, Movement, MovementKind
from inventory.services.clock import format_clinic_time
from recall import exports
from tests import factories
from tests.api.conftest import error_code
from tests.factories import patient, reconstitute


class History:
    """Pat had 20 U from a Botox vial (single patient); the lot is recalled; the safety lead closes Pat's treatment
    (80 U wasted: a nurse's closing would set them aside); the safety lead marks the empty vial destroyed and
    notifies Pat."""

    def __init__(self, api, world):
        self.vial = reconstitute(world, world.container("botox", lot="QA31"))
        self.pat = patient(world, "P-31", name="Pat Quinn")
        treatment = factories.start_treatment(world, self.pat)
        self.draw = factories.draw(world, treatment, self.vial, "20").draw
        self.safety, self.nurse = api("safety"), api("nurse")
        opened = self.safety.post("/recalls", {"lot_ids": [self.vial.lot_id], "reason": "counterfeit alert",
                                               "recall_class": "I", "source": "regulator"})
        assert opened.status_code == 201, opened.get_json()
        self.case_id = opened.get_json()["id"]
        assert self.safety.post(f"/treatments/{treatment.id}/close").status_code == 200
        self.waste_id = world.session.scalar(select(Movement.id).where(
            Movement.container_id == self.vial.id, Movement.kind == MovementKind.WASTE))
        case = f"/recalls/{self.case_id}"
        assert self.safety.patch(f"{case}/containers/{self.vial.id}", {"status": "destroyed"}).status_code == 200
        assert self.safety.patch(f"{case}/patients/{self.pat.id}",
                                 {"status": "notified", "method": "phone"}).status_code == 200

    def case(self) -> dict:
        return self.safety.get(f"/recalls/{self.case_id}").get_json()


@pytest.fixture
def history(api, world):
    return History(api, world)


def test_a_nurse_cannot_bring_a_closed_recalls_vial_or_dose_back(history):
    assert history.safety.post(f"/recalls/{history.case_id}/close").status_code == 200

    for movement_id in (history.waste_id, history.draw.movement_id):
        response = history.nurse.post(f"/movements/{movement_id}/reverse", {"reason": "recorded by mistake"})
        assert (response.status_code, error_code(response)) == (409, "recall_closed"), response.get_json()
        assert response.get_json()["error"]["details"]["case_id"] == history.case_id
        assert "ask the safety lead" in response.get_json()["error"]["message"]

    vial = history.nurse.get(f"/containers/{history.vial.id}").get_json()
    assert (vial["state"], vial["remaining"]) == ("discarded", "0")
    case = history.case()
    assert case["status"] == "closed"
    (line,) = case["containers"]
    assert (line["status"], line["remaining"]) == ("destroyed", "0")
    (told,) = case["patients"]
    assert told["status"] == "notified" and [d["reversed"] for d in told["draws"]] == [False]


def test_on_an_open_case_the_correction_is_taken_and_the_patient_is_to_be_told_again(history):
    response = history.nurse.post(f"/movements/{history.draw.movement_id}/reverse", {"reason": "wrong vial"})

    assert response.status_code == 201, response.get_json()
    case = history.case()
    (told,) = case["patients"]
    assert (told["status"], told["method"]) == ("pending", None)
    assert "reversed after the patient was notified" in told["note"]
    # The 20 U were in the vial when the closing wasted it: wasted with it, the vial stays destroyed.
    assert response.get_json()["container"]["state"] == "discarded"
    (line,) = case["containers"]
    assert (line["status"], line["remaining"]) == ("destroyed", "0")
    closing = history.safety.post(f"/recalls/{history.case_id}/close")
    assert (closing.status_code, error_code(closing)) == (409, "recall_open_items")
    error = closing.get_json()["error"]
    assert error["details"] == {"case_id": history.case_id, "patients_pending": 1, "containers_open": 0,
                                "containers_back_in_stock": 0}
    # Only what is open, counted in words: no "0 container(s)".
    assert error["message"] == f"Recall case {history.case_id} still has 1 patient to notify: finish that list first."


def test_a_patient_told_again_after_a_reversal_closes_with_the_instruction_done(history, world):
    """QA's report: the reversal's "tell them what changed" stayed on the line after the patient was notified
    again, and on the closed case's line, its export and the API's answer."""
    case = f"/recalls/{history.case_id}"
    assert history.nurse.post(f"/movements/{history.draw.movement_id}/reverse",
                              {"reason": "wrong vial"}).status_code == 201
    told = history.safety.patch(f"{case}/patients/{history.pat.id}", {"status": "notified", "method": "letter"})
    assert told.status_code == 200, told.get_json()
    closing = history.safety.post(f"{case}/close")
    assert closing.status_code == 200, closing.get_json()

    (line,) = history.case()["patients"]
    when = format_clinic_time(dt.datetime.fromisoformat(line["updated_at"]), world.clinic.timezone)
    done = f"a dose was reversed after the first notice; notified again by letter on {when}"
    assert (line["status"], line["method"], line["note"]) == ("notified", "letter", done)
    assert told.get_json()["note"] == done
    csv_text = history.safety.get(f"{case}/notifications.csv").get_data(as_text=True)
    assert done in csv_text and "tell them what changed" not in csv_text
    sheet = load_workbook(io.BytesIO(history.safety.get(f"{case}/notifications.xlsx").get_data())).worksheets[0]
    notes = [row[exports.NOTIFICATION_HEADERS.index("Note")].value for row in sheet.iter_rows()
             if any(cell.value == "Pat Quinn" for cell in row)]
    assert notes == [done]
    # The audit trail still tells the whole story: the first notice, the reversal, the second notice.
    events = world.session.scalars(select(AuditEvent).where(
        AuditEvent.object_id == str(history.case_id),
        AuditEvent.action.in_(["recall.patient_updated", "recall.dose_reversed"])).order_by(AuditEvent.id)).all()
    assert [(e.action, e.details["from"], e.details["to"], e.details["method"]) for e in events] == [
        ("recall.patient_updated", "pending", "notified", "phone"),
        ("recall.dose_reversed", "notified", "pending", "phone"),
        ("recall.patient_updated", "pending", "notified", "letter"),
    ]
