"""The count sheet page: a sealed syringe found partly empty, a lot counted twice, a vial on the road.

Each refusal is said in words where the counter typed it (under "Left", or under the scan), with the code the
API answers the same refusal with, and the sheet keeps no line of it.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from inventory.counts.models import Count, CountLine
from tests.factories import NOW, send_transfer
from tests.pages.conftest import csrf_token

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.counts.pages.utcnow", lambda: NOW)


def start_sheet(client, world) -> tuple[str, str]:
    token = csrf_token(client, "/counts")
    started = client.post("/counts", data={"location_id": world.location().id, "csrf_token": token})
    assert started.status_code == 302
    return started.headers["Location"], token


def refusal_under(html: str, field: str) -> tuple[str, str]:
    """The code and words of the refusal shown under ``field``."""
    match = re.search(rf'<p class="[^"]*field-refusal[^"]*" role="alert" id="{field}-refusal" '
                      rf'data-code="([^"]+)">([^<]*)</p>', html)
    assert match, html
    return match.group(1), match.group(2).replace("&#39;", "'")


def lines_of(session) -> list[CountLine]:
    session.expire_all()
    return list(session.scalars(select(CountLine)))


def box_code(world, lot: str) -> str:
    return f"(01){world.botox.gtins[0].gtin}(17)270331(10){lot}"


def test_a_sealed_syringe_with_some_left_is_refused_under_what_was_typed(browser_client, world, session):
    syringe = world.container("filler", lot="VB19A44")
    session.flush()
    client = browser_client("clinic_manager")
    count_url, token = start_sheet(client, world)

    response = client.post(f"{count_url}/lines", data={"code": syringe.label_code, "counted": "0.3",
                                                       "csrf_token": token})

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    code, words = refusal_under(html, "counted")
    assert code == "validation_error"
    assert words == (f"Juvederm Volbella XC 0.55 mL ({syringe.label_code}) is a sealed syringe: it holds its 0.55 mL, "
                     "or it is missing (0). If it was opened and used without Vialog, count 0 and tell the safety "
                     "lead.")
    assert 'aria-describedby="counted-refusal"' in html and 'value="0.3"' in html  # what was typed, kept beside it
    assert html.count("is a sealed syringe") == 1  # said once, where it was typed
    assert lines_of(session) == []

    missing = client.post(f"{count_url}/lines", data={"code": syringe.label_code, "counted": "0", "csrf_token": token})
    assert missing.status_code == 302
    assert [line.counted for line in lines_of(session)] == [0]


def test_a_vial_label_of_a_lot_counted_by_its_box_is_refused_on_the_sheet(browser_client, world, session):
    receipt = world.receive("botox", lot="DEMOBTX01", containers=6)
    session.flush()
    client = browser_client("clinic_manager")
    count_url, token = start_sheet(client, world)
    boxed = client.post(f"{count_url}/lines", data={"code": box_code(world, "DEMOBTX01"), "containers": "6",
                                                    "csrf_token": token})
    assert boxed.status_code == 302

    response = client.post(f"{count_url}/lines", data={"code": receipt.containers[0].label_code,
                                                       "csrf_token": token})

    assert response.status_code == 422
    code, words = refusal_under(response.get_data(as_text=True), "code")
    assert code == "validation_error"
    assert "lot DEMOBTX01, which this sheet already counts by its box code" in words
    assert "Count a lot either by its boxes or by each label, not both" in words
    assert [(line.container_id, line.containers_counted) for line in lines_of(session)] == [(None, 6)]


def test_a_box_code_of_a_lot_counted_by_label_is_refused_on_the_sheet(browser_client, world, session):
    receipt = world.receive("botox", lot="DEMOBTX01", containers=2)
    session.flush()
    client = browser_client("clinic_manager")
    count_url, token = start_sheet(client, world)
    labelled = receipt.containers[0].label_code
    assert client.post(f"{count_url}/lines", data={"code": labelled, "csrf_token": token}).status_code == 302

    response = client.post(f"{count_url}/lines", data={"code": box_code(world, "DEMOBTX01"), "containers": "2",
                                                       "csrf_token": token})

    assert response.status_code == 422
    code, words = refusal_under(response.get_data(as_text=True), "code")
    assert code == "validation_error" and f"already counted by label on this sheet ({labelled})" in words
    assert [line.container_id for line in lines_of(session)] == [receipt.containers[0].id]


def test_a_sheet_sent_back_to_its_counter_refuses_a_label_of_a_lot_it_counted_by_box(browser_client, world, session):
    receipt = world.receive("botox", lot="DEMOBTX01", containers=3)
    session.flush()
    counter = browser_client("clinic_manager")
    count_url, token = start_sheet(counter, world)
    assert counter.post(f"{count_url}/lines", data={"code": box_code(world, "DEMOBTX01"), "containers": "3",
                                                    "csrf_token": token}).status_code == 302
    assert counter.post(f"{count_url}/submit", data={"csrf_token": token}).status_code == 302
    reviewer = browser_client("manager")
    assert reviewer.post(f"{count_url}/reopen", data={"csrf_token": csrf_token(reviewer, count_url)}) \
        .status_code == 302

    response = counter.post(f"{count_url}/lines", data={"code": receipt.containers[2].label_code,
                                                        "csrf_token": csrf_token(counter, count_url)})

    assert response.status_code == 422
    assert refusal_under(response.get_data(as_text=True), "code")[0] == "validation_error"
    assert len(lines_of(session)) == 1
    assert session.scalar(select(Count)).status.value == "draft"


def test_a_vial_on_its_way_to_another_clinic_is_refused_as_in_transit(browser_client, world, session):
    vial = world.container("botox", lot="ROAD1")
    send_transfer(world, [vial])
    session.flush()
    client = browser_client("manager")
    count_url, token = start_sheet(client, world)

    response = client.post(f"{count_url}/lines", data={"code": vial.label_code, "csrf_token": token})

    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert 'data-code="container_in_transit"' in html
    assert f"({vial.label_code}) is on its way to another clinic: it cannot be counted until that clinic receives " \
           "it" in html
    assert lines_of(session) == []
