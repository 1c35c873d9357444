"""The trace page shows a New York-only safety lead the vial on its way to New York from London, as incoming
stock under New York, and nothing else of London's (no shelf vial, no London patient)."""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from tests.factories import NOW
from tests.transfer_scenes import LON_PATIENT, lot_on_the_road_to_new_york

LATER = NOW + dt.timedelta(hours=2)


@pytest.fixture
def road(world, session):
    return lot_on_the_road_to_new_york(world, session)


def row_of(html: str, row_id: str) -> str:
    row = html[html.index(f'id="{row_id}"'):]
    return row[:row.index("</tr>")]


def clinic_section(html: str, code: str) -> str:
    section = html[html.index(f'data-clinic="{code}"'):]
    end = section.find('class="trace-clinic"', 1)
    return section if end < 0 else section[:end]


def test_the_receiving_clinics_trace_page_shows_the_vial_coming_from_the_sender(browser_client, road):
    client = browser_client("nyc_safety")
    for path in (f"/trace/lots/{road['lot_id']}", "/trace?q=INC1"):
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        row = row_of(html, f"trace-container-{road['vial'].id}")
        assert "incoming" in row
        assert f"on its way to NYC from LON, transfer #{road['transfer'].id}, sent 15 Jun 2026 10:30" in row
        assert "100 U" in row  # what travels
        # Under New York, the clinic it travels to: no London section for a New York-only viewer.
        assert f'id="trace-container-{road["vial"].id}"' in clinic_section(html, "NYC")
        assert 'data-clinic="LON"' not in html
        assert "1</strong> on its way to your clinic" in html
        # Nothing else of London's: its shelf and opened vials, its patient.
        for other in (road["shelf"], road["opened"]):
            assert other.label_code not in html
        assert LON_PATIENT not in html and "LON-7" not in html


def test_refused_and_on_its_way_back_both_ends_see_it(world, session, browser_client, road):
    nyc_manager = world.nyc_manager()
    clinic_transfers.refuse(session, actor=nyc_manager, scope=Scope.for_user(nyc_manager),
                            transfer_id=road["transfer"].id, now=LATER, reason="box crushed")
    session.flush()

    nyc = browser_client("nyc_safety").get(f"/trace/lots/{road['lot_id']}").get_data(as_text=True)
    assert "refused at NYC, on its way back to LON" in row_of(nyc, f"trace-container-{road['vial'].id}")
    lon = browser_client("lon_safety").get(f"/trace/lots/{road['lot_id']}").get_data(as_text=True)
    assert "in transit back NYC → LON (refused)" in row_of(lon, f"trace-container-{road['vial'].id}")


def test_a_clinic_at_neither_end_is_told_there_is_no_such_lot(browser_client, road):
    client = browser_client("par_safety")
    assert client.get(f"/trace/lots/{road['lot_id']}").status_code == 404
    response = client.get("/trace?q=INC1")
    assert response.status_code == 404
    assert road["vial"].label_code not in response.get_data(as_text=True)


def test_the_sending_clinic_sees_it_on_the_road_with_its_own_stock(browser_client, road):
    html = browser_client("lon_safety").get(f"/trace/lots/{road['lot_id']}").get_data(as_text=True)
    row = row_of(html, f"trace-container-{road['vial'].id}")
    assert f"in transit LON → NYC, transfer #{road['transfer'].id}, sent 15 Jun 2026 10:30" in row
    assert "incoming" not in row
    assert f'id="trace-container-{road["vial"].id}"' in clinic_section(html, "LON")
    assert road["shelf"].label_code in html and LON_PATIENT in html
    assert "on its way to your clinic" not in html


def test_the_recall_case_page_shows_the_receiving_clinic_its_incoming_vial(world, session, browser_client, road):
    from recall import services

    case = services.open_recall(session, actor=world.users["safety"], lot_ids=[road["lot_id"]],
                                reason="counterfeit alert", recall_class="I", source="regulator", now=NOW)
    session.flush()

    html = browser_client("nyc_safety").get(f"/recalls/{case.id}").get_data(as_text=True)

    row = row_of(html, f"container-{road['vial'].id}")
    assert "incoming" in row and "on its way to NYC from LON" in row
    assert "On the road: once it is received or back at the sender, mark it here." in row
    assert road["shelf"].label_code not in html and LON_PATIENT not in html
    assert "Containers to take back (1)" in html
    assert "3 open lines at clinics you do not work at" in html  # London's patient, shelf and opened vials
