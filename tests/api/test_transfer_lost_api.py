"""POST /transfers/<id>/lost: a whole box lost on the road is declared lost by either end, and every container is
written off at the sender as a missing one is. Who may, codes, nothing half-written on a refusal, a refused box
lost on its way back, idempotency, the ledger and the sender's stock, the reconciliation, the list, the audit
trail and a recall line."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from inventory.models import AuditEvent, Container, ContainerState, Lot, Movement, MovementKind
from inventory.services import audit_chain, ledger
from inventory.transfers.models import Transfer, TransferItem, TransferItemMissing, TransferStatus
from tests.api.conftest import error_code
from tests.factories import NOW, make_clinic, make_user, send_transfer

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

LOT = "LOST1"


def box_of_three(world, session) -> tuple[int, list[Container], Container]:
    """Four London vials of one lot: three sent to New York's fridge (at NOW), one kept on the shelf."""
    *travelling, kept = world.receive(lot=LOT, containers=4).containers
    transfer = send_transfer(world, travelling, user="clinic_manager")
    world.nyc_manager()
    session.flush()
    return transfer.id, travelling, kept


def written(session) -> tuple[int, int, int, int]:
    """Movements, audit events, missing rows and items that ended their journey: what a refusal leaves alone."""
    session.expire_all()
    return (session.scalar(select(func.count()).select_from(Movement)),
            session.scalar(select(func.count()).select_from(AuditEvent)),
            session.scalar(select(func.count()).select_from(TransferItemMissing)),
            session.scalar(select(func.count()).select_from(TransferItem).where(
                TransferItem.in_movement_id.is_not(None))))


def on_hand_in_london(session, world) -> Decimal:
    """What London's ledger holds of the lot: the sum of its movements there."""
    session.expire_all()
    return session.scalar(select(func.coalesce(func.sum(Movement.quantity), 0)).join(Lot, Lot.id == Movement.lot_id)
                          .where(Movement.clinic_id == world.clinic.id, Lot.number == LOT))


def declared(api, user, transfer_id: int, reason: str = "courier reports the parcel lost", **headers: str):
    return api(user).post(f"/transfers/{transfer_id}/lost", {"reason": reason},
                          headers={"Idempotency-Key": headers["key"]} if "key" in headers else None)


def test_the_sending_clinic_declares_the_box_lost_and_every_vial_is_written_off_at_home(api, world, session):
    transfer_id, vials, kept = box_of_three(world, session)

    response = declared(api, "clinic_manager", transfer_id, "courier reports the parcel lost in the depot fire")

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["lost_by"], body["lost_reason"], body["missing_count"], body["missing_reason"]) == (
        "lost", "lon-manager", "courier reports the parcel lost in the depot fire", 3,
        "courier reports the parcel lost in the depot fire")
    assert body["lost_at"] is not None
    assert (body["received_at"], body["cancelled_at"], body["refused_at"], body["returned_at"]) == (None,) * 4
    assert [(i["missing"], i["container"]["state"], i["container"]["remaining"], i["container"]["clinic_id"])
            for i in body["items"]] == [(True, "discarded", "0", world.clinic.id)] * 3

    session.expire_all()
    fridge = world.location()
    for vial, item in zip(vials, body["items"], strict=True):
        rows = list(session.scalars(select(Movement).where(Movement.container_id == vial.id).order_by(Movement.id)))
        # No TRANSFER_IN: nothing came back onto a shelf. The journey is reversed and the loss wasted, at home.
        assert [(m.kind, m.quantity, m.reason, m.clinic_id, m.location_id) for m in rows] == [
            (MovementKind.RECEIVE, Decimal(100), "received", world.clinic.id, fridge.id),
            (MovementKind.TRANSFER_OUT, Decimal(-100), "clinic_transfer", world.clinic.id, fridge.id),
            (MovementKind.REVERSAL, Decimal(100), "missing_in_transit", world.clinic.id, fridge.id),
            (MovementKind.WASTE, Decimal(-100), "missing_in_transit", world.clinic.id, fridge.id),
        ]
        out, back, loss = rows[1:]
        assert back.reverses_id == out.id and (back.id, loss.id) == (item["in_movement_id"],
                                                                     item["missing_movement_id"])
        assert "never arrived at NYC" in back.note and "courier reports the parcel lost" in loss.note
        stored = session.get(Container, vial.id)
        assert (stored.state, stored.remaining, stored.clinic_id) == (ContainerState.DISCARDED, 0, world.clinic.id)
    assert session.get(Container, kept.id).state is ContainerState.SEALED
    stored = session.get(Transfer, transfer_id)
    assert (stored.status, stored.lost_by_id, stored.lost_reason) == (
        TransferStatus.LOST, world.users["clinic_manager"].id, "courier reports the parcel lost in the depot fire")
    assert ledger.find_balance_mismatches(session) == []
    assert audit_chain.find_chain_breaks(session)[0] == []  # as `vialog verify` checks it

    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "transfer.lost"))
    assert (event.actor_id, event.clinic_id, event.object_type, event.object_id) == (
        world.users["clinic_manager"].id, world.clinic.id, "transfer", str(transfer_id))
    assert (event.details["end"], event.details["status_before"], event.details["reason"]) == (
        "sending", "in_transit", "courier reports the parcel lost in the depot fire")
    assert (event.details["container_ids"], event.details["label_codes"]) == (
        [v.id for v in vials], [v.label_code for v in vials])
    assert event.details["movement_ids"] == [i["missing_movement_id"] for i in body["items"]]
    # One declaration, not a partial receipt as well.
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "transfer.items_missing")) == 0

    # The other end reads the same: lost, its vials as sent and held by no clinic.
    seen = api(world.nyc_manager()).get(f"/transfers/{transfer_id}").get_json()
    assert (seen["status"], seen["lost_by"], seen["lost_at"]) == ("lost", "lon-manager", body["lost_at"])
    assert [(i["missing"], i["container_as_sent"], i["now_at_clinic"]) for i in seen["items"]] == [
        (True, True, None)] * 3


