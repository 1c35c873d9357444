"""The cart's API: patients, treatments, reconstitution, draws, waste, closing, corrections."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from inventory.models import AuditEvent, Container, Draw, LotStatus, Movement, MovementKind, Patient, Treatment, utcnow
from inventory.services.clock import clinic_today
from tests.api.conftest import error_code
from tests.factories import reconstitute
from tests.statements import kinds, movement_container_and_draw, recorded, token_and_claim

# Requests run at the real clock: lots must outlive it.
FAR = dt.date(2099, 12, 31)


pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture
def nurse(api):
    return api("nurse")


def botox(world, **kwargs) -> Container:
    return world.container("botox", expiry=FAR, **kwargs)


def reconstituted(nurse, container: Container, diluent_ml: str = "2.5") -> dict:
    response = nurse.post(f"/containers/{container.label_code}/reconstitute", {"diluent_ml": diluent_ml})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def treatment_for(client, world, ref: str = "MRN-1", room: str = "Room 1", clinic=None) -> dict:
    patient = client.post("/patients", {"external_ref": ref, "name": f"Patient {ref}",
                                        **({"clinic_id": clinic.id} if clinic else {})})
    assert patient.status_code == 201, patient.get_json()
    location = world.location(room, clinic or world.clinic)
    response = client.post("/treatments", {"patient_id": patient.get_json()["id"], "location_id": location.id})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def draw_body(container: Container, quantity: str = "4", unit: str = "U", area: str = "glabella", **extra) -> dict:
    return {"container": container.label_code, "quantity": quantity, "unit": unit, "area": area, **extra}


# --- patients and treatments ------------------------------------------------------------


def test_a_patient_is_added_once_and_found_by_reference(nurse, world):
    created = nurse.post("/patients", {"external_ref": "MRN-1", "name": "Ada Lovelace",
                                       "date_of_birth": "1985-12-10"})
    assert created.status_code == 201
    body = created.get_json()
    assert body == {"id": body["id"], "clinic_id": world.clinic.id, "external_ref": "MRN-1",
                    "name": "Ada Lovelace", "date_of_birth": "1985-12-10", "phone": None, "email": None,
                    "address": None}
    again = nurse.post("/patients", {"external_ref": "MRN-1", "name": "Ada Lovelace"})
    assert again.status_code == 201 and again.get_json()["id"] == body["id"]
    found = nurse.get("/patients?external_ref=MRN-1").get_json()["patients"]
    assert [p["id"] for p in found] == [body["id"]]
    assert nurse.get("/patients?external_ref=nobody").get_json() == {"patients": []}


def test_patient_refusals_have_their_codes(api, nurse, world):
    new_without_name = nurse.post("/patients", {"external_ref": "MRN-2"})
    assert new_without_name.status_code == 422 and error_code(new_without_name) == "validation_error"
    nurse.post("/patients", {"external_ref": "MRN-3", "name": "Ada Lovelace"})
    conflict = nurse.post("/patients", {"external_ref": "MRN-3", "name": "Grace Hopper"})
    assert conflict.status_code == 409 and error_code(conflict) == "patient_ref_conflict"
    manager = api("manager")
    which = manager.post("/patients", {"external_ref": "MRN-4", "name": "Ada"})
    assert which.status_code == 422 and error_code(which) == "validation_error"
    named = manager.post("/patients", {"external_ref": "MRN-4", "name": "Ada", "clinic_id": world.other_clinic.id})
    assert named.status_code == 201 and named.get_json()["clinic_id"] == world.other_clinic.id
    elsewhere = nurse.post("/patients", {"external_ref": "MRN-5", "name": "Ada", "clinic_id": world.other_clinic.id})
    assert elsewhere.status_code == 404 and error_code(elsewhere) == "not_found"
    assert nurse.get("/patients").status_code == 422


def test_a_treatment_starts_and_shows_its_patient(nurse, world):
    treatment = treatment_for(nurse, world)
    assert treatment["patient"]["external_ref"] == "MRN-1"
    assert treatment["clinic_id"] == world.clinic.id and treatment["closed_at"] is None
    assert treatment["injector_id"] == world.users["nurse"].id
    assert treatment["draws"] == [] and treatment["totals"] == []
    assert nurse.get(f"/treatments/{treatment['id']}").get_json() == treatment


def test_a_nurse_of_london_gets_404_for_a_new_york_treatment_or_container(api, nurse, world):
    nyc_nurse = api("other_nurse")
    nyc_treatment = treatment_for(nyc_nurse, world, "N-1", clinic=world.other_clinic)
    nyc_vial = botox(world, location=world.location("Fridge", world.other_clinic))
    reconstituted(nyc_nurse, nyc_vial)
    lon_treatment = treatment_for(nurse, world)
    lon_vial = botox(world, lot="C4120A1")
    reconstituted(nurse, lon_vial)

    assert error_code(nurse.get(f"/treatments/{nyc_treatment['id']}")) == "not_found"
    for response in (
        nurse.post(f"/treatments/{nyc_treatment['id']}/draws", draw_body(lon_vial)),
        nurse.post(f"/treatments/{nyc_treatment['id']}/close"),
    ):
        assert response.status_code == 404 and error_code(response) == "not_found"
    for response in (
        nurse.post(f"/treatments/{lon_treatment['id']}/draws", draw_body(nyc_vial)),
        nurse.post(f"/treatments/{lon_treatment['id']}/draws", draw_body(nyc_vial) | {"container": nyc_vial.id}),
        nurse.post(f"/containers/{nyc_vial.label_code}/waste", {"reason": "dropped"}),
        nurse.post(f"/containers/{nyc_vial.id}/reconstitute", {"diluent_ml": "2.5"}),
    ):
        assert response.status_code == 404 and error_code(response) == "unknown_container"
    patient = nurse.post("/patients", {"external_ref": "MRN-9", "name": "Ada"}).get_json()
    other_room = nurse.post("/treatments", {"patient_id": patient["id"],
                                            "location_id": world.location("Room 1", world.other_clinic).id})
    assert other_room.status_code == 404 and error_code(other_room) == "not_found"


# --- reconstitution ------------------------------------------------------------------------


def test_reconstitution_answers_the_container_with_concentration_and_beyond_use(nurse, world):
    container = botox(world)
    before = utcnow()
    body = reconstituted(nurse, container, "2.5")
    assert body["id"] == container.id and body["state"] == "in_use"
    assert body["concentration_u_per_ml"] == "40" and body["diluent_ml"] == "2.5" and body["remaining"] == "100"
    beyond_use = dt.datetime.fromisoformat(body["beyond_use_at"])
    assert before + dt.timedelta(hours=24) <= beyond_use <= utcnow() + dt.timedelta(hours=24)


def test_reconstitution_refusals_have_their_codes(nurse, world):
    container = botox(world)
    for diluent, status in (("0.49", 422), ("10.01", 422), ("abc", 422)):
        response = nurse.post(f"/containers/{container.id}/reconstitute", {"diluent_ml": diluent})
        assert response.status_code == status and error_code(response) == "validation_error"
    malformed = nurse.post(f"/containers/{container.id}/reconstitute", "{not json")
    assert malformed.status_code == 400 and error_code(malformed) == "malformed_json"
    reconstituted(nurse, container, "2.5")
    twice = nurse.post(f"/containers/{container.id}/reconstitute", {"diluent_ml": "1"})
    assert twice.status_code == 409 and error_code(twice) == "already_reconstituted"
    filler = world.container("filler", expiry=FAR)
    wrong = nurse.post(f"/containers/{filler.id}/reconstitute", {"diluent_ml": "1"})
    assert wrong.status_code == 409 and error_code(wrong) == "wrong_product_kind"
    unknown = nurse.post("/containers/999999/reconstitute", {"diluent_ml": "1"})
    assert unknown.status_code == 404 and error_code(unknown) == "unknown_container"


# --- draws -----------------------------------------------------------------------------------


def test_a_draw_in_ml_answers_units_ml_concentration_and_the_container(nurse, world, session):
    container = botox(world)
    reconstituted(nurse, container)
    treatment = treatment_for(nurse, world)
    response = nurse.post(f"/treatments/{treatment['id']}/draws", draw_body(container, "0.1", "mL"))
    assert response.status_code == 201
    body = response.get_json()
    assert (body["quantity_units"], body["quantity_ml"], body["concentration_u_per_ml"]) == ("4", "0.1", "40")
    assert body["container"]["remaining"] == "96" and body["container"]["label_code"] == container.label_code
    assert body["container"]["patient_id"] == treatment["patient"]["id"]
    assert body["warnings"] == [] and body["area"] == "glabella" and body["treatment_id"] == treatment["id"]
    shown = nurse.get(f"/treatments/{treatment['id']}").get_json()
    assert [(d["id"], d["quantity_units"], d["is_reversed"]) for d in shown["draws"]] == [(body["id"], "4", False)]
    assert shown["totals"] == [{"product_id": world.botox.id, "product_name": "Botox Cosmetic 100 U",
                                "base_unit": "U", "quantity": "4"}]


def test_a_dose_above_the_typical_range_is_recorded_with_a_warning(nurse, world):
    container = botox(world)
    reconstituted(nurse, container)
    treatment = treatment_for(nurse, world)
    response = nurse.post(f"/treatments/{treatment['id']}/draws", draw_body(container, "30"))
    body = response.get_json()
    assert response.status_code == 201 and body["quantity_units"] == "30"
    assert [w["code"] for w in body["warnings"]] == ["above_typical_range"]
    assert body["warnings"][0]["message"].startswith(
        "30 U of onabotulinumtoxinA into glabella (frown lines) this session is above the usual 10-25 U")
    assert body["confirmed_warnings"] == [] and body["confirm_reason"] is None
    # QA: the treatment kept no sign of the warning once the flash was gone.
    (line,) = nurse.get(f"/treatments/{treatment['id']}").get_json()["draws"]
    assert (line["dose_warnings"], line["confirmed_warnings"], line["confirm_reason"]) == (
        ["above_typical_range"], [], None)


def test_a_dose_above_the_label_maximum_needs_a_confirmation_with_a_reason(nurse, world, session):
    container = botox(world)
    reconstituted(nurse, container)
    treatment = treatment_for(nurse, world)
    url = f"/treatments/{treatment['id']}/draws"
    asked = nurse.post(url, draw_body(container, "70"))
    assert asked.status_code == 409 and error_code(asked) == "confirmation_required"
    warnings = asked.get_json()["error"]["details"]["warnings"]
    assert [w["code"] for w in warnings] == ["above_label_max"]
    assert "70 U of onabotulinumtoxinA this session is above the label's maximum of 64 U" in warnings[0]["message"]
    # The other warnings come along to be weighed, but are not codes to confirm.
    assert [w["code"] for w in asked.get_json()["error"]["details"]["notes"]] == ["above_typical_range"]
    assert session.scalar(select(func.count(Draw.id))) == 0  # nothing recorded yet
    no_reason = nurse.post(url, draw_body(container, "70") | {"confirm": ["above_label_max"]})
    assert error_code(no_reason) == "confirmation_required"
    error = no_reason.get_json()["error"]
    assert error["details"]["reason_missing"] is True and "Say why this dose (confirm_reason)" in error["message"]
    confirmed = nurse.post(url, draw_body(container, "70") | {"confirm": ["above_label_max"],
                                                            "confirm_reason": "glabella and frontalis, reviewed"})
    body = confirmed.get_json()
    assert confirmed.status_code == 201 and body["confirmed_warnings"] == ["above_label_max"]
    assert body["confirm_reason"] == "glabella and frontalis, reviewed"
    assert {w["code"] for w in body["warnings"]} == {"above_typical_range", "above_label_max"}
    audit = session.scalar(select(AuditEvent).where(AuditEvent.action == "draw.dose_confirmed"))
    assert audit is not None and audit.details["confirmed"] == ["above_label_max"]
    (line,) = nurse.get(f"/treatments/{treatment['id']}").get_json()["draws"]
    assert set(line["dose_warnings"]) == {"above_typical_range", "above_label_max"}
    assert (line["confirmed_warnings"], line["confirm_reason"]) == (["above_label_max"],
                                                                    "glabella and frontalis, reviewed")


def test_draw_refusals_have_the_contracts_codes(nurse, world, session):
    treatment = treatment_for(nurse, world)
    url = f"/treatments/{treatment['id']}/draws"
    powder = botox(world)
    assert error_code(nurse.post(url, draw_body(powder))) == "not_reconstituted"
    reconstituted(nurse, powder)
    too_much = nurse.post(url, draw_body(powder, "100.5"))
    assert too_much.status_code == 409 and error_code(too_much) == "insufficient_quantity"
    for bad in (draw_body(powder, "0"), draw_body(powder, "4", "drops"), draw_body(powder, area="elbow"),
                draw_body(powder, reason="fun"), draw_body(powder, "4.00001"), draw_body(powder) | {"extra": 1}):
        response = nurse.post(url, bad)
        assert response.status_code == 422 and error_code(response) == "validation_error", bad

    used_by_other = botox(world, lot="C4120A1")
    reconstituted(nurse, used_by_other)
    other_treatment = treatment_for(nurse, world, "MRN-2")
    assert nurse.post(f"/treatments/{other_treatment['id']}/draws", draw_body(used_by_other)).status_code == 201
    other = nurse.post(url, draw_body(used_by_other))
    assert other.status_code == 409 and error_code(other) == "container_other_patient"

    stale = botox(world, lot="C5000A1")
    reconstitute(world, stale, at=utcnow() - dt.timedelta(hours=25))
    session.flush()
    assert error_code(nurse.post(url, draw_body(stale))) == "beyond_use"

    expired = world.container("botox", lot="OLD1", expiry=dt.date(2026, 7, 31))
    assert error_code(nurse.post(url, draw_body(expired))) == "lot_expired"
    for status, code in ((LotStatus.QUARANTINED, "lot_quarantined"), (LotStatus.RECALLED, "lot_recalled")):
        powder.lot.status = status
        session.flush()
        response = nurse.post(url, draw_body(powder))
        assert response.status_code == 409 and error_code(response) == code

    unknown = nurse.post(url, draw_body(powder) | {"container": "VL00000000"})
    assert unknown.status_code == 404 and error_code(unknown) == "unknown_container"
    session.expire_all()
    assert session.scalar(select(func.count(Draw.id))) == 1  # only the other patient's draw was written


def test_a_closed_treatment_refuses_draws_and_a_second_close(nurse, world):
    container = botox(world)
    reconstituted(nurse, container)
    treatment = treatment_for(nurse, world)
    nurse.post(f"/treatments/{treatment['id']}/draws", draw_body(container, "20"))
    closed = nurse.post(f"/treatments/{treatment['id']}/close")
    assert closed.status_code == 200
    body = closed.get_json()
    assert body["treatment"]["closed_at"] is not None and body["held"] == []
    assert [(m["kind"], m["quantity"], m["reason"]) for m in body["wasted"]] == [
        ("waste", "-80", "single_patient_remainder")
    ]
    assert body["wasted"][0]["container"]["state"] == "discarded"
    again = nurse.post(f"/treatments/{treatment['id']}/close")
    assert again.status_code == 409 and error_code(again) == "treatment_closed"
    fresh = botox(world, lot="C4120A1")
    reconstituted(nurse, fresh)
    late = nurse.post(f"/treatments/{treatment['id']}/draws", draw_body(fresh))
    assert late.status_code == 409 and error_code(late) == "treatment_closed"
    emptied = nurse.post(f"/containers/{container.id}/waste", {"reason": "dropped"})
    assert emptied.status_code == 409 and error_code(emptied) == "container_empty"


def test_retrying_a_draw_with_its_idempotency_key_returns_the_same_answer_and_draws_once(nurse, world, session):
    container = botox(world)
    reconstituted(nurse, container)
    treatment = treatment_for(nurse, world)
    url = f"/treatments/{treatment['id']}/draws"
    headers = {"Idempotency-Key": "draw-7f3a"}
    first = nurse.post(url, draw_body(container, "4"), headers=headers)
    again = nurse.post(url, draw_body(container, "4"), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_data() == again.get_data()
    session.expire_all()
    draws = session.scalars(select(Movement).where(Movement.kind == MovementKind.DRAW)).all()
    assert len(draws) == 1 and session.get(Container, container.id).remaining == 96
    different = nurse.post(url, draw_body(container, "8"), headers=headers)
    assert different.status_code == 409 and error_code(different) == "idempotency_conflict"


def test_a_retry_whose_json_is_written_differently_is_the_same_request(nurse, world, session):
    """A client that serialises the same body again (another key order, spacing, a default spelled out) is
    retrying, not asking something new: it gets the first answer, and the dose is drawn once."""
    container = botox(world)
    reconstituted(nurse, container)
    treatment = treatment_for(nurse, world)
    url = f"/treatments/{treatment['id']}/draws"
    headers = {"Idempotency-Key": "draw-9c1e"}
    body = draw_body(container, "4")
    first = nurse.post(url, json.dumps(body), headers=headers)
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    again = nurse.post(url, reordered.encode(), headers=headers)

    assert first.status_code == again.status_code == 201, again.get_json()
    assert first.get_data() == again.get_data()
    session.expire_all()
    assert session.get(Container, container.id).remaining == 96
    changed = nurse.post(url, json.dumps({**body, "area": "forehead"}), headers=headers)
    assert changed.status_code == 409 and error_code(changed) == "idempotency_conflict"


def test_a_keyed_draw_is_one_transaction_of_a_statement_per_check_and_per_row(nurse, world, session):
    """The draw's hot path (docs/performance.md): token and user, the key's claim, both locks in one statement,
    the dose checks, the three rows, the stored answer; no read of the chain head, no second flush."""
    container = botox(world)
    reconstituted(nurse, container)
    treatment = treatment_for(nurse, world)
    url = f"/treatments/{treatment['id']}/draws"
    assert nurse.post(url, {**draw_body(container, "4"), "container": container.id}).status_code == 201

    with recorded(session) as sent:
        second = nurse.post(url, {**draw_body(container, "6", area="forehead"), "container": container.id},
                            headers={"Idempotency-Key": "draw-b2"})
    assert second.status_code == 201, second.get_json()
    # (The test's savepoints stand in for the request's BEGIN and COMMIT.)
    assert [k for k in kinds(sent) if not k.startswith(("SAVEPOINT", "RELEASE"))] == [
        *token_and_claim(session),  # the token with its user and her clinics (her scope); the key claimed
        "SELECT treatments",  # FOR UPDATE, with the container (its lot FOR SHARE, product, clinic, chain head)
        "SELECT draws",  # the patient's history of the molecule, with its typical ranges
        *movement_container_and_draw(session),  # the movement, with the balance, state and chain head; the draw
        "UPDATE idempotency_records",  # the answer a retry gets
    ]



def test_a_returning_patients_draw_asks_nothing_more_for_the_follow_up(nurse, world, session):
    """The follow-up default asks the database only for a patient new to the molecule: a returning patient's
    earlier treatment is already in the dose checks' history, and gets no default follow-up."""
    first_vial, second_vial = botox(world), botox(world)
    reconstituted(nurse, first_vial)
    reconstituted(nurse, second_vial)
    earlier = treatment_for(nurse, world)
    drawn = nurse.post(f"/treatments/{earlier['id']}/draws", {**draw_body(first_vial), "container": first_vial.id})
    assert drawn.status_code == 201
    assert nurse.post(f"/treatments/{earlier['id']}/close").status_code == 200
    later = treatment_for(nurse, world)  # the same patient (MRN-1)
    assert later["patient"]["id"] == earlier["patient"]["id"]

    with recorded(session) as sent:
        response = nurse.post(f"/treatments/{later['id']}/draws", {**draw_body(second_vial), "container": second_vial.id})
    assert response.status_code == 201, response.get_json()
    assert [k for k in kinds(sent) if not k.startswith(("SAVEPOINT", "RELEASE"))] == [
        "SELECT api_tokens", "SELECT treatments", "SELECT draws",
        *movement_container_and_draw(session),
    ]
    follow_ups = {t.id: t.follow_up_on for t in session.scalars(select(Treatment).where(
        Treatment.id.in_([earlier["id"], later["id"]])))}
    assert follow_ups[earlier["id"]] is not None and follow_ups[later["id"]] is None


