"""A cart page stays open all day between patients: a form sent an hour or more after the page was loaded was
refused with Flask-WTF's "The CSRF token has expired." and the scan was lost. The token lives as long as the page
session (which sign-in and sign-out end); a form that fails the check all the same (signed out in another tab,
another user signed in) is answered in words, with the way back."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from inventory.models import Treatment
from tests.pages.test_cart_form_once_pages import page_form


def test_a_cart_page_left_open_for_hours_still_starts_a_treatment(browser_client, world, session, monkeypatch):
    client = browser_client("nurse")
    data = {**page_form(client, "/cart", ""), "external_ref": "P-1002", "name": "Omar Reyes",
            "location_id": world.location("Room 1").id}
    later = time.time() + 5 * 3600
    monkeypatch.setattr(time, "time", lambda: later)

    started = client.post("/cart", data=data)

    assert started.status_code == 302, started.get_data(as_text=True)
    assert session.scalar(select(func.count(Treatment.id))) == 1


def test_a_form_from_an_ended_session_is_refused_in_words_with_the_way_back(browser_client, world, session):
    client = browser_client("nurse")
    data = {**page_form(client, "/cart", ""), "external_ref": "P-1002", "name": "Omar Reyes",
            "location_id": world.location("Room 1").id}
    data["csrf_token"] = "a token of another session"

    refused = client.post("/cart", data=data, headers={"Referer": "http://localhost/cart"})

    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "CSRF" not in html
    assert "Nothing was saved" in html and 'href="/cart"' in html
    assert session.scalar(select(func.count(Treatment.id))) == 0
