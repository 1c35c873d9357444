"""A logger that writes the clinic's wall clock passes 01:00-02:00 twice on the night the clocks go back. Its
lines come in the order they were read, so the second 01:10 is an hour after the first, not the same moment:
the excursion read from them is placed when it happened (here 01:10-01:40 UTC, not an hour earlier)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from inventory.cold_chain.service import excursion_runs, parse_readings

UTC = dt.UTC


def utc(hour: int, minute: int, day: int = 25) -> dt.datetime:
    return dt.datetime(2026, 10, day, hour, minute, tzinfo=UTC)


def test_the_hour_passed_twice_when_the_clocks_go_back_is_read_in_the_order_of_the_log():
    log = "\n".join([
        "2026-10-25 00:50,5.0",  # BST: 23:50 UTC the day before
        "2026-10-25 01:10,5.0",  # BST: 00:10 UTC
        "2026-10-25 01:40,5.0",  # BST: 00:40 UTC
        "2026-10-25 01:10,12.0",  # the clocks went back: GMT, 01:10 UTC
        "2026-10-25 01:40,5.0",  # GMT: 01:40 UTC
        "2026-10-25 02:10,5.0",
    ])

    readings = parse_readings(log, timezone="Europe/London")

    assert [r.at for r in readings] == [utc(23, 50, 24), utc(0, 10), utc(0, 40), utc(1, 10), utc(1, 40), utc(2, 10)]
    (run,) = excursion_runs(readings)
    assert (run.started_at, run.ended_at, run.max_c) == (utc(1, 10), utc(1, 40), Decimal("12.0"))


def test_an_hour_passed_once_is_read_as_before():
    readings = parse_readings("2026-10-25 01:10,5.0\n2026-10-25 01:40,12.0", timezone="Europe/London")

    assert [r.at for r in readings] == [utc(0, 10), utc(0, 40)]  # the first 01:10 and 01:40 (BST)
