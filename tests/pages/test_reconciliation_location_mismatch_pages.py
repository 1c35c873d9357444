"""The Reconciliation page asked for a clinic and a location of another of the caller's clinics (the clinic changed
with the last clinic's location still chosen): the clinic wins, as on the Stock page, and a note names both. Never
"No location with id 8." (an internal number, and untrue: the location exists and is the caller's), nor the
choices lost. A download asked for the same mix says which clinic has no such location."""

from __future__ import annotations

import html as html_lib
import re

import pytest

from tests.pages.test_reconciliation_clinic_pages import JUNE, _line_clinics, frozen_clock  # noqa: F401 (autouse)
from tests.reconciliation_factories import build_history

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def _selected(html: str, name: str) -> list[str]:
    select = html.split(f'<select id="{name}" name="{name}">', 1)[1].split("</select>", 1)[0]
    return [html_lib.unescape(o) for o in re.findall(r"<option [^>]*selected>([^<]*)</option>", select)]


def test_a_location_of_another_clinic_of_the_callers_follows_the_clinic_with_a_note(browser_client, world,
                                                                                    session):
    build_history(world)
    session.flush()
    lon, nyc_fridge = world.clinic, world.location("Fridge", world.other_clinic)
    response = browser_client("manager").get(f"/reconciliation?{JUNE}&clinic_id={lon.id}&location_id={nyc_fridge.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "No location with id" not in html
    assert html_lib.unescape(html).count(
        "The location chosen, NYC · Fridge, is not at LON: showing all of LON's locations.") == 1
    assert _line_clinics(html) == {"LON"}
    assert _selected(html, "clinic_id") == ["LON · Clinic LON"]  # the choice kept
    assert _selected(html, "location_id") == []  # "Every location" of LON
    where = html.split('id="location_id"', 1)[1].split("</select>", 1)[0]
    assert set(re.findall(r">([A-Z]{3}) · ", where)) == {"LON"}
    # The downloads are of what is shown: the clinic, every location of it.
    assert f'&amp;to=2026-06-30&amp;clinic_id={lon.id}">Download the workbook' in html
    assert f'&amp;to=2026-06-30&amp;clinic_id={lon.id}">Download CSV' in html
    # No such clinic at all: that is what is said, whatever the location.
    missing = browser_client("manager").get(f"/reconciliation?{JUNE}&clinic_id=999999&location_id={nyc_fridge.id}")
    assert missing.status_code == 404 and "No clinic with id 999999." in missing.get_data(as_text=True)


def test_a_download_of_the_same_mix_says_the_clinic_has_no_such_location(browser_client, world, session):
    build_history(world)
    session.flush()
    lon, nyc_fridge = world.clinic, world.location("Fridge", world.other_clinic)
    client = browser_client("manager")
    for suffix in (".xlsx", ".csv"):
        response = client.get(f"/reconciliation{suffix}?{JUNE}&clinic_id={lon.id}&location_id={nyc_fridge.id}")
        assert response.status_code == 404, suffix
        assert (f"LON has no location with id {nyc_fridge.id}: choose one of LON's locations, or leave the "
                "location out.") in html_lib.unescape(response.get_data(as_text=True)), suffix


def test_another_clinics_location_stays_unknown_to_a_manager_of_one_clinic(browser_client, world, session):
    build_history(world)
    session.flush()
    lon, nyc_fridge = world.clinic, world.location("Fridge", world.other_clinic)
    response = browser_client("clinic_manager").get(
        f"/reconciliation?{JUNE}&clinic_id={lon.id}&location_id={nyc_fridge.id}")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "NYC" not in html and "is not at LON" not in html  # nothing of the other clinic's told
    assert f"LON has no location with id {nyc_fridge.id}" in html
