"""Pure rules, no database: how long a logger's excursion lasts, and when an adverse event is serious."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from inventory.adverse_events.models import EventKind, Severity
from inventory.adverse_events.service import NOT_SERIOUS, seriousness_of
from inventory.cold_chain.service import Reading, excursion_runs

DAY = dt.datetime(2026, 6, 15, tzinfo=dt.UTC)


def readings(*pairs: tuple[str, str]) -> list[Reading]:
    out = []
    for line, (hhmm, celsius) in enumerate(pairs, start=1):
        hour, minute = map(int, hhmm.split(":"))
        out.append(Reading(DAY.replace(hour=hour, minute=minute), Decimal(celsius), line))
    return out


def spans(pairs: list[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    return [(f"{r.started_at:%H:%M}", f"{r.ended_at:%H:%M}", str(r.min_c), str(r.max_c))
            for r in excursion_runs(readings(*pairs))]


def test_an_excursion_ends_at_the_next_reading_in_range_not_at_its_last_reading_out_of_it():
    assert spans([("14:24", "5.0"), ("14:25", "9.1"), ("14:27", "10.2"), ("14:29", "4.0"), ("14:30", "1.5"),
                  ("14:31", "3.0")]) == [("14:25", "14:29", "9.1", "10.2"), ("14:30", "14:31", "1.5", "1.5")]


def test_an_excursion_at_the_end_of_the_log_lasts_until_its_last_reading():
    assert spans([("10:00", "5"), ("10:05", "9"), ("10:10", "11")]) == [("10:05", "10:10", "9", "11")]
    assert spans([("10:00", "1")]) == [("10:00", "10:00", "1", "1")]


def test_readings_all_in_range_make_no_excursion_and_the_bounds_are_in_range():
    assert spans([("10:00", "2"), ("10:05", "8"), ("10:10", "5")]) == []


@pytest.mark.parametrize(("kind", "severity", "rescued", "serious"), [
    (EventKind.VASCULAR_OCCLUSION, Severity.SEVERE, True, True),  # QA's report: serious, though "severe"
    (EventKind.VASCULAR_OCCLUSION, Severity.MILD, False, True),  # serious by its nature
    (EventKind.BRUISING_SWELLING, Severity.SEVERE, False, False),  # severity is not seriousness
    (EventKind.BRUISING_SWELLING, Severity.SERIOUS, False, True),  # the reporter's choice is kept
    (EventKind.NODULE, Severity.MODERATE, True, True),  # dissolved with hyaluronidase: an intervention
    (EventKind.ALLERGIC_REACTION, Severity.SEVERE, False, True),  # read as anaphylaxis
    (EventKind.ALLERGIC_REACTION, Severity.MODERATE, False, False),
    (EventKind.PTOSIS, Severity.SEVERE, False, False),
])
def test_seriousness_follows_the_regulators_criteria(kind, severity, rescued, serious):
    assert seriousness_of(kind=kind, severity=severity, rescued=rescued).is_serious is serious


def test_seriousness_gives_every_reason_and_says_what_to_do_when_none_applies():
    both = seriousness_of(kind=EventKind.VASCULAR_OCCLUSION, severity=Severity.SERIOUS, rescued=True)
    assert len(both.reasons) == 3 and str(both).startswith("marked serious by the reporter; vascular occlusion")
    assert str(seriousness_of(kind=EventKind.OTHER, severity=Severity.MILD, rescued=False)) == NOT_SERIOUS
