"""Clinic rules of quarantine, release and recall for clinic-level safety leads (QA on recall/).

A lot's status applies at every clinic, so a New York-only safety lead may not release a quarantine that also
keeps London's vials out of use (403 ``lot_held_elsewhere``); quarantining protects, so the clinic a lot is on
its way to may quarantine it and open a recall on it; the recalls list counts the lines the case shows; and a
container on the road is refused as ``container_in_transit`` at both ends."""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.models import Lot, LotStatus, Role
from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from recall import services
from tests import factories
from tests.api.conftest import error_code
from tests.factories import NOW, make_clinic, make_user

LATER = NOW + dt.timedelta(hours=2)
RECALL = {"reason": "counterfeit alert", "recall_class": "I", "source": "regulator"}


@pytest.fixture
def leads(world, session):
    """Clinic-level safety leads of New York, London and Paris (a clinic at neither end of any transfer)."""
    paris = make_clinic(session, "PAR", "Europe/Paris")
    users = {"nyc": make_user(session, "nyc-safety", Role.SAFETY_LEAD, [world.other_clinic]),
             "par": make_user(session, "par-safety", Role.SAFETY_LEAD, [paris]),
             "lon": world.lon_safety_lead()}
    session.flush()
    return users


@pytest.fixture
def road(world, leads):
    """Lot ROAD1 in London: one vial on the shelf, one on its way to New York (which holds nothing of it)."""
    shelf, vial = world.receive("botox", lot="ROAD1", containers=2).containers
    transfer = factories.send_transfer(world, [vial])
    world.session.flush()
    return {"shelf": shelf, "vial": vial, "transfer": transfer, "lot_id": vial.lot_id}


def nyc_fridge(world):
    return world.location("Fridge", world.other_clinic)


def quarantine(world, lot_id: int) -> None:
    services.quarantine(world.session, actor=world.users["safety"], lot_id=lot_id, reason="London investigates",
                        now=NOW)
    world.session.flush()


def status_of(session, lot_id: int) -> LotStatus:
    session.expire_all()
    return session.get(Lot, lot_id).status


# --- 1. release applies at every clinic ---------------------------------------------------------------


def test_a_clinic_safety_lead_may_not_release_a_lot_another_clinic_holds(api, world, session, leads):
    ours = world.container("botox", lot="BOTH1", location=nyc_fridge(world))
    world.container("botox", lot="BOTH1")  # London's, under London's investigation
    quarantine(world, ours.lot_id)

    response = api(leads["nyc"]).post(f"/lots/{ours.lot_id}/release", {"reason": "our fridge log is fine"})

    assert (response.status_code, error_code(response)) == (403, "lot_held_elsewhere")
    error = response.get_json()["error"]
    assert error["message"] == (
        "Lot BOTH1 of Botox Cosmetic 100 U is also held at LON: only a chain-level safety lead can release it, since the "
        "release applies at every clinic.")
    assert error["details"] == {"lot_id": ours.lot_id, "clinic_ids": [world.clinic.id], "clinic_codes": ["LON"]}
    assert status_of(session, ours.lot_id) is LotStatus.QUARANTINED
    # A chain-level safety lead releases it, as before.
    released = api("safety").post(f"/lots/{ours.lot_id}/release", {"reason": "both clinics checked"})
    assert released.status_code == 200, released.get_json()
    assert released.get_json()["status"] == "active"


def test_a_clinic_safety_lead_releases_a_lot_only_its_own_clinics_hold(api, world, session, leads):
    ours = world.container("botox", lot="MINE1", location=nyc_fridge(world))
    gone = world.container("botox", lot="MINE1")
    factories.waste(world, gone, "dropped")  # London used the lot, but holds nothing of it any more
    quarantine(world, ours.lot_id)

    response = api(leads["nyc"]).post(f"/lots/{ours.lot_id}/release", {"reason": "fridge log in range"})

    assert response.status_code == 200, response.get_json()
    assert status_of(session, ours.lot_id) is LotStatus.ACTIVE


