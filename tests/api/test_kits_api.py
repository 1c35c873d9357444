"""The kits API: readiness board, checks, contents, templates, the expiry watch; roles and clinic isolation."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from inventory.models import LotStatus, Movement, MovementKind
from inventory.kits.models import KitCheck
from inventory.services import ledger
from tests.api.conftest import error_code
from tests.factories import EVERYWHERE, NOW
from tests.kit_factories import check, days, new_kit, stock, stocked_kit


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    """The kits API reads the clock once per request: pin it to NOW."""
    monkeypatch.setattr("inventory.kits.api.utcnow", lambda: NOW)


def test_readiness_is_a_list_with_status_and_reasons_in_words(api, world):
    ready = stocked_kit(world)
    check(world, ready)
    short = new_kit(world, name="Emergency kit (room 2)")
    stock(world, short, "hylenex")
    response = api("nurse").get("/kits/readiness")
    assert response.status_code == 200
    body = response.get_json()
    assert isinstance(body, list)
    by_name = {kit["name"]: kit for kit in body}
    assert by_name["Emergency kit (room 1)"] | {"kit_id": ready.id, "location": "Emergency kit (room 1)",
                                                 "status": "ready", "reasons": []} == by_name["Emergency kit (room 1)"]
    room2 = by_name["Emergency kit (room 2)"]
    assert room2["status"] == "not_ready"
    assert room2["reasons"] == [
        "Hyaluronidase: 150 USP U of 300 USP U (Hylenex recombinant 150 USP U/mL)",
        "Syringes 1 mL: 0 each of 2 each",
        "Never checked; checked every 7 days",
    ]
    assert room2["details"][0]["code"] == "requirement_short"
    assert room2["details"][0]["data"]["have"] == "150"


def test_a_nurse_records_a_check_and_the_kit_turns_ready(api, world, session):
    kit = stocked_kit(world)
    nurse = api("nurse")
    assert nurse.get("/kits/readiness").get_json()[0]["status"] == "not_ready"
    response = nurse.post(f"/kits/{kit.id}/checks", {"seal_intact": True, "notes": "all present"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["kit_id"], body["checked_by"], body["seal_intact"], body["notes"], body["status"]) == (
        kit.id, "nurse", True, "all present", "ready")
    assert dt.datetime.fromisoformat(body["checked_at"]) == NOW
    assert nurse.get("/kits/readiness").get_json()[0]["status"] == "ready"


def test_a_check_is_idempotent_with_a_key_and_validated(api, world, session):
    kit = stocked_kit(world)
    nurse = api("nurse")
    headers = {"Idempotency-Key": "check-1"}
    first = nurse.post(f"/kits/{kit.id}/checks", {"seal_intact": False}, headers=headers)
    again = nurse.post(f"/kits/{kit.id}/checks", {"seal_intact": False}, headers=headers)
    assert first.status_code == again.status_code == 201 and first.get_json() == again.get_json()
    assert first.get_json()["reasons"] == [
        "Seal found broken at the last check on 15 Jun 2026: check the contents and reseal"]
    session.expire_all()
    assert len(session.scalars(select(KitCheck).where(KitCheck.kit_id == kit.id)).all()) == 1
    assert error_code(nurse.post(f"/kits/{kit.id}/checks", {"notes": "no seal given"})) == "validation_error"
    assert error_code(nurse.post(f"/kits/{kit.id}/checks", "{not json")) == "malformed_json"


def test_another_clinics_kit_is_not_found(api, world):
    kit = new_kit(world, world.other_clinic, name="NYC kit")
    lon_nurse = api("nurse")
    assert lon_nurse.get("/kits/readiness").get_json() == []
    for response in (lon_nurse.post(f"/kits/{kit.id}/checks", {"seal_intact": True}), lon_nurse.get(f"/kits/{kit.id}")):
        assert response.status_code == 404 and error_code(response) == "not_found"
    assert api("other_nurse").post(f"/kits/{kit.id}/checks", {"seal_intact": True}).status_code == 201


def test_templates_and_kits_are_for_managers(api, world):
    body = {
        "name": "Anaphylaxis kit", "check_interval_days": 7, "warning_days": 30,
        "requirements": [
            {"label": "Hyaluronidase", "product_kind": "hyaluronidase", "min_quantity": "1500",
             "min_days_to_expiry": 30},
            {"label": "Syringes 1 mL", "product_id": world.products["syringe"].id, "min_quantity": "10"},
        ],
    }
    nurse = api("nurse")
    for response in (nurse.post("/kit-templates", body), nurse.get("/kit-templates"),
                     nurse.post("/kits", {"template_id": 1, "name": "X", "clinic_id": world.clinic.id})):
        assert response.status_code == 403 and error_code(response) == "forbidden"

    manager = api("clinic_manager")
    created = manager.post("/kit-templates", body)
    assert created.status_code == 201, created.get_json()
    template = created.get_json()
    assert [(r["label"], r["product_kind"], r["product"], r["min_quantity"], r["unit"], r["min_days_to_expiry"])
            for r in template["requirements"]] == [
        ("Hyaluronidase", "hyaluronidase", None, "1500", None, 30),
        ("Syringes 1 mL", None, "Syringe 1 mL Luer-lock", "10", "each", 0),
    ]
    assert error_code(manager.post("/kit-templates", body)) == "duplicate_name"
    assert error_code(manager.post("/kit-templates", body | {"name": body["name"].upper()})) == "duplicate_name"
    both = body | {"name": "Both", "requirements": [body["requirements"][0] | {"product_id": 1}]}
    assert error_code(manager.post("/kit-templates", both)) == "validation_error"
    assert [t["name"] for t in manager.get("/kit-templates").get_json()["templates"]] == ["Anaphylaxis kit"]

    kit = manager.post("/kits", {"template_id": template["id"], "name": "Room 3 kit", "clinic_id": world.clinic.id})
    assert kit.status_code == 201, kit.get_json()
    assert kit.get_json() | {"clinic_code": "LON", "location": "Room 3 kit", "template": "Anaphylaxis kit"} == kit.get_json()
    other = manager.post("/kits", {"template_id": template["id"], "name": "NYC", "clinic_id": world.other_clinic.id})
    assert other.status_code == 404  # a London manager cannot place a kit in New York
    taken = manager.post("/kits", {"template_id": template["id"], "name": "Again",
                                   "location_id": kit.get_json()["location_id"]})
    assert error_code(taken) == "location_has_kit"
    assert [k["name"] for k in api("nurse").get("/kits").get_json()["kits"]] == ["Room 3 kit"]


def test_a_nurse_restocks_a_kit_by_scanning_and_removes_a_quarantined_vial(api, world, session):
    kit = new_kit(world)
    fridge = world.location("Fridge")
    (vial,) = world.receive("hylenex", location=fridge).containers
    nurse = api("nurse")
    key = {"Idempotency-Key": "restock-1"}
    added = nurse.post(f"/kits/{kit.id}/contents", {"container": vial.label_code}, headers=key)
    assert added.status_code == 201, added.get_json()
    assert added.get_json()["location_id"] == kit.location_id
    assert nurse.post(f"/kits/{kit.id}/contents", {"container": vial.label_code}, headers=key).get_json() == \
        added.get_json()
    session.expire_all()
    moves = session.scalars(select(Movement.kind).where(Movement.container_id == vial.id).order_by(Movement.id)).all()
    assert moves == [MovementKind.RECEIVE, MovementKind.TRANSFER_OUT, MovementKind.TRANSFER_IN]

    detail = nurse.get(f"/kits/{kit.id}").get_json()
    assert [c["label_code"] for c in detail["contents"]] == [vial.label_code]
    assert detail["status"] == "not_ready" and detail["template"] == "Vascular occlusion kit"
    assert [(line["label"], line["have"], line["need"], line["unit"], line["met"]) for line in detail["checklist"]] == [
        ("Hyaluronidase", "150", "300", "USP U", False), ("Syringes 1 mL", "0", "2", "each", False)]

    again = nurse.post(f"/kits/{kit.id}/contents", {"container": vial.id})
    assert again.status_code == 409 and error_code(again) == "already_there"
    (quarantined,) = world.receive("hylenex", lot="QQ1", location=fridge).containers
    quarantined.lot.status = LotStatus.QUARANTINED
    session.flush()
    refused = nurse.post(f"/kits/{kit.id}/contents", {"container": quarantined.label_code})
    assert refused.status_code == 409 and error_code(refused) == "lot_quarantined"

    removed = nurse.post(f"/kits/{kit.id}/contents/{vial.label_code}/remove", {"to_location_id": fridge.id})
    assert removed.status_code == 200 and removed.get_json()["location_id"] == fridge.id
    assert nurse.get(f"/kits/{kit.id}").get_json()["contents"] == []
    not_in = nurse.post(f"/kits/{kit.id}/contents/{vial.label_code}/remove", {"to_location_id": fridge.id})
    assert error_code(not_in) == "not_in_kit"
    unknown = nurse.post(f"/kits/{kit.id}/contents", {"container": "VL00000000"})
    assert unknown.status_code == 404 and error_code(unknown) == "unknown_container"
    session.expire_all()
    assert ledger.find_balance_mismatches(session) == []


def test_emergency_use_shows_on_the_board_until_restocked_and_checked(api, world, session):
    kit = stocked_kit(world)
    check(world, kit, at=NOW - dt.timedelta(hours=2))
    vial = stock(world, kit, "hylenex", lot="EM1")[0]
    locked = ledger.lock_container(session, vial.id, EVERYWHERE)
    ledger.record(session, locked, kind=MovementKind.DRAW, quantity=-locked.remaining, actor=world.users["nurse"],
                  at=NOW - dt.timedelta(hours=1), reason="emergency")
    session.flush()
    nurse = api("nurse")
    (board,) = nurse.get("/kits/readiness").get_json()
    assert board["status"] == "not_ready"
    assert board["reasons"] == ["Used in an emergency on 15 Jun 2026: restock and check"]
    assert nurse.post(f"/kits/{kit.id}/checks", {"seal_intact": True}).get_json()["status"] == "ready"


def test_expiring_stock_by_location_with_a_day_window(api, world):
    world.receive("hylenex", lot="SOON", expiry=days(10), location=world.location("Fridge"))
    world.receive("botox", lot="LATER", expiry=days(45), containers=2, location=world.location("Cart"))
    world.receive("botox", lot="OTHERCLINIC", expiry=days(5), location=world.location("Fridge", world.other_clinic))
    nurse = api("nurse")
    body = nurse.get("/stock/expiring").get_json()
    assert body["days"] == 30
    assert [(p["location"], [(lot["lot"], lot["days_left"]) for lot in p["lots"]]) for p in body["locations"]] == [
        ("Fridge", [("SOON", 10)]),
    ]
    wider = nurse.get("/stock/expiring?days=60").get_json()
    assert [p["location"] for p in wider["locations"]] == ["Fridge", "Cart"]
    cart_lot = wider["locations"][1]["lots"][0]
    assert (cart_lot["containers"], cart_lot["remaining"], cart_lot["base_unit"]) == (2, "200", "U")
    assert error_code(nurse.get("/stock/expiring?days=1000")) == "validation_error"
    assert error_code(nurse.get("/stock/expiring?days=soon")) == "validation_error"
    assert api().get("/stock/expiring").status_code == 401


def test_the_openapi_document_lists_the_kit_operations(api, world):
    paths = api().get("/openapi.json").get_json()["paths"]
    assert {"/api/v1/kits/readiness", "/api/v1/kits/{kit_id}/checks", "/api/v1/kits", "/api/v1/kits/{kit_id}",
            "/api/v1/kits/{kit_id}/contents", "/api/v1/kits/{kit_id}/contents/{container_ref}/remove",
            "/api/v1/kit-templates", "/api/v1/stock/expiring"} <= set(paths)
    assert paths["/api/v1/kits/readiness"]["get"]["x-vialog-permission"] == "kit_check"
