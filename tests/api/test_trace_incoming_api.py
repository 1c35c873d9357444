"""A lot trace shows the clinic a container travels to that it is coming: stock on its way from London to
New York keeps London as its clinic until it arrives, and a New York-only safety lead must still find it
(recalled stock about to be unpacked), marked as travelling to New York, and nothing else of London's."""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from tests.api.conftest import error_code
from tests.factories import NOW
from tests.transfer_scenes import LON_PATIENT, lot_on_the_road_to_new_york

LATER = NOW + dt.timedelta(hours=2)


@pytest.fixture
def road(world, session):
    return lot_on_the_road_to_new_york(world, session)


def trace(api, user, lot_id: int):
    response = api(user).get(f"/lots/{lot_id}/trace")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_the_receiving_clinic_sees_the_vial_on_its_way_to_it_and_nothing_else_of_the_sender(api, world, road):
    body = trace(api, road["users"]["nyc"], road["lot_id"])

    (vial,) = body["containers"]  # not London's shelf vial, nor its opened one
    assert vial["id"] == road["vial"].id
    assert (vial["state"], vial["in_transit"], vial["remaining"], vial["patient_id"]) == ("in_transit", True, "0", None)
    transfer = vial["transfer"]
    assert (transfer["id"], transfer["status"], transfer["from_clinic_code"], transfer["to_clinic_id"],
            transfer["to_clinic_code"], transfer["quantity"]) == (
        road["transfer"].id, "in_transit", "LON", world.other_clinic.id, "NYC", "100")
    # No patient data of London: its dose is not New York's to see.
    assert body["treatments"] == [] and body["patients"] == []
    assert LON_PATIENT not in api(road["users"]["nyc"]).get(f"/lots/{road['lot_id']}/trace").get_data(as_text=True)


def test_a_trace_by_lot_number_or_by_the_boxs_label_finds_it_too(api, road):
    nyc = api(road["users"]["nyc"])
    for query in ("inc1", road["vial"].label_code):
        response = nyc.get("/trace", query_string={"lot": query})
        assert response.status_code == 200, (query, response.get_json())
        (lot,) = response.get_json()["lots"]
        assert [(c["id"], c["in_transit"]) for c in lot["containers"]] == [(road["vial"].id, True)], query
    # The label of London's shelf vial is still not New York's to scan.
    response = nyc.get("/trace", query_string={"lot": road["shelf"].label_code})
    assert (response.status_code, error_code(response)) == (404, "not_found")


def test_refused_and_on_its_way_back_both_ends_still_see_it(api, world, session, road):
    nyc_manager = world.nyc_manager()
    clinic_transfers.refuse(session, actor=nyc_manager, scope=Scope.for_user(nyc_manager),
                            transfer_id=road["transfer"].id, now=LATER, reason="box crushed")
    session.flush()

    for who in ("nyc", "lon"):
        lines = {c["id"]: c for c in trace(api, road["users"][who], road["lot_id"])["containers"]}
        vial = lines[road["vial"].id]
        assert (vial["in_transit"], vial["transfer"]["status"], vial["transfer"]["to_clinic_code"]) == (
            True, "refused", "NYC"), who
    assert set(lines) == {road["vial"].id, road["shelf"].id, road["opened"].id}  # London sees all of its own


def test_a_clinic_at_neither_end_sees_nothing(api, road):
    par = api(road["users"]["par"])
    response = par.get(f"/lots/{road['lot_id']}/trace")
    assert (response.status_code, error_code(response)) == (404, "not_found")
    assert par.get("/trace", query_string={"lot": "INC1"}).status_code == 404
    assert par.get("/trace", query_string={"lot": road["vial"].label_code}).status_code == 404
    assert par.get("/lots", query_string={"number": "INC1"}).get_json()["lots"] == []


def test_the_sending_clinic_still_sees_it_with_its_own_stock(api, road):
    lines = {c["id"]: c for c in trace(api, road["users"]["lon"], road["lot_id"])["containers"]}
    assert set(lines) == {road["vial"].id, road["shelf"].id, road["opened"].id}
    assert (lines[road["vial"].id]["in_transit"], lines[road["vial"].id]["transfer"]["to_clinic_code"]) == (True, "NYC")


def test_once_recorded_back_at_the_sender_the_receiving_clinic_no_longer_sees_it(api, world, session, road):
    nyc_manager, manager = world.nyc_manager(), world.users["manager"]
    clinic_transfers.refuse(session, actor=nyc_manager, scope=Scope.for_user(nyc_manager),
                            transfer_id=road["transfer"].id, now=LATER, reason="box crushed")
    clinic_transfers.cancel(session, actor=manager, scope=Scope.for_user(manager), transfer_id=road["transfer"].id,
                            now=LATER)
    session.flush()

    response = api(road["users"]["nyc"]).get(f"/lots/{road['lot_id']}/trace")
    assert (response.status_code, error_code(response)) == (404, "not_found")  # nothing of it ever reached New York


def test_once_received_it_is_the_receiving_clinics_own(api, world, session, road):
    nyc_manager = world.nyc_manager()
    clinic_transfers.receive(session, actor=nyc_manager, scope=Scope.for_user(nyc_manager),
                             transfer_id=road["transfer"].id, now=LATER)
    session.flush()

    (vial,) = trace(api, road["users"]["nyc"], road["lot_id"])["containers"]
    assert (vial["id"], vial["clinic_code"], vial["in_transit"], vial["transfer"]) == (
        road["vial"].id, "NYC", False, None)


def test_a_receiving_clinic_that_holds_the_lot_already_sees_its_own_and_the_incoming_vial(api, world, road):
    own = world.container("botox", lot="INC1", location=world.location("Fridge", world.other_clinic))

    lines = {c["id"]: c for c in trace(api, road["users"]["nyc"], road["lot_id"])["containers"]}

    assert set(lines) == {own.id, road["vial"].id}
    assert (lines[own.id]["clinic_code"], lines[own.id]["in_transit"]) == ("NYC", False)
    assert (lines[road["vial"].id]["in_transit"], lines[road["vial"].id]["transfer"]["to_clinic_code"]) == (True, "NYC")


def open_case(api, lot_id: int) -> int:
    opened = api("safety").post("/recalls", {"lot_ids": [lot_id], "reason": "counterfeit alert", "recall_class": "I",
                                             "source": "regulator"})
    assert opened.status_code == 201, opened.get_json()
    return opened.get_json()["id"]


def test_a_recall_case_lists_the_incoming_vial_for_the_receiving_clinic(api, road):
    case_id = open_case(api, road["lot_id"])

    body = api(road["users"]["nyc"]).get(f"/recalls/{case_id}").get_json()

    (vial,) = body["containers"]
    assert (vial["container_id"], vial["in_transit"], vial["transfer"]["to_clinic_code"]) == (
        road["vial"].id, True, "NYC")
    assert body["patients"] == []  # London's patient stays London's
    # Its line is New York's to watch now; London's shelf and opened vials and its patient stay elsewhere.
    assert (body["progress"]["containers_done"], body["progress"]["containers_total"]) == (0, 1)
    assert body["open_elsewhere"] == 1 + 2


def test_a_recall_case_lists_nothing_for_a_clinic_at_neither_end(api, road):
    case_id = open_case(api, road["lot_id"])

    body = api(road["users"]["par"]).get(f"/recalls/{case_id}").get_json()

    assert (body["containers"], body["patients"], body["open_elsewhere"]) == ([], [], 1 + 3)
