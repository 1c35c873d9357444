"""A clinic that holds filler and no emergency kit with hyaluronidase is not ready (DOMAIN.md: hyaluronidase is kept
in every room where filler is injected). ``vialog kits`` said so; the Kits board did not: it showed nothing for a
clinic with no kit at all. Now the board shows each such clinic of the reader's, first, as not ready, with why in
words and what to do: a link to make the kit for those who may, a word to ask a manager for the others. The board
reads them in one statement, however many there are (``kit_service.clinics_without_a_kit``)."""

from __future__ import annotations

import re

import pytest

from tests.factories import NOW, make_clinic
from tests.kit_factories import check, stocked_kit
from tests.statements import recorded

WHY = "2 filler containers here, and hyaluronidase is kept wherever filler is injected."


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.kits.pages.utcnow", lambda: NOW)


def _filler(world, clinic, count: int = 2) -> None:
    world.receive("filler", containers=count, location=world.location("Room 1", clinic))


def _missing(html: str) -> list[tuple[str, str, str]]:
    """(clinic code, why, what to do) of each clinic shown as having no kit, in order."""
    return [(code, why, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", todo)).strip()) for code, why, todo in re.findall(
        r'<li class="kit-card kit-not_ready kit-missing">.*?<span class="kit-status">Not ready</span>\s*'
        r'<span class="kit-where">(\w+)</span>.*?<h2>No emergency kit with hyaluronidase</h2>.*?'
        r'<li class="kit-reason-not_ready">([^<]+)</li>.*?<p class="kit-todo">(.*?)</p>', html, flags=re.S)]


@pytest.fixture
def new_york_without_kit(world):
    check(world, stocked_kit(world, name="London kit"))  # London: filler and a kit that asks for hyaluronidase
    _filler(world, world.clinic)
    _filler(world, world.other_clinic)  # New York: filler, and no kit at all


def test_a_manager_sees_the_clinic_first_as_not_ready_with_a_link_to_make_its_kit(browser_client, world,
                                                                               new_york_without_kit):
    html = browser_client("manager").get("/kits").get_data(as_text=True)
    assert _missing(html) == [("NYC", WHY, "Make a kit from a template before the next filler treatment: Kit "
                                           "templates, New kit.")]
    card = html.index('class="kit-card kit-not_ready kit-missing"')
    assert card < html.index("London kit")  # at the top of the board
    assert '<a href="/kit-templates">Kit templates, New kit</a>' in html[card:html.index("London kit")]
    assert "1 clinic with filler and no kit" in html


def test_a_nurse_of_that_clinic_is_told_to_ask_a_manager_and_is_given_no_link_she_may_not_follow(
        browser_client, world, new_york_without_kit):
    html = browser_client("other_nurse").get("/kits").get_data(as_text=True)
    assert _missing(html) == [("NYC", WHY, "Ask a manager to make a kit from a template (Kit templates, New kit) "
                                           "before the next filler treatment.")]
    assert 'href="/kit-templates"' not in html
    assert "No kits yet." in html  # New York's own kits: none, said below the clinic


def test_only_the_readers_clinics_and_the_clinic_or_status_chosen(browser_client, world, new_york_without_kit):
    assert _missing(browser_client("nurse").get("/kits").get_data(as_text=True)) == []  # London's nurse
    safety = browser_client("safety")
    assert _missing(safety.get(f"/kits?clinic_id={world.clinic.id}").get_data(as_text=True)) == []
    assert [c for c, _, _ in _missing(safety.get(f"/kits?clinic_id={world.other_clinic.id}").get_data(as_text=True))] \
        == ["NYC"]
    assert [c for c, _, _ in _missing(safety.get("/kits?status=not_ready").get_data(as_text=True))] == ["NYC"]
    ready_only = safety.get("/kits?status=ready").get_data(as_text=True)
    assert _missing(ready_only) == [] and "clinic with filler and no kit" not in ready_only


def test_a_clinic_with_filler_and_a_kit_with_hyaluronidase_is_not_listed(browser_client, world):
    check(world, stocked_kit(world, name="London kit"))
    _filler(world, world.clinic)
    html = browser_client("manager").get("/kits").get_data(as_text=True)
    assert _missing(html) == [] and "clinic with filler and no kit" not in html


def test_the_board_reads_the_clinics_without_a_kit_in_one_statement_however_many(browser_client, world, session):
    check(world, stocked_kit(world, name="London kit"))
    _filler(world, world.other_clinic)
    session.flush()
    client = browser_client("manager")
    client.get("/kits")  # the first request of a session may read what later ones keep
    with recorded(session) as one:
        one_clinic = client.get("/kits").get_data(as_text=True)
    for code in ("PAR", "MAD"):
        _filler(world, make_clinic(session, code))
    session.flush()
    with recorded(session) as three:
        three_clinics = client.get("/kits").get_data(as_text=True)
    assert [c for c, _, _ in _missing(one_clinic)] == ["NYC"]
    assert [c for c, _, _ in _missing(three_clinics)] == ["MAD", "NYC", "PAR"]
    assert len(three) == len(one) > 0
