"""A notice that names several lots, worked on the pages (QA: the trace page traced one lot number at a time and
each lot's form opened a case on that lot alone, so a manufacturer's notice of two lots made two cases, and a
patient who received both was on two lists, telephoned and sent a letter twice; only the API named several lots in
one case). The lots are added to one trace one after another, and one case names them all."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from inventory.models import AuditEvent, LotStatus
from recall.models import RecallCase, RecallPatient
from tests import recall_helpers as rh
from tests.factories import patient, reconstitute
from tests.pages.conftest import csrf_token


@pytest.fixture
def notice(world):
    """Ann received both lots of the notice, Bea only the second; a lot of another product stays out of it."""
    rh.share_toxins(world)
    first = reconstitute(world, world.container("botox", lot="NOTE-A1"))
    second = reconstitute(world, world.container("botox", lot="NOTE-B2"))
    ann, bea = patient(world, "L-1", name="Ann Lee"), patient(world, "L-2", name="Bea Cole")
    rh.give(world, rh.treat(world, ann), first, "4")
    rh.give(world, rh.treat(world, ann), second, "4")
    rh.give(world, rh.treat(world, bea), second, "4")
    world.session.flush()
    return {"first": first.lot, "second": second.lot, "ann": ann, "bea": bea}


def lot_sections(html: str) -> list[str]:
    return re.findall(r'class="panel trace-lot[^"]*" data-lot-id="(\d+)"', html)


def test_a_second_lot_is_added_to_the_trace_and_the_first_stays(browser_client, notice, session):
    client = browser_client("safety")
    first_page = client.get("/trace?q=NOTE-A1").get_data(as_text=True)
    assert 'id="q-more"' in first_page and f'name="lot_id" value="{notice["first"].id}"' in first_page
    response = client.get(f"/trace?lot_id={notice['first'].id}&q=note-b2")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert lot_sections(html) == [str(notice["first"].id), str(notice["second"].id)]
    assert "One recall for these lots" in html and "products have a lot numbered" not in html
    assert html.count('name="lot_ids" value=') == 2 + 2  # the joint form's two ticks, and each lot's own form
    session.expire_all()
    logged = session.scalars(select(AuditEvent).where(AuditEvent.action == "patient_data.viewed")
                             .order_by(AuditEvent.id.desc())).first()
    assert logged is not None and sorted(logged.details["lot_ids"]) == sorted([notice["first"].id,
                                                                               notice["second"].id])


def test_one_recall_names_both_lots_and_lists_each_patient_once(browser_client, notice, session):
    client = browser_client("safety")
    token = csrf_token(client, f"/trace?lot_id={notice['first'].id}&q=NOTE-B2")
    page = client.post("/recalls", data={"csrf_token": token, "lot_ids": [notice["first"].id, notice["second"].id],
                                         "recall_class": "II", "source": "manufacturer",
                                         "reason": "Notice 2026-12 names lots NOTE-A1 and NOTE-B2"},
                       follow_redirects=True)
    assert "2 patients to notify" in page.get_data(as_text=True)
    session.expire_all()
    case = session.scalars(select(RecallCase)).one()
    assert sorted(rl.lot_id for rl in case.lots) == sorted([notice["first"].id, notice["second"].id])
    assert session.scalar(select(func.count(RecallPatient.id))) == 2
    assert {notice["first"].status, notice["second"].status} == {LotStatus.RECALLED}


def test_a_mistyped_next_lot_keeps_the_lots_traced_and_says_why(browser_client, notice):
    client = browser_client("safety")
    response = client.get(f"/trace?lot_id={notice['first'].id}&q=NOTHERE9")
    html = response.get_data(as_text=True)
    assert lot_sections(html) == [str(notice["first"].id)]
    assert "No lot NOTHERE9 on file" in html
    # A slip for a lot on file: the suggestion keeps the lots traced.
    html = client.get(f"/trace?lot_id={notice['first'].id}&q=NOTE-B").get_data(as_text=True)
    assert f"/trace?lot_id={notice['first'].id}&amp;lot_id={notice['second'].id}" in html


def test_the_same_lot_scanned_again_is_said_to_be_on_the_trace(browser_client, notice):
    html = browser_client("safety").get(f"/trace?lot_id={notice['first'].id}&q=NOTE-A1").get_data(as_text=True)
    assert lot_sections(html) == [str(notice["first"].id)]
    assert "is on this trace already" in html and "One recall for these lots" not in html


def test_a_lot_in_an_open_case_is_left_out_of_the_joint_recall(browser_client, notice, world):
    client = browser_client("safety")
    token = csrf_token(client, f"/trace/lots/{notice['second'].id}")
    client.post("/recalls", data={"csrf_token": token, "lot_ids": [notice["second"].id], "recall_class": "I",
                                  "source": "regulator", "reason": "earlier notice"})
    html = client.get(f"/trace?lot_id={notice['first'].id}&q=NOTE-B2").get_data(as_text=True)
    assert len(lot_sections(html)) == 2 and "One recall for these lots" not in html


def test_a_refused_joint_recall_comes_back_to_the_trace_of_its_lots(browser_client, notice):
    client = browser_client("safety")
    token = csrf_token(client, f"/trace?lot_id={notice['first'].id}&q=NOTE-B2")
    response = client.post("/recalls", data={"csrf_token": token, "lot_ids": [notice["first"].id,
                                                                              notice["second"].id],
                                             "recall_class": "II", "source": "manufacturer", "reason": ""})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(
        f"/trace?lot_id={notice['first'].id}&lot_id={notice['second'].id}")
