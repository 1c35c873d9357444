"""A logger's excursion lasts from its first reading out of range until the fridge is next read in range (or
its last reading, when the log ends out of range): QA's readings pasted on /cold-chain in clinic time."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from sqlalchemy import select

from inventory.cold_chain.models import Excursion
from inventory.models import utcnow
from inventory.services.clock import format_clinic_time
from tests.pages.conftest import csrf_token

LONDON = ZoneInfo("Europe/London")


def local(day: dt.date, hhmm: str) -> dt.datetime:
    hour, minute = map(int, hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=LONDON)


def imported(browser_client, world, readings: list[tuple[str, str]]) -> tuple[str, list[Excursion], dt.date]:
    world.container("botox", now=utcnow() - dt.timedelta(days=3))
    world.session.flush()
    day = utcnow().astimezone(LONDON).date() - dt.timedelta(days=1)
    text = "\n".join(f"{day.isoformat()} {hhmm},{celsius}" for hhmm, celsius in readings)
    manager = browser_client("manager")
    page = manager.post("/cold-chain/import", data={
        "csrf_token": csrf_token(manager, "/cold-chain"), "location_id": str(world.location().id), "readings": text,
    })
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    world.session.expire_all()
    excursions = list(world.session.scalars(select(Excursion).order_by(Excursion.started_at)))
    return html, excursions, day


def test_an_excursion_lasts_until_the_fridge_is_next_read_in_range(browser_client, world):
    html, excursions, day = imported(browser_client, world, [
        ("14:24", "5.0"), ("14:25", "9.1"), ("14:27", "10.2"), ("14:29", "4.0"), ("14:30", "1.5"), ("14:31", "3.0"),
    ])

    spans = [(e.started_at, e.ended_at, e.min_c, e.max_c) for e in excursions]
    assert [(s.astimezone(LONDON), e.astimezone(LONDON)) for s, e, _, _ in spans] == [
        (local(day, "14:25"), local(day, "14:29")),
        (local(day, "14:30"), local(day, "14:31")),
    ]
    assert [(str(lo.normalize()), str(hi.normalize())) for _, _, lo, hi in spans] == [("9.1", "10.2"), ("1.5", "1.5")]
    assert "6 readings read, 3 outside 2-8 °C: 2 excursions recorded; " in html
    shown = re.findall(r'<td class="excursion-span">(.*?)</td>', html)
    assert f"{format_clinic_time(local(day, '14:25'), 'Europe/London')} to " \
           f"{format_clinic_time(local(day, '14:29'), 'Europe/London')}" in shown


def test_an_excursion_the_log_ends_in_lasts_until_its_last_reading(browser_client, world):
    _, excursions, day = imported(browser_client, world, [
        ("09:00", "5.0"), ("09:10", "8.5"), ("09:20", "11"), ("09:30", "12.5"),
    ])

    (excursion,) = excursions
    assert (excursion.started_at.astimezone(LONDON), excursion.ended_at.astimezone(LONDON)) == \
        (local(day, "09:10"), local(day, "09:30"))