def test_the_receiving_clinic_which_never_got_it_declares_it_lost_too(api, world, session):
    transfer_id, vials, _ = box_of_three(world, session)

    response = declared(api, world.nyc_manager(), transfer_id, "never delivered: tracking stops at the hub")

    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["status"], response.get_json()["lost_by"]) == ("lost", "nyc-manager")
    session.expire_all()
    # The loss is the sender's, where the stock was last, whoever declared it.
    assert {(c.state, c.clinic_id) for c in (session.get(Container, v.id) for v in vials)} == {
        (ContainerState.DISCARDED, world.clinic.id)}
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "transfer.lost"))
    assert (event.actor_id, event.clinic_id, event.details["end"]) == (
        world.users["nyc_manager"].id, world.other_clinic.id, "receiving")
    # A chain-level manager works at both ends: said so, and recorded at the source.
    other_id, _, _ = box_of_three(world, session)
    assert declared(api, "manager", other_id).status_code == 200
    session.expire_all()
    chain = session.scalars(select(AuditEvent).where(AuditEvent.action == "transfer.lost",
                                                     AuditEvent.object_id == str(other_id))).one()
    assert (chain.clinic_id, chain.details["end"]) == (world.clinic.id, "both")


def test_receiving_nothing_now_points_to_declaring_the_box_lost(api, world, session):
    transfer_id, _, _ = box_of_three(world, session)
    response = api(world.nyc_manager()).post(f"/transfers/{transfer_id}/receive",
                                             {"arrived": [], "missing_reason": "box never came"})
    assert (response.status_code, error_code(response)) == (422, "validation_error")
    assert "declare it lost on the transfer's page" in response.get_json()["error"]["message"]


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 301}, {"reason": None},
                                  {"reason": "lost\x00"}])
def test_a_reason_is_required_and_a_refusal_writes_nothing(api, world, session, body):
    transfer_id, vials, _ = box_of_three(world, session)
    before = written(session)

    response = api("clinic_manager").post(f"/transfers/{transfer_id}/lost", body)

    assert (response.status_code, error_code(response)) == (422, "validation_error"), response.get_json()
    assert written(session) == before
    assert session.get(Transfer, transfer_id).status is TransferStatus.IN_TRANSIT
    assert {session.get(Container, v.id).state for v in vials} == {ContainerState.IN_TRANSIT}


