"""Dates on the right clinic's clock. POST /api/v1/scans by a caller of clinics on several clocks judges a box's
expiry where the box is (DOMAIN.md: usable through the end of its expiry day in the clinic's time zone), not on
whichever clinic's name sorts first; the follow-up list's default week starts from the clinic's own date, not UTC's."""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.receiving import service as receiving
from tests.api.conftest import error_code
from tests.factories import EVERYWHERE, NOW, make_clinic, start_treatment

EXPIRY = dt.date(2026, 7, 1)
# 22:00 on 1 July in New York, already 03:00 on 2 July in London: the lot has expired in London only.
EVENING_IN_NEW_YORK = dt.datetime(2026, 7, 2, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def at_new_york_evening(monkeypatch):
    monkeypatch.setattr("inventory.blueprints.api.stock.utcnow", lambda: EVENING_IN_NEW_YORK)


def receive(world, clinic, lot: str = "NY1", serial: str | None = None, containers: int = 1):
    gtin = world.botox.gtins[0].gtin
    code = f"]d201{gtin}17{EXPIRY:%y%m%d}10{lot}" + (f"\x1d21{serial}" if serial else "")
    return receiving.receive(world.session, actor=world.users["manager"], scope=EVERYWHERE,
                             location_id=world.location("Fridge", clinic).id, containers=containers, now=NOW,
                             code=code)


def box(world, lot: str = "NY1", serial: str | None = None) -> str:
    return (f"]d201{world.botox.gtins[0].gtin}17{EXPIRY:%y%m%d}10{lot}" + (f"\x1d21{serial}" if serial else ""))


@pytest.mark.usefixtures("at_new_york_evening")
def test_a_box_of_a_lot_held_only_in_new_york_is_judged_on_new_yorks_clock(api, world, session):
    receive(world, world.other_clinic)
    session.flush()
    response = api("safety").post("/scans", {"code": box(world)})  # chain level: London's name sorts first
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["lot_record"]["number"] == "NY1"


@pytest.mark.usefixtures("at_new_york_evening")
def test_a_box_whose_pack_serial_is_in_new_york_is_judged_there_though_london_holds_the_lot_too(api, world, session):
    receive(world, world.clinic)
    receive(world, world.other_clinic, serial="SER-NY-1")
    session.flush()
    safety = api("safety")
    assert safety.post("/scans", {"code": box(world, serial="SER-NY-1")}).status_code == 200
    # Without its serial the box could be in either clinic: judged on the clock furthest ahead (London's).
    refused = safety.post("/scans", {"code": box(world)})
    assert (refused.status_code, error_code(refused)) == (409, "lot_expired")


@pytest.mark.usefixtures("at_new_york_evening")
def test_a_box_not_on_file_is_judged_on_the_clock_furthest_ahead_not_the_first_clinics(api, world, session):
    make_clinic(session, "AAA", "America/Los_Angeles")  # "Clinic AAA" sorts before London: 19:00 on 1 July there
    session.flush()
    response = api("safety").post("/scans", {"code": box(world, lot="NOTONFILE")})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["lot_record"] is None
    assert "This box expired on 1 Jul 2026." in response.get_json()["warnings"]


@pytest.mark.usefixtures("at_new_york_evening")
def test_a_clinic_level_nurse_is_judged_on_her_clinics_clock_as_before(api, world, session):
    receive(world, world.other_clinic)
    session.flush()
    assert api("other_nurse").post("/scans", {"code": box(world)}).status_code == 200


# --- the follow-up list's default week ------------------------------------------------------------------------


def follow_up(world, session, ref: str, due: dt.date, *, clinic=None, user: str = "nurse"):
    treatment = start_treatment(world, ref, clinic=clinic, user=user)
    treatment.follow_up_on = due
    session.flush()
    return treatment


def listed(api, user: str) -> list[int]:
    response = api(user).get("/follow-ups")
    assert response.status_code == 200
    return [f["treatment_id"] for f in response.get_json()["follow_ups"]]


def test_new_yorks_week_starts_on_new_yorks_date(api, world, session, monkeypatch):
    # 02:00 UTC on 16 June is still 22:00 on 15 June in New York: the week runs to 22 June, not 23 June.
    monkeypatch.setattr("inventory.clinical.api.utcnow", lambda: dt.datetime(2026, 6, 16, 2, 0, tzinfo=dt.UTC))
    in_week = follow_up(world, session, "N-1", dt.date(2026, 6, 22), clinic=world.other_clinic, user="other_nurse")
    follow_up(world, session, "N-2", dt.date(2026, 6, 23), clinic=world.other_clinic, user="other_nurse")
    assert listed(api, "other_nurse") == [in_week.id]


def test_londons_week_starts_on_londons_date(api, world, session, monkeypatch):
    # 23:30 UTC on 15 June is already 00:30 on 16 June in London (summer time): the week runs to 23 June.
    monkeypatch.setattr("inventory.clinical.api.utcnow", lambda: dt.datetime(2026, 6, 15, 23, 30, tzinfo=dt.UTC))
    first = follow_up(world, session, "L-1", dt.date(2026, 6, 22))
    last = follow_up(world, session, "L-2", dt.date(2026, 6, 23))
    follow_up(world, session, "L-3", dt.date(2026, 6, 24))
    assert listed(api, "nurse") == [first.id, last.id]