def test_a_treatment_shows_the_follow_up_its_first_toxin_draw_set(nurse, world):
    """The treatment's JSON carries the follow-up date the follow-ups show: the product's default after the
    patient's first draw of the molecule (a day in the clinic's time zone), null while nothing is drawn."""
    container = botox(world)
    reconstituted(nurse, container)
    treatment = treatment_for(nurse, world)
    untouched = treatment_for(nurse, world, "MRN-2")
    assert treatment["follow_up_on"] is None
    assert nurse.post(f"/treatments/{treatment['id']}/draws", draw_body(container)).status_code == 201

    shown = nurse.get(f"/treatments/{treatment['id']}").get_json()
    started = dt.datetime.fromisoformat(shown["started_at"])
    expected = clinic_today(started, world.clinic.timezone) + dt.timedelta(days=world.botox.follow_up_days)
    assert shown["follow_up_on"] == expected.isoformat()
    listed = nurse.get(f"/follow-ups?due_before={expected.isoformat()}").get_json()["follow_ups"]
    assert [(f["treatment_id"], f["follow_up_on"]) for f in listed] == [(treatment["id"], shown["follow_up_on"])]
    assert nurse.get(f"/treatments/{untouched['id']}").get_json()["follow_up_on"] is None

# --- waste, beyond use, corrections ----------------------------------------------------------


