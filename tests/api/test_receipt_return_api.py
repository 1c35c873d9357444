"""POST /api/v1/receipts/<id>/return: a wrong or damaged delivery goes back to its supplier (QA: a new clinic with one
manager could not correct a wrong receipt at all: the receive movement is not reversible, and a count needs a second
manager)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from inventory.models import Movement, MovementKind, utcnow
from tests.api.conftest import error_code

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

SUPPLIER = "Allergan Aesthetics (direct)"


def received(api, world, containers: int = 2, lot: str = "WRONGBOX2", who: str = "clinic_manager") -> dict:
    body = {"gtin": world.botox.gtins[0].gtin, "lot": lot, "expiry": "2028-12-31", "containers": containers,
            "location_id": world.location().id, "supplier_id": world.supplier.id}
    created = api(who).post("/receipts", body)
    assert created.status_code == 201, created.get_json()
    return created.get_json()


def returns_recorded(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Movement.id)).where(Movement.kind == MovementKind.RETURN))


def test_a_clinics_only_manager_returns_the_wrong_box_once(api, world, session):
    receipt = received(api, world)
    manager = api("clinic_manager")
    first, second = receipt["containers"]
    body = {"container_ids": [first["id"]], "reason": "wrong_product", "note": "ordered Dysport"}
    key = {"Idempotency-Key": "return-wrong-box-1"}

    answer = manager.post(f"/receipts/{receipt['receipt_id']}/return", body, headers=key)

    assert answer.status_code == 201, answer.get_json()
    got = answer.get_json()
    assert (got["receipt_id"], got["supplier_id"], got["supplier"], got["reason"], got["note"]) == (
        receipt["receipt_id"], world.supplier.id, SUPPLIER, "wrong_product", "ordered Dysport")
    assert [(c["id"], c["state"], c["remaining"]) for c in got["returned"]] == [(first["id"], "empty", "0")]
    assert got["message"] == (f"Returned 1 × Botox Cosmetic 100 U ({first['label_code']}) to {SUPPLIER}: wrong "
                              "product (ordered Dysport).")
    movement = session.get(Movement, got["movement_ids"][0])
    assert (movement.kind, movement.reason, movement.note) == (
        MovementKind.RETURN, "wrong_product", f"returned to {SUPPLIER}: wrong product (ordered Dysport)")
    # The same request again answers the same, and returns nothing more.
    again = manager.post(f"/receipts/{receipt['receipt_id']}/return", body, headers=key)
    assert (again.status_code, again.get_json()) == (201, got)
    assert returns_recorded(session) == 1
    # Without the key it is a second return of the same container: refused.
    twice = manager.post(f"/receipts/{receipt['receipt_id']}/return", body)
    assert (twice.status_code, error_code(twice)) == (409, "already_returned")
    assert twice.get_json()["error"]["details"] == {"container_id": first["id"], "movement_id": movement.id}
    # Its return movement is final, as a recall's is.
    reversed_ = manager.post(f"/movements/{movement.id}/reverse", {"reason": "oops"})
    assert (reversed_.status_code, error_code(reversed_)) == (409, "not_reversible")
    assert second["state"] == "sealed" and returns_recorded(session) == 1


def test_without_container_ids_every_untouched_container_goes_back(api, world, session):
    receipt = received(api, world, 3)

    answer = api("clinic_manager").post(f"/receipts/{receipt['receipt_id']}/return", {"reason": "not_ordered"})

    assert answer.status_code == 201, answer.get_json()
    assert sorted(c["id"] for c in answer.get_json()["returned"]) == sorted(c["id"] for c in receipt["containers"])
    nothing = api("clinic_manager").post(f"/receipts/{receipt['receipt_id']}/return", {"reason": "not_ordered"})
    assert (nothing.status_code, error_code(nothing)) == (409, "nothing_to_return")
    assert [c["code"] for c in nothing.get_json()["error"]["details"]["containers"]] == ["already_returned"] * 3


def test_the_reconciliation_shows_them_returned(api, world, session):
    receipt = received(api, world, 2)
    api("clinic_manager").post(f"/receipts/{receipt['receipt_id']}/return",
                               {"container_ids": [receipt["containers"][0]["id"]], "reason": "damaged"})

    today = utcnow().date()
    report = api("clinic_manager").get(f"/reports/reconciliation?from={today - dt.timedelta(days=1)}"
                                       f"&to={today + dt.timedelta(days=1)}")

    assert report.status_code == 200, report.get_json()
    (row,) = [r for r in report.get_json()["rows"] if r["lot"] == "WRONGBOX2"]
    assert (row["received"], row["returned"]) == ("200", "100")


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    ({"reason": "because"}, 422, "validation_error", "reason"),
    ({"reason": "other"}, 422, "validation_error", "note"),
    ({"reason": "damaged", "container_ids": []}, 422, "validation_error", "container_ids"),
    ({"reason": "damaged", "container_ids": [True]}, 422, "validation_error", "container_ids"),
    ({"reason": "damaged", "container_ids": [2**31]}, 422, "validation_error", "container_ids"),
])
def test_refusals_of_what_was_sent(api, world, session, body, status, code, field):
    receipt = received(api, world, 1)

    refused = api("clinic_manager").post(f"/receipts/{receipt['receipt_id']}/return", body)

    assert (refused.status_code, error_code(refused)) == (status, code), refused.get_json()
    assert refused.get_json()["error"]["details"]["field"].split(".")[0] == field
    assert returns_recorded(session) == 0


def test_who_may_return(api, world, session):
    receipt = received(api, world, 1)
    path = f"/receipts/{receipt['receipt_id']}/return"
    world.nyc_manager()

    for who, status in (("nurse", 403), ("safety", 403), ("nyc_manager", 404)):
        refused = api(who).post(path, {"reason": "damaged"})
        assert refused.status_code == status, (who, refused.get_json())
    assert api("manager").post("/receipts/999999/return", {"reason": "damaged"}).status_code == 404
    assert returns_recorded(session) == 0
    assert api("admin").post(path, {"reason": "damaged"}).status_code == 201


def test_an_opened_container_is_named_with_how_to_correct_it(api, world, session):
    receipt = received(api, world, 1)
    (container,) = receipt["containers"]
    mixed = api("nurse").post(f"/containers/{container['id']}/reconstitute", {"diluent_ml": "2.5"})
    assert mixed.status_code == 200, mixed.get_json()

    refused = api("clinic_manager").post(f"/receipts/{receipt['receipt_id']}/return",
                                         {"container_ids": [container["id"]], "reason": "damaged"})

    assert (refused.status_code, error_code(refused)) == (409, "container_opened")
    assert refused.get_json()["error"]["message"].endswith(
        "If it should not be in stock, correct it with a count of Fridge (Counts: another manager or an admin "
        "posts it).")


def test_the_openapi_document_has_the_return(api, world):
    document = api("manager").get("/openapi.json").get_json()
    operation = document["paths"]["/api/v1/receipts/{receipt_id}/return"]["post"]
    assert set(operation["responses"]) >= {"201", "404", "409", "422"}
