"""The excursion's answer says which containers it held and which it did not, and why (storage ranges)."""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.models import utcnow

FAR = dt.date(2099, 12, 31)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def excursion_body(**changes) -> dict:
    now = utcnow()
    return {"started_at": (now - dt.timedelta(hours=3)).isoformat(), "ended_at": (now - dt.timedelta(hours=1)).isoformat(),
            "min_c": "9.5", "max_c": "14"} | changes


def test_a_fridge_excursion_answers_the_held_toxin_and_the_filler_it_did_not_hold(api, world):
    before = utcnow() - dt.timedelta(days=2)
    vial = world.container("botox", expiry=FAR, now=before)
    syringe = world.container("firm_filler", lot="VM-1", expiry=FAR, now=before)

    response = api("manager").post(f"/locations/{world.location().id}/excursions", excursion_body())

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert [(c["label_code"], c["on_hold"]) for c in body["held"]] == [(vial.label_code, True)]
    assert [(c["label_code"], c["on_hold"]) for c in body["not_held"]] == [(syringe.label_code, False)]
    decisions = {d["label_code"]: d for d in body["decisions"]}
    assert decisions[syringe.label_code] == {
        "container_id": syringe.id, "label_code": syringe.label_code, "product_id": syringe.product_id,
        "product": "Juvederm Voluma XC 1.0 mL", "held": False, "storage_min_c": "2", "storage_max_c": "25",
        "reason": "Juvederm Voluma XC 1.0 mL: stored at 2-25 °C, not held (9.5 to 14 °C is within it)",
    }
    assert decisions[vial.label_code]["held"] is True
    assert (decisions[vial.label_code]["storage_min_c"], decisions[vial.label_code]["storage_max_c"]) == ("2", "8")


def test_a_30_degree_excursion_answers_the_filler_as_held(api, world):
    syringe = world.container("filler", expiry=FAR, now=utcnow() - dt.timedelta(days=2))

    body = api("manager").post(f"/locations/{world.location().id}/excursions",
                               excursion_body(min_c="6", max_c="30")).get_json()

    assert [c["label_code"] for c in body["held"]] == [syringe.label_code]
    assert body["not_held"] == []
    assert body["decisions"][0]["reason"] == \
        "Juvederm Volbella XC 0.55 mL: stored at 2-25 °C, held (6 to 30 °C is outside it)"


def test_a_supply_is_answered_as_not_temperature_sensitive(api, world):
    syringe = world.container("syringe", expiry=FAR, now=utcnow() - dt.timedelta(days=2))

    body = api("manager").post(f"/locations/{world.location().id}/excursions",
                               excursion_body(min_c="-5", max_c="40")).get_json()

    assert body["held"] == []
    (decision,) = body["decisions"]
    assert (decision["container_id"], decision["held"], decision["storage_min_c"], decision["storage_max_c"]) == (
        syringe.id, False, None, None)
    assert decision["reason"] == "Syringe 1 mL Luer-lock: not temperature-sensitive, not held"


@pytest.mark.parametrize("reading", ["1e999999999", "1e100000", "-1e100000"])
def test_an_absurd_temperature_is_a_short_422_never_a_500(api, world, reading):
    """A huge exponent once overflowed while the message printed the number (500), or printed 100 KB of it."""
    response = api("safety").post(f"/locations/{world.location().id}/excursions", excursion_body(max_c=reading))
    assert response.status_code == 422, response.get_data()[:200]
    error = response.get_json()["error"]
    assert error["code"] == "validation_error" and error["details"]["field"] == "max_c"
    assert len(error["message"]) < 200 and "plausible fridge temperature" in error["message"]
