"""The patient's history per molecule, the pre-treatment checklist and follow-ups, over the API."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from inventory.models import AuditEvent
from tests.api.conftest import error_code
from tests.factories import NOW, draw, reconstitute, reverse, start_treatment

DAY = dt.timedelta(days=1)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def _history(world):
    """Patient A: Botox 20 U 100 days ago and 12 U 30 days ago (one reversed 4 U), Dysport 50 s.U
    40 days ago, 0.2 mL of filler 10 days ago. Today is NOW."""
    botox_old = reconstitute(world, world.container("botox"), at=NOW - 100 * DAY)
    draw(world, start_treatment(world, "A", at=NOW - 100 * DAY), botox_old, "20", at=NOW - 100 * DAY)
    botox = reconstitute(world, world.container("botox"), at=NOW - 30 * DAY)
    recent = start_treatment(world, "A", at=NOW - 30 * DAY)
    draw(world, recent, botox, "8", at=NOW - 30 * DAY)
    draw(world, recent, botox, "4", area="forehead", at=NOW - 30 * DAY)
    reverse(world, draw(world, recent, botox, "4", at=NOW - 30 * DAY).draw, at=NOW - 30 * DAY)
    dysport = reconstitute(world, world.container("dysport"), at=NOW - 40 * DAY)
    draw(world, start_treatment(world, "A", at=NOW - 40 * DAY), dysport, "50", area="glabella", at=NOW - 40 * DAY)
    draw(world, start_treatment(world, "A", at=NOW - 10 * DAY), world.container("filler"), "0.2", "mL",
         area="lip", at=NOW - 10 * DAY)
    return recent.patient_id


def test_the_history_adds_up_per_molecule_and_never_across(api, world, session):
    patient_id = _history(world)
    response = api("nurse").get(f"/patients/{patient_id}/history")
    assert response.status_code == 200
    body = response.get_json()
    molecules = {m["molecule"]: m for m in body["molecules"]}
    # The API answers at the real clock; the history is about NOW, so compare days between draws.
    ona, abo = molecules["onabotulinumtoxinA"], molecules["abobotulinumtoxinA"]
    assert (ona["last_session_units"], ona["unit"], ona["days_since_last"] - abo["days_since_last"]) == ("12", "U", -10)
    assert abo["last_session_units"] == "50" and abo["unit"] == world.products["dysport"].base_unit
    assert set(body["days_since_last_toxin"]) == {"onabotulinumtoxinA", "abobotulinumtoxinA"}
    (filler,) = body["fillers"]
    assert (filler["area"], filler["ml"], filler["gprime_category"]) == ("lip", "0.2", "low")


def test_history_counts_the_last_90_days_and_leaves_reversed_draws_out(world, session):
    from inventory.clinical import service as clinical
    from inventory.services.permissions import Scope

    patient_id = _history(world)
    history = clinical.patient_history(session, scope=Scope.everything(), patient_id=patient_id, now=NOW)
    ona = next(m for m in history.molecules if m.molecule == "onabotulinumtoxinA")
    assert (ona.units_last_90_days, ona.sessions_last_90_days, ona.days_since_last) == (12, 1, 30)
    assert history.days_since_last_toxin == {"onabotulinumtoxinA": 30, "abobotulinumtoxinA": 40}
    assert [f.on for f in history.fillers] == [(NOW - 10 * DAY).date()]


def test_another_clinics_patient_is_not_found(api, world):
    patient_id = _history(world)
    response = api("other_nurse").get(f"/patients/{patient_id}/history")
    assert response.status_code == 404 and error_code(response) == "not_found"


ANSWERS = {"blood_thinners": True, "pregnant": False, "autoimmune": False, "recent_vaccine_or_infection": False,
           "dental_work_planned": True, "notes": "fish oil daily"}


def test_the_checklist_stores_answers_beside_what_vialog_knows(api, world, session):
    _history(world)
    nurse = api("nurse")
    treatment = start_treatment(world, "A")
    empty = nurse.get(f"/treatments/{treatment.id}/checklist").get_json()
    assert empty["answers"] is None and empty["known"]["days_since_last_toxin"]["abobotulinumtoxinA"] >= 40
    saved = nurse.put(f"/treatments/{treatment.id}/checklist", {"answers": ANSWERS})
    assert saved.status_code == 200
    assert saved.get_json()["answers"] == ANSWERS and saved.get_json()["answered_by"]
    again = nurse.get(f"/treatments/{treatment.id}/checklist").get_json()
    assert again["answers"] == ANSWERS
    audit = session.scalar(select(AuditEvent).where(AuditEvent.action == "treatment.checklist"))
    assert audit.object_id == str(treatment.id) and audit.details["answers"]["blood_thinners"] is True


@pytest.mark.parametrize("bad", [
    {"answers": {k: v for k, v in ANSWERS.items() if k != "pregnant"}},  # every question is answered
    {"answers": ANSWERS | {"pregnant": "no"}},
    {"answers": ANSWERS | {"smoker": True}},
    {"answers": ANSWERS | {"notes": "x" * 2001}},
])
def test_a_checklist_with_a_missing_or_unknown_answer_is_refused(api, world, bad):
    treatment = start_treatment(world, "A")
    response = api("nurse").put(f"/treatments/{treatment.id}/checklist", bad)
    assert response.status_code == 422 and error_code(response) == "validation_error"
    assert world.session.get(type(treatment), treatment.id).checklist is None


def test_a_first_toxin_treatment_gets_the_products_follow_up_and_a_later_one_does_not(world, session):
    first = start_treatment(world, "A")
    draw(world, first, reconstitute(world, world.container("botox")), "20")
    assert first.follow_up_on == NOW.date() + dt.timedelta(days=world.botox.follow_up_days)
    later = start_treatment(world, "A", at=NOW + 120 * DAY)
    draw(world, later, reconstitute(world, world.container("botox"), at=NOW + 120 * DAY), "20", at=NOW + 120 * DAY)
    assert later.follow_up_on is None


def test_follow_ups_are_set_listed_per_clinic_and_marked_done(api, world, session):
    nurse = api("nurse")
    mine = start_treatment(world, "A")
    theirs = start_treatment(world, "B", clinic=world.other_clinic, user="other_nurse")
    due = dt.date.today() + dt.timedelta(days=3)
    assert nurse.patch(f"/treatments/{mine.id}", {"follow_up_on": due.isoformat()}).status_code == 200
    api("other_nurse").patch(f"/treatments/{theirs.id}", {"follow_up_on": due.isoformat()})
    listed = nurse.get("/follow-ups").get_json()["follow_ups"]
    assert [f["treatment_id"] for f in listed] == [mine.id]
    assert nurse.get(f"/follow-ups?due_before={(due - DAY).isoformat()}").get_json()["follow_ups"] == []
    done = nurse.patch(f"/treatments/{mine.id}", {"follow_up_done": True}).get_json()
    assert done["follow_up_done_at"] is not None and done["follow_up_on"] == due.isoformat()
    assert nurse.get("/follow-ups").get_json()["follow_ups"] == []
    assert error_code(nurse.patch(f"/treatments/{theirs.id}", {"follow_up_on": None})) == "not_found"
    before = nurse.patch(f"/treatments/{mine.id}", {"follow_up_on": (NOW.date() - 2 * DAY).isoformat()})
    assert before.status_code == 422 and error_code(before) == "validation_error"


def test_two_treatments_of_one_visit_are_one_session_as_the_dose_checks_count_it(world, session):
    """A second treatment opened the same day is the same visit for the dose checks (dosing.SESSION_WINDOW): the
    history says one session of 30 U, not two, so it never reads as a re-treatment the cart let through."""
    from inventory.clinical import service as clinical
    from inventory.services.permissions import Scope

    def vial(at):
        return reconstitute(world, world.container("botox"), at=at)

    first_at, second_at, later_at = NOW - 2 * DAY, NOW - 2 * DAY + dt.timedelta(minutes=5), NOW - DAY + dt.timedelta(hours=1)
    first = start_treatment(world, "P-VISIT", at=first_at)
    draw(world, first, vial(first_at), "20", at=first_at)
    second = start_treatment(world, first.patient, at=second_at)
    draw(world, second, vial(second_at), "10", at=second_at)
    later = start_treatment(world, first.patient, at=later_at)  # 25 hours after the visit began: another session
    draw(world, later, vial(later_at), "4", at=later_at)
    history = clinical.patient_history(session, scope=Scope.everything(), patient_id=first.patient_id, now=NOW)
    (ona,) = history.molecules
    assert (ona.sessions_last_90_days, ona.units_last_90_days, ona.last_session_units) == (2, 34, 4)
