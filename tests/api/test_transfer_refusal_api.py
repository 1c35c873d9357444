"""POST /transfers/<id>/refuse, and the sender's POST .../cancel that records a refused transfer's return: codes,
who may, idempotency, what the transfer answers, and both ledgers balanced after the round trip."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from inventory.models import AuditEvent, Container, ContainerState, Movement
from inventory.services import ledger
from inventory.transfers.models import Transfer, TransferStatus
from tests.api.conftest import error_code
from tests.factories import make_clinic, make_user

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def sent(api, world, *containers: Container, to=None) -> int:
    body = {"to_location_id": (to or world.location("Fridge", world.other_clinic)).id,
            "containers": [c.id for c in containers]}
    response = api("manager").post("/transfers", body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def movements(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Movement))


def test_the_destination_refuses_with_a_reason_and_the_sender_records_the_return(api, world, session):
    vials = world.receive(containers=2).containers
    transfer_id = sent(api, world, *vials)
    before = movements(session)
    nyc = api(world.nyc_manager())

    response = nyc.post(f"/transfers/{transfer_id}/refuse", {"reason": "box crushed, one vial cracked",
                                                             "category": "damaged"})
    assert response.status_code == 200, response.get_json()
    refused = response.get_json()
    assert (refused["status"], refused["refused_by"], refused["refusal_category"], refused["refusal_reason"]) == (
        "refused", "nyc-manager", "damaged", "box crushed, one vial cracked")
    assert refused["refused_at"] is not None and refused["returned_at"] is None and refused["received_at"] is None
    assert [(i["container"]["state"], i["container"]["remaining"], i["container"]["clinic_id"], i["in_movement_id"])
            for i in refused["items"]] == [("in_transit", "0", world.clinic.id, None)] * 2
    assert movements(session) == before  # nothing moved: the box is on its way back
    assert nyc.get(f"/transfers/{transfer_id}").get_json() == refused

    lon = api("clinic_manager")
    response = lon.post(f"/transfers/{transfer_id}/cancel")
    assert response.status_code == 200, response.get_json()
    returned = response.get_json()
    assert (returned["status"], returned["returned_by"], returned["cancelled_by"], returned["refusal_reason"]) == (
        "returned", "lon-manager", None, "box crushed, one vial cracked")
    assert [(i["container"]["state"], i["container"]["remaining"], i["container"]["clinic_id"],
             i["container"]["location_id"]) for i in returned["items"]] == [
        ("sealed", "100", world.clinic.id, world.location("Fridge").id)] * 2
    assert movements(session) == before + 2
    assert ledger.find_balance_mismatches(session) == []
    session.expire_all()
    assert [e.action for e in session.scalars(select(AuditEvent).where(
        AuditEvent.object_type == "transfer", AuditEvent.object_id == str(transfer_id)).order_by(AuditEvent.id))] == [
        "transfer.refused", "transfer.returned"]


def test_the_category_is_optional_and_the_reason_required(api, world, session):
    transfer_id = sent(api, world, world.container())
    manager = api("manager")
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 301}, {"reason": "ok", "category": "lost"},
                 {"reason": "ok", "extra": 1}):
        response = manager.post(f"/transfers/{transfer_id}/refuse", body)
        assert (response.status_code, error_code(response)) == (422, "validation_error"), (body, response.get_json())
    assert manager.post(f"/transfers/{transfer_id}/refuse", "{not json").status_code == 400
    session.expire_all()
    assert session.get(Transfer, transfer_id).status is TransferStatus.IN_TRANSIT

    body = manager.post(f"/transfers/{transfer_id}/refuse", {"reason": "not what we ordered"}).get_json()
    assert (body["status"], body["refusal_category"]) == ("refused", "other")


def test_refusing_what_is_not_in_transit_is_409_with_the_code_of_its_state(api, world, session):
    manager = api("manager")
    received = sent(api, world, world.container(lot="R1"))
    assert manager.post(f"/transfers/{received}/receive", {}).status_code == 200
    cancelled = sent(api, world, world.container(lot="C1"))
    assert manager.post(f"/transfers/{cancelled}/cancel").status_code == 200
    refused = sent(api, world, world.container(lot="F1"))
    assert manager.post(f"/transfers/{refused}/refuse", {"reason": "warm", "category": "temperature"}).status_code == 200
    before = movements(session)

    reason = {"reason": "again"}
    for response, code in [
        (manager.post(f"/transfers/{received}/refuse", reason), "transfer_already_received"),
        (manager.post(f"/transfers/{cancelled}/refuse", reason), "transfer_cancelled"),
        (manager.post(f"/transfers/{refused}/refuse", reason), "transfer_refused"),
        (manager.post(f"/transfers/{refused}/receive", {}), "transfer_refused"),
    ]:
        assert (response.status_code, error_code(response)) == (409, code), response.get_json()
    assert response.get_json()["error"]["details"] == {"transfer_id": refused, "status": "refused"}
    assert manager.post(f"/transfers/{refused}/cancel").status_code == 200
    again = manager.post(f"/transfers/{refused}/cancel")
    assert (again.status_code, error_code(again)) == (409, "transfer_refused")
    assert again.get_json()["error"]["details"]["status"] == "returned"
    assert movements(session) == before + 1


def test_only_the_destination_refuses_a_nurse_never_and_a_third_clinic_gets_404(api, world, session):
    transfer_id = sent(api, world, world.container())
    refused = api("clinic_manager").post(f"/transfers/{transfer_id}/refuse", {"reason": "not ours to refuse"})
    assert (refused.status_code, error_code(refused)) == (403, "receiving_clinic_only")
    nurse = api("other_nurse")  # works at New York, but a nurse does not take deliveries
    response = nurse.post(f"/transfers/{transfer_id}/refuse", {"reason": "warm"})
    assert (response.status_code, error_code(response)) == (403, "forbidden")
    paris_manager = make_user(session, "par-manager", world.users["manager"].role,
                              [make_clinic(session, "PAR", "Europe/Paris")])
    paris = api(paris_manager)
    response = paris.post(f"/transfers/{transfer_id}/refuse", {"reason": "warm"})
    assert (response.status_code, error_code(response)) == (404, "not_found")
    missing = api("manager").post("/transfers/999999/refuse", {"reason": "warm"})
    assert (missing.status_code, error_code(missing)) == (404, "not_found")
    assert api().post(f"/transfers/{transfer_id}/refuse", {"reason": "warm"}).status_code == 401
    session.expire_all()
    assert session.get(Transfer, transfer_id).status is TransferStatus.IN_TRANSIT

    api(world.nyc_manager()).post(f"/transfers/{transfer_id}/refuse", {"reason": "warm"})
    # The destination cannot record the return: the goods come back to the sender.
    response = api(world.nyc_manager()).post(f"/transfers/{transfer_id}/cancel")
    assert (response.status_code, error_code(response)) == (403, "sending_clinic_only")


def test_retries_with_an_idempotency_key_refuse_and_record_the_return_once(api, world, session):
    container = world.container()
    transfer_id = sent(api, world, container)
    manager = api("manager")
    body = {"reason": "arrived at 14 °C", "category": "temperature"}
    first, again = (manager.post(f"/transfers/{transfer_id}/refuse", body, headers={"Idempotency-Key": "refuse-1"})
                    for _ in range(2))
    assert first.status_code == again.status_code == 200 and first.get_json() == again.get_json()
    other = manager.post(f"/transfers/{transfer_id}/refuse", body | {"category": "damaged"},
                         headers={"Idempotency-Key": "refuse-1"})
    assert (other.status_code, error_code(other)) == (409, "idempotency_conflict")
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "transfer.refused")) == 1

    back = [manager.post(f"/transfers/{transfer_id}/cancel", headers={"Idempotency-Key": "back-1"}) for _ in range(2)]
    assert [r.status_code for r in back] == [200, 200] and back[0].get_json() == back[1].get_json()
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Movement).where(Movement.container_id == container.id)) == 3
    # Refused for its temperature: back on the shelf, but on hold, and the container says so.
    stored = session.get(Container, container.id)
    assert (stored.state, stored.remaining) == (ContainerState.SEALED, Decimal(100))
    shown = manager.get(f"/containers/{container.label_code}").get_json()
    assert shown["on_hold"] is True and "refused by NYC for its temperature" in shown["hold_reason"]


def test_the_list_filters_refused_and_returned(api, world):
    manager = api("manager")
    refused = sent(api, world, world.container(lot="A1"))
    manager.post(f"/transfers/{refused}/refuse", {"reason": "incomplete: 1 of 2 vials", "category": "incomplete"})
    in_transit = sent(api, world, world.container(lot="B1"))
    assert [t["id"] for t in manager.get("/transfers?status=refused").get_json()["transfers"]] == [refused]
    assert manager.get("/transfers?status=returned").get_json()["transfers"] == []
    assert {t["id"] for t in manager.get("/transfers").get_json()["transfers"]} == {refused, in_transit}
    manager.post(f"/transfers/{refused}/cancel")
    assert [t["id"] for t in manager.get("/transfers?status=returned").get_json()["transfers"]] == [refused]


def test_the_openapi_document_describes_refusing(api):
    paths = api().get("/openapi.json").get_json()["paths"]
    operation = paths["/api/v1/transfers/{transfer_id}/refuse"]["post"]
    assert operation["x-vialog-permission"] == "receive"
    assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])
    assert {"403", "404", "409", "422"} <= set(operation["responses"])
