"""QA: the review of a submitted count said "Expected is today's ledger" under "counted against the ledger now",
while each line's expected is what the ledger held when that line was counted (a dose drawn since is no
difference of the count's): a reviewer saw 86.5 U expected for a vial holding 76.5 U now, and the page said that
86.5 U was today's figure. The review says what its expected figures are."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.factories import NOW, draw, reconstitute, start_treatment
from tests.pages.conftest import csrf_token

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.counts.pages.utcnow", lambda: NOW)


def test_the_review_says_expected_is_the_ledger_when_each_line_was_counted(browser_client, world, session):
    vial = world.container("botox")
    reconstitute(world, vial)
    treatment = start_treatment(world, "P-1")
    draw(world, treatment, vial, "13.5")  # 86.5 U left when the manager counts
    session.flush()
    counter = browser_client("clinic_manager")
    token = csrf_token(counter, "/counts")
    url = counter.post("/counts", data={"location_id": world.location().id, "csrf_token": token}).headers["Location"]
    assert counter.post(f"{url}/lines", data={"code": vial.label_code, "counted": "86.5",
                                              "csrf_token": token}).status_code == 302
    assert counter.post(f"{url}/submit", data={"csrf_token": token}).status_code == 302
    draw(world, treatment, vial, "10", at=NOW + dt.timedelta(hours=1))  # used after it was counted: 76.5 U now
    session.flush()

    review = " ".join(browser_client("manager").get(url).get_data(as_text=True).split())

    assert "86.5 U" in review and "76.5" not in review  # the figures are those of the moment it was counted
    assert "today's ledger" not in review and "against the ledger now" not in review
    assert ("Expected is what the ledger held when each line was counted: what was used since is no difference. "
            "Posting captures it.") in review
