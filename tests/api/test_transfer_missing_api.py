"""POST /transfers/<id>/receive with what arrived (or what is missing): the destination receives part of a box and
declares the rest missing in transit, written off at the sender. Codes, who may, nothing half-written on a
refusal, idempotency, what both ends read, the ledger, its hash chain, the reconciliation and a recall line."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from inventory.models import AuditEvent, Container, ContainerState, Movement, MovementKind
from inventory.services import audit_chain, ledger
from inventory.transfers.models import Transfer, TransferItem, TransferStatus
from tests.api.conftest import error_code
from tests.factories import NOW, make_clinic, make_user

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def sent(api, world, *containers: Container) -> int:
    body = {"to_location_id": world.location("Fridge", world.other_clinic).id,
            "containers": [c.id for c in containers]}
    response = api("clinic_manager").post("/transfers", body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def box_of_three(api, world, lot: str = "MIS1") -> tuple[int, list[Container], Container]:
    """Four London vials of one lot: three sent to New York, one kept on the shelf."""
    *travelling, kept = world.receive(lot=lot, containers=4).containers
    return sent(api, world, *travelling), travelling, kept


def counts(session) -> tuple[int, int, int]:
    """Movements, audit events, and transfer items that ended their journey: what a refusal must leave alone."""
    session.expire_all()
    return (session.scalar(select(func.count()).select_from(Movement)),
            session.scalar(select(func.count()).select_from(AuditEvent)),
            session.scalar(select(func.count()).select_from(TransferItem).where(
                TransferItem.in_movement_id.is_not(None))))


def test_the_destination_receives_what_arrived_and_the_sender_writes_off_the_missing_vial(api, world, session):
    transfer_id, (first, second, lost), _ = box_of_three(api, world)
    nyc = api(world.nyc_manager())

    response = nyc.post(f"/transfers/{transfer_id}/receive",
                        {"arrived": [first.id, second.label_code], "missing_reason": "only two vials in the box"})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["missing_count"], body["missing_reason"], body["received_by"]) == (
        "received", 1, "only two vials in the box", "nyc-manager")
    items = {i["container"]["id"]: i for i in body["items"]}
    for vial in (first, second):
        assert (items[vial.id]["missing"], items[vial.id]["missing_movement_id"]) == (False, None)
        assert (items[vial.id]["container"]["state"], items[vial.id]["container"]["clinic_id"],
                items[vial.id]["container"]["remaining"]) == ("sealed", world.other_clinic.id, "100")
    gone = items[lost.id]
    # New York never had it: it reads as it was sent, held by no clinic now.
    assert (gone["missing"], gone["container_as_sent"], gone["now_at_clinic"]) == (True, True, None)
    assert gone["missing_movement_id"] is not None and gone["in_movement_id"] is not None

    session.expire_all()
    ledger_rows = list(session.scalars(select(Movement).where(Movement.container_id == lost.id).order_by(Movement.id)))
    assert [(m.kind, m.quantity, m.reason, m.clinic_id, m.location_id) for m in ledger_rows] == [
        (MovementKind.RECEIVE, Decimal(100), "received", world.clinic.id, world.location().id),
        (MovementKind.TRANSFER_OUT, Decimal(-100), "clinic_transfer", world.clinic.id, world.location().id),
        (MovementKind.REVERSAL, Decimal(100), "missing_in_transit", world.clinic.id, world.location().id),
        (MovementKind.WASTE, Decimal(-100), "missing_in_transit", world.clinic.id, world.location().id),
    ]
    out, back, loss = ledger_rows[1:]
    assert back.reverses_id == out.id and (back.id, loss.id) == (gone["in_movement_id"], gone["missing_movement_id"])
    assert "only two vials in the box" in loss.note and "declared by" in loss.note
    stored = session.get(Container, lost.id)
    assert (stored.state, stored.remaining, stored.clinic_id) == (ContainerState.DISCARDED, 0, world.clinic.id)
    assert ledger.find_balance_mismatches(session) == []
    assert audit_chain.find_chain_breaks(session)[0] == []  # as `vialog verify` checks it

    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "transfer.items_missing"))
    assert (event.actor_id, event.clinic_id, event.object_id) == (
        world.users["nyc_manager"].id, world.other_clinic.id, str(transfer_id))
    assert (event.details["container_ids"], event.details["label_codes"], event.details["reason"]) == (
        [lost.id], [lost.label_code], "only two vials in the box")
    assert sorted(event.details["received_container_ids"]) == sorted([first.id, second.id])

    # The sender reads the same transfer with its own vial as it is now: written off at home.
    seen = {i["container"]["id"]: i for i in api("clinic_manager").get(f"/transfers/{transfer_id}").get_json()["items"]}
    assert seen[lost.id]["missing"] is True and seen[lost.id]["container_as_sent"] is False
    assert (seen[lost.id]["container"]["state"], seen[lost.id]["container"]["remaining"]) == ("discarded", "0")
    assert api("clinic_manager").get("/transfers?status=received").get_json()["transfers"][0]["missing_count"] == 1


def test_missing_containers_may_be_named_instead_with_a_reason_required(api, world, session):
    transfer_id, (first, second, lost), _ = box_of_three(api, world)
    nyc = api(world.nyc_manager())
    before = counts(session)
    for body in ({"missing": [lost.label_code]}, {"missing": [lost.id], "missing_reason": "  "},
                 {"missing": [lost.id], "missing_reason": lost.label_code}):  # the next vial's scan, in the reason
        response = nyc.post(f"/transfers/{transfer_id}/receive", body)
        assert (response.status_code, error_code(response)) == (422, "validation_error"), response.get_json()
        assert response.get_json()["error"]["details"]["field"] == "missing_reason"
    assert counts(session) == before

    response = nyc.post(f"/transfers/{transfer_id}/receive",
                        {"missing": [lost.label_code.lower()], "missing_reason": "box taped open, one slot empty"})
    assert response.status_code == 200, response.get_json()
    assert {i["container"]["id"] for i in response.get_json()["items"] if i["missing"]} == {lost.id}
    session.expire_all()
    assert {session.get(Container, c.id).state for c in (first, second)} == {ContainerState.SEALED}


@pytest.mark.parametrize("case", ["not on the transfer", "unknown label", "both lists", "all missing", "twice",
                                  "empty missing list", "reason too long", "another transfer's vial"])
def test_a_refused_declaration_writes_nothing_and_the_whole_receipt_still_works(api, world, session, case):
    transfer_id, (first, second, lost), kept = box_of_three(api, world)
    other_transfer = sent(api, world, world.container(lot="OTHER1"))
    other_vial = session.scalars(select(TransferItem.container_id).where(
        TransferItem.transfer_id == other_transfer)).one()
    reason = {"missing_reason": "not in the box"}
    body = {
        "not on the transfer": {"missing": [kept.id]} | reason,
        "unknown label": {"arrived": [first.id, "VL999999"]} | reason,
        "both lists": {"arrived": [first.id, second.id], "missing": [lost.id]} | reason,
        "all missing": {"arrived": []} | reason,
        "twice": {"missing": [lost.id, lost.label_code]} | reason,
        "empty missing list": {"missing": []} | reason,
        "reason too long": {"missing": [lost.id], "missing_reason": "x" * 301},
        "another transfer's vial": {"arrived": [first.id, second.id, other_vial]} | reason,
    }[case]
    nyc = api(world.nyc_manager())
    before = counts(session)

    response = nyc.post(f"/transfers/{transfer_id}/receive", body)

    assert (response.status_code, error_code(response)) == (422, "validation_error"), response.get_json()
    assert counts(session) == before
    assert session.get(Transfer, transfer_id).status is TransferStatus.IN_TRANSIT
    assert {session.get(Container, c.id).state for c in (first, second, lost)} == {ContainerState.IN_TRANSIT}

    whole = nyc.post(f"/transfers/{transfer_id}/receive", {})
    assert whole.status_code == 200, whole.get_json()
    assert (whole.get_json()["missing_count"], whole.get_json()["missing_reason"]) == (0, None)
    assert {i["container"]["state"] for i in whole.get_json()["items"]} == {"sealed"}


def test_only_the_destination_declares_missing_a_nurse_never_and_a_third_clinic_gets_404(api, world, session):
    transfer_id, (_, _, lost), _ = box_of_three(api, world)
    body = {"missing": [lost.id], "missing_reason": "not in the box"}
    before = counts(session)
    sender = api("clinic_manager").post(f"/transfers/{transfer_id}/receive", body)
    assert (sender.status_code, error_code(sender)) == (403, "receiving_clinic_only")
    nurse = api("other_nurse").post(f"/transfers/{transfer_id}/receive", body)
    assert (nurse.status_code, error_code(nurse)) == (403, "forbidden")
    paris = make_user(session, "par-manager", world.users["manager"].role, [make_clinic(session, "PAR")])
    third = api(paris).post(f"/transfers/{transfer_id}/receive", body)
    assert (third.status_code, error_code(third)) == (404, "not_found")
    assert counts(session) == before
    assert session.get(Transfer, transfer_id).status is TransferStatus.IN_TRANSIT


def test_a_retry_with_the_idempotency_key_declares_once(api, world, session):
    transfer_id, (_, _, lost), _ = box_of_three(api, world)
    nyc = api(world.nyc_manager())
    body = {"missing": [lost.id], "missing_reason": "not in the box"}
    first, again = (nyc.post(f"/transfers/{transfer_id}/receive", body, headers={"Idempotency-Key": "part-1"})
                    for _ in range(2))
    assert first.status_code == again.status_code == 200 and first.get_json() == again.get_json()
    other = nyc.post(f"/transfers/{transfer_id}/receive", body | {"missing_reason": "lost"},
                     headers={"Idempotency-Key": "part-1"})
    assert (other.status_code, error_code(other)) == (409, "idempotency_conflict")
    later = nyc.post(f"/transfers/{transfer_id}/receive", body, headers={"Idempotency-Key": "part-2"})
    assert (later.status_code, error_code(later)) == (409, "transfer_already_received")
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Movement).where(Movement.container_id == lost.id)) == 4
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "transfer.items_missing")) == 1


def _reconciliation(api, user, location) -> dict:
    today = dt.datetime.now(dt.UTC).date()
    response = api(user).get(f"/reports/reconciliation?from={NOW.date():%Y-%m-%d}&to={today + dt.timedelta(days=1)}"
                             f"&location_id={location.id}")
    assert response.status_code == 200, response.get_json()
    (row,) = [r for r in response.get_json()["rows"] if r["lot"] == "MIS1"]
    return row


FIGURES = ("received", "transfers_in", "transfers_out", "wasted", "adjusted", "expected_closing", "in_transit_at_end")


def test_the_reconciliation_shows_a_loss_at_the_sender_and_what_arrived_at_the_destination(api, world, session):
    transfer_id, (first, second, lost), _ = box_of_three(api, world)
    london, new_york = world.location(), world.location("Fridge", world.other_clinic)
    nyc_manager = world.nyc_manager()
    on_the_road = _reconciliation(api, "clinic_manager", london)
    assert {k: on_the_road[k] for k in ("transfers_out", "expected_closing", "in_transit_at_end")} == {
        "transfers_out": "300", "expected_closing": "100", "in_transit_at_end": "300"}

    api(nyc_manager).post(f"/transfers/{transfer_id}/receive", {"arrived": [first.id, second.id],
                                                                "missing_reason": "not in the box"})

    sender = _reconciliation(api, "clinic_manager", london)
    # The missing vial went to no clinic: its transfer out is reversed, and it is a loss here, not on the road.
    assert {k: sender[k] for k in FIGURES} == {
        "received": "400", "transfers_in": "0", "transfers_out": "200", "wasted": "100", "adjusted": "0",
        "expected_closing": "100", "in_transit_at_end": "0"}
    receiver = _reconciliation(api, nyc_manager, new_york)
    assert {k: receiver[k] for k in FIGURES} == {
        "received": "0", "transfers_in": "200", "transfers_out": "0", "wasted": "0", "adjusted": "0",
        "expected_closing": "200", "in_transit_at_end": "0"}


def test_a_missing_container_is_final_unusable_and_out_of_any_count(api, world, session):
    transfer_id, (_, _, lost), _ = box_of_three(api, world)
    api(world.nyc_manager()).post(f"/transfers/{transfer_id}/receive",
                                  {"missing": [lost.id], "missing_reason": "not in the box"})
    session.expire_all()
    loss = session.scalars(select(Movement).where(Movement.container_id == lost.id,
                                                  Movement.kind == MovementKind.WASTE)).one()

    reversal = api("clinic_manager").post(f"/movements/{loss.id}/reverse", {"reason": "found it"})
    assert (reversal.status_code, error_code(reversal)) == (409, "not_reversible")
    waste = api("clinic_manager").post(f"/containers/{lost.id}/waste", {"quantity": "100", "reason": "other",
                                                                           "note": "found broken"})
    assert waste.status_code == 409, waste.get_json()
    # New York is no longer told it is on its way: it is nobody's stock there.
    scan = api("other_nurse").post("/scans", {"code": lost.label_code})
    assert scan.status_code == 404 and "on its way" not in scan.get_json()["error"]["message"]
    shown = api("clinic_manager").get(f"/containers/{lost.label_code}").get_json()
    assert (shown["state"], shown["remaining"]) == ("discarded", "0")
    assert ledger.find_balance_mismatches(session) == []


def test_a_recalled_lots_missing_container_is_marked_destroyed_on_its_case(api, world, session):
    transfer_id, (_, _, lost), _ = box_of_three(api, world, lot="MISREC")
    lead = api("safety")
    opened = lead.post("/recalls", {"lot_ids": [lost.lot_id], "reason": "counterfeit alert", "recall_class": "I",
                                    "source": "regulator"})
    assert opened.status_code == 201, opened.get_json()
    case_id = opened.get_json()["id"]
    on_road = lead.patch(f"/recalls/{case_id}/containers/{lost.id}", {"status": "destroyed"})
    assert (on_road.status_code, error_code(on_road)) == (409, "container_in_transit")

    response = api(world.nyc_manager()).post(f"/transfers/{transfer_id}/receive",
                                             {"missing": [lost.id], "missing_reason": "not in the box"})
    assert response.status_code == 200, response.get_json()

    trace = {c["id"]: c for c in lead.get(f"/lots/{lost.lot_id}/trace").get_json()["containers"]}
    assert (trace[lost.id]["state"], trace[lost.id]["in_transit"], trace[lost.id]["transfer"],
            trace[lost.id]["clinic_code"]) == ("discarded", False, None, "LON")
    returned = lead.patch(f"/recalls/{case_id}/containers/{lost.id}", {"status": "returned"})
    assert (returned.status_code, error_code(returned)) == (409, "recall_item_wasted")
    assert "missing_in_transit" in returned.get_json()["error"]["message"]
    before = counts(session)
    destroyed = lead.patch(f"/recalls/{case_id}/containers/{lost.id}",
                           {"status": "destroyed", "note": "missing in transit"})
    assert destroyed.status_code == 200, destroyed.get_json()
    assert destroyed.get_json()["status"] == "destroyed"
    assert counts(session)[0] == before[0]  # nothing left in it to write off again


def test_the_openapi_document_describes_a_partial_receipt(api):
    schemas = api().get("/openapi.json").get_json()["components"]["schemas"]

    def fields(name: str) -> set[str]:
        return set(schemas.get(name, schemas.get(f"{name}-Output", {})).get("properties", {}))

    assert {"arrived", "missing", "missing_reason"} <= fields("TransferReceiveIn")
    assert {"missing_count", "missing_reason"} <= fields("TransferOut")
    assert {"missing", "missing_movement_id"} <= fields("TransferItemOut")
