"""POST /api/v1/receipts: a pack serial once per product whatever the container counts (QA's repro), and no
receipt into an emergency kit."""

from __future__ import annotations

from sqlalchemy import func, select

from inventory.models import AuditEvent, Container, Receipt
from inventory.receiving.models import PackSerial
from tests.api.conftest import error_code
from tests.factories import kit_location

CODE = "(01){gtin}(17)281231(10)QASER(21)X1"


def counts(session) -> tuple[int, int, int]:
    session.expire_all()
    return tuple(session.scalar(select(func.count(model.id))) for model in (Receipt, Container, PackSerial))


def test_a_pack_serial_received_in_several_containers_is_refused_the_second_time(api, world, session):
    """QA: the same box of two vials posted twice, then as one vial: only the first is taken in."""
    manager = api("manager")
    body = {"code": CODE.format(gtin=world.botox.gtins[0].gtin), "containers": 2, "location_id": world.location().id}
    first = manager.post("/receipts", body)
    assert first.status_code == 201
    assert first.get_json()["serial"] == "X1" and len(first.get_json()["containers"]) == 2
    again = manager.post("/receipts", body)
    assert (again.status_code, error_code(again)) == (409, "duplicate_serial")
    assert again.get_json()["error"]["message"].startswith("Pack serial X1 of Botox Cosmetic 100 U was already "
                                                           "received (lot QASER).")
    assert again.get_json()["error"]["details"]["receipt_id"] == first.get_json()["receipt_id"]
    as_one = manager.post("/receipts", body | {"containers": 1})
    assert (as_one.status_code, error_code(as_one)) == (409, "duplicate_serial")
    assert counts(session) == (1, 2, 1)
    # Each refusal is a sign for the safety lead, kept although the request was rolled back.
    flagged = session.scalars(select(AuditEvent).where(AuditEvent.action == "lot.flagged_duplicate_serial")).all()
    assert [event.details["serial"] for event in flagged] == ["X1", "X1"]


def test_a_pack_of_one_then_the_same_serial_in_several_containers_is_refused(api, world, session):
    manager = api("manager")
    body = {"code": CODE.format(gtin=world.botox.gtins[0].gtin), "containers": 1, "location_id": world.location().id}
    assert manager.post("/receipts", body).status_code == 201
    again = manager.post("/receipts", body | {"containers": 3})
    assert (again.status_code, error_code(again)) == (409, "duplicate_serial")
    assert counts(session) == (1, 1, 1)


def test_a_box_without_a_serial_answers_serial_null(api, world):
    body = {"gtin": world.botox.gtins[0].gtin, "lot": "TYPED1", "expiry": "2028-12-31", "containers": 2,
            "location_id": world.location().id}
    created = api("manager").post("/receipts", body)
    assert created.status_code == 201 and created.get_json()["serial"] is None


def test_a_receipt_into_an_emergency_kit_is_refused(api, world, session):
    kit = kit_location(world, name="Kit, room 2")
    manager = api("manager")
    for body in ({"code": CODE.format(gtin=world.botox.gtins[0].gtin), "containers": 2},
                 {"gtin": world.botox.gtins[0].gtin, "lot": "KIT1", "expiry": "2028-12-31", "containers": 1}):
        refused = manager.post("/receipts", body | {"location_id": kit.id})
        assert (refused.status_code, error_code(refused)) == (409, "location_is_kit")
        assert refused.get_json()["error"] == {
            "code": "location_is_kit",
            "message": "Kit, room 2 is an emergency kit: receive into a fridge or store, then restock the kit "
                       "from there.",
            "details": {"location_id": kit.id},
        }
    assert counts(session) == (0, 0, 0)
    # The serial was not used up by the refusal: the box goes into the fridge.
    body = {"code": CODE.format(gtin=world.botox.gtins[0].gtin), "containers": 2, "location_id": world.location().id}
    assert manager.post("/receipts", body).status_code == 201


def test_the_openapi_document_answers_the_receipts_serial(api, world):
    document = api("manager").get("/openapi.json").get_json()
    answer = document["paths"]["/api/v1/receipts"]["post"]["responses"]["201"]["content"]["application/json"]
    name = answer["schema"]["$ref"].rsplit("/", 1)[1]
    assert document["components"]["schemas"][name]["properties"]["serial"]["anyOf"] == [{"type": "string"},
                                                                                        {"type": "null"}]


def test_the_api_refuses_it_with_its_code_and_takes_the_confirmation(api, world, session):
    manager = api("manager")
    body = {"gtin": world.botox.gtins[0].gtin, "lot": "COLD2", "expiry": "2028-12-31", "containers": 1,
            "location_id": world.location("Room 1").id}
    refused = manager.post("/receipts", body)
    assert (refused.status_code, error_code(refused)) == (409, "location_not_refrigerated")
    assert _containers(session) == 0
    taken = manager.post("/receipts", body | {"confirm": ["location_not_refrigerated"]})
    assert taken.status_code == 201, taken.get_json()
    assert _containers(session) == 1


def _containers(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Container.id)))