def test_waste_takes_all_or_part_and_refuses_too_much(nurse, world, session):
    container = botox(world)
    reconstituted(nurse, container)
    part = nurse.post(f"/containers/{container.label_code}/waste",
                      {"quantity": "0.5", "reason": "other", "note": "spilt"})
    assert part.status_code == 201
    body = part.get_json()
    assert (body["kind"], body["quantity"], body["balance_after"], body["note"]) == ("waste", "-0.5", "99.5", "spilt")
    too_much = nurse.post(f"/containers/{container.id}/waste", {"quantity": "100", "reason": "dropped"})
    assert too_much.status_code == 409 and error_code(too_much) == "insufficient_quantity"
    bad = nurse.post(f"/containers/{container.id}/waste", {"reason": "bored"})
    assert bad.status_code == 422 and error_code(bad) == "validation_error"
    rest = nurse.post(f"/containers/{container.id}/waste", {"reason": "no_vacuum"}).get_json()
    assert (rest["quantity"], rest["container"]["state"]) == ("-99.5", "discarded")


def test_beyond_use_vials_are_listed_and_wasted_in_one_step(api, nurse, world, session):
    stale = botox(world)
    fresh = botox(world, lot="C4120A1")
    for container, hours_ago in ((stale, 25), (fresh, 1)):
        reconstitute(world, container, at=utcnow() - dt.timedelta(hours=hours_ago))
    session.flush()
    listed = nurse.get("/containers/beyond-use").get_json()["containers"]
    assert [c["id"] for c in listed] == [stale.id]
    assert api("other_nurse").get("/containers/beyond-use").get_json() == {"containers": []}
    wasted = nurse.post("/containers/beyond-use/waste", {})
    assert wasted.status_code == 201
    assert [(m["container_id"], m["quantity"], m["reason"]) for m in wasted.get_json()["movements"]] == [
        (stale.id, "-100", "beyond_use")
    ]
    assert nurse.get("/containers/beyond-use").get_json() == {"containers": []}
    named = nurse.post("/containers/beyond-use/waste", {"container_ids": [fresh.id]})
    assert named.status_code == 422 and error_code(named) == "validation_error"


