"""Emergency hyaluronidase is the rescue of the adverse event it treated, never one of its suspect products:
not in the event's containers and lots, not a row of the regulator's report, not counted in lot signals.
A rescue drawn before the event was recorded is linked to it afterwards (POST .../rescues)."""

from __future__ import annotations

import csv
import io

import pytest

from tests.api.conftest import error_code
from tests.api.test_cart_api import draw_body, treatment_for
from tests.api.test_safety_api import FAR, event_body

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture
def nurse(api):
    return api("nurse")


def drawn(nurse, treatment: dict, container, quantity: str, unit: str, **extra) -> dict:
    response = nurse.post(f"/treatments/{treatment['id']}/draws",
                          draw_body(container, quantity, unit, area="lip", **extra))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def occlusion_treated_first(nurse, world, ref: str = "MRN-VO") -> tuple[dict, object, object, dict]:
    """QA's scenario: 0.5 mL of filler into the lip, then Hylenex drawn from the kit as an emergency."""
    treatment = treatment_for(nurse, world, ref)
    syringe = world.container("filler", lot="JUV-1", expiry=FAR)
    hylenex = world.container("hylenex", lot="HYL-1", expiry=FAR)
    drawn(nurse, treatment, syringe, "0.5", "mL")
    rescue = drawn(nurse, treatment, hylenex, "150", "U", reason="emergency")
    return treatment, syringe, hylenex, rescue


def test_emergency_hyaluronidase_drawn_before_the_event_is_its_rescue_not_a_suspect(nurse, api, world):
    treatment, syringe, hylenex, rescue = occlusion_treated_first(nurse, world)

    response = nurse.post("/adverse-events", event_body(treatment, severity="serious"))

    assert response.status_code == 201, response.get_json()
    event = response.get_json()
    assert [c["label_code"] for c in event["containers"]] == [syringe.label_code]
    assert [lot["number"] for lot in event["lots"]] == ["JUV-1"]
    assert [(r["draw_id"], r["label_code"], r["quantity"]) for r in event["rescues"]] == \
        [(rescue["id"], hylenex.label_code, "150")]
    assert nurse.get(f"/adverse-events/{event['id']}").get_json() == event

    report = nurse.get(f"/adverse-events/{event['id']}/report.csv")
    rows = list(csv.DictReader(io.StringIO(report.get_data(as_text=True))))
    assert [r["lot"] for r in rows] == ["JUV-1"]  # one suspect product: the filler
    assert "150 USP U Hylenex" in rows[0]["rescue"]

    safety = api("safety")
    signals = safety.get("/reports/lot-signals").get_json()["lots"]
    assert [(s["lot"]["number"], s["events_by_severity"]) for s in signals] == [("JUV-1", {"serious": 1})]
    hylenex_lot = hylenex.lot_id
    assert safety.get(f"/adverse-events?lot_id={hylenex_lot}").get_json() == {"adverse_events": []}


def test_naming_emergency_hyaluronidase_as_a_suspect_is_refused_in_words(nurse, world):
    treatment, syringe, hylenex, _ = occlusion_treated_first(nurse, world)

    response = nurse.post("/adverse-events", event_body(treatment, container_ids=[syringe.id, hylenex.id]))

    assert (response.status_code, error_code(response)) == (422, "validation_error")
    error = response.get_json()["error"]
    assert error["details"]["field"] == "container_ids"
    assert error["details"]["container_ids"] == [hylenex.id]
    assert hylenex.label_code in error["message"] and "rescue" in error["message"]
    assert nurse.get(f"/adverse-events?treatment_id={treatment['id']}").get_json() == {"adverse_events": []}

    only_filler = nurse.post("/adverse-events", event_body(treatment, container_ids=[syringe.id]))
    assert only_filler.status_code == 201, only_filler.get_json()
    assert [r["label_code"] for r in only_filler.get_json()["rescues"]] == [hylenex.label_code]


