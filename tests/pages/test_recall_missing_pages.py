"""The recall case page never offers "Returned to supplier" for a container a count found missing: the server
refuses it (409 recall_item_wasted), so the page offers "Destroyed" and says why, as it does for a wasted one."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from inventory.models import utcnow
from tests.api.conftest import api  # noqa: F401  (the scene is set through the API, as its API test does)
from tests.api.test_recall_count_missing_api import FAR, post_count
from tests.api.test_set_aside_waste_api import open_recall, syringe

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def row_of(html: str, container_id: int) -> str:
    match = re.search(rf'<tr id="container-{container_id}".*?</tr>', html, re.S)
    assert match is not None, html
    return match.group(0)


def test_a_container_found_missing_is_offered_destroyed_only_and_another_still_returned(
        api, browser_client, world, session):  # noqa: F811 (the fixture imported above)
    missing = syringe(world, session, lot="VM88M")
    in_stock = world.container("filler", lot="VM88M", expiry=FAR, now=utcnow() - dt.timedelta(days=1))
    session.flush()
    case = open_recall(api, missing.lot_id)
    post_count(api, world, missing, "0")

    html = browser_client("safety").get(f"/recalls/{case['id']}").get_data(as_text=True)

    gone = row_of(html, missing.id)
    assert 'value="returned"' not in gone and 'value="destroyed"' in gone
    assert "Found missing by a count: mark it destroyed" in gone
    kept = row_of(html, in_stock.id)
    assert 'value="returned"' in kept and "Found missing" not in kept
    # The form for many at once still offers both, and says which ones are destroyed only.
    bulk = re.search(r'<form[^>]*id="bulk-containers".*?</form>', html, re.S).group(0)
    assert 'value="returned"' in bulk and "Wasted or missing containers are marked destroyed" in bulk
