"""The admin trail has words for every action recorded on the things the admin pages show (users, clinics,
locations, products), read from the source that records them; one the trail does not know reads as words too.
Moments are said one way everywhere: "5 Dec 2026 12:50", no leading zero, the zone named where asked."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from inventory.admin.trail import ACTION_WORDS, action_words
from inventory.services.clock import format_clinic_time

ROOT = Path(__file__).resolve().parents[2]
RECORDED = re.compile(r"""["'](?:user|clinic|location|product|settings?)\.[a-z_]+["']""")


def _recorded_actions() -> set[str]:
    found: set[str] = set()
    for package in ("inventory", "recall"):
        for path in (ROOT / package).rglob("*.py"):
            found |= {match.strip("\"'") for match in RECORDED.findall(path.read_text())}
    return found


def test_every_action_recorded_on_what_the_admin_pages_show_has_words():
    recorded = _recorded_actions()
    assert {"user.deactivated", "user.password_changed", "clinic.dose_range_changed", "location.retired",
            "product.sharing_changed"} <= recorded  # the source is read
    assert recorded - set(ACTION_WORDS) == set()


def test_an_action_the_trail_does_not_know_reads_as_its_last_words():
    assert action_words("user.locked_out") == "Locked out"
    assert action_words("odd") == "Odd"
    assert action_words("") == "Changed"


def test_a_moment_is_said_without_a_leading_zero_and_with_its_zone_when_asked():
    moment = dt.datetime(2026, 12, 5, 12, 50, tzinfo=dt.UTC)
    assert format_clinic_time(moment, "UTC", zone=True) == "5 Dec 2026 12:50 UTC"
    assert format_clinic_time(moment, "America/New_York", zone=True) == "5 Dec 2026 07:50 EST"
    assert format_clinic_time(moment, "Europe/London") == "5 Dec 2026 12:50"