def test_a_mistaken_draw_is_reversed_once_and_shown_as_reversed(nurse, world, session):
    container = botox(world)
    reconstituted(nurse, container)
    treatment = treatment_for(nurse, world)
    drawn = nurse.post(f"/treatments/{treatment['id']}/draws", draw_body(container, "40")).get_json()
    url = f"/movements/{drawn['movement_id']}/reverse"
    reversal = nurse.post(url, {"reason": "typed 40 for 4"})
    assert reversal.status_code == 201
    body = reversal.get_json()
    assert (body["kind"], body["quantity"], body["reverses_id"], body["container"]["remaining"]) == (
        "reversal", "40", drawn["movement_id"], "100"
    )
    again = nurse.post(url, {"reason": "again"})
    assert again.status_code == 409 and error_code(again) == "already_reversed"
    of_reversal = nurse.post(f"/movements/{body['id']}/reverse", {"reason": "undo"})
    assert of_reversal.status_code == 409 and error_code(of_reversal) == "not_reversible"
    assert nurse.post(url, {}).status_code == 422
    shown = nurse.get(f"/treatments/{treatment['id']}").get_json()
    assert [d["is_reversed"] for d in shown["draws"]] == [True] and shown["totals"] == []
    assert error_code(nurse.post("/movements/999999/reverse", {"reason": "x"})) == "not_found"


