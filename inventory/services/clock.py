"""Clinic-local dates and the one way people read them.

Expiry is a date that holds through the end of that day where the clinic is. Pages,
messages and labels show dates as "3 Dec 2026" and moments as "3 Dec 2026 14:05" in
the clinic's zone (unambiguous in London and New York alike); the API and exports
keep ISO 8601.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# Fixed English month names: strftime's %b follows the server's locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def clinic_today(now: dt.datetime, timezone: str) -> dt.date:
    return now.astimezone(ZoneInfo(timezone)).date()


def to_clinic_time(moment: dt.datetime, timezone: str) -> dt.datetime:
    return moment.astimezone(ZoneInfo(timezone))


def typed_moment_utc(moment: dt.datetime, timezone: str) -> dt.datetime:
    """A moment a person typed, in UTC: one with an offset is that moment; one without is read on the clinic's
    wall clock ("08:00" is 08:00 in London and 08:00 in New York). Raises OverflowError out of range."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(timezone))).astimezone(dt.UTC)


def is_time_zone(name: str) -> bool:
    """Whether ``name`` is an IANA time zone this server knows ("Europe/London"), exactly as given."""
    if name not in available_timezones():  # ZoneInfo alone also reads files that name no zone (posixrules)
        return False
    try:
        ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        return False
    return True


def format_date(day: dt.date) -> str:
    """ "3 Dec 2026". """
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def format_clinic_time(moment: dt.datetime, timezone: str, *, zone: bool = False) -> str:
    """ "3 Dec 2026 14:05" on the clinic's wall clock: every page and message says a moment this way. ``zone``
    names the clock after it ("3 Dec 2026 14:05 GMT", "5 Dec 2026 12:50 UTC"), where moments of several
    clinics, or of no clinic, are read together."""
    local = to_clinic_time(moment, timezone)
    said = f"{format_date(local.date())} {local:%H:%M}"
    return f"{said} {local.tzname()}" if zone else said


def api_moment(moment: dt.datetime) -> str:
    """A moment as the API writes it, in UTC with ``Z`` ("2026-12-04T05:06:00Z", microseconds when it has
    them): what every response model's datetime reads as (pydantic), for moments in an error's ``details`` or a
    reason's ``data``, which are plain dicts."""
    utc = moment.astimezone(dt.UTC)
    return utc.replace(tzinfo=None).isoformat() + "Z"
