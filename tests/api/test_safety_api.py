"""The clinical-safety API of issue 20: adverse events, lot signals, excursions and holds."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from inventory.models import Container, utcnow
from tests.api.conftest import error_code
from tests.api.test_cart_api import draw_body, reconstituted, treatment_for

FAR = dt.date(2099, 12, 31)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture
def nurse(api):
    return api("nurse")


def today() -> str:
    return utcnow().date().isoformat()


def event_body(treatment: dict, **changes) -> dict:
    return {"treatment_id": treatment["id"], "kind": "vascular_occlusion", "onset_date": today(),
            "severity": "severe", "description": "Blanching and pain at the upper lip", "outcome": "ongoing"} | changes


def filler_drawn(nurse, world, ref: str = "MRN-1", lot: str = "VB-1") -> tuple[dict, Container]:
    treatment = treatment_for(nurse, world, ref)
    syringe = world.container("filler", lot=lot, expiry=FAR)
    response = nurse.post(f"/treatments/{treatment['id']}/draws", draw_body(syringe, "0.3", "mL", area="lip"))
    assert response.status_code == 201, response.get_json()
    return treatment, syringe


# --- adverse events ----------------------------------------------------------------------------------------


def test_a_nurse_records_an_event_and_the_answer_names_its_containers_and_lots(nurse, world):
    treatment, syringe = filler_drawn(nurse, world)

    response = nurse.post("/adverse-events", event_body(treatment))

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert [c["label_code"] for c in body["containers"]] == [syringe.label_code]
    assert [(lot["number"], lot["expiry"]) for lot in body["lots"]] == [("VB-1", "2099-12-31")]
    assert (body["kind"], body["severity"], body["outcome"]) == ("vascular_occlusion", "severe", "ongoing")
    assert body["rescues"] == []


@pytest.mark.parametrize(("changes", "status", "code"), [
    ({"kind": "headache"}, 422, "validation_error"),
    ({"severity": "awful"}, 422, "validation_error"),
    ({"outcome": "fine"}, 422, "validation_error"),
    ({"description": ""}, 422, "validation_error"),
    ({"onset_date": "2099-01-01"}, 422, "validation_error"),
    ({"treatment_id": 999999}, 404, "not_found"),
])
def test_a_bad_event_is_refused_with_its_code(nurse, world, changes, status, code):
    treatment, _ = filler_drawn(nurse, world)
    response = nurse.post("/adverse-events", event_body(treatment, **changes))
    assert (response.status_code, error_code(response)) == (status, code)


def test_events_are_listed_by_lot_and_treatment_and_patched(nurse, api, world):
    treatment, _ = filler_drawn(nurse, world)
    created = nurse.post("/adverse-events", event_body(treatment)).get_json()
    lot_id = created["lots"][0]["id"]
    safety = api("safety")

    by_lot = safety.get(f"/adverse-events?lot_id={lot_id}").get_json()["adverse_events"]
    assert [e["id"] for e in by_lot] == [created["id"]]
    by_treatment = nurse.get(f"/adverse-events?treatment_id={treatment['id']}").get_json()["adverse_events"]
    assert [e["id"] for e in by_treatment] == [created["id"]]
    assert api("other_nurse").get("/adverse-events").get_json() == {"adverse_events": []}

    patched = safety.patch(f"/adverse-events/{created['id']}",
                           {"outcome": "resolved", "follow_up_notes": "Refill normal after 2 pulses"})
    assert patched.status_code == 200, patched.get_json()
    assert (patched.get_json()["outcome"], patched.get_json()["follow_up_notes"]) == \
        ("resolved", "Refill normal after 2 pulses")
    other = api("other_nurse").patch(f"/adverse-events/{created['id']}", {"outcome": "resolved"})
    assert (other.status_code, error_code(other)) == (404, "not_found")


def test_a_rescue_hyaluronidase_draw_names_the_event_and_the_event_shows_it(nurse, world):
    treatment, syringe = filler_drawn(nurse, world)
    event = nurse.post("/adverse-events", event_body(treatment)).get_json()
    hylenex = world.container("hylenex", lot="HY-1", expiry=FAR)

    drawn = nurse.post(f"/treatments/{treatment['id']}/draws",
                       draw_body(hylenex, "150", area="lip", reason="emergency", adverse_event_id=event["id"]))

    assert drawn.status_code == 201, drawn.get_json()
    assert drawn.get_json()["adverse_event_id"] == event["id"]
    shown = nurse.get(f"/adverse-events/{event['id']}").get_json()
    assert [(r["label_code"], r["quantity"], r["base_unit"]) for r in shown["rescues"]] == \
        [(hylenex.label_code, "150", "USP U")]
    assert [c["label_code"] for c in shown["containers"]] == [syringe.label_code]
    wrong = nurse.post(f"/treatments/{treatment['id']}/draws",
                       draw_body(world.container("filler", lot="VB-2", expiry=FAR), "0.1", "mL", area="lip",
                                 adverse_event_id=event["id"]))
    assert (wrong.status_code, error_code(wrong)) == (422, "validation_error")


def test_the_regulator_report_exports_as_csv(nurse, world):
    treatment, _ = filler_drawn(nurse, world)
    event = nurse.post("/adverse-events", event_body(treatment, patient_sex="female")).get_json()
    response = nurse.get(f"/adverse-events/{event['id']}/report.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["lot"], r["patient_sex"], r["event"]) for r in rows] == [("VB-1", "Female", "Vascular occlusion")]


def test_lot_signals_are_for_the_safety_lead_and_admin(nurse, api, world):
    treatment, _ = filler_drawn(nurse, world)
    nurse.post("/adverse-events", event_body(treatment))
    denied = nurse.get("/reports/lot-signals")
    assert (denied.status_code, error_code(denied)) == (403, "forbidden")
    lots = api("safety").get("/reports/lot-signals").get_json()["lots"]
    assert [(s["lot"]["number"], s["patients_reached"], s["events"], s["rate"]) for s in lots] == \
        [("VB-1", 1, 1, "1")]
    assert lots[0]["events_by_kind"] == {"vascular_occlusion": 1}
    assert lots[0]["product_other_lots_rate"] is None


# --- cold chain ----------------------------------------------------------------------------------------------


def excursion_body(**changes) -> dict:
    now = utcnow()
    return {"started_at": (now - dt.timedelta(hours=3)).isoformat(), "ended_at": (now - dt.timedelta(hours=1)).isoformat(),
            "min_c": "9.5", "max_c": "13", "note": "door left open"} | changes


def test_an_excursion_puts_the_fridge_on_hold_and_the_safety_lead_releases_it(nurse, api, world):
    vial = world.container("botox", expiry=FAR, now=utcnow() - dt.timedelta(days=2))
    fridge = world.location()
    denied = nurse.post(f"/locations/{fridge.id}/excursions", excursion_body())
    assert (denied.status_code, error_code(denied)) == (403, "forbidden")

    recorded = api("manager").post(f"/locations/{fridge.id}/excursions", excursion_body())

    assert recorded.status_code == 201, recorded.get_json()
    held = recorded.get_json()["held"]
    assert [(c["label_code"], c["on_hold"]) for c in held] == [(vial.label_code, True)]
    refused = nurse.post(f"/containers/{vial.label_code}/reconstitute", {"diluent_ml": "2.5"})
    assert (refused.status_code, error_code(refused)) == (409, "container_on_hold")
    scanned = nurse.post("/scans", {"code": vial.label_code}).get_json()
    assert any("is on hold" in w and "until the safety lead releases it" in w for w in scanned["warnings"])
    assert [h["container"]["id"] for h in nurse.get("/holds").get_json()["holds"]] == [vial.id]
    manager_release = api("manager").post(f"/containers/{vial.id}/release-hold", {"reason": "fine"})
    assert (manager_release.status_code, error_code(manager_release)) == (403, "forbidden")

    released = api("safety").post(f"/containers/{vial.id}/release-hold", {"reason": "Stability data: fine"})

    assert released.status_code == 200 and released.get_json()["on_hold"] is False
    reconstituted(nurse, vial)
    treatment = treatment_for(nurse, world)
    assert nurse.post(f"/treatments/{treatment['id']}/draws", draw_body(vial)).status_code == 201


def test_a_draw_from_a_held_container_is_refused_with_container_on_hold(nurse, api, world):
    syringe = world.container("filler", expiry=FAR, now=utcnow() - dt.timedelta(days=2))
    # Above a filler's 25 °C: a fridge at 9.5 to 13 °C does not hold it (tests/api/test_cold_chain_sensitivity_api.py).
    api("safety").post(f"/locations/{world.location().id}/excursions", excursion_body(max_c="30"))
    treatment = treatment_for(nurse, world)
    response = nurse.post(f"/treatments/{treatment['id']}/draws", draw_body(syringe, "0.1", "mL", area="lip"))
    assert (response.status_code, error_code(response)) == (409, "container_on_hold")
    assert response.get_json()["error"]["details"]["container_id"] == syringe.id
    wasted = api("safety").post(f"/containers/{syringe.id}/waste-held", {"reason": "Frozen"})
    assert wasted.status_code == 200 and wasted.get_json()["state"] == "discarded"


def test_an_excursions_temperatures_sent_as_json_numbers_are_refused_and_nothing_is_held(api, world, session):
    # API.md: decimals travel as strings; the document says so, and the server agrees.
    vial = world.container("botox", expiry=FAR, now=utcnow() - dt.timedelta(days=2))
    manager = api("manager")
    for numbers in ({"min_c": 1, "max_c": "9"}, {"min_c": "1", "max_c": 9.5}):
        refused = manager.post(f"/locations/{world.location().id}/excursions", excursion_body(**numbers))
        assert (refused.status_code, error_code(refused)) == (422, "validation_error")
        assert refused.get_json()["error"]["message"].endswith(
            'a temperature is a decimal string in quotes, such as "11.5" or "-1"')
    session.expire_all()
    assert vial.on_hold_since is None
    schema = manager.get("/openapi.json").get_json()["components"]["schemas"]["ExcursionIn"]
    assert schema["properties"]["max_c"]["type"] == "string"


def test_an_excursion_within_range_is_refused(api, world):
    response = api("manager").post(f"/locations/{world.location().id}/excursions",
                                   excursion_body(min_c="3", max_c="7"))
    assert (response.status_code, error_code(response)) == (422, "validation_error")
