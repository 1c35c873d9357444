"""QA's reproduction through the API: a dose reversed after the closing wasted its vial stays wasted.

As a nurse: a Dysport vial mixed with 2.5 mL, 50 U glabella then 10 U forehead, the treatment closed (the other
240 U wasted), then the forehead dose reversed ("recorded twice"). The vial stays discarded with nothing in it,
and no later dose is drawn from it, not even for another patient once an admin lets Dysport be shared.
"""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.models import Container, utcnow
from tests.api.conftest import error_code

# Requests run at the real clock: lots must outlive it.
FAR = dt.date(2099, 12, 31)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def treatment_for(client, world, ref: str) -> dict:
    patient = client.post("/patients", {"external_ref": ref, "name": f"Patient {ref}"})
    assert patient.status_code == 201, patient.get_json()
    response = client.post("/treatments", {"patient_id": patient.get_json()["id"],
                                           "location_id": world.location("Room 1").id})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def drawn(client, treatment: dict, vial: Container, quantity: str, area: str):
    return client.post(f"/treatments/{treatment['id']}/draws",
                       {"container": vial.label_code, "quantity": quantity, "unit": "U", "area": area})


def test_qa_reproduction_the_reversed_dose_is_wasted_and_the_vial_serves_no_one(api, world, session):
    nurse = api("nurse")
    vial = world.container("dysport", expiry=FAR)
    session.flush()
    mixed = nurse.post(f"/containers/{vial.label_code}/reconstitute", {"diluent_ml": "2.5"})
    assert mixed.status_code == 200, mixed.get_json()
    treatment = treatment_for(nurse, world, "MRN-1")
    assert drawn(nurse, treatment, vial, "50", "glabella").status_code == 201
    forehead = drawn(nurse, treatment, vial, "10", "forehead")
    assert forehead.status_code == 201, forehead.get_json()
    closed = nurse.post(f"/treatments/{treatment['id']}/close", {})
    assert closed.status_code == 200, closed.get_json()
    assert [(m["quantity"], m["container"]["state"]) for m in closed.get_json()["wasted"]] == [("-240", "discarded")]

    reversal = nurse.post(f"/movements/{forehead.get_json()['movement_id']}/reverse", {"reason": "recorded twice"})

    assert reversal.status_code == 201, reversal.get_json()
    body = reversal.get_json()
    assert (body["kind"], body["quantity"], body["reverses_id"]) == (
        "reversal", "10", forehead.get_json()["movement_id"])
    assert (body["container"]["state"], body["container"]["remaining"]) == ("discarded", "0")
    shown = nurse.get(f"/treatments/{treatment['id']}").get_json()
    assert [(d["area"], d["is_reversed"]) for d in shown["draws"]] == [("glabella", False), ("forehead", True)]
    assert [t["quantity"] for t in shown["totals"]] == ["50"]
    today = utcnow().date()
    report = api("manager").get(f"/reports/reconciliation?from={today - dt.timedelta(days=1)}"
                                f"&to={today + dt.timedelta(days=1)}").get_json()
    (row,) = [r for r in report["rows"] if r["lot_id"] == vial.lot_id]
    assert (row["drawn"], row["wasted"], row["expected_closing"]) == ("50", "250", "0")

    # An admin lets Dysport be shared: the vial in the bin still serves no other patient.
    shared = api("admin").patch(f"/products/{world.products['dysport'].id}", {"multi_patient": True,
                                                                             "reason": "Clinic protocol"})
    assert shared.status_code == 200, shared.get_json()
    other = treatment_for(nurse, world, "MRN-2")
    refused = drawn(nurse, other, vial, "10", "glabella")
    assert refused.status_code == 409 and error_code(refused) == "container_empty"
    assert "discarded" in refused.get_json()["error"]["message"]
    assert nurse.get(f"/treatments/{other['id']}").get_json()["draws"] == []
