"""The follow-ups page's default week starts from the clinic's own date, not UTC's."""

from __future__ import annotations

import datetime as dt

from tests.factories import start_treatment


def test_the_follow_ups_page_counts_the_week_from_new_yorks_date(browser_client, world, session, monkeypatch):
    # 02:00 UTC on 16 June is still 22:00 on 15 June in New York: the week runs to 22 June.
    monkeypatch.setattr("inventory.clinical.pages.utcnow", lambda: dt.datetime(2026, 6, 16, 2, 0, tzinfo=dt.UTC))
    for ref, due in (("N-IN", dt.date(2026, 6, 22)), ("N-OUT", dt.date(2026, 6, 23))):
        treatment = start_treatment(world, ref, clinic=world.other_clinic, user="other_nurse")
        treatment.follow_up_on = due
    session.flush()
    html = browser_client("other_nurse").get("/follow-ups").get_data(as_text=True)
    assert 'name="due_before" value="2026-06-22"' in html
    assert "N-IN" in html and "N-OUT" not in html