def test_stock_on_its_way_to_another_clinic_keeps_the_release_for_the_chain(api, world, session, leads):
    kept, sent = world.receive("botox", lot="OUT1", containers=2, location=nyc_fridge(world)).containers
    factories.send_transfer(world, [sent], user=world.nyc_manager(), to=world.location("Fridge", world.clinic))
    quarantine(world, kept.lot_id)

    response = api(leads["nyc"]).post(f"/lots/{kept.lot_id}/release", {"reason": "fine"})

    assert (response.status_code, error_code(response)) == (403, "lot_held_elsewhere")
    assert response.get_json()["error"]["details"]["clinic_codes"] == ["LON"]  # about to be unpacked there
    # London holds none of it yet: the message says where it is going, not that London holds it.
    assert response.get_json()["error"]["message"] == (
        "Lot OUT1 of Botox Cosmetic 100 U is on its way to LON: only a chain-level safety lead can release it, "
        "since the release applies at every clinic.")
    assert status_of(session, kept.lot_id) is LotStatus.QUARANTINED


def test_the_refusal_names_the_clinics_holding_it_and_those_awaiting_it(api, world, session, leads):
    # New York holds a vial of the lot and has sent another to Paris (on the road, still New York's); London
    # holds its own: London's safety lead is told both, each for what it is.
    paris = session.get(type(world.clinic), leads["par"].clinics[0].id)
    kept, sent = world.receive("botox", lot="BOTH2", containers=2, location=nyc_fridge(world)).containers
    world.container("botox", lot="BOTH2")
    factories.send_transfer(world, [sent], user=world.nyc_manager(), to=world.location("Fridge", paris))
    quarantine(world, kept.lot_id)

    response = api(leads["lon"]).post(f"/lots/{kept.lot_id}/release", {"reason": "fine"})

    assert (response.status_code, error_code(response)) == (403, "lot_held_elsewhere")
    assert response.get_json()["error"]["message"] == (
        "Lot BOTH2 of Botox Cosmetic 100 U is also held at NYC and on its way to PAR: only a chain-level safety "
        "lead can release it, since the release applies at every clinic.")
    assert response.get_json()["error"]["details"]["clinic_codes"] == ["NYC", "PAR"]


def test_stock_refused_by_the_other_clinic_and_coming_back_does_not(api, world, session, leads):
    kept, sent = world.receive("botox", lot="BACK1", containers=2, location=nyc_fridge(world)).containers
    transfer = factories.send_transfer(world, [sent], user=world.nyc_manager(),
                                       to=world.location("Fridge", world.clinic))
    manager = world.users["manager"]
    clinic_transfers.refuse(session, actor=manager, scope=Scope.for_user(manager), transfer_id=transfer.id,
                            now=LATER, reason="not ordered")
    quarantine(world, kept.lot_id)

    response = api(leads["nyc"]).post(f"/lots/{kept.lot_id}/release", {"reason": "fine"})

    assert response.status_code == 200, response.get_json()


def test_the_receiving_clinic_may_quarantine_but_not_release_a_lot_the_sender_holds(api, world, session, road,
                                                                                    leads):
    nyc = api(leads["nyc"])
    assert nyc.post(f"/lots/{road['lot_id']}/quarantine", {"reason": "box looks wrong"}).status_code == 200

    response = nyc.post(f"/lots/{road['lot_id']}/release", {"reason": "box fine after all"})

    assert (response.status_code, error_code(response)) == (403, "lot_held_elsewhere")
    assert status_of(session, road["lot_id"]) is LotStatus.QUARANTINED
    # Nor may London, although it holds every vial of it: one is about to be unpacked in New York, which
    # quarantined it. A chain-level safety lead decides.
    london = api(leads["lon"]).post(f"/lots/{road['lot_id']}/release", {"reason": "checked"})
    assert (london.status_code, error_code(london)) == (403, "lot_held_elsewhere")
    assert london.get_json()["error"]["details"]["clinic_codes"] == ["NYC"]
    assert "is on its way to NYC: only a chain-level" in london.get_json()["error"]["message"]
    # New York is told both: London holds its shelf vial, and the other is on its way to New York itself
    # (its own clinic, so not named).
    assert "is also held at LON: only" in response.get_json()["error"]["message"]
    assert api("safety").post(f"/lots/{road['lot_id']}/release", {"reason": "checked"}).status_code == 200


# --- 2. the receiving clinic may protect itself --------------------------------------------------------


def test_the_receiving_clinic_may_quarantine_a_lot_only_on_its_way_to_it(api, world, session, road, leads):
    response = api(leads["nyc"]).post(f"/lots/{road['lot_id']}/quarantine", {"reason": "alert from supplier"})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "quarantined"
    assert status_of(session, road["lot_id"]) is LotStatus.QUARANTINED


