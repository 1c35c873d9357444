"""A container a destination declared missing in transit is written off at the sender and reads "discarded"
there: the lot trace and the recall case say it went missing in transit, with the transfer, rather than leave the
safety lead to think someone threw it away."""

from __future__ import annotations

import re

from tests.api.conftest import api  # noqa: F401  (the scene is set through the API, as its API test does)
from tests.api.test_transfer_missing_api import box_of_three
from tests.api.test_set_aside_waste_api import open_recall


def cell(html: str, row_id: str) -> str:
    match = re.search(rf'<tr id="{row_id}".*?</tr>', html, re.S)
    assert match is not None, html
    return match.group(0)


def test_the_trace_and_the_case_say_a_container_went_missing_in_transit(api, browser_client, world, session):  # noqa: F811
    transfer_id, (first, second, lost), kept = box_of_three(api, world, lot="LOST1")
    case = open_recall(api, lost.lot_id)  # while the box is on the road: its vials are on the case's list
    received = api(world.nyc_manager()).post(f"/transfers/{transfer_id}/receive", {
        "arrived": [first.id, second.id], "missing_reason": "only two vials in the box"})
    assert received.status_code == 200, received.get_json()
    safety = browser_client("safety")

    trace = safety.get(f"/trace/lots/{lost.lot_id}").get_data(as_text=True)
    row = cell(trace, f"trace-container-{lost.id}")
    assert f"missing in transit (transfer {transfer_id})" in row and f'href="/transfers/{transfer_id}"' in row
    assert "missing in transit" not in cell(trace, f"trace-container-{kept.id}")

    line = cell(safety.get(f"/recalls/{case['id']}").get_data(as_text=True), f"container-{lost.id}")
    assert f"Missing in transit (transfer {transfer_id}): written off, mark it destroyed." in line
    assert 'value="returned"' not in line
