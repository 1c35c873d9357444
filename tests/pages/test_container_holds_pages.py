"""QA: a container held after an excursion and released showed only "receive" in its history: a hold is no
movement. Its page now names each hold, the excursion that caused it, and who ended it, how and why."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from inventory.cold_chain import service as cold_chain
from inventory.models import utcnow
from inventory.services.permissions import Scope


def _excursion(world, session, now, *, hours_ago: int, max_c: str):
    cold_chain.record_excursion(
        session, actor=world.users["manager"], scope=Scope.everything(), location_id=world.location().id,
        started_at=now - dt.timedelta(hours=hours_ago), ended_at=now - dt.timedelta(hours=hours_ago - 1),
        min_c=Decimal(9), max_c=Decimal(max_c), now=now - dt.timedelta(hours=hours_ago - 1))


def test_a_containers_page_names_each_hold_and_how_it_ended(browser_client, world, session):
    vial = world.container("botox", now=utcnow() - dt.timedelta(days=2))
    now = utcnow()
    _excursion(world, session, now, hours_ago=5, max_c="12.5")
    cold_chain.release_hold(session, actor=world.users["safety"], scope=Scope.everything(), container_id=vial.id,
                            reason="maker's stability data allow it", now=now - dt.timedelta(hours=3))
    _excursion(world, session, now, hours_ago=2, max_c="14")
    session.flush()
    html = browser_client("nurse").get(f"/containers/{vial.label_code}").get_data(as_text=True)
    holds = html[html.index('<ul class="container-holds">'):html.index("</ul>", html.index("container-holds"))]
    first, second = holds.split("<li>")[1:]
    assert "was at 9 to 12.5 °C" in first and "Released" in first
    assert "by safety" in first and ": maker&#39;s stability data allow it." in first
    assert "was at 9 to 14 °C" in second and "Still on hold." in second


def test_a_container_never_held_shows_no_holds(browser_client, world, session):
    vial = world.container("botox")
    session.flush()
    html = browser_client("nurse").get(f"/containers/{vial.label_code}").get_data(as_text=True)
    assert "container-holds" not in html and "<h2>History</h2>" in html