def test_the_receiving_clinic_may_open_a_recall_on_a_lot_only_on_its_way_to_it(api, world, session, road, leads):
    response = api(leads["nyc"]).post("/recalls", {"lot_ids": [road["lot_id"]], **RECALL})

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert [(c["container_id"], c["in_transit"]) for c in body["containers"]] == [(road["vial"].id, True)]
    assert status_of(session, road["lot_id"]) is LotStatus.RECALLED


def test_a_clinic_at_neither_end_still_finds_no_such_lot(api, world, session, road, leads):
    par = api(leads["par"])
    for response in (par.post(f"/lots/{road['lot_id']}/quarantine", {"reason": "x"}),
                     par.post("/recalls", {"lot_ids": [road["lot_id"]], **RECALL})):
        assert (response.status_code, error_code(response)) == (404, "not_found")
    assert status_of(session, road["lot_id"]) is LotStatus.ACTIVE


# --- 3. the list counts what the case shows ------------------------------------------------------------


def test_the_recalls_list_counts_the_incoming_container_the_case_lists(api, world, road, leads):
    case_id = api("safety").post("/recalls", {"lot_ids": [road["lot_id"]], **RECALL}).get_json()["id"]
    nyc = api(leads["nyc"])

    case = nyc.get(f"/recalls/{case_id}").get_json()
    (listed,) = [s for s in nyc.get("/recalls").get_json()["recalls"] if s["id"] == case_id]

    assert (case["progress"]["containers_done"], case["progress"]["containers_total"]) == (0, 1)
    assert listed["progress"] == case["progress"]
    # London's list still counts its two lines; Paris sees none.
    (lon,) = [s for s in api(leads["lon"]).get("/recalls").get_json()["recalls"] if s["id"] == case_id]
    assert lon["progress"]["containers_total"] == 2
    (par,) = [s for s in api(leads["par"]).get("/recalls").get_json()["recalls"] if s["id"] == case_id]
    assert par["progress"]["containers_total"] == 0


# --- 4. a container on the road is settled where it arrives, at both ends ---------------------------------


@pytest.mark.parametrize("who", ["nyc", "lon"])
def test_marking_an_incoming_container_answers_in_transit_at_both_ends(api, world, session, road, leads, who):
    case_id = api("safety").post("/recalls", {"lot_ids": [road["lot_id"]], **RECALL}).get_json()["id"]
    client = api(leads[who])

    many = client.post(f"/recalls/{case_id}/containers", {"container_ids": [road["vial"].id], "status": "destroyed"})
    one = client.patch(f"/recalls/{case_id}/containers/{road['vial'].id}", {"status": "returned"})

    for response in (many, one):
        assert (response.status_code, error_code(response)) == (409, "container_in_transit"), response.get_json()
        error = response.get_json()["error"]
        assert error["details"] == {"container_id": road["vial"].id}
        assert f"from LON to NYC (transfer #{road['transfer'].id})" in error["message"]
    (line,) = [c for c in api("safety").get(f"/recalls/{case_id}").get_json()["containers"]
               if c["container_id"] == road["vial"].id]
    assert line["status"] == "open"


def test_a_container_refused_and_going_back_is_refused_with_where_it_goes(api, world, session, road, leads):
    case_id = api("safety").post("/recalls", {"lot_ids": [road["lot_id"]], **RECALL}).get_json()["id"]
    nyc_manager = world.nyc_manager()
    clinic_transfers.refuse(session, actor=nyc_manager, scope=Scope.for_user(nyc_manager),
                            transfer_id=road["transfer"].id, now=LATER, reason="box crushed")
    session.flush()

    response = api(leads["nyc"]).post(f"/recalls/{case_id}/containers",
                                      {"container_ids": [road["vial"].id], "status": "destroyed"})

    assert (response.status_code, error_code(response)) == (409, "container_in_transit")
    assert "refused at NYC and is on its way back to LON" in response.get_json()["error"]["message"]


def test_a_clinic_at_neither_end_is_told_the_container_is_not_on_the_list(api, road, leads):
    case_id = api("safety").post("/recalls", {"lot_ids": [road["lot_id"]], **RECALL}).get_json()["id"]

    response = api(leads["par"]).post(f"/recalls/{case_id}/containers",
                                      {"container_ids": [road["vial"].id], "status": "destroyed"})

    assert (response.status_code, error_code(response)) == (404, "not_found")
