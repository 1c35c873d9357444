"""Dose and interval checks per patient and molecule, on plain data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from inventory import dosing
from inventory.dosing import DoseLimits, PriorDose

NOW = dt.datetime(2026, 6, 15, 9, 30, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
BOTOX = DoseLimits(
    molecule="onabotulinumtoxinA", unit="U",
    typical_ranges={"forehead": (Decimal(10), Decimal(30)), "glabella": (Decimal(10), Decimal(25))},
    session_max=Decimal(64), session_max_areas=frozenset({"glabella", "forehead", "crows_feet_left",
                                                          "crows_feet_right"}),
    cumulative_max=Decimal(400), cumulative_days=90,
)
XEOMIN = DoseLimits(molecule="incobotulinumtoxinA", unit="U", typical_ranges={}, retreat_interval_days=90)


def codes(limits: DoseLimits, units: str, area: str = "glabella", history=(), treatment_id: int = 1) -> list[str]:
    return [w.code for w in dosing.check_draw(limits=limits, treatment_id=treatment_id, area=area,
                                              units=Decimal(units), now=NOW, history=history,
                                              timezone="Europe/London")]


def test_a_usual_dose_raises_nothing():
    assert codes(BOTOX, "20") == []


def test_above_the_typical_range_for_an_area_is_a_warning_that_needs_no_confirmation():
    earlier_today = [PriorDose(1, "glabella", Decimal(20), NOW - dt.timedelta(minutes=5))]
    warnings = dosing.check_draw(limits=BOTOX, treatment_id=1, area="glabella", units=Decimal(8), now=NOW,
                                 history=earlier_today, timezone="Europe/London")
    assert [(w.code, w.needs_confirmation) for w in warnings] == [("above_typical_range", False)]
    assert "28 U of onabotulinumtoxinA into glabella this session is above the usual 10-25 U" in warnings[0].message


def test_the_label_maximum_counts_the_session_over_the_areas_it_covers():
    session = [PriorDose(1, "forehead", Decimal(30), NOW), PriorDose(1, "glabella", Decimal(24), NOW),
               PriorDose(1, "masseter_left", Decimal(50), NOW)]  # outside the label's areas
    assert codes(BOTOX, "10", "crows_feet_left", session) == []  # 64 U: at the maximum
    assert "above_label_max" in codes(BOTOX, "12", "crows_feet_left", session)  # 66 U


def test_the_cumulative_limit_counts_every_session_in_the_window():
    months = [PriorDose(t, "masseter_left", Decimal(100), NOW - t * 20 * DAY) for t in (2, 3, 4)]
    assert codes(BOTOX, "100", "masseter_right", months) == []  # 400 U in 90 days
    assert codes(BOTOX, "101", "masseter_right", months) == ["above_cumulative_limit"]
    outside = [PriorDose(9, "masseter_left", Decimal(300), NOW - 91 * DAY)]
    assert codes(BOTOX, "200", "masseter_right", outside) == []


def test_retreatment_sooner_than_the_label_interval_needs_confirmation():
    touch_up = [PriorDose(7, "glabella", Decimal(20), NOW - 14 * DAY)]
    warnings = dosing.check_draw(limits=XEOMIN, treatment_id=8, area="glabella", units=Decimal(4), now=NOW,
                                 history=touch_up, timezone="Europe/London")
    assert [(w.code, w.needs_confirmation) for w in warnings] == [("retreatment_too_soon", True)]
    assert "incobotulinumtoxinA was last given 14 days ago" in warnings[0].message
    assert codes(XEOMIN, "20", history=[PriorDose(7, "glabella", Decimal(20), NOW - 90 * DAY)], treatment_id=8) == []


def test_draws_earlier_in_the_same_session_are_not_a_retreatment():
    assert codes(XEOMIN, "4", history=[PriorDose(8, "glabella", Decimal(16), NOW)], treatment_id=8) == []


def test_a_second_treatment_the_same_day_is_the_same_session_for_the_label_maximum():
    # 8.5 U in treatment 5 this morning; treatment 8, opened an hour later for the same visit, adds 60 U.
    morning = [PriorDose(5, "glabella", Decimal("8.5"), NOW - dt.timedelta(hours=1))]
    warnings = dosing.check_draw(limits=BOTOX, treatment_id=8, area="forehead", units=Decimal(60), now=NOW,
                                 history=morning, timezone="Europe/London")
    assert "above_label_max" in [w.code for w in warnings]
    label_max = next(w for w in warnings if w.code == "above_label_max")
    assert "68.5 U" in label_max.message and "other treatments of the last 24 hours" in label_max.message


def test_a_treatment_more_than_a_day_before_is_another_session():
    yesterday = [PriorDose(5, "glabella", Decimal(20), NOW - dt.timedelta(hours=25))]
    assert codes(BOTOX, "60", "forehead", yesterday, treatment_id=8) == ["above_typical_range"]


def test_a_second_treatment_the_same_day_is_not_a_retreatment():
    same_visit = [PriorDose(7, "glabella", Decimal(16), NOW - dt.timedelta(hours=2))]
    assert codes(XEOMIN, "4", history=same_visit, treatment_id=8) == []


def test_the_retreatment_interval_counts_calendar_days_in_the_clinic_as_the_history_does():
    """QA: a dose 29 days and some hours ago read "last given 29 day(s) ago" while the patient's history and the
    checklist, counting calendar days in the clinic, said 30: the nurse saw two figures for one fact."""
    evening = dt.datetime(2026, 5, 16, 19, 0, tzinfo=dt.UTC)  # 20:00 in London, 30 calendar days before NOW's date
    thirty = DoseLimits(molecule="incobotulinumtoxinA", unit="U", typical_ranges={}, retreat_interval_days=30)
    morning = dt.datetime(2026, 6, 15, 8, 0, tzinfo=dt.UTC)  # 09:00 in London, 29 days 13 hours later
    dose = [PriorDose(7, "glabella", Decimal(20), evening)]
    assert dosing.check_draw(limits=thirty, treatment_id=8, area="glabella", units=Decimal(4), now=morning,
                             history=dose, timezone="Europe/London") == []
    (soon,) = dosing.check_draw(limits=thirty, treatment_id=8, area="glabella", units=Decimal(4),
                                now=morning - DAY, history=dose, timezone="Europe/London")
    assert soon.message.startswith("incobotulinumtoxinA was last given 29 days ago;")
    # New York's calendar: 15:00 there on 16 May, 23:00 there on 14 June: 29 calendar days, too soon.
    (new_york,) = dosing.check_draw(limits=thirty, treatment_id=8, area="glabella", units=Decimal(4),
                                    now=morning - dt.timedelta(hours=5), history=dose, timezone="America/New_York")
    assert "last given 29 days ago" in new_york.message

