"""/cold-chain: the same readings imported twice (pasted, then as a CSV file) record the excursion once and say
which is already recorded; an excursion entered twice by hand is refused by name; counts read as words ("1
container", "2 readings"), and a temperature typed wrongly names its field in words."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from inventory.cold_chain.models import ContainerHold, Excursion
from inventory.models import utcnow
from tests.pages.conftest import csrf_token

LONDON = ZoneInfo("Europe/London")


def readings() -> str:
    day = (utcnow().astimezone(LONDON).date() - dt.timedelta(days=1)).isoformat()
    return "\n".join(f"{day} {hhmm} {c}" for hhmm, c in
                     [("05:05", "5.1"), ("05:06", "8.9"), ("05:07", "11.2"), ("05:09", "5.0")])


def counts(session) -> tuple[int, int]:
    session.expire_all()
    return session.scalar(select(func.count(Excursion.id))), session.scalar(select(func.count(ContainerHold.id)))


def test_readings_pasted_then_uploaded_as_a_file_record_the_excursion_once(browser_client, world, session):
    world.container("botox", now=utcnow() - dt.timedelta(days=3))
    session.flush()
    manager = browser_client("manager")
    form = {"location_id": str(world.location().id)}
    pasted = manager.post("/cold-chain/import", data=form | {"csrf_token": csrf_token(manager, "/cold-chain"),
                                                             "readings": readings()})
    html = pasted.get_data(as_text=True)
    assert pasted.status_code == 200, html
    assert "4 readings read, 2 outside 2-8 °C: 1 excursion recorded; 1 container hold." in html

    uploaded = manager.post("/cold-chain/import", data=form | {
        "csrf_token": csrf_token(manager, "/cold-chain"), "file": (io.BytesIO(readings().encode()), "log.csv"),
    }, content_type="multipart/form-data")

    html = uploaded.get_data(as_text=True)
    assert uploaded.status_code == 200, html
    assert "4 readings read, 2 outside 2-8 °C: 0 excursions recorded, 1 already recorded; 0 container holds." in html
    assert "This excursion is already recorded: LON · Fridge was at 8.9 to 11.2 °C from " in html
    assert counts(session) == (1, 1)
    recent = html.split('<table class="data excursions">')[1].split("</table>")[0]
    assert recent.count("<td>LON · Fridge</td>") == 1  # one row in Recent excursions


def test_an_excursion_entered_twice_by_hand_is_refused_as_already_recorded(browser_client, world, session):
    world.container("botox", now=utcnow() - dt.timedelta(days=2))
    session.flush()
    manager = browser_client("manager")
    start = utcnow().astimezone(LONDON) - dt.timedelta(hours=3)
    form = {"location_id": str(world.location().id), "started_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ended_at": (start + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"), "min_c": "10", "max_c": "12"}
    first = manager.post("/cold-chain/excursions", data=form | {"csrf_token": csrf_token(manager, "/cold-chain")},
                         follow_redirects=True)
    assert "Excursion recorded at Fridge: 1 container on hold, 0 not held." in first.get_data(as_text=True)

    again = manager.post("/cold-chain/excursions", data=form | {"csrf_token": csrf_token(manager, "/cold-chain")})

    html = again.get_data(as_text=True)
    assert again.status_code == 409, html
    assert 'data-code="excursion_already_recorded"' in html
    assert "This excursion is already recorded: LON · Fridge was at 10 to 12 °C from " in html
    assert counts(session) == (1, 1)


def test_a_temperature_typed_wrongly_names_its_field_in_words(browser_client, world):
    manager = browser_client("manager")
    start = utcnow().astimezone(LONDON) - dt.timedelta(hours=3)
    page = manager.post("/cold-chain/excursions", data={
        "csrf_token": csrf_token(manager, "/cold-chain"), "location_id": str(world.location().id),
        "started_at": start.strftime("%Y-%m-%dT%H:%M"), "ended_at": "", "min_c": "ten", "max_c": "12"})
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert "To: give a date and time." in html

    page = manager.post("/cold-chain/excursions", data={
        "csrf_token": csrf_token(manager, "/cold-chain"), "location_id": str(world.location().id),
        "started_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ended_at": (start + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"), "min_c": "ten", "max_c": "12"})
    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert "Lowest temperature: give a temperature in °C, such as 11.5." in html and "min_c:" not in html
