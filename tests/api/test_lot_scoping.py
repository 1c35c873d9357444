"""Clinic scoping on every lot path: look-up, trace, quarantine, release and recall act only on lots the
caller's clinics hold or used (Scope.lot_visible); chain-level roles see all. Another clinic's lot answers as
a missing one."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from inventory.models import Lot, LotStatus
from inventory.services.permissions import Scope
from recall import services
from tests import factories
from tests.api.conftest import error_code
from tests.factories import PASSWORD
from tests.pages.conftest import csrf_token


@pytest.fixture
def lots(world):
    """NYC-only lot, London-only lot, and a lot London received and sent to New York (London used it)."""
    nyc_only = world.container("botox", lot="NY1", location=world.location("Fridge", world.other_clinic)).lot
    lon_only = world.container("botox", lot="LN1").lot
    world.session.flush()
    return {"nyc": nyc_only, "lon": lon_only}


def test_the_scope_sees_lots_held_or_used_and_chain_level_sees_all(world, session, lots):
    sent = world.container("botox", lot="SENT1")
    factories.send_transfer(world, [sent])
    lon = Scope(frozenset({world.clinic.id}))
    visible = set(session.scalars(lon.filter_lots(select(Lot.number), Lot.id)))
    assert visible == {"LN1", "SENT1"}  # London no longer holds SENT1, but received it
    assert set(session.scalars(Scope.everything().filter_lots(select(Lot.number), Lot.id))) >= {"NY1", "LN1"}


def test_lot_lookup_lists_only_the_callers_clinics_lots(api, world, lots):
    nurse = api("nurse")  # London only
    assert nurse.get("/lots", query_string={"number": "NY1"}).get_json()["lots"] == []
    assert [lot["number"] for lot in nurse.get("/lots", query_string={"number": "LN1"}).get_json()["lots"]] == ["LN1"]
    assert [lot["number"] for lot in api("manager").get("/lots", query_string={"number": "NY1"}).get_json()["lots"]] \
        == ["NY1"]


def test_a_clinic_safety_lead_cannot_trace_another_clinics_lot(api, world, lots):
    lead = api(world.lon_safety_lead())
    assert lead.get(f"/lots/{lots['lon'].id}/trace").status_code == 200
    response = lead.get(f"/lots/{lots['nyc'].id}/trace")
    assert (response.status_code, error_code(response)) == (404, "not_found")
    assert lead.get("/trace", query_string={"lot": "NY1"}).status_code == 404
    assert api("safety").get(f"/lots/{lots['nyc'].id}/trace").status_code == 200


def test_a_clinic_safety_lead_cannot_quarantine_or_release_another_clinics_lot(api, world, session, lots):
    lead = api(world.lon_safety_lead())
    response = lead.post(f"/lots/{lots['nyc'].id}/quarantine", {"reason": "rumour"})
    assert (response.status_code, error_code(response)) == (404, "not_found")
    services.quarantine(session, actor=world.users["safety"], lot_id=lots["nyc"].id, reason="alert",
                        now=lots["nyc"].status_changed_at)
    session.flush()
    response = lead.post(f"/lots/{lots['nyc'].id}/release", {"reason": "fine"})
    assert (response.status_code, error_code(response)) == (404, "not_found")
    session.expire_all()
    assert session.get(Lot, lots["nyc"].id).status is LotStatus.QUARANTINED
    assert lead.post(f"/lots/{lots['lon'].id}/quarantine", {"reason": "alert"}).status_code == 200


def test_a_clinic_safety_lead_cannot_recall_another_clinics_lot(api, world, session, lots):
    lead = api(world.lon_safety_lead())
    body = {"lot_ids": [lots["lon"].id, lots["nyc"].id], "reason": "alert", "recall_class": "I",
            "source": "regulator"}
    response = lead.post("/recalls", body)
    assert (response.status_code, error_code(response)) == (404, "not_found")
    session.expire_all()
    assert session.get(Lot, lots["lon"].id).status is LotStatus.ACTIVE  # nothing written
    assert api("safety").post("/recalls", body).status_code == 201


def test_the_pages_refuse_another_clinics_lot_too(app, world, session, lots):
    lead = world.lon_safety_lead()
    client = app.test_client()
    token = csrf_token(client, "/login")
    client.post("/login", data={"username": lead.username, "password": PASSWORD, "csrf_token": token})
    assert client.get(f"/trace/lots/{lots['nyc'].id}").status_code == 404
    assert client.get(f"/trace/lots/{lots['lon'].id}").status_code == 200
    token = csrf_token(client, f"/trace/lots/{lots['lon'].id}")
    response = client.post(f"/trace/lots/{lots['nyc'].id}/quarantine", data={"reason": "x", "csrf_token": token})
    assert response.status_code == 404
    assert client.get("/trace", query_string={"q": "NY1"}).status_code == 404