def test_hyaluronidase_drawn_without_the_emergency_reason_stays_a_suspect(nurse, world):
    # A planned dissolution (not kit use) may itself cause the event: it is linked like any other draw.
    treatment = treatment_for(nurse, world, "MRN-DIS")
    hylenex = world.container("hylenex", lot="HYL-P", expiry=FAR)
    drawn(nurse, treatment, hylenex, "30", "U")

    event = nurse.post("/adverse-events", event_body(treatment, kind="allergic_reaction")).get_json()

    assert [c["label_code"] for c in event["containers"]] == [hylenex.label_code]
    assert event["rescues"] == []


def test_a_rescue_drawn_before_the_event_was_recorded_is_linked_to_it_afterwards(nurse, api, world):
    treatment = treatment_for(nurse, world, "MRN-LATE")
    syringe = world.container("filler", lot="JUV-2", expiry=FAR)
    drawn(nurse, treatment, syringe, "0.5", "mL")
    # The patient comes back blanched: a rescue treatment of its own, the event recorded against the filler's.
    patient_id = treatment["patient"]["id"]
    rescue_visit = nurse.post("/treatments", {"patient_id": patient_id,
                                              "location_id": world.location("Room 1").id}).get_json()
    hylenex = world.container("hylenex", lot="HYL-2", expiry=FAR)
    rescue = drawn(nurse, rescue_visit, hylenex, "120", "U", reason="emergency")
    event = nurse.post("/adverse-events", event_body(treatment)).get_json()
    assert event["rescues"] == []  # the rescue is another treatment's: nothing guesses it

    linked = nurse.post(f"/adverse-events/{event['id']}/rescues", {"draw_id": rescue["id"]})

    assert linked.status_code == 200, linked.get_json()
    body = linked.get_json()
    assert [(r["draw_id"], r["label_code"], r["quantity"]) for r in body["rescues"]] == \
        [(rescue["id"], hylenex.label_code, "120")]
    assert [c["label_code"] for c in body["containers"]] == [syringe.label_code]
    again = nurse.post(f"/adverse-events/{event['id']}/rescues", {"draw_id": rescue["id"]})
    assert again.status_code == 200 and len(again.get_json()["rescues"]) == 1  # linked once
    rows = list(csv.DictReader(io.StringIO(
        nurse.get(f"/adverse-events/{event['id']}/report.csv").get_data(as_text=True))))
    assert [r["lot"] for r in rows] == ["JUV-2"] and "120 USP U Hylenex" in rows[0]["rescue"]


def test_an_emergency_draw_of_the_same_treatment_after_the_event_is_linked_afterwards(nurse, world):
    treatment = treatment_for(nurse, world, "MRN-AFTER")
    syringe = world.container("filler", lot="JUV-3", expiry=FAR)
    drawn(nurse, treatment, syringe, "0.5", "mL")
    event = nurse.post("/adverse-events", event_body(treatment)).get_json()
    hylenex = world.container("hylenex", lot="HYL-3", expiry=FAR)
    rescue = drawn(nurse, treatment, hylenex, "150", "U", reason="emergency")  # the event forgotten at the cart

    body = nurse.post(f"/adverse-events/{event['id']}/rescues", {"draw_id": rescue["id"]}).get_json()

    assert [r["draw_id"] for r in body["rescues"]] == [rescue["id"]]
    assert [c["label_code"] for c in body["containers"]] == [syringe.label_code]