def test_a_code_scanned_into_the_reason_is_refused_naming_it_and_writes_nothing(api, world, session):
    """The page where a box's vials are scanned: a scan that lands in the reason field is no reason."""
    transfer_id, vials, kept = box_of_three(world, session)
    before = written(session)
    box = f"(01)05012345678900(17)281231(10){LOT}"
    for reason, named in ((vials[0].label_code, f"{vials[0].label_code} is a vial's Vialog label, not a reason"),
                          (kept.label_code.lower(), f"{kept.label_code} is a vial's Vialog label, not a reason"),
                          (box, "That is a barcode, not a reason")):
        response = declared(api, "clinic_manager", transfer_id, reason)
        assert (response.status_code, error_code(response)) == (422, "validation_error"), response.get_json()
        error = response.get_json()["error"]
        assert error["message"].startswith(named) and error["details"]["field"] == "reason"
    assert written(session) == before
    assert session.get(Transfer, transfer_id).status is TransferStatus.IN_TRANSIT
    assert declared(api, "clinic_manager", transfer_id, "courier: parcel 0501 lost").status_code == 200


def test_a_third_clinic_gets_404_and_a_nurse_403_writing_nothing(api, world, session):
    transfer_id, _, _ = box_of_three(world, session)
    before = written(session)
    paris = make_user(session, "par-manager", world.users["manager"].role, [make_clinic(session, "PAR")])
    third = declared(api, paris, transfer_id)
    assert (third.status_code, error_code(third)) == (404, "not_found")
    nurse = declared(api, "other_nurse", transfer_id)
    assert (nurse.status_code, error_code(nurse)) == (403, "forbidden")
    unknown = declared(api, "clinic_manager", 999999)
    assert (unknown.status_code, error_code(unknown)) == (404, "not_found")
    assert written(session) == before
    assert session.get(Transfer, transfer_id).status is TransferStatus.IN_TRANSIT


def test_a_transfer_no_longer_on_the_road_answers_the_code_of_its_state(api, world, session):
    nyc = world.nyc_manager()
    received, _, _ = box_of_three(world, session)
    assert api(nyc).post(f"/transfers/{received}/receive", {}).status_code == 200
    cancelled, _, _ = box_of_three(world, session)
    assert api("clinic_manager").post(f"/transfers/{cancelled}/cancel").status_code == 200
    returned, _, _ = box_of_three(world, session)
    assert api(nyc).post(f"/transfers/{returned}/refuse", {"reason": "damaged"}).status_code == 200
    assert api("clinic_manager").post(f"/transfers/{returned}/cancel").status_code == 200
    before = written(session)

    for transfer_id, code in ((received, "transfer_already_received"), (cancelled, "transfer_cancelled"),
                              (returned, "transfer_refused")):
        for user in ("clinic_manager", nyc):
            response = declared(api, user, transfer_id)
            assert (response.status_code, error_code(response)) == (409, code), (transfer_id, user)
    assert written(session) == before


def test_a_lost_transfer_is_final_nothing_more_happens_to_it(api, world, session):
    transfer_id, vials, _ = box_of_three(world, session)
    nyc = api(world.nyc_manager())
    assert declared(api, "clinic_manager", transfer_id).status_code == 200
    before = written(session)

    for response in (nyc.post(f"/transfers/{transfer_id}/receive", {}),
                     nyc.post(f"/transfers/{transfer_id}/refuse", {"reason": "warm"}),
                     api("clinic_manager").post(f"/transfers/{transfer_id}/cancel"),
                     declared(api, world.nyc_manager(), transfer_id, "again")):
        assert (response.status_code, error_code(response)) == (409, "transfer_lost"), response.get_json()
        assert "declared lost in transit by lon-manager" in response.get_json()["error"]["message"]
    assert written(session) == before
    # Its write-off is final: no cart correction puts the stock back on London's shelf.
    loss = session.scalars(select(Movement).where(Movement.container_id == vials[0].id,
                                                  Movement.kind == MovementKind.WASTE)).one()
    reversal = api("clinic_manager").post(f"/movements/{loss.id}/reverse", {"reason": "found it"})
    assert (reversal.status_code, error_code(reversal)) == (409, "not_reversible")
    # New York is no longer told it is on its way.
    scan = api("other_nurse").post("/scans", {"code": vials[0].label_code})
    assert scan.status_code == 404 and "on its way" not in scan.get_json()["error"]["message"]


