"""The patient page says hyaluronidase's USP units and IU apart (never "1650 IU"), and a toxin's units per molecule."""

from __future__ import annotations

import pytest

from tests.api.test_history_unit_pools_api import treat_with_every_pool
from tests.factories import NOW

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def test_the_patient_page_says_each_pool_apart(browser_client, world, session, monkeypatch):
    monkeypatch.setattr("inventory.cart.patient_pages.utcnow", lambda: NOW)
    treatment = treat_with_every_pool(world, session)
    html = browser_client("nurse").get(f"/patients/{treatment.patient_id}").get_data(as_text=True)
    assert "1650" not in html
    assert "150 USP U in the last 90 days" in html and "1500 IU in the last 90 days" in html
    # Botox's 50 U and 100 U vials add up (20 U + 10 U); Dysport's 50 U stand apart.
    assert "30 U in the last 90 days" in html and "50 U in the last 90 days" in html