def test_linking_a_rescue_afterwards_refuses_what_cannot_have_treated_the_event(nurse, api, world):
    earlier = treatment_for(nurse, world, "MRN-R")
    old_hylenex = world.container("hylenex", lot="HYL-OLD", expiry=FAR)
    before = drawn(nurse, earlier, old_hylenex, "150", "U", reason="emergency")
    treatment = nurse.post("/treatments", {"patient_id": earlier["patient"]["id"],
                                           "location_id": world.location("Room 1").id}).get_json()
    syringe = world.container("filler", lot="JUV-4", expiry=FAR)
    filler_draw = drawn(nurse, treatment, syringe, "0.5", "mL")
    event = nurse.post("/adverse-events", event_body(treatment)).get_json()
    stranger = treatment_for(nurse, world, "MRN-OTHER")
    theirs = drawn(nurse, stranger, world.container("hylenex", lot="HYL-X", expiry=FAR), "150", "U",
                   reason="emergency")
    other_event = nurse.post("/adverse-events", event_body(stranger)).get_json()
    assert [r["draw_id"] for r in other_event["rescues"]] == [theirs["id"]]
    path = f"/adverse-events/{event['id']}/rescues"

    for draw_id, words in ((filler_draw["id"], "hyaluronidase"), (theirs["id"], "another patient"),
                           (before["id"], "before")):
        response = nurse.post(path, {"draw_id": draw_id})
        assert (response.status_code, error_code(response)) == (422, "validation_error"), draw_id
        assert response.get_json()["error"]["details"]["field"] == "draw_id"
        assert words in response.get_json()["error"]["message"]
    missing = nurse.post(path, {"draw_id": 999999})
    assert (missing.status_code, error_code(missing)) == (404, "not_found")
    outsider = api("other_nurse").post(path, {"draw_id": before["id"]})
    assert (outsider.status_code, error_code(outsider)) == (404, "not_found")
    assert nurse.get(f"/adverse-events/{event['id']}").get_json()["rescues"] == []


def test_a_rescue_already_linked_to_another_event_is_not_linked_twice(nurse, world):
    treatment, _, _, rescue = occlusion_treated_first(nurse, world, "MRN-TWICE")
    first = nurse.post("/adverse-events", event_body(treatment)).get_json()
    second = nurse.post("/adverse-events", event_body(treatment, kind="bruising_swelling")).get_json()
    assert [r["draw_id"] for r in first["rescues"]] == [rescue["id"]] and second["rescues"] == []

    response = nurse.post(f"/adverse-events/{second['id']}/rescues", {"draw_id": rescue["id"]})

    assert (response.status_code, error_code(response)) == (422, "validation_error")
    assert f"adverse event {first['id']}" in response.get_json()["error"]["message"]


def test_an_event_recorded_before_the_rule_answers_without_its_rescue_vial(nurse, api, world, session):
    # What the old code stored for QA's scenario: the Hylenex vial linked as a cause, no rescue row.
    from inventory.adverse_events.models import AdverseEventContainer

    treatment = treatment_for(nurse, world, "MRN-OLD")
    syringe = world.container("filler", lot="JUV-OLD", expiry=FAR)
    drawn(nurse, treatment, syringe, "0.5", "mL")
    event = nurse.post("/adverse-events", event_body(treatment, severity="serious")).get_json()
    hylenex = world.container("hylenex", lot="HYL-OLD", expiry=FAR)
    rescue = drawn(nurse, treatment, hylenex, "150", "U", reason="emergency")
    session.add(AdverseEventContainer(adverse_event_id=event["id"], container_id=hylenex.id, lot_id=hylenex.lot_id))
    session.flush()

    shown = nurse.get(f"/adverse-events/{event['id']}").get_json()
    assert [c["label_code"] for c in shown["containers"]] == [syringe.label_code]
    assert [lot["number"] for lot in shown["lots"]] == ["JUV-OLD"]
    lots = api("safety").get("/reports/lot-signals").get_json()["lots"]
    assert [s["lot"]["number"] for s in lots] == ["JUV-OLD"]
    linked = nurse.post(f"/adverse-events/{event['id']}/rescues", {"draw_id": rescue["id"]}).get_json()
    assert [r["draw_id"] for r in linked["rescues"]] == [rescue["id"]]
    assert [c["label_code"] for c in linked["containers"]] == [syringe.label_code]
