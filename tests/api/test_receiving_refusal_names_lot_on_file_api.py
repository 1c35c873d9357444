"""A receipt refusal names only a lot on file (QA: an expired box of a new lot answered 409 lot_expired with the id
of a lot made and rolled back in the same request: GET of it found nothing, and the next new lot took that id, so a
client following details.lot_id landed on an unrelated lot)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from inventory.models import Lot
from tests.api.conftest import error_code

PAST = dt.datetime(2019, 6, 1, 9, 0, tzinfo=dt.UTC)


def lots(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Lot.id)))


def test_the_qa_case_an_expired_box_of_a_new_lot_names_no_lot(api, world, session):
    manager = api("manager")
    gtin = world.botox.gtins[0].gtin
    before = lots(session)
    refused = manager.post("/receipts", {"code": f"(01){gtin}(17)200131(10)QA3OLD", "containers": 1,
                                         "location_id": world.location().id, "supplier_id": world.supplier.id})
    assert (refused.status_code, error_code(refused)) == (409, "lot_expired")
    error = refused.get_json()["error"]
    assert error["message"] == "Lot QA3OLD of Botox Cosmetic 100 U expired on 31 Jan 2020: do not use."
    assert error["details"] == {"expiry": "2020-01-31"}  # no lot_id: no lot of that number is on file
    assert lots(session) == before
    # The next new lot is that lot, and nothing a refusal pointed at.
    received = manager.post("/receipts", {"code": f"(01){gtin}(17)281231(10)QA3NEW", "containers": 1,
                                          "location_id": world.location().id, "supplier_id": world.supplier.id})
    assert received.status_code == 201 and received.get_json()["lot"]["number"] == "QA3NEW"


def test_an_expired_lot_on_file_is_named_by_its_id(api, world, session):
    earlier = world.receive("botox", lot="QA3FILE", expiry=dt.date(2020, 1, 31), now=PAST)
    refused = api("manager").post("/receipts", {
        "code": f"(01){world.botox.gtins[0].gtin}(17)200131(10)QA3FILE", "containers": 1,
        "location_id": world.location().id, "supplier_id": world.supplier.id})
    assert (refused.status_code, error_code(refused)) == (409, "lot_expired")
    assert refused.get_json()["error"]["details"] == {"lot_id": earlier.lot.id, "expiry": "2020-01-31"}
    session.expire_all()
    assert session.get(Lot, earlier.lot.id).number == "QA3FILE"
