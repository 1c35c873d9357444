"""A session is the draws of the last 24 hours, whichever treatment recorded them (DOMAIN.md "Dose and interval
checks"), and the patient's session total has a usual maximum; on plain data.

QA: a treatment left open since an earlier visit counted every dose it ever recorded as "this session": a Xeomin
dose 30 days after one in the same open treatment passed without the re-treatment interval's confirmation (the
same dose in a new treatment asked for it), and Botox doses days apart were totalled against the label's
maximum a session. And the product's usual maximum a session (Dysport 160 U), stored and shown in the catalog,
was never checked.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from inventory import dosing
from inventory.dosing import DoseLimits, PriorDose

NOW = dt.datetime(2026, 6, 15, 9, 30, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
XEOMIN = DoseLimits(molecule="incobotulinumtoxinA", unit="U", typical_ranges={}, retreat_interval_days=90)
BOTOX = DoseLimits(
    molecule="onabotulinumtoxinA", unit="U", typical_ranges={}, session_max=Decimal(64),
    session_max_areas=frozenset({"glabella", "forehead", "crows_feet_left", "crows_feet_right"}),
)
DYSPORT = DoseLimits(molecule="abobotulinumtoxinA", unit="U", typical_ranges={}, usual_session_max=Decimal(160))


def check(limits: DoseLimits, units: str, area: str = "glabella", history=(), treatment_id: int = 1):
    return dosing.check_draw(limits=limits, treatment_id=treatment_id, area=area, units=Decimal(units), now=NOW,
                             history=history, timezone="Europe/London")


def codes(*args, **kwargs) -> list[str]:
    return [w.code for w in check(*args, **kwargs)]


def test_a_dose_30_days_earlier_in_the_same_open_treatment_is_a_retreatment():
    left_open = [PriorDose(1, "glabella", Decimal(20), NOW - 30 * DAY)]
    (warning,) = check(XEOMIN, "20", history=left_open, treatment_id=1)
    assert warning.code == "retreatment_too_soon" and warning.needs_confirmation
    assert "incobotulinumtoxinA was last given 30 days ago" in warning.message
    # As the same dose in a treatment of its own is.
    assert codes(XEOMIN, "20", history=left_open, treatment_id=2) == ["retreatment_too_soon"]


def test_doses_days_apart_in_one_open_treatment_are_two_sessions_for_the_label_maximum():
    three_days_ago = [PriorDose(1, "forehead", Decimal(30), NOW - 3 * DAY),
                      PriorDose(1, "glabella", Decimal(24), NOW - 3 * DAY)]
    assert codes(BOTOX, "20", history=three_days_ago) == []  # 20 U this session, not 74 U
    earlier_today = [PriorDose(1, "forehead", Decimal(30), NOW - dt.timedelta(hours=2)),
                     PriorDose(1, "glabella", Decimal(24), NOW - dt.timedelta(hours=2))]
    (warning,) = check(BOTOX, "20", history=earlier_today)
    assert warning.code == "above_label_max" and "74 U of onabotulinumtoxinA this session" in warning.message


def test_a_session_total_above_the_products_usual_maximum_is_a_warning_that_needs_no_confirmation():
    forehead = [PriorDose(1, "forehead", Decimal(150), NOW - dt.timedelta(minutes=10))]
    (warning,) = check(DYSPORT, "150", "glabella", history=forehead)
    assert (warning.code, warning.needs_confirmation) == ("above_usual_session_total", False)
    assert warning.message == ("300 U of abobotulinumtoxinA this session, every area together, is above the usual "
                               "maximum of 160 U a session.")
    assert codes(DYSPORT, "10", "glabella", history=forehead) == []  # 160 U: at the usual maximum
    # Another treatment's dose of the same session counts; one of a day before does not.
    other_treatment = [PriorDose(7, "forehead", Decimal(150), NOW - dt.timedelta(hours=1))]
    assert "with the patient's other treatments" in check(DYSPORT, "20", history=other_treatment)[0].message
    assert codes(DYSPORT, "150", history=[PriorDose(1, "forehead", Decimal(150), NOW - 2 * DAY)]) == []


def test_the_usual_total_is_not_said_twice_when_the_labels_maximum_names_the_same_total():
    botox = DoseLimits(molecule="onabotulinumtoxinA", unit="U", typical_ranges={}, session_max=Decimal(64),
                       session_max_areas=BOTOX.session_max_areas, usual_session_max=Decimal(64))
    upper_face = [PriorDose(1, "forehead", Decimal(30), NOW), PriorDose(1, "glabella", Decimal(24), NOW)]
    assert codes(botox, "20", "crows_feet_left", upper_face) == ["above_label_max"]  # 74 U, said once
    with_masseter = [*upper_face, PriorDose(1, "masseter_left", Decimal(20), NOW)]
    assert codes(botox, "20", "crows_feet_left", with_masseter) == ["above_label_max", "above_usual_session_total"]
    assert dosing.WARNING_WORDS["above_usual_session_total"] == "above the usual session total"
