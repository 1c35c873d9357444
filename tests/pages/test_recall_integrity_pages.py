"""The recall pages tell the safety lead what the lists alone would hide: a patient whose every dose from the
case's lots was reversed (she received none: "not required" is offered, in any class), and stock found in a
recalled lot after its case closed (no open case asks anyone to return or destroy it: open a new case)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from inventory.counts import service as counts
from inventory.counts.service import LineSpec
from inventory.services.permissions import Scope
from recall import services
from recall.models import NotificationStatus, RecallCase, RecallPatient
from tests import factories, recall_helpers as rh
from tests.api.test_recall_api import Data
from tests.factories import EVERYWHERE, NOW
from tests.pages.conftest import csrf_token
from tests.pages.test_recall_pages import no_inline_code


@pytest.fixture
def data(world):
    return Data(world)


def test_the_case_page_shows_a_patient_who_received_none_and_offers_not_required(browser_client, data, world,
                                                                                  session):
    case = services.open_recall(session, actor=world.users["safety"], lot_ids=[data.lot.id], reason="Notice 19",
                                recall_class="I", source="manufacturer", now=NOW)
    rh.reverse(world, data.draw)  # Ann's dose, recorded by mistake and corrected; Ned's stands
    client = browser_client("safety")

    html = client.get(f"/recalls/{case.id}").get_data(as_text=True)

    ann_row = html.split(f'id="patient-{data.ann.id}"')[1].split("</tr>")[0]
    ned_row = html.split(f'id="patient-{data.nyc_patient.id}"')[1].split("</tr>")[0]
    assert "reversed: not given" in ann_row and "Ann Lee received none of them" in ann_row
    assert f'id="not-required-{data.ann.id}"' in ann_row and 'value="not_required"' in ann_row
    assert "received none" not in ned_row and "not_required" not in ned_row
    assert "1 pending patient received none of these lots" in html
    no_inline_code(html)

    token = csrf_token(client, f"/recalls/{case.id}")
    done = client.post(f"/recalls/{case.id}/patients/{data.ann.id}",
                       data={"csrf_token": token, "status": "not_required"}, follow_redirects=True)
    assert "Ann Lee: not required." in done.get_data(as_text=True)
    refused = client.post(f"/recalls/{case.id}/patients/{data.nyc_patient.id}",
                          data={"csrf_token": token, "status": "not_required"}, follow_redirects=True)
    assert "Ned Ray received 8 U (0.2 mL) of Botox Cosmetic 100 U lot C3709C3" in refused.get_data(as_text=True)
    session.expire_all()
    statuses = dict(session.execute(select(RecallPatient.patient_id, RecallPatient.status)
                                    .where(RecallPatient.case_id == case.id)).all())
    assert statuses == {data.ann.id: NotificationStatus.NOT_REQUIRED, data.nyc_patient.id: NotificationStatus.PENDING}
    html = client.get(f"/recalls/{case.id}").get_data(as_text=True)
    assert f'id="not-required-{data.ann.id}"' not in html  # done: the shortcut is gone


def found_after_close(world, session) -> tuple[RecallCase, object]:
    """Lot QP1: one vial returned for a closed case, one recorded as dropped and found again by a count."""
    kept, lost = world.receive("botox", lot="QP1", containers=2).containers
    factories.waste(world, lost, "dropped", user="manager")
    safety = world.users["safety"]
    case = services.open_recall(session, actor=safety, lot_ids=[kept.lot_id], reason="Notice 19",
                                recall_class="II", source="manufacturer", now=NOW)
    services.update_container(session, actor=safety, scope=EVERYWHERE, case_id=case.id, container_id=kept.id,
                              status="returned", now=NOW)
    services.close_case(session, actor=safety, case_id=case.id, now=NOW)
    counter, reviewer = world.users["clinic_manager"], world.users["manager"]
    at = NOW + dt.timedelta(days=1)
    count = counts.start_count(session, actor=counter, scope=Scope.for_user(counter),
                               location_id=world.location().id, now=at)
    counts.add_line(session, actor=counter, scope=Scope.for_user(counter), count_id=count.id,
                    spec=LineSpec(container=lost.label_code, counted=Decimal(100)), now=at)
    counts.submit(session, actor=counter, scope=Scope.for_user(counter), count_id=count.id, now=at)
    counts.post(session, actor=reviewer, scope=Scope.for_user(reviewer), count_id=count.id, now=at)
    return case, lost


def test_stock_found_after_a_case_closed_is_shown_with_a_way_to_act(browser_client, world, session):
    case, lost = found_after_close(world, session)
    client = browser_client("safety")

    board = client.get("/recalls").get_data(as_text=True)
    assert "Recalled stock that no open case covers" in board and lost.label_code in board
    assert f"/trace/lots/{lost.lot_id}#open-recall-{lost.lot_id}" in board
    no_inline_code(board)
    closed = client.get(f"/recalls/{case.id}").get_data(as_text=True)
    assert "Stock found after this case closed" in closed and lost.label_code in closed
    trace = client.get(f"/trace/lots/{lost.lot_id}").get_data(as_text=True)
    assert "no open recall case asks anyone to return or destroy them" in trace
    assert f'id="open-recall-{lost.lot_id}" open' in trace and "Open a new recall case" in trace

    token = csrf_token(client, f"/trace/lots/{lost.lot_id}")
    opened = client.post("/recalls", data={"csrf_token": token, "lot_ids": str(lost.lot_id),
                                           "reason": "found at the count", "recall_class": "II",
                                           "source": "internal"})
    assert opened.status_code == 302, opened.get_data(as_text=True)
    new_case = client.get(opened.headers["Location"]).get_data(as_text=True)
    assert lost.label_code in new_case and "Stock found after this case closed" not in new_case
    assert "Recalled stock that no open case covers" not in client.get("/recalls").get_data(as_text=True)
    assert "Stock found after this case closed" not in client.get(f"/recalls/{case.id}").get_data(as_text=True)


def test_the_change_log_shows_the_found_stock(browser_client, world, session):
    case, lost = found_after_close(world, session)

    html = browser_client("admin").get("/access-log?kind=changes").get_data(as_text=True)

    row = html.split('<tr data-action="recall.stock_after_close">')[1].split("</tr>")[0]
    assert lost.label_code in row and f"case(s) {case.id} closed: no open case takes it" in row
    assert "Botox Cosmetic 100 U QP1" in row
