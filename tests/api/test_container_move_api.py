"""POST /containers/<ref>/move and /locations/<id>/move-all: stock moved between places of its own clinic (a fridge
that failed, the cart restocked), through the one rule moves.move_container, so the ledger follows it."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from inventory.models import Container, ContainerState, Location, LocationKind, Movement, MovementKind, utcnow
from tests.api.conftest import error_code
from tests.factories import kit_location, send_transfer, waste

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

FAR = dt.date(2099, 12, 31)


def spare_fridge(world, clinic=None, active: bool = True) -> Location:
    clinic = clinic or world.clinic
    spare = Location(clinic_id=clinic.id, name="Spare fridge", kind=LocationKind.FRIDGE, is_active=active)
    world.session.add(spare)
    world.session.flush()
    return spare


def vials(world, count: int = 1, lot: str = "MV-1", location=None, *, fresh: bool = False) -> list[Container]:
    """Received two days ago (in the fridge during the excursion ``hold`` records), or ``fresh``: just now."""
    return world.receive("botox", lot=lot, expiry=FAR, containers=count, location=location,
                         now=utcnow() - (dt.timedelta(0) if fresh else dt.timedelta(days=2))).containers


def movements(session) -> int:
    """Transfer movements written so far (two a container moved)."""
    session.expire_all()
    return session.scalar(select(func.count(Movement.id)).where(
        Movement.kind.in_([MovementKind.TRANSFER_OUT, MovementKind.TRANSFER_IN])))


def hold(api, world, location=None):
    now = utcnow()
    recorded = api("manager").post(f"/locations/{(location or world.location()).id}/excursions", {
        "started_at": (now - dt.timedelta(hours=3)).isoformat(), "ended_at": (now - dt.timedelta(hours=1)).isoformat(),
        "min_c": "9", "max_c": "14"})
    assert recorded.status_code == 201, recorded.get_json()
    return recorded.get_json()


# --- one container ------------------------------------------------------------------------------------


def test_a_nurse_moves_a_vial_to_the_spare_fridge_and_back(api, world, session):
    [vial] = vials(world)
    spare = spare_fridge(world)
    fridge = world.location()

    response = api("nurse").post(f"/containers/{vial.label_code}/move",
                                 {"to_location_id": spare.id, "reason": "fridge failed", "note": "door left open"})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["message"] == f"Moved Botox Cosmetic 100 U ({vial.label_code}) from Fridge to Spare fridge."
    assert (body["id"], body["location_id"], body["from_location_id"]) == (vial.id, spare.id, fridge.id)
    assert (body["state"], body["remaining"], body["on_hold"]) == ("sealed", "100", False)
    shown = api("nurse").get(f"/containers/{vial.label_code}").get_json()
    assert shown["location_id"] == spare.id
    out, into = session.scalars(select(Movement).where(Movement.container_id == vial.id,
                                                       Movement.kind != MovementKind.RECEIVE).order_by(Movement.id))
    assert (out.kind, out.location_id, out.quantity, out.reason, out.note) == (
        MovementKind.TRANSFER_OUT, fridge.id, -100, "fridge failed", "door left open")
    assert (into.kind, into.location_id, into.quantity) == (MovementKind.TRANSFER_IN, spare.id, 100)

    back = api("nurse").post(f"/containers/{vial.id}/move", {"to_location_id": fridge.id, "reason": "fridge fixed"})

    assert back.status_code == 200, back.get_json()
    assert back.get_json()["message"] == f"Moved Botox Cosmetic 100 U ({vial.label_code}) from Spare fridge to Fridge."
    assert back.get_json()["location_id"] == fridge.id
    assert movements(session) == 4


@pytest.mark.parametrize("role", ["nurse", "manager", "safety", "admin", "clinic_manager"])
def test_every_role_that_handles_stock_at_the_clinic_may_move_it(api, world, session, role):
    [vial] = vials(world)
    response = api(role).post(f"/containers/{vial.id}/move",
                              {"to_location_id": world.location("Cart").id, "reason": "restock cart"})
    assert response.status_code == 200, response.get_json()


def test_no_token_is_refused_before_anything_moves(api, world, session):
    [vial] = vials(world)
    response = api().post(f"/containers/{vial.id}/move", {"to_location_id": world.location("Cart").id,
                                                          "reason": "restock cart"})
    assert (response.status_code, error_code(response)) == (401, "unauthorized")
    response = api().post(f"/locations/{world.location().id}/move-all",
                          {"to_location_id": world.location("Cart").id, "reason": "restock cart"})
    assert (response.status_code, error_code(response)) == (401, "unauthorized")
    assert movements(session) == 0


def test_another_clinics_container_or_place_answers_as_missing(api, world, session):
    [london] = vials(world)
    [new_york] = vials(world, lot="MV-NYC", location=world.location("Fridge", world.other_clinic))
    nyc_fridge = world.location("Fridge", world.other_clinic)

    by_nyc_nurse = api("other_nurse").post(f"/containers/{london.label_code}/move",
                                           {"to_location_id": nyc_fridge.id, "reason": "restock"})
    assert (by_nyc_nurse.status_code, error_code(by_nyc_nurse)) == (404, "unknown_container")
    to_nyc = api("nurse").post(f"/containers/{london.id}/move", {"to_location_id": nyc_fridge.id, "reason": "restock"})
    assert (to_nyc.status_code, error_code(to_nyc)) == (404, "not_found")
    nyc_stock = api("nurse").post(f"/locations/{nyc_fridge.id}/move-all",
                                  {"to_location_id": world.location("Cart").id, "reason": "fridge failed"})
    assert (nyc_stock.status_code, error_code(nyc_stock)) == (404, "not_found")
    # A chain-level manager sees both clinics: the container still stays in its own.
    across = api("manager").post(f"/containers/{new_york.id}/move",
                                 {"to_location_id": world.location("Cart").id, "reason": "restock"})
    assert (across.status_code, error_code(across)) == (409, "other_clinic")
    assert movements(session) == 0


def test_the_rules_of_move_container_refuse_with_their_codes(api, world, session):
    [vial, used_up, travelling, expiring] = vials(world, 4)
    spare_off = spare_fridge(world, active=False)
    kit = kit_location(world)
    waste(world, used_up, "dropped")
    send_transfer(world, [travelling])
    nurse = api("nurse")
    before = movements(session)

    def refused(ref, to, status=409):
        response = nurse.post(f"/containers/{ref}/move", {"to_location_id": to.id, "reason": "restock"})
        assert response.status_code == status, response.get_json()
        return error_code(response), response.get_json()["error"]["message"]

    assert refused(vial.id, world.location()) == (
        "already_there", f"Botox Cosmetic 100 U ({vial.label_code}) is already in Fridge.")
    assert refused(vial.id, spare_off) == ("location_inactive", "Spare fridge is no longer in use.")
    assert refused(used_up.id, world.location("Cart"))[0] == "container_empty"
    assert refused(travelling.id, world.location("Cart"))[0] == "container_in_transit"
    quarantined = api("safety").post(f"/lots/{expiring.lot_id}/quarantine", {"reason": "supplier query"})
    assert quarantined.status_code == 200, quarantined.get_json()
    assert refused(expiring.id, kit)[0] == "lot_quarantined"  # into a kit: only usable stock
    assert refused(expiring.id, spare_off)[0] == "location_inactive"
    assert movements(session) == before


@pytest.mark.parametrize("body, field", [
    ({"to_location_id": 1}, "reason"),
    ({"to_location_id": 1, "reason": ""}, "reason"),
    ({"to_location_id": 1, "reason": "   "}, "reason"),
    ({"to_location_id": 1, "reason": "x" * 41}, "reason"),
    ({"to_location_id": "3", "reason": "restock"}, "to_location_id"),
    ({"reason": "restock"}, "to_location_id"),
    ({"to_location_id": 1, "reason": "restock", "quantity": "4"}, "quantity"),
])
def test_bad_input_is_a_validation_error_naming_the_field(api, world, session, body, field):
    [vial] = vials(world)
    for path in (f"/containers/{vial.id}/move", f"/locations/{world.location().id}/move-all"):
        response = api("nurse").post(path, body)
        assert (response.status_code, error_code(response)) == (422, "validation_error"), response.get_json()
        assert response.get_json()["error"]["details"]["field"] == field
    assert movements(session) == 0


def test_a_held_vial_moves_to_a_working_fridge_with_its_hold_but_not_into_a_kit(api, world, session):
    [vial] = vials(world)
    hold(api, world)
    kit = kit_location(world)
    spare = spare_fridge(world)

    into_kit = api("safety").post(f"/containers/{vial.id}/move", {"to_location_id": kit.id, "reason": "restock kit"})
    assert (into_kit.status_code, error_code(into_kit)) == (409, "container_on_hold")

    response = api("safety").post(f"/containers/{vial.id}/move", {"to_location_id": spare.id, "reason": "fridge failed"})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["on_hold"] is True and body["location_id"] == spare.id, (body["on_hold"], body["hold_reason"], body["location_id"], spare.id)
    assert body["message"].endswith("It keeps its hold until a safety lead releases or wastes it.")


def test_a_retry_with_the_same_key_is_answered_again_and_moves_nothing_more(api, world, session):
    [vial] = vials(world)
    spare = spare_fridge(world)
    body = {"to_location_id": spare.id, "reason": "fridge failed"}
    nurse = api("nurse")

    first = nurse.post(f"/containers/{vial.label_code}/move", body, headers={"Idempotency-Key": "move-1"})
    again = nurse.post(f"/containers/{vial.label_code}/move", body, headers={"Idempotency-Key": "move-1"})

    assert first.status_code == 200, first.get_json()
    assert (again.status_code, again.get_json()) == (200, first.get_json())  # not already_there
    assert movements(session) == 2
    other = nurse.post(f"/containers/{vial.label_code}/move", {"to_location_id": world.location().id,
                                                               "reason": "fridge fixed"},
                       headers={"Idempotency-Key": "move-1"})
    assert (other.status_code, error_code(other)) == (409, "idempotency_conflict")


# --- everything in a place -----------------------------------------------------------------------------


def test_everything_live_in_a_failed_fridge_moves_in_one_request(api, world, session):
    [held] = vials(world, lot="MV-HELD")
    hold(api, world)
    sealed = vials(world, 2, fresh=True)
    [used_up, travelling] = vials(world, 2, lot="MV-GONE", fresh=True)
    waste(world, used_up, "dropped")
    send_transfer(world, [travelling])
    [on_cart] = vials(world, lot="MV-CART", location=world.location("Cart"))
    spare = spare_fridge(world)
    fridge = world.location()
    before = movements(session)

    response = api("nurse").post(f"/locations/{fridge.id}/move-all",
                                 {"to_location_id": spare.id, "reason": "fridge failed"},
                                 headers={"Idempotency-Key": "all-1"})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    moved = [held, sealed[0], sealed[1]]
    assert [c["id"] for c in body["moved"]] == [c.id for c in moved]
    assert (body["from_location_id"], body["to_location_id"]) == (fridge.id, spare.id)
    assert body["message"] == (
        f"Moved 3 containers ({', '.join(c.label_code for c in moved)}) from Fridge to Spare fridge. "
        f"1 container on hold ({held.label_code}) keeps its hold until a safety lead releases or wastes it.")
    session.expire_all()
    assert [c.location_id for c in moved] == [spare.id] * 3 and held.on_hold_since is not None
    assert (used_up.location_id, on_cart.location_id) == (fridge.id, world.location("Cart").id)
    assert travelling.state is ContainerState.IN_TRANSIT
    assert movements(session) == before + 6
    again = api("nurse").post(f"/locations/{fridge.id}/move-all",
                              {"to_location_id": spare.id, "reason": "fridge failed"},
                              headers={"Idempotency-Key": "all-1"})
    assert (again.status_code, again.get_json()) == (200, body)
    assert movements(session) == before + 6


def test_one_container_refused_refuses_the_whole_move_naming_it(api, world, session):
    fine = vials(world, 2, lot="MV-OK", fresh=True)
    [bad] = vials(world, lot="MV-BAD", fresh=True)  # the last in id order: the two before it were moved already
    assert api("safety").post(f"/lots/{bad.lot_id}/quarantine", {"reason": "supplier query"}).status_code == 200
    kit = kit_location(world)
    before = movements(session)

    response = api("manager").post(f"/locations/{world.location().id}/move-all",
                                   {"to_location_id": kit.id, "reason": "restock kit"})

    assert (response.status_code, error_code(response)) == (409, "lot_quarantined")
    error = response.get_json()["error"]
    assert error["message"].startswith(f"Botox Cosmetic 100 U ({bad.label_code}): ")
    assert error["message"].endswith("Nothing was moved.")
    assert (error["details"]["container_id"], error["details"]["label_code"]) == (bad.id, bad.label_code)
    assert movements(session) == before
    assert {c.location_id for c in [*fine, bad]} == {world.location().id}


def test_held_stock_is_refused_into_a_kit_by_the_bulk_move_too(api, world, session):
    [held] = vials(world, lot="MV-HELD")
    hold(api, world)
    kit = kit_location(world)

    response = api("safety").post(f"/locations/{world.location().id}/move-all",
                                  {"to_location_id": kit.id, "reason": "restock kit"})

    assert (response.status_code, error_code(response)) == (409, "container_on_hold")
    assert held.label_code in response.get_json()["error"]["message"]


def test_the_destination_is_judged_even_when_the_place_is_empty(api, world, session):
    spare = spare_fridge(world)
    nurse = api("nurse")
    fridge = world.location()

    same = nurse.post(f"/locations/{fridge.id}/move-all", {"to_location_id": fridge.id, "reason": "x"})
    assert (same.status_code, error_code(same)) == (409, "already_there")
    across = api("manager").post(f"/locations/{fridge.id}/move-all",
                                 {"to_location_id": world.location("Fridge", world.other_clinic).id, "reason": "x"})
    assert (across.status_code, error_code(across)) == (409, "other_clinic")

    empty = nurse.post(f"/locations/{fridge.id}/move-all", {"to_location_id": spare.id, "reason": "fridge failed"})
    assert empty.status_code == 200, empty.get_json()
    assert empty.get_json()["moved"] == []
    assert empty.get_json()["message"] == "Nothing to move: Fridge holds no sealed or opened stock."


def test_both_endpoints_are_in_the_openapi_document(api, world):
    paths = api("nurse").get("/openapi.json").get_json()["paths"]
    assert "post" in paths["/api/v1/containers/{container_ref}/move"]
    assert "post" in paths["/api/v1/locations/{location_id}/move-all"]
