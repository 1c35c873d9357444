"""Receiving keeps its counterfeit signs for the safety lead (QA: a box whose printed expiry contradicts its lot, and
a delivery from a stopped supplier, were refused at /receive but never listed under "Signs for the safety lead",
while the same expiry conflict scanned at the cart was), and a box refused for itself says so before "choose the
supplier" (QA: a watched lot scanned before choosing the supplier only said "Choose who delivered this box.")."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from inventory.counterfeit import service as counterfeit
from inventory.counterfeit.models import Supplier
from inventory.models import AuditEvent, Container, Lot, Movement, Receipt, utcnow
from inventory.receiving.models import PackSerial
from tests.api.conftest import error_code
from tests.factories import NOW

TOLD = "The safety lead is told (Signs on the watch list)."
CONFLICT = ("Lot DEMOBTX01 of Botox Cosmetic 100 U is on file with expiry 28 Apr 2028, not 28 May 2028. Check the box: "
            "a mismatch can mean a counterfeit.")


def box(world, lot: str = "DEMOBTX01", expiry: str = "280528", serial: str = "PKX9001") -> str:
    """The box as a scanner types it (FNC1 as "]d2", GS as "|")."""
    return f"]d201{world.botox.gtins[0].gtin}17{expiry}10{lot}|21{serial}"


def on_file(world) -> Lot:
    return world.receive("botox", lot="DEMOBTX01", expiry=dt.date(2028, 4, 28), now=NOW).lot


def body(world, code: str, **extra) -> dict:
    return {"code": code, "containers": 1, "location_id": world.location().id, "supplier_id": world.supplier.id} | extra


def signs(session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def stock(session) -> tuple[int, ...]:
    session.expire_all()
    return tuple(session.scalar(select(func.count(model.id)))
                 for model in (Lot, Receipt, Container, Movement, PackSerial))


def stopped_supplier(session) -> Supplier:
    grey = Supplier(name="Grey market", is_authorised=False)
    session.add(grey)
    session.flush()
    return grey


def test_the_qa_case_a_scanned_box_whose_expiry_contradicts_its_lot_is_a_sign_and_writes_no_stock(api, world,
                                                                                                  session):
    lot = on_file(world)
    before, started = stock(session), utcnow()
    refused = api("manager").post("/receipts", body(world, box(world)))
    assert (refused.status_code, error_code(refused)) == (409, "lot_expiry_conflict")
    error = refused.get_json()["error"]
    assert error["message"] == f"{CONFLICT} {TOLD}"
    assert stock(session) == before  # no lot, receipt, container, movement or pack serial
    (sign,) = signs(session, "lot.flagged_expiry_conflict")
    assert (sign.actor_id, sign.clinic_id, sign.object_id) == (world.users["manager"].id, world.clinic.id, str(lot.id))
    assert started.replace(tzinfo=None) <= sign.at.replace(tzinfo=None) <= utcnow().replace(tzinfo=None)
    assert {key: sign.details[key] for key in ("where", "location_id", "location", "code", "gtin", "product",
                                               "lot_number", "expiry", "serial", "supplier", "expiry_on_file",
                                               "expiry_given", "message")} == {
        "where": "receiving", "location_id": world.location().id, "location": "Fridge", "code": box(world),
        "gtin": world.botox.gtins[0].gtin, "product": "Botox Cosmetic 100 U", "lot_number": "DEMOBTX01",
        "expiry": "2028-05-28", "serial": "PKX9001", "supplier": "Allergan Aesthetics (direct)",
        "expiry_on_file": "2028-04-28", "expiry_given": "2028-05-28", "message": error["message"]}
    # The safety lead's list names it, as it names the cart's.
    (shown,) = [s for s in counterfeit.signs(session) if s.event.action == "lot.flagged_expiry_conflict"]
    assert (shown.product, shown.lot_number, shown.clinic) == ("Botox Cosmetic 100 U", "DEMOBTX01", "Clinic LON")


def test_an_expiry_typed_beside_a_bare_gtin_that_differs_is_refused_without_a_sign(api, world, session):
    on_file(world)
    gtin = world.botox.gtins[0].gtin
    typed = {"lot": "DEMOBTX01", "expiry": "2028-05-28", "containers": 1, "location_id": world.location().id,
             "supplier_id": world.supplier.id}
    for request in (typed | {"gtin": gtin}, typed | {"code": f"]d201{gtin}"}):  # typed, or beside a bare GTIN
        refused = api("manager").post("/receipts", request)
        assert (refused.status_code, error_code(refused)) == (409, "lot_expiry_conflict")
        assert refused.get_json()["error"]["message"] == CONFLICT  # more often a typo: nobody is told
    assert signs(session, "lot.flagged_expiry_conflict") == []


def test_a_delivery_from_a_stopped_supplier_is_a_sign_with_the_box_it_brought(api, world, session):
    grey = stopped_supplier(session)
    before = stock(session)
    refused = api("manager").post("/receipts", body(world, box(world, lot="NEWLOT1"), supplier_id=grey.id))
    assert (refused.status_code, error_code(refused)) == (409, "supplier_not_authorised")
    error = refused.get_json()["error"]
    assert error["message"] == (
        "Grey market is not an authorised supplier: do not take this delivery in, and tell the safety lead (stock "
        f"from unlicensed sellers is how counterfeits arrive). {TOLD}")
    assert error["details"] == {"supplier_id": grey.id}
    assert stock(session) == before  # not even the new lot
    (sign,) = signs(session, "lot.flagged_unauthorised_supplier")
    assert (sign.actor_id, sign.clinic_id, sign.object_id) == (world.users["manager"].id, world.clinic.id, "")
    assert {key: sign.details[key] for key in ("where", "supplier_id", "supplier", "product", "lot_number", "serial",
                                               "code")} == {
        "where": "receiving", "supplier_id": grey.id, "supplier": "Grey market", "product": "Botox Cosmetic 100 U",
        "lot_number": "NEWLOT1", "serial": "PKX9001", "code": box(world, lot="NEWLOT1")}
    (shown,) = [s for s in counterfeit.signs(session) if s.event.action == "lot.flagged_unauthorised_supplier"]
    assert (shown.product, shown.lot_number, shown.clinic) == ("Botox Cosmetic 100 U", "NEWLOT1", "Clinic LON")
    # A supplier that is not on file is a mistake, not a sign.
    unknown = api("manager").post("/receipts", body(world, box(world, lot="NEWLOT1"), supplier_id=999_999))
    assert unknown.status_code == 404 and TOLD not in unknown.get_json()["error"]["message"]
    assert len(signs(session, "lot.flagged_unauthorised_supplier")) == 1


def test_a_retried_request_is_one_sign_and_another_request_another(api, world, session):
    on_file(world)
    manager = api("manager")
    for _ in range(3):
        retried = manager.post("/receipts", body(world, box(world)), headers={"Idempotency-Key": "rcv-77"})
        assert error_code(retried) == "lot_expiry_conflict"
    assert len(signs(session, "lot.flagged_expiry_conflict")) == 1
    # Another key is another attempt; so is a request without a key (nothing tells it from a second box).
    assert error_code(manager.post("/receipts", body(world, box(world)), headers={"Idempotency-Key": "rcv-78"})) \
        == "lot_expiry_conflict"
    assert error_code(manager.post("/receipts", body(world, box(world)))) == "lot_expiry_conflict"
    assert len(signs(session, "lot.flagged_expiry_conflict")) == 3
    # The same key with another box is another sighting, and so is another user's retry under that key.
    grey = stopped_supplier(session)
    for _ in range(2):
        manager.post("/receipts", body(world, box(world, lot="NEWLOT2"), supplier_id=grey.id),
                     headers={"Idempotency-Key": "rcv-77"})
    api("admin").post("/receipts", body(world, box(world, lot="NEWLOT2"), supplier_id=grey.id),
                      headers={"Idempotency-Key": "rcv-77"})
    assert [s.actor_id for s in signs(session, "lot.flagged_unauthorised_supplier")] == [
        world.users["manager"].id, world.users["admin"].id]


def test_a_watched_lot_or_an_expiry_conflict_is_refused_before_the_missing_supplier(api, world, session):
    assert api("admin").patch(f"/clinics/{world.clinic.id}", {"receipts_need_supplier": True}).status_code == 200
    counterfeit.watch(session, actor=world.users["safety"], product_id=world.botox.id, lot_number="FAKE1",
                      source="Regulator alert 9", now=NOW)
    manager = api("manager")
    watched = manager.post("/receipts", body(world, box(world, lot="FAKE1"), supplier_id=None))
    assert (watched.status_code, error_code(watched)) == (409, "lot_suspect")
    assert watched.get_json()["error"]["message"].endswith(f"Set the box aside and tell the safety lead. {TOLD}")
    on_file(world)
    conflict = manager.post("/receipts", body(world, box(world), supplier_id=None))
    assert (conflict.status_code, error_code(conflict)) == (409, "lot_expiry_conflict")
    assert len(signs(session, "lot.flagged_suspect")) == len(signs(session, "lot.flagged_expiry_conflict")) == 1
    # A box that is fine still asks for its supplier.
    missing = manager.post("/receipts", body(world, box(world, lot="GOOD1"), supplier_id=None))
    assert (missing.status_code, error_code(missing)) == (422, "validation_error")
    assert missing.get_json()["error"]["details"]["field"] == "supplier_id"
