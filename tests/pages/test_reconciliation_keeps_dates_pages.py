"""QA: the Reconciliation page refused a period (the dates the wrong way round) or a location not the manager's,
and put this month's first day and today in the date fields instead of what was asked: the manager asked for
December, was told to swap the dates, and found 1 Dec to 5 Dec to correct. The dates asked for stay in the
form beside the refusal; a date that cannot be read shows the default."""

from __future__ import annotations

import re

import pytest

from tests.pages.test_reconciliation_clinic_pages import frozen_clock  # noqa: F401 (autouse)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def _dates(html: str) -> tuple[str, str]:
    start = re.search(r'<input id="from" name="from" type="date" value="([^"]*)"', html)
    end = re.search(r'<input id="to" name="to" type="date" value="([^"]*)"', html)
    assert start is not None and end is not None
    return start.group(1), end.group(1)


def test_dates_the_wrong_way_round_stay_in_the_form_to_be_swapped(browser_client, world, session):
    response = browser_client("manager").get("/reconciliation?from=2026-06-30&to=2026-06-01")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "The period ends before it starts: swap the dates." in html
    assert _dates(html) == ("2026-06-30", "2026-06-01")


def test_a_location_not_the_managers_keeps_the_period_asked_for(browser_client, world, session):
    nyc_fridge = world.location("Fridge", world.other_clinic)
    response = browser_client("clinic_manager").get(
        f"/reconciliation?from=2026-05-01&to=2026-05-31&location_id={nyc_fridge.id}")
    assert response.status_code == 404
    assert _dates(response.get_data(as_text=True)) == ("2026-05-01", "2026-05-31")


def test_a_date_that_cannot_be_read_shows_the_default_beside_the_other(browser_client, world, session):
    response = browser_client("manager").get("/reconciliation?from=June&to=2026-06-30")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "&#39;June&#39; is not a date: use YYYY-MM-DD." in html
    start, end = _dates(html)
    assert end == "2026-06-30" and re.fullmatch(r"\d{4}-\d{2}-01", start)
