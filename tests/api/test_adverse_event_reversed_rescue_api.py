"""A reversed draw was never given: a rescue dose reversed after it was linked to an adverse event stays linked,
marked ``"reversed": true``, and is left out of the regulator's report; a cause whose every draw was reversed
stays listed, marked, but is no longer counted as the event's cause (lots, report, lot signals, ?lot_id=)."""

from __future__ import annotations

import csv
import io

import pytest

from tests.api.conftest import error_code
from tests.api.test_adverse_event_rescue_api import drawn, occlusion_treated_first
from tests.api.test_cart_api import treatment_for
from tests.api.test_safety_api import FAR, event_body

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture
def nurse(api):
    return api("nurse")


def report_rows(client, event_id: int) -> list[dict]:
    response = client.get(f"/adverse-events/{event_id}/report.csv")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def double_entered_rescue(nurse, world, ref: str = "MRN-DBL") -> tuple[dict, dict, dict, dict, object]:
    """QA's scenario: 150 USP U given as the emergency, the event recorded, then two 75 USP U doses from a second
    vial named for the event at the cart, the second of them a double entry, reversed."""
    treatment, syringe, _, first = occlusion_treated_first(nurse, world, ref)
    event = nurse.post("/adverse-events", event_body(treatment, severity="serious")).get_json()
    vial = world.container("hylenex", lot="HYL-2ND", expiry=FAR)
    given = drawn(nurse, treatment, vial, "75", "U", reason="emergency", adverse_event_id=event["id"])
    double = drawn(nurse, treatment, vial, "75", "U", reason="emergency", adverse_event_id=event["id"])
    reversal = nurse.post(f"/movements/{double['movement_id']}/reverse", {"reason": "double entry"})
    assert reversal.status_code == 201, reversal.get_json()  # a rescue's draw is reversed like any other
    return event, first, given, double, syringe


def test_a_reversed_rescue_stays_linked_marked_reversed_and_the_others_are_not(nurse, world):
    event, first, given, double, _ = double_entered_rescue(nurse, world)

    shown = nurse.get(f"/adverse-events/{event['id']}").get_json()

    assert [(r["draw_id"], r["quantity"], r["reversed"]) for r in shown["rescues"]] == [
        (first["id"], "150", False), (given["id"], "75", False), (double["id"], "75", True)]


def test_the_regulator_report_leaves_the_reversed_rescue_dose_out(nurse, world):
    event, _, _, _, _ = double_entered_rescue(nurse, world)

    rows = report_rows(nurse, event["id"])

    assert [r["lot"] for r in rows] == ["JUV-1"]
    doses = rows[0]["rescue"].split("; ")
    assert [d.split(" Hylenex")[0] for d in doses] == ["150 USP U", "75 USP U"]  # 225 given, not 300


def test_linking_a_reversed_draw_as_a_rescue_is_still_refused(nurse, world):
    treatment = treatment_for(nurse, world, "MRN-REV")
    syringe = world.container("filler", lot="JUV-REV", expiry=FAR)
    drawn(nurse, treatment, syringe, "0.5", "mL")
    event = nurse.post("/adverse-events", event_body(treatment)).get_json()
    vial = world.container("hylenex", lot="HYL-REV", expiry=FAR)
    mistaken = drawn(nurse, treatment, vial, "75", "U", reason="emergency")
    assert nurse.post(f"/movements/{mistaken['movement_id']}/reverse", {"reason": "wrong vial"}).status_code == 201

    response = nurse.post(f"/adverse-events/{event['id']}/rescues", {"draw_id": mistaken["id"]})

    assert (response.status_code, error_code(response)) == (422, "validation_error")
    assert "reversed" in response.get_json()["error"]["message"]
    assert nurse.get(f"/adverse-events/{event['id']}").get_json()["rescues"] == []


def test_a_cause_whose_only_draw_was_reversed_stays_listed_but_is_no_longer_its_cause(nurse, api, world):
    treatment = treatment_for(nurse, world, "MRN-CAUSE")
    syringe = world.container("filler", lot="JUV-GIVEN", expiry=FAR)
    wrong = world.container("filler", lot="JUV-WRONG", expiry=FAR)
    drawn(nurse, treatment, syringe, "0.5", "mL")
    mistaken = drawn(nurse, treatment, wrong, "0.3", "mL")
    event = nurse.post("/adverse-events", event_body(treatment, severity="serious")).get_json()
    assert [(c["label_code"], c["reversed"]) for c in event["containers"]] == [
        (syringe.label_code, False), (wrong.label_code, False)]

    reversal = nurse.post(f"/movements/{mistaken['movement_id']}/reverse", {"reason": "wrong syringe scanned"})

    assert reversal.status_code == 201, reversal.get_json()
    shown = nurse.get(f"/adverse-events/{event['id']}").get_json()
    assert [(c["label_code"], c["reversed"]) for c in shown["containers"]] == [
        (syringe.label_code, False), (wrong.label_code, True)]  # the link stays visible
    assert [lot["number"] for lot in shown["lots"]] == ["JUV-GIVEN"]
    assert [r["lot"] for r in report_rows(nurse, event["id"])] == ["JUV-GIVEN"]
    safety = api("safety")
    signals = safety.get("/reports/lot-signals").get_json()["lots"]
    assert [s["lot"]["number"] for s in signals] == ["JUV-GIVEN"]
    assert safety.get(f"/adverse-events?lot_id={wrong.lot_id}").get_json() == {"adverse_events": []}
    assert [e["id"] for e in safety.get(f"/adverse-events?lot_id={syringe.lot_id}").get_json()["adverse_events"]] \
        == [event["id"]]


def test_an_event_whose_only_cause_was_reversed_keeps_the_link_and_counts_no_lot(nurse, api, world):
    treatment = treatment_for(nurse, world, "MRN-ONLY")
    wrong = world.container("filler", lot="JUV-ONLY", expiry=FAR)
    mistaken = drawn(nurse, treatment, wrong, "0.3", "mL")
    event = nurse.post("/adverse-events", event_body(treatment)).get_json()
    assert nurse.post(f"/movements/{mistaken['movement_id']}/reverse", {"reason": "wrong patient"}).status_code == 201

    shown = nurse.get(f"/adverse-events/{event['id']}").get_json()

    assert [(c["label_code"], c["reversed"]) for c in shown["containers"]] == [(wrong.label_code, True)]
    assert shown["lots"] == []
    rows = report_rows(nurse, event["id"])
    assert len(rows) == 1 and rows[0]["lot"] == "" and rows[0]["product"] == ""
    assert api("safety").get("/reports/lot-signals").get_json()["lots"] == []
