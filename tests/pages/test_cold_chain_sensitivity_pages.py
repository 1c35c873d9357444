"""The cold-chain page says which containers an excursion held and which it did not, and why."""

from __future__ import annotations

import datetime as dt

from inventory.models import utcnow
from tests.pages.conftest import csrf_token


def test_recording_an_excursion_lists_the_held_toxin_and_the_filler_that_was_not_held(browser_client, world, session):
    before = utcnow() - dt.timedelta(days=2)
    vial = world.container("botox", now=before)
    syringe = world.container("firm_filler", lot="VM-PAGE", now=before)
    session.flush()
    manager = browser_client("manager")
    start = (utcnow() - dt.timedelta(hours=3)).astimezone(dt.UTC)  # London in December is UTC

    page = manager.post("/cold-chain/excursions", data={
        "csrf_token": csrf_token(manager, "/cold-chain"), "location_id": str(world.location().id),
        "started_at": start.strftime("%Y-%m-%dT%H:%M"),
        "ended_at": (start + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"), "min_c": "3", "max_c": "14",
    }, follow_redirects=True)

    html = page.get_data(as_text=True)
    assert "1 container on hold, 1 not held." in html
    assert (f"Juvederm Voluma XC 1.0 mL ({syringe.label_code}): stored at 2-25 °C, not held "
            "(3 to 14 °C is within it).") in html
    assert f"Botox Cosmetic 100 U ({vial.label_code}): stored at 2-8 °C, held (3 to 14 °C is outside it)." in html
    assert f'data-label="{vial.label_code}"' in html and f'data-label="{syringe.label_code}"' not in html
    assert "fillers at 2-25 °C; supplies never held" in html


def test_a_logger_import_shows_what_each_excursion_held_and_did_not(browser_client, world, session):
    before = utcnow() - dt.timedelta(days=2)
    vial = world.container("botox", now=before)
    syringe = world.container("filler", lot="VB-PAGE", now=before)
    session.flush()
    manager = browser_client("manager")
    start = utcnow() - dt.timedelta(hours=4)
    readings = "\n".join(f"{(start + dt.timedelta(minutes=30 * n)).isoformat()},{c}"
                         for n, c in enumerate(["5", "9.5", "11", "6"]))

    page = manager.post("/cold-chain/import", data={
        "csrf_token": csrf_token(manager, "/cold-chain"), "location_id": str(world.location().id),
        "readings": "time,celsius\n" + readings,
    })

    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "1 excursion recorded; 1 container hold." in html
    assert html.count('<tr class="held">') == 1 and html.count('<tr class="not-held">') == 1
    assert vial.label_code in html and syringe.label_code in html
    assert "stored at 2-25 °C, not held (9.5 to 11 °C is within it)" in html
