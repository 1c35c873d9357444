"""The patient's record on the cart, the checklist page and the follow-ups page."""

from __future__ import annotations

import datetime as dt

from inventory.models import Treatment, utcnow
from tests.factories import World, draw, reconstitute, start_treatment
from tests.pages.conftest import csrf_token

DAY = dt.timedelta(days=1)


def start(world: World, ref: str, days_ago: int = 0) -> Treatment:
    return start_treatment(world, ref, at=utcnow() - days_ago * DAY)


def test_the_cart_shows_what_the_patient_received_before(browser_client, world, session):
    earlier = start(world, "P-HIST", days_ago=30)
    draw(world, earlier, reconstitute(world, world.container("botox"), at=earlier.started_at), "20",
         at=earlier.started_at)
    today = start(world, "P-HIST")
    session.flush()
    html = browser_client("nurse").get(f"/cart/treatments/{today.id}").get_data(as_text=True)
    assert "onabotulinumtoxinA</strong>: last" in html and "(30 days ago), 20 U" in html
    assert "Checklist not answered yet" in html


def test_the_checklist_page_saves_the_answers_and_the_cart_shows_what_to_weigh(browser_client, world, session):
    treatment = start(world, "P-CHECK")
    session.flush()
    client = browser_client("nurse")
    url = f"/cart/treatments/{treatment.id}/checklist"
    page = client.post(url, data={"csrf_token": csrf_token(client, url), "pregnant": "y", "notes": "28 weeks"},
                       follow_redirects=True)
    assert page.status_code == 200 and "Checklist saved." in page.get_data(as_text=True)
    assert "Checklist: Pregnant or breastfeeding" in page.get_data(as_text=True)
    session.refresh(treatment)
    assert treatment.checklist["answers"] == {"blood_thinners": False, "pregnant": True, "autoimmune": False,
                                              "recent_vaccine_or_infection": False, "dental_work_planned": False,
                                              "notes": "28 weeks"}


def test_a_follow_up_is_set_on_the_cart_listed_and_marked_done(browser_client, world, session):
    treatment = start(world, "P-FOLLOW")
    session.flush()
    client = browser_client("nurse")
    cart_url = f"/cart/treatments/{treatment.id}"
    due = (utcnow() + 2 * DAY).date()
    client.post(f"{cart_url}/follow-up", data={"csrf_token": csrf_token(client, cart_url),
                                               "follow_up_on": due.isoformat()})
    listing = client.get("/follow-ups").get_data(as_text=True)
    assert "Patient P-FOLLOW</a>" in listing
    client.post(f"/follow-ups/{treatment.id}/done", data={"csrf_token": csrf_token(client, "/follow-ups")})
    assert "Patient P-FOLLOW</a>" not in client.get("/follow-ups").get_data(as_text=True)
    refused = client.post(f"{cart_url}/follow-up", data={"csrf_token": csrf_token(client, cart_url),
                                                        "follow_up_on": "2001-01-01"}, follow_redirects=True)
    assert "A follow-up cannot be before the treatment." in refused.get_data(as_text=True)
    session.refresh(treatment)
    assert treatment.follow_up_on == due
