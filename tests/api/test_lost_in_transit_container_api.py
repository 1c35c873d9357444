"""A container lost in transit keeps the clinic_id and location_id of the shelf it left from (integrations read them),
and says that it is not there: ``lost_in_transit`` and ``lost_in_transit_transfer_id`` on a container (GET
/containers, POST /scans, a transfer's items) and on a trace or recall line; the recall's container export says
where it was lost in its Location column. A transfer list looks the losses up once, not once a transfer."""

from __future__ import annotations

import csv
import io

import pytest

from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from tests.api.test_set_aside_waste_api import open_recall
from tests.factories import NOW, send_transfer
from tests.statements import recorded
from tests.transfer_scenes import box_lost_on_the_road

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def lost_fields(container: dict) -> tuple:
    return container["lost_in_transit"], container["lost_in_transit_transfer_id"]


def test_a_lost_container_keeps_its_place_and_says_it_was_lost_in_transit(api, world, session):
    transfer, (lost, _), kept = box_lost_on_the_road(world, session)
    london = api("clinic_manager")

    for body in (london.get(f"/containers/{lost.label_code}").get_json(),
                 london.post("/scans", {"code": lost.label_code}).get_json()["container"]):
        assert (body["state"], body["clinic_id"], body["location_id"]) == (
            "discarded", world.clinic.id, world.location().id)
        assert lost_fields(body) == (True, transfer.id)
    assert lost_fields(london.get(f"/containers/{kept.label_code}").get_json()) == (False, None)


def test_a_transfers_items_say_their_containers_were_lost(api, world, session):
    transfer, lost, _ = box_lost_on_the_road(world, session)
    for who in ("clinic_manager", "nyc_manager"):
        body = api(who).get(f"/transfers/{transfer.id}").get_json()
        assert [lost_fields(item["container"]) for item in body["items"]] == [(True, transfer.id)] * len(lost)


def test_a_container_that_arrived_and_was_lost_on_a_later_transfer_says_which(api, world, session):
    vial = world.container("botox", lot="LATER9")
    first = send_transfer(world, [vial], user="clinic_manager")
    nyc = world.nyc_manager()
    clinic_transfers.receive(session, actor=nyc, scope=Scope.for_user(nyc), transfer_id=first.id, now=NOW)
    second = send_transfer(world, [vial], user=nyc, to=world.location("Fridge"))
    clinic_transfers.declare_lost(session, actor=nyc, scope=Scope.for_user(nyc), transfer_id=second.id,
                                  reason="courier reports the parcel lost", now=NOW)
    session.flush()

    (item,) = api("nyc_manager").get(f"/transfers/{first.id}").get_json()["items"]
    assert (item["missing"], lost_fields(item["container"])) == (False, (True, second.id))
    listed = {t["id"]: t for t in api("nyc_manager").get("/transfers").get_json()["transfers"]}
    assert lost_fields(listed[first.id]["items"][0]["container"]) == (True, second.id)
    assert lost_fields(listed[second.id]["items"][0]["container"]) == (True, second.id)


def test_a_list_of_lost_transfers_looks_the_losses_up_once(api, world, session):
    box_lost_on_the_road(world, session)
    london = api("clinic_manager")
    london.get("/transfers")  # the token's first use behind it
    with recorded(session) as one_box:
        assert len(london.get("/transfers").get_json()["transfers"]) == 1
    for lot in ("MORE1", "MORE2"):
        vials = world.receive("botox", lot=lot, containers=2).containers
        more = send_transfer(world, vials, user="clinic_manager")
        clinic_transfers.declare_lost(session, actor=world.users["clinic_manager"], scope=Scope.everything(),
                                      transfer_id=more.id, reason="courier lost it", now=NOW)
    session.flush()
    london.get("/transfers")
    with recorded(session) as three_boxes:
        body = london.get("/transfers").get_json()
    assert len(body["transfers"]) == 3
    assert all(lost_fields(item["container"])[0] for t in body["transfers"] for item in t["items"])
    assert len(three_boxes) == len(one_box)


def test_the_trace_the_recall_case_and_its_export_say_where_it_was_lost(api, world, session):
    lost, kept = world.receive("botox", lot="LOST9", containers=2).containers
    transfer = send_transfer(world, [lost], user="clinic_manager")
    world.nyc_manager()
    session.flush()
    case = open_recall(api, lost.lot_id)  # while the box is on the road: its vial is on the case's list
    assert api("clinic_manager").post(f"/transfers/{transfer.id}/lost", {"reason": "courier lost it"}).status_code == 200
    safety = api("safety")

    trace = {c["id"]: c for c in safety.get(f"/lots/{lost.lot_id}/trace").get_json()["containers"]}
    assert (trace[lost.id]["location"], lost_fields(trace[lost.id])) == ("Fridge", (True, transfer.id))
    assert lost_fields(trace[kept.id]) == (False, None)
    lines = {c["container_id"]: c for c in safety.get(f"/recalls/{case['id']}").get_json()["containers"]}
    assert lost_fields(lines[lost.id]) == (True, transfer.id)

    exported = safety.get(f"/recalls/{case['id']}/containers.csv")
    rows = {r[2]: r for r in csv.reader(io.StringIO(exported.data.decode("utf-8-sig")))}
    assert rows[lost.label_code][1] == f"Lost in transit (transfer #{transfer.id}, LON → NYC)"
    assert rows[kept.label_code][1] == "Fridge"
