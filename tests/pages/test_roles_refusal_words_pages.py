"""A refused role is told in words what it lacks: what the page or request covers and which roles may do it.

"Your role (Nurse / injector) may not open this page." left a nurse guessing whom to ask; the page and the API
now name the work and the roles that do it, from one rule (permissions.refusal).
"""

from __future__ import annotations

import html

import pytest

from tests.api.conftest import api  # noqa: F401  (the API client fixture, shared with the API tests)


@pytest.mark.parametrize(("who", "path", "words"), [
    ("nurse", "/recalls", "recalls, quarantine, patient traces, holds and lot signals are for a safety lead or an admin"),
    ("nurse", "/counts", "receiving, counts, adjustments and transfers are for a manager or an admin"),
    ("manager", "/users", "users, clinics, their settings and the access log are for an admin"),
    ("safety", "/reconciliation", "reconciliation reports and their exports are for a manager or an admin"),
    ("nurse", "/cold-chain", "temperature excursions and the cold chain are for a manager, a safety lead or an admin"),
])
def test_a_refused_page_says_what_the_role_lacks_and_who_may(browser_client, who, path, words):
    response = browser_client(who).get(path)

    assert response.status_code == 403
    text = html.unescape(response.get_data(as_text=True))
    assert words in text
    assert "may not open this page:" in text


def test_a_refused_request_says_the_same_in_the_api(api):  # noqa: F811
    response = api("nurse").post("/recalls", {"lot_ids": [1], "reason": "x", "recall_class": "I",
                                              "source": "internal"})

    assert response.status_code == 403
    error = response.get_json()["error"]
    assert error["code"] == "forbidden"
    assert error["details"] == {"permission": "recall"}
    assert error["message"] == (
        "Your role (Nurse / injector) may not do this: recalls, quarantine, patient traces, holds and lot "
        "signals are for a safety lead or an admin. Ask an admin if your work needs it.")
