"""POST /api/v1/receipts with a GS1 code whose lot swallowed its serial (a lost separator): the lot typed beside
the code names the reading, as the receiving page's choice does; anything else is still refused."""

from __future__ import annotations

from tests.api.conftest import error_code

SEPARATOR_LOST = "010361234000001417271231103WEBH21SN99"  # lot 3WEBH, then serial SN99 with no separator


def _body(world, **fields) -> dict:
    return {"code": SEPARATOR_LOST, "containers": 1, "location_id": world.location().id,
            "supplier_id": world.supplier.id} | fields


def test_the_shorter_lot_typed_beside_the_code_is_received_with_its_serial(api, world):
    answer = api("manager").post("/receipts", _body(world, lot="3webh"))
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert (body["lot"]["number"], body["lot"]["expiry"], body["serial"]) == ("3WEBH", "2027-12-31", "SN99")


def test_the_lot_as_read_still_needs_its_confirmation(api, world):
    manager = api("manager")
    refused = manager.post("/receipts", _body(world, lot="3WEBH21SN99"))
    assert (refused.status_code, error_code(refused)) == (409, "separator_lost")
    confirmed = manager.post("/receipts", _body(world, confirm=["separator_lost"]))
    assert confirmed.status_code == 201
    assert (confirmed.get_json()["lot"]["number"], confirmed.get_json()["serial"]) == ("3WEBH21SN99", None)


def test_a_lot_that_is_neither_reading_is_refused(api, world):
    refused = api("manager").post("/receipts", _body(world, lot="3WEB"))
    assert (refused.status_code, error_code(refused)) == (422, "validation_error")
    assert refused.get_json()["error"]["details"]["field"] == "lot"