def test_the_cart_needs_a_sign_in_and_every_role_may_use_it(api, world):
    assert error_code(api().post("/patients", {"external_ref": "X", "name": "Y"})) == "unauthorized"
    assert error_code(api().get("/containers/beyond-use")) == "unauthorized"
    for role in ("manager", "safety", "admin"):
        assert api(role).get("/containers/beyond-use").status_code == 200


def test_openapi_describes_the_cart_endpoints(api, world):
    paths = api().get("/openapi.json").get_json()["paths"]
    for path, method in [
        ("/api/v1/containers/{container_ref}/reconstitute", "post"), ("/api/v1/patients", "post"),
        ("/api/v1/patients", "get"), ("/api/v1/treatments", "post"), ("/api/v1/treatments/{treatment_id}", "get"),
        ("/api/v1/treatments/{treatment_id}/draws", "post"), ("/api/v1/treatments/{treatment_id}/close", "post"),
        ("/api/v1/containers/{container_ref}/waste", "post"), ("/api/v1/movements/{movement_id}/reverse", "post"),
        ("/api/v1/containers/beyond-use", "get"), ("/api/v1/containers/beyond-use/waste", "post"),
    ]:
        assert method in paths[path], path
    draw = paths["/api/v1/treatments/{treatment_id}/draws"]["post"]
    assert {"201", "404", "409", "422"} <= set(draw["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in draw["parameters"])


def test_ids_beyond_the_databases_range_are_unknown_not_a_server_error(nurse, world):
    huge = 2**40
    assert error_code(nurse.get(f"/treatments/{huge}")) == "not_found"
    assert error_code(nurse.post(f"/treatments/{huge}/close")) == "not_found"
    assert error_code(nurse.post(f"/movements/{2**70}/reverse", {"reason": "x"})) == "not_found"
    assert error_code(nurse.post(f"/containers/{huge}/waste", {"reason": "dropped"})) == "unknown_container"
    assert nurse.post("/treatments", {"patient_id": huge, "location_id": 1}).status_code == 422


def test_a_label_sent_as_a_patients_name_is_refused(nurse, world, session):
    vial = botox(world)
    before = session.scalar(select(func.count(Patient.id)))
    refused = nurse.post("/patients", {"external_ref": "MRN-5512", "name": vial.label_code})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error")
    assert refused.get_json()["error"]["details"]["field"] == "name"
    assert session.scalar(select(func.count(Patient.id))) == before



def test_a_patients_card_sent_as_a_new_patients_name_is_refused(nurse, world, session):
    """QA: a slow scanner's keys pass for typing, so a card scanned into Name added a person named "P-1002"."""
    assert nurse.post("/patients", {"external_ref": "P-1002", "name": "Omar Reyes"}).status_code == 201
    before = session.scalar(select(func.count(Patient.id)))
    for name, message in (("p 1002", "p 1002 is the reference of a patient on file, not a name"),
                          ("P-1002", "P-1002 is the reference of a patient on file, not a name"),
                          ("p-3001", "p-3001 is the patient's reference, not a name")):
        refused = nurse.post("/patients", {"external_ref": "P-3001", "name": name})
        assert (refused.status_code, error_code(refused)) == (422, "validation_error"), name
        error = refused.get_json()["error"]
        assert error["message"].startswith(message) and error["details"]["field"] == "name"
    assert session.scalar(select(func.count(Patient.id))) == before
    assert nurse.post("/patients", {"external_ref": "P-3001", "name": "Paula 1002"}).status_code == 201


def test_a_negative_or_mistyped_quantity_says_so_in_the_nurses_words(nurse, world):
    """QA: "-4" answered "Value error, Quantity: type a number": pydantic's prefix, and the wrong reason."""
    container = botox(world)
    reconstituted(nurse, container)
    treatment = treatment_for(nurse, world)
    url = f"/treatments/{treatment['id']}/draws"
    negative = nurse.post(url, draw_body(container, "-4"))
    assert (negative.status_code, error_code(negative)) == (422, "validation_error")
    message = negative.get_json()["error"]["message"]
    assert message == "quantity: -4 is below zero. Type the quantity itself, such as 4.", message  # named once
    typo = nurse.post(url, draw_body(container, "4u"))
    assert "Value error" not in typo.get_json()["error"]["message"]
    assert typo.get_json()["error"]["details"]["fields"][0]["problem"] == "type a number, such as 4 or 0.1."


def test_a_quantity_sent_as_a_json_number_is_refused_and_nothing_is_drawn_or_wasted(nurse, world, session):
    # API.md: quantities are decimal strings, never floats (a float may have lost the dose's digits already).
    container = botox(world)
    reconstituted(nurse, container)
    treatment = treatment_for(nurse, world)
    for number in (4, 0.5, True):
        drawn = nurse.post(f"/treatments/{treatment['id']}/draws", draw_body(container) | {"quantity": number})
        assert (drawn.status_code, error_code(drawn)) == (422, "validation_error")
        assert drawn.get_json()["error"]["message"] == (
            'quantity: a quantity is a decimal string in quotes, such as "4" or "0.1"')
        wasted = nurse.post(f"/containers/{container.id}/waste", {"reason": "dropped", "quantity": number})
        assert (wasted.status_code, error_code(wasted)) == (422, "validation_error")
        assert wasted.get_json()["error"]["details"]["field"] == "quantity"
    session.expire_all()
    assert container.remaining == 100
    assert nurse.post(f"/treatments/{treatment['id']}/draws", draw_body(container, "4")).status_code == 201
    assert nurse.post(f"/containers/{container.id}/waste", {"reason": "dropped", "quantity": "1"}).status_code == 201


def test_a_field_of_a_union_is_named_as_the_client_sent_it(nurse, world):
    """QA: {"container": null} named the field "container.function-before[check(), constrained-str]"."""
    treatment = treatment_for(nurse, world)
    response = nurse.post(f"/treatments/{treatment['id']}/draws",
                          {"container": None, "quantity": "4", "unit": "U", "area": "glabella"})
    assert (response.status_code, error_code(response)) == (422, "validation_error")
    error = response.get_json()["error"]
    assert error["details"]["field"] == "container" and error["message"].startswith("container: ")
    assert {f["field"] for f in error["details"]["fields"]} == {"container"}
