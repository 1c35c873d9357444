"""QA: a chain manager's Adverse events page was empty while a nurse saw an event, with nothing saying why. Each
role reads what it may (the safety lead every event of their clinics; others those they recorded or injected),
and the page says which."""

from __future__ import annotations

from tests.pages.test_adverse_event_seriousness_pages import recorded


def test_a_role_that_sees_only_its_own_events_is_told_so_and_the_safety_lead_sees_all(browser_client, world, session):
    _, event = recorded(browser_client, world, session)
    detail = f'href="/adverse-events/{event.id}"'

    manager = browser_client("manager").get("/adverse-events").get_data(as_text=True)
    assert detail not in manager
    assert "You see the events you recorded and those of treatments you gave" in manager
    assert "No adverse event you recorded, or of a treatment you gave." in manager

    safety = browser_client("safety").get("/adverse-events").get_data(as_text=True)
    assert detail in safety and "You see the events you recorded" not in safety
