"""The transfers API: send, list, read, receive, call back; idempotency, roles and clinic isolation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from inventory.models import Container, ContainerState, Movement
from inventory.transfers.models import Transfer
from tests.api.conftest import error_code
from tests.factories import make_clinic


pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def nyc_fridge(world):
    return world.location("Fridge", world.other_clinic)


def post_transfer(client, world, containers, **extra):
    body = {"to_location_id": nyc_fridge(world).id, "containers": containers} | extra
    return client.post("/transfers", body)


def test_a_manager_sends_by_label_or_id_and_the_receiving_clinic_takes_it_in(api, world, session):
    first, second = world.receive(containers=2).containers
    manager = api("manager")
    response = post_transfer(manager, world, [first.label_code, second.id], note="courier, box 1")
    assert response.status_code == 201, response.get_json()
    sent = response.get_json()
    assert (sent["status"], sent["from_clinic"]["code"], sent["to_clinic"]["code"], sent["note"]) == (
        "in_transit", "LON", "NYC", "courier, box 1")
    assert sent["to_location"] == {"id": nyc_fridge(world).id, "clinic_id": world.other_clinic.id,
                                   "name": "Fridge", "kind": "fridge"}
    assert sent["sent_by"] == "manager" and sent["received_at"] is None
    assert [(i["container"]["label_code"], i["container"]["state"], i["container"]["remaining"], i["quantity"],
             i["base_unit"]) for i in sent["items"]] == [
        (first.label_code, "in_transit", "0", "100", "U"), (second.label_code, "in_transit", "0", "100", "U")]
    # While on the road the container reads as in transit wherever it is looked up.
    assert manager.get(f"/containers/{first.label_code}").get_json()["state"] == "in_transit"
    assert manager.get(f"/transfers/{sent['id']}").get_json() == sent

    response = manager.post(f"/transfers/{sent['id']}/receive", {})
    assert response.status_code == 200, response.get_json()
    received = response.get_json()
    assert (received["status"], received["received_by"], received["received_location"]["id"]) == (
        "received", "manager", nyc_fridge(world).id)
    for item, container in zip(received["items"], (first, second), strict=True):
        assert item["container"]["label_code"] == container.label_code  # the same label travels
        assert (item["container"]["clinic_id"], item["container"]["location_id"], item["container"]["state"],
                item["container"]["remaining"]) == (world.other_clinic.id, nyc_fridge(world).id, "sealed", "100")
        assert item["in_movement_id"] > item["out_movement_id"]

    again = manager.post(f"/transfers/{sent['id']}/receive", {})
    assert (again.status_code, error_code(again)) == (409, "transfer_already_received")
    # The time is the destination's, and says so: the sender reads it in another zone.
    assert f"({world.other_clinic.code} time)" in again.get_json()["error"]["message"]


def test_retries_with_an_idempotency_key_send_and_receive_once(api, world, session):
    container = world.container()
    manager = api("manager")
    body = {"to_location_id": nyc_fridge(world).id, "containers": [container.label_code]}
    first = manager.post("/transfers", body, headers={"Idempotency-Key": "send-1"})
    again = manager.post("/transfers", body, headers={"Idempotency-Key": "send-1"})
    assert first.status_code == again.status_code == 201 and first.get_json() == again.get_json()
    other = manager.post("/transfers", body | {"note": "changed"}, headers={"Idempotency-Key": "send-1"})
    assert (other.status_code, error_code(other)) == (409, "idempotency_conflict")
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Transfer)) == 1

    transfer_id = first.get_json()["id"]
    received = [manager.post(f"/transfers/{transfer_id}/receive", {}, headers={"Idempotency-Key": "recv-1"})
                for _ in range(2)]
    assert [r.status_code for r in received] == [200, 200] and received[0].get_json() == received[1].get_json()
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Movement).where(Movement.container_id == container.id)) == 3


def test_calling_back_returns_the_stock_and_the_transfer_can_no_longer_be_received(api, world, session):
    container = world.container()
    manager = api("manager")
    transfer_id = post_transfer(manager, world, [container.id]).get_json()["id"]
    response = manager.post(f"/transfers/{transfer_id}/cancel")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["cancelled_by"]) == ("cancelled", "manager")
    assert (body["items"][0]["container"]["clinic_id"], body["items"][0]["container"]["state"]) == (
        world.clinic.id, "sealed")
    refused = manager.post(f"/transfers/{transfer_id}/receive", {})
    assert (refused.status_code, error_code(refused)) == (409, "transfer_cancelled")
    session.expire_all()
    assert session.get(Container, container.id).state is ContainerState.SEALED


def test_the_receiver_may_choose_another_location_of_their_clinic_only(api, world):
    container = world.container()
    manager = api("manager")
    transfer_id = post_transfer(manager, world, [container.id]).get_json()["id"]
    lon_room = world.location("Room 1")
    refused = manager.post(f"/transfers/{transfer_id}/receive", {"location_id": lon_room.id})
    assert (refused.status_code, error_code(refused)) == (409, "location_other_clinic")
    nyc_room = world.location("Room 1", world.other_clinic)
    warm = manager.post(f"/transfers/{transfer_id}/receive", {"location_id": nyc_room.id})
    assert (warm.status_code, error_code(warm)) == (409, "location_not_refrigerated")  # Botox: 2-8 °C
    body = manager.post(f"/transfers/{transfer_id}/receive", {"location_id": nyc_room.id,
                                                               "confirm": ["location_not_refrigerated"]}).get_json()
    assert (body["received_location"]["id"], body["to_location"]["id"]) == (nyc_room.id, nyc_fridge(world).id)


def test_refusals_have_their_codes_and_change_nothing(api, world, session):
    sealed = world.container()
    opened = world.container(lot="OPEN1")
    opened.state = ContainerState.IN_USE
    session.flush()
    manager = api("manager")
    cases = [
        (post_transfer(manager, world, ["VL99999999"]), 404, "unknown_container"),
        (post_transfer(manager, world, [sealed.id, opened.id]), 409, "container_opened"),
        (manager.post("/transfers", {"to_location_id": world.location("Cart").id, "containers": [sealed.id]}),
         409, "same_clinic"),
        (manager.post("/transfers", {"to_location_id": 999999, "containers": [sealed.id]}), 404, "not_found"),
        (post_transfer(manager, world, []), 422, "validation_error"),
        (post_transfer(manager, world, [sealed.id, sealed.label_code]), 422, "validation_error"),
        (manager.post("/transfers", {"containers": [sealed.id]}), 422, "validation_error"),
        (manager.post("/transfers", "{not json"), 400, "malformed_json"),
        (manager.post("/transfers/999999/receive", {}), 404, "not_found"),
        (manager.post("/transfers/999999/cancel"), 404, "not_found"),
        (manager.get("/transfers/999999"), 404, "not_found"),
        (manager.get("/transfers?direction=sideways"), 422, "validation_error"),
    ]
    for response, status, code in cases:
        assert (response.status_code, error_code(response)) == (status, code), response.get_json()
    opened_error = cases[1][0].get_json()["error"]
    assert opened_error["details"]["container_id"] == opened.id and opened.label_code in opened_error["message"]
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Transfer)) == 0
    assert session.get(Container, sealed.id).state is ContainerState.SEALED


def test_a_nurse_may_not_send_receive_or_list_transfers(api, world):
    container = world.container()
    transfer_id = post_transfer(api("manager"), world, [container.id]).get_json()["id"]
    nurse = api("nurse")
    for response in (
        nurse.get("/transfers"), nurse.get(f"/transfers/{transfer_id}"), nurse.get("/transfers/destinations"),
        post_transfer(nurse, world, [container.id]), nurse.post(f"/transfers/{transfer_id}/receive", {}),
        nurse.post(f"/transfers/{transfer_id}/cancel"),
    ):
        assert (response.status_code, error_code(response)) == (403, "forbidden")
    assert api().get("/transfers").status_code == 401


def test_a_clinic_manager_sends_to_another_clinic_but_only_that_clinic_receives(api, world, session):
    container = world.container()
    lon_manager = api("clinic_manager")
    destinations = lon_manager.get("/transfers/destinations").get_json()["destinations"]
    # A clinic-level manager sees where they may send: every clinic's receiving places, names only.
    assert {(d["clinic"]["code"], d["location"]) for d in destinations} >= {("NYC", "Fridge"), ("NYC", "Room 1")}
    response = post_transfer(lon_manager, world, [container.label_code])
    assert response.status_code == 201, response.get_json()
    transfer_id = response.get_json()["id"]
    refused = lon_manager.post(f"/transfers/{transfer_id}/receive", {})
    assert (refused.status_code, error_code(refused)) == (403, "receiving_clinic_only")

    nyc_manager = world.nyc_manager()
    nyc = api(nyc_manager)
    assert [t["id"] for t in nyc.get("/transfers?direction=incoming").get_json()["transfers"]] == [transfer_id]
    assert nyc.get("/transfers?direction=outgoing").get_json()["transfers"] == []
    assert [t["id"] for t in lon_manager.get("/transfers?direction=outgoing").get_json()["transfers"]] == [transfer_id]
    refused = nyc.post(f"/transfers/{transfer_id}/cancel")
    assert (refused.status_code, error_code(refused)) == (403, "sending_clinic_only")
    assert nyc.post(f"/transfers/{transfer_id}/receive", {}).status_code == 200
    session.expire_all()
    assert session.get(Container, container.id).clinic_id == world.other_clinic.id
    # Received at New York, the vial is no longer London's: the London manager cannot look it up.
    assert lon_manager.get(f"/containers/{container.label_code}").status_code == 404


def test_a_transfer_between_new_york_and_a_third_clinic_is_not_found_for_a_london_manager(api, world, session):
    paris = make_clinic(session, "PAR", "Europe/Paris")
    nyc_vial = world.container(location=nyc_fridge(world), lot="NYC1")
    paris_fridge = next(loc for loc in paris.locations if loc.name == "Fridge")
    response = api("manager").post("/transfers", {"to_location_id": paris_fridge.id, "containers": [nyc_vial.id]})
    assert response.status_code == 201, response.get_json()
    transfer_id = response.get_json()["id"]

    lon_manager = api("clinic_manager")
    assert lon_manager.get("/transfers").get_json() == {"transfers": [], "next_before": None}
    for response in (
        lon_manager.get(f"/transfers/{transfer_id}"),
        lon_manager.post(f"/transfers/{transfer_id}/receive", {}),
        lon_manager.post(f"/transfers/{transfer_id}/cancel"),
    ):
        assert (response.status_code, error_code(response)) == (404, "not_found")
    session.expire_all()
    assert session.get(Transfer, transfer_id).status.value == "in_transit"
    assert session.get(Container, nyc_vial.id).remaining == Decimal(0)


def test_settled_transfers_come_a_page_at_a_time_after_those_on_the_road(api, world):
    manager = api("manager")
    sent = []
    for i in range(3):
        response = post_transfer(manager, world, [world.container(lot=f"PG{i}").id])
        assert response.status_code == 201, response.get_json()
        sent.append(response.get_json()["id"])
    for transfer_id in sent[:2]:
        assert manager.post(f"/transfers/{transfer_id}/receive", {}).status_code == 200
    first = manager.get("/transfers?limit=1").get_json()
    assert ([t["id"] for t in first["transfers"]], first["next_before"]) == ([sent[2], sent[1]], sent[1])
    older = manager.get(f"/transfers?limit=1&before={first['next_before']}").get_json()
    assert ([t["id"] for t in older["transfers"]], older["next_before"]) == ([sent[0]], None)
    for bad in ("limit=0", "limit=201", "before=0", "before=x"):
        response = manager.get(f"/transfers?{bad}")
        assert (response.status_code, error_code(response)) == (422, "validation_error"), bad


def test_the_openapi_document_describes_the_transfer_operations(api):
    paths = api().get("/openapi.json").get_json()["paths"]
    assert {"/api/v1/transfers", "/api/v1/transfers/{transfer_id}", "/api/v1/transfers/{transfer_id}/receive",
            "/api/v1/transfers/{transfer_id}/cancel", "/api/v1/transfers/destinations"} <= set(paths)
    assert paths["/api/v1/transfers"]["post"]["x-vialog-permission"] == "receive"
    assert any(p["name"] == "Idempotency-Key" for p in paths["/api/v1/transfers/{transfer_id}/receive"]["post"]["parameters"])