def test_a_refused_box_lost_on_its_way_back_is_declared_lost_by_the_sender_only(api, world, session):
    transfer_id, vials, _ = box_of_three(world, session)
    nyc = api(world.nyc_manager())
    assert nyc.post(f"/transfers/{transfer_id}/refuse", {"reason": "box crushed", "category": "damaged"}
                    ).status_code == 200
    before = written(session)

    # New York sent it back: it cannot know whether it arrived; London awaits it.
    refused = declared(api, world.nyc_manager(), transfer_id)
    assert (refused.status_code, error_code(refused)) == (403, "sending_clinic_only")
    assert written(session) == before

    response = declared(api, "clinic_manager", transfer_id, "return parcel lost by the courier")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    # It keeps who refused it and why, beside who declared it lost.
    assert (body["status"], body["lost_by"], body["lost_reason"], body["refused_by"], body["refusal_reason"],
            body["refusal_category"], body["returned_at"]) == (
        "lost", "lon-manager", "return parcel lost by the courier", "nyc-manager", "box crushed", "damaged", None)
    session.expire_all()
    for vial in vials:
        kinds = [m.kind for m in session.scalars(select(Movement).where(Movement.container_id == vial.id)
                                                 .order_by(Movement.id))]
        assert kinds == [MovementKind.RECEIVE, MovementKind.TRANSFER_OUT, MovementKind.REVERSAL, MovementKind.WASTE]
        assert session.get(Container, vial.id).state is ContainerState.DISCARDED
    back = session.scalars(select(Movement).where(Movement.container_id == vials[0].id,
                                                  Movement.kind == MovementKind.REVERSAL)).one()
    assert "never came back from NYC" in back.note
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "transfer.lost")).one()
    assert (event.details["end"], event.details["status_before"]) == ("sending", "refused")
    # Its return can no longer be recorded: nothing comes back onto a shelf.
    again = api("clinic_manager").post(f"/transfers/{transfer_id}/cancel")
    assert (again.status_code, error_code(again)) == (409, "transfer_lost")


def test_a_retry_with_the_idempotency_key_declares_once(api, world, session):
    transfer_id, vials, _ = box_of_three(world, session)
    first, again = (declared(api, "clinic_manager", transfer_id, key="lost-1") for _ in range(2))
    assert first.status_code == again.status_code == 200 and first.get_json() == again.get_json()
    other = declared(api, "clinic_manager", transfer_id, "another reason", key="lost-1")
    assert (other.status_code, error_code(other)) == (409, "idempotency_conflict")
    later = declared(api, "clinic_manager", transfer_id, key="lost-2")
    assert (later.status_code, error_code(later)) == (409, "transfer_lost")
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Movement).where(
        Movement.container_id.in_([v.id for v in vials]))) == 3 * 4
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "transfer.lost")) == 1


FIGURES = ("received", "transfers_in", "transfers_out", "wasted", "expected_closing", "in_transit_at_end")


def _london_row(api, to: dt.date) -> dict:
    """The lot's row of London's reconciliation from NOW's day to ``to``."""
    response = api("clinic_manager").get(f"/reports/reconciliation?from={NOW.date():%Y-%m-%d}&to={to:%Y-%m-%d}")
    assert response.status_code == 200, response.get_json()
    (row,) = [r for r in response.get_json()["rows"] if r["lot"] == LOT]
    return {k: row[k] for k in FIGURES}


