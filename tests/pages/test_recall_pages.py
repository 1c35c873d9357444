"""The recall pages through the test client: trace, quarantine, a case worked to closing, the access log."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from inventory.models import AuditEvent, LotStatus
from recall.models import RecallCase
from tests import recall_helpers as rh
from tests.factories import patient, reconstitute
from tests.pages.conftest import csrf_token


@pytest.fixture
def data(world):
    rh.share_toxins(world)
    vial = reconstitute(world, world.container("botox", lot="C3709C3"))
    world.container("dysport", lot="C3709C3")
    ann = patient(world, "L-1", name="Ann Lee")
    rh.give(world, rh.treat(world, ann), vial, "4")
    world.session.flush()
    return {"lot": vial.lot, "vial": vial, "ann": ann}


def no_inline_code(html: str) -> None:
    """The strict CSP forbids inline styles and scripts: the pages must not need them."""
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"<script(?![^>]*\ssrc=)", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_the_safety_lead_traces_a_lot_by_typed_number(browser_client, data, session):
    client = browser_client("safety")
    response = client.get("/trace?q=c3709c3")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Botox Cosmetic 100 U" in html and "Dysport 300 U" in html and "2 products have a lot numbered" in html
    assert "Ann Lee" in html and "Open a recall" in html and "Quarantine this lot" in html
    no_inline_code(html)
    session.expire_all()
    assert session.scalar(select(AuditEvent.action).where(AuditEvent.action == "patient_data.viewed"))


def test_a_lot_not_on_file_says_so(browser_client, data):
    response = browser_client("safety").get("/trace?q=NOTHERE9")
    assert response.status_code == 404 and "never received" in response.get_data(as_text=True)


def test_patient_search_and_patient_page(browser_client, data):
    client = browser_client("safety")
    html = client.get("/trace?patient=L-1").get_data(as_text=True)
    assert f"/trace/patients/{data['ann'].id}" in html
    html = client.get(f"/trace/patients/{data['ann'].id}").get_data(as_text=True)
    assert "Ann Lee" in html and "C3709C3" in html and "Glabella" in html
    no_inline_code(html)


@pytest.mark.parametrize("path", ["/trace", "/trace?q=C3709C3", "/recalls", "/access-log"])
def test_a_nurse_may_not_open_recall_pages(browser_client, data, path):
    assert browser_client("nurse").get(path).status_code == 403


def test_quarantine_and_release_from_the_trace_page(browser_client, data, session):
    client = browser_client("safety")
    lot_id = data["lot"].id
    token = csrf_token(client, f"/trace/lots/{lot_id}")
    refused = client.post(f"/trace/lots/{lot_id}/quarantine", data={"csrf_token": token, "reason": ""},
                          follow_redirects=True)
    assert "Say why the lot is quarantined" in refused.get_data(as_text=True)
    done = client.post(f"/trace/lots/{lot_id}/quarantine", data={"csrf_token": token, "reason": "fridge alarm"},
                       follow_redirects=True)
    assert "quarantined at every location" in done.get_data(as_text=True) and "Release this lot" in done.get_data(
        as_text=True)
    session.expire_all()
    assert session.get(type(data["lot"]), lot_id).status is LotStatus.QUARANTINED
    client.post(f"/trace/lots/{lot_id}/release", data={"csrf_token": token, "reason": "log checked"})
    session.expire_all()
    assert session.get(type(data["lot"]), lot_id).status is LotStatus.ACTIVE
    assert client.post(f"/trace/lots/{lot_id}/quarantine", data={"reason": "no token"}).status_code == 400


def test_a_case_is_opened_worked_and_closed_from_its_page(browser_client, data, session):
    client = browser_client("safety")
    lot_id = data["lot"].id
    token = csrf_token(client, f"/trace/lots/{lot_id}")
    opened = client.post("/recalls", data={"csrf_token": token, "lot_ids": str(lot_id), "reason": "counterfeit alert",
                                           "recall_class": "I", "source": "regulator"})
    assert opened.status_code == 302
    session.expire_all()
    case = session.scalar(select(RecallCase))
    assert opened.headers["Location"].endswith(f"/recalls/{case.id}")
    page = client.get(f"/recalls/{case.id}").get_data(as_text=True)
    assert "Ann Lee" in page and "Patients done" in page and "<progress" in page
    no_inline_code(page)

    refused = client.post(f"/recalls/{case.id}/close", data={"csrf_token": token}, follow_redirects=True)
    assert (f"Recall case {case.id} still has 1 patient to notify and 1 container to return or destroy: finish "
            "both lists first.") in refused.get_data(as_text=True)
    client.post(f"/recalls/{case.id}/patients/{data['ann'].id}",
                data={"csrf_token": token, "status": "notified", "method": "phone", "note": "told"})
    refused = client.post(f"/recalls/{case.id}/close", data={"csrf_token": token}, follow_redirects=True)
    assert (f"Recall case {case.id} still has 1 container to return or destroy: finish that list first."
            in refused.get_data(as_text=True))
    client.post(f"/recalls/{case.id}/containers/{data['vial'].id}", data={"csrf_token": token, "status": "destroyed"})
    closed = client.post(f"/recalls/{case.id}/close", data={"csrf_token": token}, follow_redirects=True)
    assert f"Recall case {case.id} is closed" in closed.get_data(as_text=True)
    dashboard = client.get("/recalls").get_data(as_text=True)
    assert "No open recall" in dashboard and f"Case {case.id}" in dashboard

    export = client.get(f"/recalls/{case.id}/export/patients.xlsx")
    assert export.status_code == 200 and export.mimetype.endswith("spreadsheetml.sheet")
    assert client.get(f"/recalls/{case.id}/export/patients.pdf").status_code == 422


def test_the_admin_reads_the_access_log(browser_client, data):
    browser_client("safety").get("/trace?q=C3709C3")
    admin = browser_client("admin")
    html = admin.get("/access-log").get_data(as_text=True)
    assert "patient_data.viewed" in html and "lot trace" in html and "searched" in html
    no_inline_code(html)
    assert "lot.quarantined" not in html
    assert admin.get("/access-log?kind=changes").status_code == 200
    assert browser_client("safety").get("/access-log").status_code == 403


def test_a_patient_never_told_is_not_counted_as_notified(browser_client, data, world, session):
    bea = patient(world, "L-2", name="Bea Ray")
    rh.give(world, rh.treat(world, bea), data["vial"], "4")
    session.flush()
    client = browser_client("safety")
    token = csrf_token(client, f"/trace/lots/{data['lot'].id}")
    client.post("/recalls", data={"csrf_token": token, "lot_ids": str(data["lot"].id), "reason": "counterfeit alert",
                                  "recall_class": "I", "source": "regulator"})
    case = session.scalar(select(RecallCase))
    client.post(f"/recalls/{case.id}/patients/{data['ann'].id}",
                data={"csrf_token": token, "status": "notified", "method": "phone", "note": "told"})
    client.post(f"/recalls/{case.id}/patients/{bea.id}",
                data={"csrf_token": token, "status": "unreachable", "note": "number out of service"})
    for page in (client.get(f"/recalls/{case.id}"), client.get("/recalls")):
        html = page.get_data(as_text=True)
        assert "Patients done</span> <strong>2/2</strong>" in html
        assert "1 notified · <strong>1 unreachable: never told</strong>" in html


def test_a_patient_told_again_after_a_reversal_shows_it_done_on_the_closed_case(browser_client, data, world,
                                                                                 session):
    """QA's report: "tell them what changed" stayed under "Notified by letter" on the closed case."""
    cy = patient(world, "L-3", name="Cy Moss")
    draw = rh.give(world, rh.treat(world, cy), data["vial"], "4")
    session.flush()
    client = browser_client("safety")
    token = csrf_token(client, f"/trace/lots/{data['lot'].id}")
    client.post("/recalls", data={"csrf_token": token, "lot_ids": str(data["lot"].id), "reason": "counterfeit alert",
                                  "recall_class": "I", "source": "regulator"})
    case = session.scalar(select(RecallCase))
    for who in (data["ann"], cy):
        client.post(f"/recalls/{case.id}/patients/{who.id}",
                    data={"csrf_token": token, "status": "notified", "method": "phone"})
    rh.reverse(world, draw)
    page = client.get(f"/recalls/{case.id}").get_data(as_text=True)
    instruction = "a dose was reversed after the patient was notified: tell them what changed"
    assert f'name="note" value="{instruction}"' in page

    # The form as the page filled it: the instruction sent back in the note field.
    client.post(f"/recalls/{case.id}/patients/{cy.id}",
                data={"csrf_token": token, "status": "notified", "method": "letter", "note": instruction})
    client.post(f"/recalls/{case.id}/containers/{data['vial'].id}", data={"csrf_token": token, "status": "destroyed"})
    closed = client.post(f"/recalls/{case.id}/close", data={"csrf_token": token}, follow_redirects=True)
    assert f"Recall case {case.id} is closed" in closed.get_data(as_text=True)

    row = re.search(rf'<tr id="patient-{cy.id}".*?</tr>', client.get(f"/recalls/{case.id}").get_data(as_text=True),
                    re.S).group(0)
    assert "tell them what changed" not in row
    assert "by letter" in row and "a dose was reversed after the first notice; notified again by letter on " in row
    export = client.get(f"/recalls/{case.id}/export/notifications.csv").get_data(as_text=True)
    assert "tell them what changed" not in export and "notified again by letter on " in export
