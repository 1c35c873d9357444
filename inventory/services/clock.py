"""Clinic-local dates. Expiry is a date that holds through the end of that day where the clinic is."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo


def clinic_today(now: dt.datetime, timezone: str) -> dt.date:
    return now.astimezone(ZoneInfo(timezone)).date()


def to_clinic_time(moment: dt.datetime, timezone: str) -> dt.datetime:
    return moment.astimezone(ZoneInfo(timezone))
