"""Readings pasted on /cold-chain: a refused import keeps what was pasted (and the place) to be corrected, and
readings copied from a spreadsheet (tab-separated) or lined up with spaces are read like CSV lines. A time
without its date is refused, by its line, and the hint says so."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from inventory.cold_chain.models import Excursion
from inventory.cold_chain.service import parse_readings
from inventory.errors import ValidationError
from inventory.models import utcnow
from tests.pages.conftest import csrf_token

LONDON = ZoneInfo("Europe/London")


def paste(browser_client, world, readings: str):
    manager = browser_client("manager")
    return manager.post("/cold-chain/import", data={
        "csrf_token": csrf_token(manager, "/cold-chain"), "location_id": str(world.location().id),
        "readings": readings,
    })


def textarea(html: str) -> str:
    (shown,) = re.findall(r'<textarea id="readings" name="readings"[^>]*>(.*?)</textarea>', html, re.DOTALL)
    return html_lib.unescape(shown)


def yesterday() -> dt.date:
    return utcnow().astimezone(LONDON).date() - dt.timedelta(days=1)


def test_a_refused_paste_keeps_the_readings_in_the_textarea(browser_client, world, session):
    pasted = "14:24 5.0\n14:25 9.1\n14:27 <10.2> & more"

    page = paste(browser_client, world, pasted)

    html = page.get_data(as_text=True)
    assert page.status_code == 422, html
    assert "Line 1: 14:24 has no date. Give the date and the time of each reading" in html
    assert textarea(html) == pasted
    assert f'<option value="{world.location().id}" selected>' in html
    assert session.scalars(select(Excursion)).all() == []


@pytest.mark.parametrize("separator", ["\t", "  ", " ", ", ", "\t\t"])
def test_readings_apart_by_tabs_or_spaces_are_read_like_csv(browser_client, world, session, separator):
    world.container("botox", now=utcnow() - dt.timedelta(days=3))
    session.flush()
    day = yesterday().isoformat()
    comma = "." if "," in separator else ","  # a decimal comma, where it cannot be taken for a separator
    lines = [f"{day} {hhmm}{separator}{celsius}" for hhmm, celsius in
             [("15:40", "5.0"), ("15:50", f"9{comma}1"), ("16:00", "10.2 °C"), ("16:10", "4.0")]]

    page = paste(browser_client, world, "Time\tTemperature\n" + "\n".join(lines))

    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "4 readings read, 2 outside 2-8 °C: 1 excursion recorded; 1 container hold." in html
    assert textarea(html) == ""  # imported: nothing left to import twice
    (excursion,) = session.scalars(select(Excursion)).all()
    assert (excursion.min_c, excursion.max_c) == (Decimal("9.1"), Decimal("10.2"))
    assert excursion.started_at.astimezone(LONDON).strftime("%H:%M") == "15:50"


def test_the_hint_says_what_is_read(browser_client, world):
    html = browser_client("manager").get("/cold-chain").get_data(as_text=True)
    assert ("apart by a comma (CSV), a tab (copied from a spreadsheet) or spaces, such as "
            '<span class="mono">2026-12-04 15:40, 5.0</span>') in html
    assert 'a time without its date (<span class="mono">14:24 5.0</span>) is refused' in html


@pytest.mark.parametrize(("text", "message"), [
    ("2026-12-04 15:40", "Line 1: expected a date and time and a temperature, apart by a comma, a tab or spaces"),
    ("2026-12-04 15:40\t5.0\n15:50\t9.1", "Line 2: 15:50 has no date."),
    ("time,celsius\n2026-12-04 15:40,5\nyesterday\thot", "Line 3: cannot read 'yesterday', 'hot'"),
])
def test_unreadable_lines_are_refused_by_their_number(text, message):
    with pytest.raises(ValidationError) as refused:
        parse_readings(text, timezone="Europe/London")
    assert str(refused.value).startswith(message)


def test_the_existing_forms_still_read():
    readings = parse_readings(
        'timestamp,temperature_c\n2026-06-15T01:00:00+00:00,4.5\n"2026-06-15 03:00","5,5"\n2026-06-15T04:00Z, 6°C\n',
        timezone="Europe/London")
    assert [(r.at.isoformat(), str(r.celsius.normalize()), r.line) for r in readings] == [
        ("2026-06-15T01:00:00+00:00", "4.5", 2), ("2026-06-15T02:00:00+00:00", "5.5", 3),
        ("2026-06-15T04:00:00+00:00", "6", 4)]
