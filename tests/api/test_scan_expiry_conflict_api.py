"""A scanned box whose printed expiry contradicts its lot on file is refused as a counterfeit sign (QA: the cart
only warned "Check the box before use" and offered a draw from another container of the lot, while receiving
refuses the same mismatch with `lot_expiry_conflict`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from inventory.counterfeit import service as counterfeit
from inventory.models import AuditEvent
from tests.api.conftest import error_code

VOLUMA_GTIN = "03612340000229"  # Juvederm Voluma XC 1.0 mL
BOX_2029 = f"]d201{VOLUMA_GTIN}17290328|10VM88B21"  # as a scanner types it, GS as "|": expiry 28 Mar 2029
MESSAGE = ("This box says expiry 28 Mar 2029 but lot VM88B21 is on file with 28 Mar 2028: do not use it; set it "
           "aside for the safety lead.")


def voluma_lot(world):
    return world.receive("firm_filler", lot="VM88B21", expiry=dt.date(2028, 3, 28), containers=2).lot


def signs(session) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "lot.flagged_expiry_conflict")))


def test_the_qa_case_a_box_printed_with_another_expiry_is_refused_with_a_sign(api, world, session):
    lot = voluma_lot(world)
    scanned = api("nurse").post("/scans", {"code": BOX_2029})
    assert (scanned.status_code, error_code(scanned)) == (409, "lot_expiry_conflict")
    error = scanned.get_json()["error"]
    assert error["message"] == MESSAGE
    assert error["details"] == {
        "lot_id": lot.id, "lot_number": "VM88B21", "product_id": world.products["firm_filler"].id,
        "expiry_on_file": "2028-03-28", "expiry_given": "2029-03-28", "expiry_raw": "290328"}
    (sign,) = signs(session)
    assert sign.clinic_id == world.clinic.id and sign.actor_id == world.users["nurse"].id
    assert (sign.details["where"], sign.details["message"], sign.details["expiry_given"]) == (
        "scanning", MESSAGE, "2029-03-28")
    # The safety lead's signs name the product and the lot.
    (shown,) = [s for s in counterfeit.signs(session) if s.event.action == "lot.flagged_expiry_conflict"]
    assert (shown.product, shown.lot_number) == ("Juvederm Voluma XC 1.0 mL", "VM88B21")


def test_the_same_box_with_the_lots_expiry_is_read_as_before(api, world, session):
    lot = voluma_lot(world)
    for code in (f"]d201{VOLUMA_GTIN}17280328|10VM88B21", f"(01){VOLUMA_GTIN}(17)280328(10)VM88B21"):
        scanned = api("nurse").post("/scans", {"code": code})
        assert scanned.status_code == 200, scanned.get_json()
        body = scanned.get_json()
        assert (body["lot_record"]["id"], body["warnings"]) == (lot.id, [])
    # A box without an expiry says nothing of it; a lot not on file has nothing to contradict.
    assert api("nurse").post("/scans", {"code": f"]d201{VOLUMA_GTIN}10VM88B21"}).status_code == 200
    new = api("nurse").post("/scans", {"code": f"]d201{VOLUMA_GTIN}17290328|10VM99"})
    assert (new.status_code, new.get_json()["lot_record"]) == (200, None)
    assert signs(session) == []


def test_a_lot_that_may_not_be_used_says_so_first(api, world, session):
    lot = voluma_lot(world)
    quarantined = api("safety").post(f"/lots/{lot.id}/quarantine", {"reason": "supplier alert"})
    assert quarantined.status_code == 200
    scanned = api("nurse").post("/scans", {"code": BOX_2029})
    assert (scanned.status_code, error_code(scanned)) == (409, "lot_quarantined")


def test_receiving_keeps_its_refusal_of_a_typed_mismatch_without_a_sign(api, world, session):
    voluma_lot(world)
    body = {"gtin": VOLUMA_GTIN, "lot": "VM88B21", "expiry": "2029-03-28", "containers": 1,
            "location_id": world.location().id, "supplier_id": world.supplier.id}
    refused = api("manager").post("/receipts", body)
    assert (refused.status_code, error_code(refused)) == (409, "lot_expiry_conflict")
    assert refused.get_json()["error"]["message"] == (
        "Lot VM88B21 of Juvederm Voluma XC 1.0 mL is on file with expiry 28 Mar 2028, not 28 Mar 2029. Check the "
        "box: a mismatch can mean a counterfeit.")
    assert signs(session) == []
    assert api("manager").post("/receipts", body | {"expiry": "2028-03-28"}).status_code == 201
