"""A container lost in transit is written off at the shelf it left from, and its row still names that shelf: every
page that says where a container is says "Lost in transit (transfer #N, LON → NYC)" instead, never the shelf, as
if it were there. A container on its shelf still reads as before."""

from __future__ import annotations

import html as markup
import re

import pytest

from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from tests.api.conftest import api  # noqa: F401  (the recall case is opened through the API, as its tests do)
from tests.api.test_set_aside_waste_api import open_recall
from tests.factories import NOW, send_transfer, start_treatment
from tests.transfer_scenes import box_lost_on_the_road

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def where(html: str) -> str:
    """The container page's or the cart's Where, as read."""
    match = re.search(r'<dd id="where">(.*?)</dd>', html, re.S)
    assert match is not None, html
    return markup.unescape(match.group(1))


def row(html: str, row_id: str) -> str:
    match = re.search(rf'<tr id="{row_id}".*?</tr>', html, re.S)
    assert match is not None, html
    return markup.unescape(match.group(0))


def test_the_container_page_says_it_was_lost_in_transit_not_the_shelf_it_left(browser_client, world, session):
    transfer, (lost, _), kept = box_lost_on_the_road(world, session)
    words = f"Lost in transit (transfer #{transfer.id}, LON → NYC)"

    manager = where(browser_client("clinic_manager").get(f"/containers/{lost.label_code}").get_data(as_text=True))
    assert manager == f'<a href="/transfers/{transfer.id}">{words}</a>'
    # A nurse may not open transfers: the same words, without the link.
    assert where(browser_client("nurse").get(f"/containers/{lost.label_code}").get_data(as_text=True)) == words
    assert where(browser_client("nurse").get(f"/containers/{kept.label_code}").get_data(as_text=True)) == (
        "LON · Fridge")


def test_a_container_missing_from_a_received_box_says_so_too(browser_client, world, session):
    first, missing = world.receive("botox", lot="MISS9", containers=2).containers
    transfer = send_transfer(world, [first, missing], user="clinic_manager")
    nyc = world.nyc_manager()
    clinic_transfers.receive(session, actor=nyc, scope=Scope.for_user(nyc), transfer_id=transfer.id, now=NOW,
                             missing=[missing.id], missing_reason="slot empty in the box")
    session.flush()
    page = browser_client("clinic_manager").get(f"/containers/{missing.label_code}").get_data(as_text=True)
    assert f"Lost in transit (transfer #{transfer.id}, LON → NYC)" in where(page)
    assert "Fridge" not in where(page)


def test_the_carts_scan_says_it_was_lost_in_transit(browser_client, world, session):
    transfer, (lost, _), kept = box_lost_on_the_road(world, session)
    treatment = start_treatment(world, "LON-1")
    nurse = browser_client("nurse")

    page = nurse.get(f"/cart/treatments/{treatment.id}?scan={lost.label_code}").get_data(as_text=True)
    assert "Do not use." in page
    assert where(page) == f"Lost in transit (transfer #{transfer.id}, LON → NYC)"
    assert where(nurse.get(f"/cart/treatments/{treatment.id}?scan={kept.label_code}").get_data(as_text=True)) == (
        "Fridge")


def test_the_lot_trace_and_the_recall_case_say_where_it_was_lost(api, browser_client, world, session):  # noqa: F811
    lost, kept = world.receive("botox", lot="LOST9", containers=2).containers
    transfer = send_transfer(world, [lost], user="clinic_manager")
    world.nyc_manager()
    session.flush()
    case = open_recall(api, lost.lot_id)  # while the box is on the road: its vial is on the case's list
    assert api("clinic_manager").post(f"/transfers/{transfer.id}/lost", {"reason": "courier lost it"}).status_code == 200
    safety = browser_client("safety")
    words = f"Lost in transit (transfer #{transfer.id}, LON → NYC)"

    trace = safety.get(f"/trace/lots/{lost.lot_id}").get_data(as_text=True)
    line = row(trace, f"trace-container-{lost.id}")
    assert words in line and "Fridge" not in line
    assert "Fridge" in row(trace, f"trace-container-{kept.id}")

    case_page = safety.get(f"/recalls/{case['id']}").get_data(as_text=True)
    line = row(case_page, f"container-{lost.id}")
    assert words in line and "Fridge" not in line


def test_a_transfer_page_says_where_a_container_it_brought_was_lost_later(browser_client, world, session):
    vial = world.container("botox", lot="LATER9")
    first = send_transfer(world, [vial], user="clinic_manager")
    nyc = world.nyc_manager()
    clinic_transfers.receive(session, actor=nyc, scope=Scope.for_user(nyc), transfer_id=first.id, now=NOW)
    second = send_transfer(world, [vial], user=nyc, to=world.location("Fridge"))  # New York sends it back
    clinic_transfers.declare_lost(session, actor=nyc, scope=Scope.for_user(nyc), transfer_id=second.id,
                                  reason="courier reports the parcel lost", now=NOW)
    session.flush()

    page = markup.unescape(browser_client("nyc_manager").get(f"/transfers/{first.id}").get_data(as_text=True))
    assert (f'<a href="/transfers/{second.id}">Lost in transit (transfer #{second.id}, NYC → LON)</a>') in page
    assert "NYC · Fridge, discarded" not in page
