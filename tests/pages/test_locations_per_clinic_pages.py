"""The Locations page of a chain: one clinic's locations at a time once there are too many to list (each has its
form: a chain of clinics keeping 100 kits each made a 1.7 MB page at ten clinics), the clinics with their counts
first, and every form keeping the clinic it was posted from."""

from __future__ import annotations

import re

from sqlalchemy import select

from inventory.admin import pages as admin_pages
from inventory.models import Location
from tests.pages.conftest import csrf_token


def _listed(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<section class="panel location[^"]*" id="location-(\d+)"', html)]


def _clinic_ids(session, world) -> dict[int, set[int]]:
    rows = session.execute(select(Location.id, Location.clinic_id)).all()
    return {clinic.id: {i for i, c in rows if c == clinic.id} for clinic in (world.clinic, world.other_clinic)}


def test_few_locations_are_all_listed_with_a_clinic_choice(browser_client, world, session):
    html = browser_client("manager").get("/locations").get_data(as_text=True)
    by_clinic = _clinic_ids(session, world)
    assert set(_listed(html)) == by_clinic[world.clinic.id] | by_clinic[world.other_clinic.id]
    assert '<select id="clinic_id" name="clinic_id">' in html


def test_too_many_locations_list_the_clinics_first_then_one_clinic(browser_client, world, session, monkeypatch):
    monkeypatch.setattr(admin_pages, "LOCATIONS_AT_ONCE", 2)
    client = browser_client("manager")
    html = client.get("/locations").get_data(as_text=True)
    assert _listed(html) == []
    assert "Too many locations to list at once: choose a clinic." in html
    by_clinic = _clinic_ids(session, world)
    nyc = world.other_clinic
    row = re.search(rf'<a href="/locations\?clinic_id={nyc.id}">NYC · [^<]+</a></td><td class="num">(\d+)</td>', html)
    assert row is not None and int(row.group(1)) == len(by_clinic[nyc.id])
    one = client.get(f"/locations?clinic_id={nyc.id}").get_data(as_text=True)
    assert set(_listed(one)) == by_clinic[nyc.id]


def test_a_location_saved_from_one_clinic_goes_back_to_that_clinic(browser_client, world, session, monkeypatch):
    monkeypatch.setattr(admin_pages, "LOCATIONS_AT_ONCE", 2)
    client = browser_client("manager")
    nyc = world.other_clinic
    fridge = world.location("Fridge", nyc)
    page = f"/locations?clinic_id={nyc.id}"
    html = client.get(page).get_data(as_text=True)
    assert f'action="/locations/{fridge.id}?clinic_id={nyc.id}"' in html
    saved = client.post(f"/locations/{fridge.id}?clinic_id={nyc.id}", data={
        "csrf_token": csrf_token(client, page), "action": "save", f"loc{fridge.id}-name": "Fridge A",
        f"loc{fridge.id}-kind": "fridge", f"loc{fridge.id}-temperature_sensitive": "y"})
    assert saved.status_code == 302
    assert saved.headers["Location"].endswith(f"/locations?clinic_id={nyc.id}#location-{fridge.id}")
    added = client.post(f"/locations?clinic_id={nyc.id}", data={
        "csrf_token": csrf_token(client, page), "form_key": _form_key(html), "clinic_id": str(nyc.id),
        "name": "Room 9", "kind": "room"})
    assert added.status_code == 302 and added.headers["Location"].endswith(f"/locations?clinic_id={nyc.id}")


def _form_key(html: str) -> str:
    return re.search(r'name="form_key"[^>]*value="([^"]+)"', html).group(1)


def test_a_clinic_not_the_callers_is_refused_and_lists_none_of_it(browser_client, world, session):
    client = browser_client("clinic_manager")  # London's
    nyc = world.other_clinic
    refused = client.get(f"/locations?clinic_id={nyc.id}")
    assert refused.status_code == 404
    html = refused.get_data(as_text=True)
    assert f"No clinic with id {nyc.id}." in html
    assert not set(_listed(html)) & _clinic_ids(session, world)[nyc.id]
    assert 'name="clinic_id" id="clinic_id"' not in html and '<select id="clinic_id"' not in html
