"""Readings imported on /cold-chain are shown back on the clock they were typed on: a New York fridge's logger
reads New York time, and its flagged readings are listed in New York time (with the zone named), as every other
moment of the page is said in the clinic's time, never in UTC."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from inventory.models import utcnow
from tests.pages.conftest import csrf_token

NEW_YORK = ZoneInfo("America/New_York")


def test_flagged_readings_of_a_new_york_fridge_are_listed_in_new_york_time(browser_client, world, session):
    fridge = world.location("Fridge", world.other_clinic)
    session.flush()
    day = (utcnow().astimezone(NEW_YORK) - dt.timedelta(days=1)).date()
    manager = browser_client("manager")

    page = manager.post("/cold-chain/import", data={
        "csrf_token": csrf_token(manager, "/cold-chain"), "location_id": str(fridge.id),
        "readings": f"{day} 09:00,5.0\n{day} 09:05,11.5\n{day} 09:10,5.0",
    })

    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    (table,) = re.findall(r'<section class="panel imported">(.*?)</table>', html, re.DOTALL)
    assert "Time (America/New_York)" in table and "UTC" not in table
    (row,) = re.findall(r'<tr class="flagged">(.*?)</tr>', table, re.DOTALL)
    assert f"{day.day} {day:%b} {day.year} 09:05" in row, row  # as typed, not 14:05 (UTC)