def test_the_sender_holds_what_it_kept_and_its_reconciliation_counts_the_box_wasted_not_in_transit(
        api, world, session):
    *travelling, kept = world.receive(lot=LOT, containers=4).containers
    before_sending = on_hand_in_london(session, world)
    assert before_sending == Decimal(400)
    transfer_id = send_transfer(world, travelling, user="clinic_manager").id
    world.nyc_manager()
    session.flush()
    on_the_road = _london_row(api, NOW.date())
    assert on_the_road == {"received": "400", "transfers_in": "0", "transfers_out": "300", "wasted": "0",
                           "expected_closing": "100", "in_transit_at_end": "300"}

    assert declared(api, world.nyc_manager(), transfer_id).status_code == 200

    # London holds the vial it kept, and nothing of the box: no phantom stock back on its shelf.
    assert on_hand_in_london(session, world) == before_sending - sum(v.initial_quantity for v in travelling) == 100
    session.expire_all()
    assert session.scalars(select(Container.state).where(Container.clinic_id == world.clinic.id,
                                                         Container.state != ContainerState.DISCARDED)).all() == [
        ContainerState.SEALED]
    assert session.get(Container, kept.id).remaining == 100
    today = dt.datetime.now(dt.UTC).date()
    # Up to the declaration the box was on the road; from it, a loss at the sender, no longer in transit.
    assert _london_row(api, NOW.date()) == on_the_road
    assert _london_row(api, today + dt.timedelta(days=1)) == {
        "received": "400", "transfers_in": "0", "transfers_out": "0", "wasted": "300", "expected_closing": "100",
        "in_transit_at_end": "0"}
    # New York never had any of it.
    nyc = api(world.nyc_manager()).get(
        f"/reports/reconciliation?from={NOW.date():%Y-%m-%d}&to={today + dt.timedelta(days=1):%Y-%m-%d}")
    assert [r for r in nyc.get_json()["rows"] if r["lot"] == LOT] == []


def test_lost_transfers_are_listed_as_settled_and_by_status(api, world, session):
    lost_id, _, _ = box_of_three(world, session)
    on_road_id, _, _ = box_of_three(world, session)
    assert declared(api, "clinic_manager", lost_id).status_code == 200
    lon = api("clinic_manager")

    listed = lon.get("/transfers").get_json()["transfers"]
    # The one still on the road first; the lost one with the settled ones after it.
    assert [(t["id"], t["status"]) for t in listed[:2]] == [(on_road_id, "in_transit"), (lost_id, "lost")]
    assert [t["id"] for t in lon.get("/transfers?status=lost").get_json()["transfers"]] == [lost_id]
    assert lost_id not in [t["id"] for t in lon.get("/transfers?status=in_transit").get_json()["transfers"]]
    assert [t["id"] for t in api(world.nyc_manager()).get(
        "/transfers?direction=incoming&status=lost").get_json()["transfers"]] == [lost_id]
    # Every transfer answers the new fields, null until it is lost.
    on_road = lon.get(f"/transfers/{on_road_id}").get_json()
    assert (on_road["lost_by"], on_road["lost_at"], on_road["lost_reason"]) == (None, None, None)


def test_a_recalled_lots_lost_box_is_marked_destroyed_on_its_case(api, world, session):
    transfer_id, vials, _ = box_of_three(world, session)
    lead = api("safety")
    opened = lead.post("/recalls", {"lot_ids": [vials[0].lot_id], "reason": "counterfeit alert",
                                    "recall_class": "I", "source": "regulator"})
    assert opened.status_code == 201, opened.get_json()
    case_id = opened.get_json()["id"]
    on_road = lead.patch(f"/recalls/{case_id}/containers/{vials[0].id}", {"status": "destroyed"})
    assert (on_road.status_code, error_code(on_road)) == (409, "container_in_transit")

    assert declared(api, "clinic_manager", transfer_id).status_code == 200

    trace = {c["id"]: c for c in lead.get(f"/lots/{vials[0].lot_id}/trace").get_json()["containers"]}
    assert [(trace[v.id]["state"], trace[v.id]["in_transit"], trace[v.id]["transfer"]) for v in vials] == [
        ("discarded", False, None)] * 3
    returned = lead.patch(f"/recalls/{case_id}/containers/{vials[0].id}", {"status": "returned"})
    assert (returned.status_code, error_code(returned)) == (409, "recall_item_wasted")
    destroyed = lead.patch(f"/recalls/{case_id}/containers/{vials[0].id}",
                           {"status": "destroyed", "note": "lost in transit"})
    assert destroyed.status_code == 200, destroyed.get_json()


def test_the_openapi_document_describes_the_declaration(api):
    document = api().get("/openapi.json").get_json()
    schemas = document["components"]["schemas"]

    def fields(name: str) -> set[str]:
        return set(schemas.get(name, schemas.get(f"{name}-Output", {})).get("properties", {}))

    assert "/api/v1/transfers/{transfer_id}/lost" in document["paths"]
    assert fields("TransferLostIn") == {"reason"}
    assert {"lost_by", "lost_at", "lost_reason"} <= fields("TransferOut")
    out = schemas.get("TransferOut", schemas.get("TransferOut-Output"))
    assert "lost" in str(out["properties"]["status"])
