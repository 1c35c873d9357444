"""QA: the clinic's "Kit warning horizon (days)" had no effect on the Kits board, and its page did not say what it does."""

from __future__ import annotations

import re

import pytest

from tests.factories import NOW
from tests.kit_factories import check, days, stock, stocked_kit
from tests.pages.conftest import csrf_token


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.kits.pages.utcnow", lambda: NOW)


def test_the_clinic_settings_page_says_what_the_kit_warning_horizon_does(browser_client, world):
    html = browser_client("admin").get(f"/clinics/{world.clinic.id}").get_data(as_text=True)
    (field,) = re.findall(r'<input[^>]*id="clinic-kit-warning"[^>]*>', html)
    assert 'aria-describedby="clinic-kit-warning-hint"' in field and 'id="clinic-kit-warning-hint"' in html
    assert ("every kit of this clinic turns amber at least this many days before its stock stops counting; a kit "
            "whose template asks for more notice keeps its template's. Each kit warns at the longer of the two.") in html


def test_a_longer_clinic_horizon_turns_the_kit_amber_on_the_board_and_says_why(browser_client, world, session):
    kit = stocked_kit(world)  # its template warns 30 days ahead
    stock(world, kit, "syringe", lot="SY-SHORT", expiry=days(45))
    check(world, kit)
    assert "kit-card kit-ready" in browser_client("nurse").get("/kits").get_data(as_text=True)
    admin = browser_client("admin")
    path = f"/clinics/{world.clinic.id}"
    saved = admin.post(path, data={"csrf_token": csrf_token(admin, path), "code": "LON", "name": "London",
                                   "timezone": "Europe/London", "filler_hold_days": "0", "kit_warning_days": "60"})
    assert saved.status_code == 302, saved.get_data(as_text=True)
    html = browser_client("nurse").get("/kits").get_data(as_text=True)
    assert "kit-card kit-expiring_soon" in html
    assert "lot SY-SHORT expires in 45 days (30 Jul 2026; this clinic warns 60 days ahead)" in html
