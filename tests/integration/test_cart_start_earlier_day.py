"""The cart's Start continues the patient's treatment opened today, never one left open since an earlier day.

QA: on day 30 Start returned the treatment a nurse had left open on day 0, so today's doses went into a visit of
a month before. That visit is over (the cart marks it "open since ..."): Start opens today's treatment beside it,
and the dose checks count both by the time of each draw.
"""

from __future__ import annotations

import datetime as dt

from inventory.cart import service as cart
from inventory.services.permissions import Scope
from tests.factories import NOW, patient, start_treatment

DAY = dt.timedelta(days=1)


def start(world, who, now: dt.datetime):
    return cart.continue_or_start_treatment(world.session, actor=world.users["nurse"], scope=Scope.everything(),
                                            patient_id=who.id, location_id=world.location("Room 1").id, now=now)


def test_a_treatment_left_open_since_an_earlier_day_is_not_continued(world):
    who = patient(world, "P-LEFT")
    day_0 = start_treatment(world, who, at=NOW - 30 * DAY)

    today, opened = start(world, who, NOW)

    assert opened and today.id != day_0.id and today.started_at == NOW
    assert day_0.closed_at is None  # left as it is: closing it stays the nurse's, with its vials' remainders
    assert start(world, who, NOW + dt.timedelta(minutes=5)) == (today, False)  # today's, continued


def test_a_treatment_opened_earlier_today_at_the_clinic_is_continued(world):
    who = patient(world, "P-TODAY")
    # 06:00 in London and 09:30 UTC (10:30 there) are one day at the clinic.
    morning = start_treatment(world, who, at=dt.datetime(2026, 6, 15, 5, 0, tzinfo=dt.UTC))
    assert start(world, who, NOW) == (morning, False)
    # 23:30 in London the evening before is another day, though less than 24 hours before.
    evening = dt.datetime(2026, 6, 14, 22, 30, tzinfo=dt.UTC)
    other = patient(world, "P-EVENING")
    last_night = start_treatment(world, other, at=evening)
    today, opened = start(world, other, NOW)
    assert opened and today.id != last_night.id
