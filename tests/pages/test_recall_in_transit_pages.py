"""The trace and recall case pages show a container on its way between clinics as on the road."""

from __future__ import annotations

import pytest

from recall import services
from tests import factories
from tests.factories import NOW


@pytest.fixture
def road(world, session):
    on_shelf, on_road = world.receive("botox", lot="ROAD1", containers=2).containers
    transfer = factories.send_transfer(world, [on_road])
    session.flush()
    return {"shelf": on_shelf, "vial": on_road, "transfer": transfer, "lot_id": on_road.lot_id}


def row_of(html: str, row_id: str) -> str:
    row = html[html.index(f'id="{row_id}"'):]
    return row[:row.index("</tr>")]


def test_the_trace_page_shows_the_vial_on_the_road(browser_client, road):
    html = browser_client("safety").get(f"/trace/lots/{road['lot_id']}").get_data(as_text=True)
    road_row = row_of(html, f"trace-container-{road['vial'].id}")
    assert f"in transit LON → NYC, transfer #{road['transfer'].id}, sent 15 Jun 2026 10:30" in road_row
    assert "100 U" in road_row  # what travels, not the 0 the source's ledger holds now
    assert "in transit" not in row_of(html, f"trace-container-{road['shelf'].id}")


def test_the_recall_case_page_shows_the_vial_on_the_road(world, session, browser_client, road):
    case = services.open_recall(session, actor=world.users["safety"], lot_ids=[road["lot_id"]],
                                reason="counterfeit alert", recall_class="I", source="regulator", now=NOW)
    session.flush()
    html = browser_client("safety").get(f"/recalls/{case.id}").get_data(as_text=True)
    road_row = row_of(html, f"container-{road['vial'].id}")
    assert f"in transit LON → NYC, transfer #{road['transfer'].id}, sent 15 Jun 2026 10:30" in road_row
    assert "LON · Fridge" not in road_row
    assert "LON · Fridge" in row_of(html, f"container-{road['shelf'].id}")
    # Settled where it arrives: no "Returned / Destroyed" for it, nor a box to tick for the bulk action.
    assert "On the road: once it is received or back at the sender, mark it here." in road_row
    assert 'name="status"' not in road_row and 'name="container_ids"' not in road_row
    assert 'name="status"' in row_of(html, f"container-{road['shelf'].id}")
