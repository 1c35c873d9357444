"""The dose checks through the API, as QA found them against DOMAIN.md "Dose and interval checks".

- A session is the draws of the last 24 hours, whichever treatment recorded them: a treatment left open since an
  earlier visit no longer makes a Xeomin dose 30 days later "the same session" (it passed with no warning, while
  the same dose in a new treatment asked for confirmation), nor totals Botox doses days apart against the label's
  maximum a session.
- A patient's session total above the product's usual maximum a session (Dysport 160 U) is a warning, recorded.
- A dose too small to measure (0.0001 U: 0 mL at the vial's concentration) is refused, not stored as 0 mL.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from inventory.models import Container, Draw, utcnow
from tests.api.conftest import error_code
from tests.factories import draw, make_product, reconstitute, start_treatment

FAR = dt.date(2099, 12, 31)  # requests run at the real clock: lots must outlive it
DAY = dt.timedelta(days=1)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture
def nurse(api):
    return api("nurse")


def vial(world, product: str, at: dt.datetime, lot: str) -> Container:
    """A vial of ``product`` received and reconstituted at ``at``."""
    return reconstitute(world, world.container(product, expiry=FAR, lot=lot, now=at), at=at)


def body(container: Container, quantity: str, area: str = "glabella", unit: str = "U") -> dict:
    return {"container": container.label_code, "quantity": quantity, "unit": unit, "area": area}


def test_a_xeomin_dose_30_days_after_one_in_the_same_open_treatment_needs_confirmation(nurse, world, session):
    world.products["xeomin"] = make_product(session, "Xeomin 100 U")
    day_0 = utcnow() - 30 * DAY
    left_open = start_treatment(world, "P-OPEN", at=day_0)
    draw(world, left_open, vial(world, "xeomin", day_0, "XE0"), "20", at=day_0)  # never closed
    today = vial(world, "xeomin", utcnow(), "XE30")
    session.flush()

    asked = nurse.post(f"/treatments/{left_open.id}/draws", body(today, "20"))

    assert asked.status_code == 409 and error_code(asked) == "confirmation_required"
    (warning,) = asked.get_json()["error"]["details"]["warnings"]
    assert warning["code"] == "retreatment_too_soon"
    assert "incobotulinumtoxinA was last given 30 days ago" in warning["message"]
    assert session.scalar(select(func.count(Draw.id)).where(Draw.container_id == today.id)) == 0
    # The same as in a treatment of its own.
    new = nurse.post("/treatments", {"patient_id": left_open.patient_id, "location_id": left_open.location_id})
    fresh = nurse.post(f"/treatments/{new.get_json()['id']}/draws", body(today, "20"))
    assert error_code(fresh) == "confirmation_required"
    assert fresh.get_json()["error"]["details"]["warnings"] == [warning]


def test_botox_doses_days_apart_in_one_open_treatment_are_not_one_sessions_total(nurse, world, session):
    three_days_ago = utcnow() - 3 * DAY
    left_open = start_treatment(world, "P-DAYS", at=three_days_ago)
    earlier = vial(world, "botox", three_days_ago, "BO3")
    draw(world, left_open, earlier, "30", area="forehead", at=three_days_ago)
    draw(world, left_open, earlier, "24", area="glabella", at=three_days_ago)
    today = vial(world, "botox", utcnow(), "BO0")
    session.flush()

    # 20 U today: not 74 U "this session" above the label's 64 U.
    response = nurse.post(f"/treatments/{left_open.id}/draws", body(today, "20"))

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["warnings"] == []


def test_a_dysport_session_above_its_usual_total_is_warned_and_recorded(nurse, world, session):
    now = utcnow()
    treatment = start_treatment(world, "P-DYS", at=now)
    dysport = vial(world, "dysport", now, "DY1")
    draw(world, treatment, dysport, "150", area="forehead", at=now)
    session.flush()

    response = nurse.post(f"/treatments/{treatment.id}/draws", body(dysport, "150", "glabella"))

    assert response.status_code == 201, response.get_json()
    warnings = {w["code"]: w["message"] for w in response.get_json()["warnings"]}
    assert warnings["above_usual_session_total"] == (
        "300 U of abobotulinumtoxinA this session, every area together, is above the usual maximum of 160 U a "
        "session.")
    assert response.get_json()["confirmed_warnings"] == []  # a warning, never a refusal
    line = next(d for d in nurse.get(f"/treatments/{treatment.id}").get_json()["draws"] if d["area"] == "glabella")
    assert "above_usual_session_total" in line["dose_warnings"]


def test_a_dose_too_small_to_measure_is_refused(nurse, world, session):
    now = utcnow()
    treatment = start_treatment(world, "P-TINY", at=now)
    botox = vial(world, "botox", now, "BOT")  # 100 U in 2.5 mL: 40 U per mL
    session.flush()
    url = f"/treatments/{treatment.id}/draws"

    tiny = nurse.post(url, body(botox, "0.0001"))

    assert tiny.status_code == 422 and error_code(tiny) == "validation_error"
    error = tiny.get_json()["error"]
    assert error["details"]["field"] == "quantity"
    assert error["message"].startswith("0.0001 U is too small to draw: at 40 U per mL it is less than 0.0001 mL.")
    assert session.scalar(select(func.count(Draw.id)).where(Draw.container_id == botox.id)) == 0
    # The smallest dose the ledger keeps a volume of is taken: 0.004 U is 0.0001 mL.
    smallest = nurse.post(url, body(botox, "0.004"))
    assert smallest.status_code == 201, smallest.get_json()
    assert smallest.get_json()["quantity_ml"] == "0.0001"
