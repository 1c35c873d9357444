"""The kit board of a chain: a Clinic choice, the counts as links to one status, and a bounded board that shows
the least ready kits first and says how many more there are."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest

from inventory.kits import pages as kit_pages
from tests.factories import NOW
from tests.kit_factories import check, new_kit, stocked_kit


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.kits.pages.utcnow", lambda: NOW)


def _cards(html: str) -> list[tuple[str, str]]:
    """(status, name) of each card on the board, in order."""
    return re.findall(r'<li class="kit-card kit-(\w+)">.*?<h2><a href="/kits/\d+">([^<]+)</a>', html, flags=re.S)


@pytest.fixture
def board(world):
    ready = stocked_kit(world, name="London ready")
    check(world, ready)
    new_kit(world, name="London empty")
    new_kit(world, world.other_clinic, name="New York empty")


def test_a_chain_safety_lead_chooses_a_clinic(browser_client, world, board):
    client = browser_client("safety")
    everything = client.get("/kits").get_data(as_text=True)
    assert '<select id="clinic_id" name="clinic_id">' in everything
    assert {name for _, name in _cards(everything)} == {"London ready", "London empty", "New York empty"}
    nyc = client.get(f"/kits?clinic_id={world.other_clinic.id}").get_data(as_text=True)
    assert _cards(nyc) == [("not_ready", "New York empty")]
    assert "1 not ready" in nyc and "0 ready" in nyc


def test_a_count_shows_only_the_kits_of_its_status_and_keeps_the_clinic(browser_client, world, board):
    client = browser_client("safety")
    lon = world.clinic.id
    html = client.get(f"/kits?clinic_id={lon}").get_data(as_text=True)
    link = re.search(r'<a class="kit-count kit-not_ready" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert f"clinic_id={lon}" in link and "status=not_ready" in link
    only = client.get(link).get_data(as_text=True)
    assert _cards(only) == [("not_ready", "London empty")]
    assert "Only the kits not ready." in only


def test_the_board_is_bounded_least_ready_first(browser_client, world, board, monkeypatch):
    monkeypatch.setattr(kit_pages, "KITS_AT_ONCE", 2)
    html = browser_client("safety").get("/kits").get_data(as_text=True)
    assert [status for status, _ in _cards(html)] == ["not_ready", "not_ready"]
    assert "The 2 least ready of 3 kits are shown" in html


def test_a_clinic_not_the_callers_is_refused(browser_client, world, board):
    html = browser_client("nurse").get(f"/kits?clinic_id={world.other_clinic.id}")
    assert html.status_code == 404
    text = html.get_data(as_text=True)
    assert f"No clinic with id {world.other_clinic.id}." in text and "New York empty" not in text


def test_the_templates_page_counts_each_templates_kits_rather_than_listing_every_kit(browser_client, world, board):
    html = browser_client("manager").get("/kit-templates").get_data(as_text=True)
    use = re.search(r'<p class="kit-template-use">(.*?)</p>', html, flags=re.S).group(1)
    assert use.startswith("3 kits at 2 clinics: each on ") and 'href="/kits"' in use
    assert "London empty" not in html  # the kits themselves are the board's
    lon = browser_client("clinic_manager").get("/kit-templates").get_data(as_text=True)
    assert "2 kits at 1 clinic: each on " in lon


def test_a_chain_boards_check_times_name_each_clinics_clock(browser_client, world, board):
    """QA: London's "10:17" beside New York's "05:06" on one board read as two moments hours apart."""
    check(world, new_kit(world, world.other_clinic, name="New York checked"))
    world.session.flush()
    html = browser_client("safety").get("/kits").get_data(as_text=True)
    for zone in ("Europe/London", "America/New_York"):
        local = NOW.astimezone(ZoneInfo(zone))
        assert f"{local.strftime('%H:%M')} {local.tzname()} by " in html, zone
