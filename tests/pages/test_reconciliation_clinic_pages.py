"""The reconciliation page of a chain: a Clinic choice, the Where list kept to that clinic's locations, and a
page that shows at most a bounded number of lines (the totals and the downloads hold every one)."""

from __future__ import annotations

import re

import pytest

from inventory.reconciliation import pages as reconciliation_pages
from tests.factories import NOW
from tests.reconciliation_factories import build_history

JUNE = "from=2026-06-01&to=2026-06-30"

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.reconciliation.pages.utcnow", lambda: NOW)


def _line_clinics(html: str) -> set[str]:
    table = html.split('class="data recon-table"', 1)[1].split("</table>", 1)[0]
    return set(re.findall(r"<td>([A-Z]{3}) · ", table))


def test_a_chain_manager_chooses_a_clinic_and_its_locations(browser_client, world, session):
    build_history(world)
    session.flush()
    client = browser_client("manager")
    html = client.get(f"/reconciliation?{JUNE}").get_data(as_text=True)
    assert '<select id="clinic_id" name="clinic_id">' in html
    assert _line_clinics(html) == {"LON", "NYC"}
    nyc = world.other_clinic
    html = client.get(f"/reconciliation?{JUNE}&clinic_id={nyc.id}").get_data(as_text=True)
    assert _line_clinics(html) == {"NYC"}
    where = html.split('id="location_id"', 1)[1].split("</select>", 1)[0]
    assert set(re.findall(r">([A-Z]{3}) · ", where)) == {"NYC"}
    assert f"clinic_id={nyc.id}\">Download the workbook" in html and f"clinic_id={nyc.id}\">Download CSV" in html


def test_a_manager_of_one_clinic_gets_no_clinic_choice_and_no_other_clinic(browser_client, world, session):
    build_history(world)
    session.flush()
    client = browser_client("clinic_manager")
    html = client.get(f"/reconciliation?{JUNE}").get_data(as_text=True)
    assert 'name="clinic_id"' not in html
    refused = client.get(f"/reconciliation?{JUNE}&clinic_id={world.other_clinic.id}")
    assert refused.status_code == 404
    assert f"No clinic with id {world.other_clinic.id}." in refused.get_data(as_text=True)


def test_the_page_shows_a_bounded_number_of_lines_and_says_where_the_rest_are(browser_client, world, session,
                                                                               monkeypatch):
    build_history(world)
    session.flush()
    monkeypatch.setattr(reconciliation_pages, "PAGE_LINES", 3)
    html = browser_client("manager").get(f"/reconciliation?{JUNE}").get_data(as_text=True)
    table = html.split('class="data recon-table"', 1)[1].split("</table>", 1)[0]
    assert len(re.findall(r"<tr class=", table)) == 3
    total = int(re.search(r"· (\d+) lines", html).group(1))
    assert total > 3
    assert f"The first 3 of {total} lines are shown" in html


def test_with_many_locations_the_where_list_waits_for_a_clinic(browser_client, world, session, monkeypatch):
    build_history(world)
    session.flush()
    monkeypatch.setattr(reconciliation_pages, "MAX_LOCATION_CHOICES", 1)
    html = browser_client("manager").get(f"/reconciliation?{JUNE}").get_data(as_text=True)
    where = html.split('id="location_id"', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'<option value="(\d+)"', where) == []
    assert "Choose a clinic, then Show, to pick one of its locations." in html


def test_past_a_few_clinics_the_page_asks_for_one_and_the_downloads_hold_them_all(browser_client, world, session,
                                                                                 monkeypatch):
    build_history(world)
    session.flush()
    monkeypatch.setattr(reconciliation_pages, "CLINICS_AT_ONCE", 1)  # the world's chain has two
    monkeypatch.setattr(reconciliation_pages, "reconcile", _reconciled_every_clinic)
    client = browser_client("manager")
    html = client.get(f"/reconciliation?{JUNE}").get_data(as_text=True)
    assert "recon-table" not in html  # no lines computed, none shown
    assert "You see 2 clinics: their lines are read here one clinic at a time." in html
    for clinic in (world.clinic, world.other_clinic):
        assert f'href="/reconciliation?from=2026-06-01&amp;to=2026-06-30&amp;clinic_id={clinic.id}"' in html
    assert 'href="/reconciliation.xlsx?from=2026-06-01&amp;to=2026-06-30">Download the workbook' in html

    monkeypatch.undo()
    monkeypatch.setattr(reconciliation_pages, "CLINICS_AT_ONCE", 1)
    html = client.get(f"/reconciliation?{JUNE}&clinic_id={world.other_clinic.id}").get_data(as_text=True)
    assert _line_clinics(html) == {"NYC"}
    assert "Choose a clinic</h2>" not in html
    workbook = client.get("/reconciliation.csv?from=2026-06-01&to=2026-06-30")
    assert workbook.status_code == 200
    assert {"LON", "NYC"} <= set(re.findall(r"\b(LON|NYC)\b", workbook.get_data(as_text=True)))


def _reconciled_every_clinic(*args, **kwargs):
    raise AssertionError("the page reconciled every clinic")
