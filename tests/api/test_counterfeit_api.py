"""Counterfeit defence over the API: suppliers, the watch list, chain-wide pack serials, signs for the safety
lead (DOMAIN.md "Counterfeits, suppliers and the cold chain")."""

from __future__ import annotations

from sqlalchemy import func, select

from inventory.counterfeit import service as counterfeit
from inventory.counterfeit.models import Supplier, WatchedLot
from inventory.models import AuditEvent, Container, Lot, LotStatus, Receipt
from tests import factories
from tests.api.conftest import error_code

GS = "\x1d"


def receipt_body(world, lot: str = "SUP1", **extra):
    return {"gtin": world.botox.gtins[0].gtin, "lot": lot, "expiry": "2028-12-31", "containers": 1,
            "location_id": world.location().id} | extra


def signs(session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# --- suppliers -------------------------------------------------------------------------------------


def test_a_manager_adds_renames_and_stops_a_supplier(api, world, session):
    manager = api("manager")
    created = manager.post("/suppliers", {"name": "Harbour Pharma", "licence": "WDA 7",
                                          "reason": "licence checked on the register"})
    assert created.status_code == 201
    body = created.get_json()
    assert (body["name"], body["licence"], body["authorised"]) == ("Harbour Pharma", "WDA 7", True)
    patched = manager.patch(f"/suppliers/{body['id']}", {"authorised": False, "name": "Harbour Pharma Ltd"})
    assert patched.status_code == 200
    assert (patched.get_json()["name"], patched.get_json()["authorised"]) == ("Harbour Pharma Ltd", False)
    names = [s["name"] for s in manager.get("/suppliers").get_json()["suppliers"]]
    assert names == ["Allergan Aesthetics (direct)", "Harbour Pharma Ltd"]  # authorised first
    duplicate = manager.post("/suppliers", {"name": "harbour pharma ltd"})
    assert (duplicate.status_code, error_code(duplicate)) == (409, "supplier_name_taken")
    assert api("nurse").get("/suppliers").status_code == 403
    assert api("safety").post("/suppliers", {"name": "X"}).status_code == 403
    assert manager.patch("/suppliers/999999", {"authorised": True}).status_code == 404
    assert manager.patch(f"/suppliers/{body['id']}", {}).status_code == 422


def test_a_receipt_names_its_supplier_and_an_unauthorised_one_is_refused(api, world, session):
    manager = api("manager")
    ok = manager.post("/receipts", receipt_body(world, supplier_id=world.supplier.id))
    assert ok.status_code == 201
    assert (ok.get_json()["supplier_id"], ok.get_json()["supplier"]) == (world.supplier.id,
                                                                          "Allergan Aesthetics (direct)")
    grey = Supplier(name="Grey market", is_authorised=False)
    session.add(grey)
    session.flush()
    refused = manager.post("/receipts", receipt_body(world, lot="SUP2", supplier_id=grey.id))
    assert (refused.status_code, error_code(refused)) == (409, "supplier_not_authorised")
    assert manager.post("/receipts", receipt_body(world, lot="SUP3", supplier_id=999999)).status_code == 404
    session.expire_all()
    assert session.scalar(select(func.count(Receipt.id))) == 1
    # A client from before suppliers still receives; the receipt says "not recorded".
    legacy = manager.post("/receipts", receipt_body(world, lot="SUP4"))
    assert legacy.status_code == 201 and legacy.get_json()["supplier"] is None


def test_a_clinic_that_needs_suppliers_refuses_an_api_receipt_without_one(api, world, session):
    """The contract's receipt body has no supplier, so leaving it out stays the default; an admin switches
    receipts_need_supplier on for a clinic whose integrations send one, and a receipt there without it is 422."""
    switched = api("admin").patch(f"/clinics/{world.clinic.id}", {"receipts_need_supplier": True})
    assert switched.status_code == 200 and switched.get_json()["receipts_need_supplier"] is True
    manager = api("manager")
    refused = manager.post("/receipts", receipt_body(world, lot="NEED1"), headers={"Idempotency-Key": "need-1"})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error")
    error = refused.get_json()["error"]
    assert error["message"] == ("Name the supplier who delivered this box: Clinic LON receives only from authorised "
                                "suppliers.")
    assert error["details"]["field"] == "supplier_id"
    assert error["details"]["fields"] == [{"field": "supplier_id", "problem": error["message"]}]
    session.expire_all()
    assert [session.scalar(select(func.count(m.id))) for m in (Receipt, Lot, Container)] == [0, 0, 0]
    # The same key with the supplier named is evaluated again (a refusal stores nothing) and received.
    named = manager.post("/receipts", receipt_body(world, lot="NEED1", supplier_id=world.supplier.id),
                         headers={"Idempotency-Key": "need-1"})
    assert named.status_code == 201 and named.get_json()["supplier_id"] == world.supplier.id
    # The New York clinic keeps the default: a client from before suppliers still receives there.
    elsewhere = manager.post("/receipts", receipt_body(world, lot="NEED2",
                                                       location_id=world.location("Fridge", world.other_clinic).id))
    assert elsewhere.status_code == 201 and elsewhere.get_json()["supplier"] is None


# --- the watch list --------------------------------------------------------------------------------


def test_watching_a_lot_in_stock_quarantines_it_at_once(api, world, session):
    vial = world.container("botox", lot="FAKE01")
    lead = api("safety")
    response = lead.post("/watchlist", {"gtin": world.botox.gtins[0].gtin, "lot_number": "fake01",
                                        "source": "FDA alert 2024-11", "note": "sold online"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["lot_number"] == "fake01" and body["source"] == "FDA alert 2024-11"
    assert [(lot["id"], lot["status"]) for lot in body["quarantined_lots"]] == [(vial.lot_id, "quarantined")]
    session.expire_all()
    assert session.get(Lot, vial.lot_id).status is LotStatus.QUARANTINED
    (sign,) = signs(session, "lot.watch_quarantined")
    assert sign.details["containers_holding_stock"] == 1
    assert [e["lot_number"] for e in lead.get("/watchlist").get_json()["entries"]] == ["fake01"]
    again = lead.post("/watchlist", {"product_id": world.botox.id, "lot_number": "FAKE01", "source": "x"})
    assert (again.status_code, error_code(again)) == (409, "lot_already_watched")
    assert api("manager").get("/watchlist").status_code == 403
    assert lead.post("/watchlist", {"lot_number": "X", "source": "y"}).status_code == 422  # no product


def test_receiving_or_scanning_a_watched_lot_is_refused_and_shown_to_the_safety_lead(api, world, session):
    gtin = world.botox.gtins[0].gtin
    lead, manager = api("safety"), api("manager")
    entry = lead.post("/watchlist", {"product_id": world.botox.id, "lot_number": "C3709C3",
                                     "source": "FDA counterfeit alert"}).get_json()
    assert entry["quarantined_lots"] == []

    refused = manager.post("/receipts", receipt_body(world, lot="c3709c3", supplier_id=world.supplier.id))
    assert (refused.status_code, error_code(refused)) == (409, "lot_suspect")
    scanned = api("nurse").post("/scans", {"code": f"]d201{gtin}17280131" "10C3709C3"})
    assert (scanned.status_code, error_code(scanned)) == (409, "lot_suspect")
    session.expire_all()
    assert session.scalar(select(func.count(Lot.id))) == 0  # nothing of the refused receipt was kept
    flagged = signs(session, "lot.flagged_suspect")
    assert [e.details["where"] for e in flagged] == ["receiving", "scanning"]
    assert flagged[0].details["lot_number"] == "C3709C3"


def test_an_entry_is_taken_off_the_watch_list(api, app, world, session):
    lead = api("safety")
    entry = lead.post("/watchlist", {"product_id": world.botox.id, "lot_number": "W1", "source": "s"}).get_json()
    response = lead.client.delete(f"/api/v1/watchlist/{entry['id']}", headers=lead._headers(None))
    assert response.status_code == 204
    session.expire_all()
    assert session.scalar(select(func.count(WatchedLot.id))) == 0
    missing = lead.client.delete(f"/api/v1/watchlist/{entry['id']}", headers=lead._headers(None))
    assert missing.status_code == 404
    # The contract's DELETE carries no body: it still works, and the audit says that no reason was given.
    removed = session.scalars(select(AuditEvent).where(AuditEvent.action == "watchlist.removed")).one()
    assert removed.details["reason"].startswith("no reason given")


# --- pack serials --------------------------------------------------------------------------------


def test_a_pack_serial_is_received_once_in_the_whole_chain(api, world, session):
    gtin = world.botox.gtins[0].gtin
    manager = api("manager")
    first = manager.post("/receipts", {"code": f"]d201{gtin}17280131" "10LOTA" f"{GS}21SER123", "containers": 1,
                                       "location_id": world.location().id})
    assert first.status_code == 201
    # Another lot, another clinic: the same serial is still a copy.
    second = manager.post("/receipts", {"code": f"]d201{gtin}17280131" "10LOTB" f"{GS}21SER123", "containers": 1,
                                        "location_id": world.location("Fridge", world.other_clinic).id})
    assert (second.status_code, error_code(second)) == (409, "duplicate_serial")
    session.expire_all()
    assert session.scalar(select(func.count(Container.id))) == 1
    (sign,) = signs(session, "lot.flagged_duplicate_serial")
    assert sign.details["serial"] == "SER123"


def test_a_serial_received_twice_at_the_same_instant_is_refused_by_the_database(api, world, session, monkeypatch):
    """The second receipt's look-up ran before the first was written (two scanners, one copied code): the
    unique index refuses its container, and the answer is the same duplicate_serial."""
    gtin = world.botox.gtins[0].gtin
    manager = api("manager")
    first = manager.post("/receipts", {"code": f"]d201{gtin}17280131" "10LOTA" f"{GS}21SER777", "containers": 1,
                                       "location_id": world.location().id})
    assert first.status_code == 201
    look_up = counterfeit.refuse_known_serial
    calls = []

    def too_early_once(session_, product, serial):  # the first look-up sees nothing yet
        calls.append(serial)
        if len(calls) > 1:
            look_up(session_, product, serial)

    monkeypatch.setattr(counterfeit, "refuse_known_serial", too_early_once)
    second = manager.post("/receipts", {"code": f"]d201{gtin}17280131" "10LOTB" f"{GS}21SER777", "containers": 1,
                                        "location_id": world.location("Fridge", world.other_clinic).id})
    assert (second.status_code, error_code(second)) == (409, "duplicate_serial")
    assert calls == ["SER777", "SER777"]  # passed once, then asked again after the database refused
    session.expire_all()
    assert session.scalar(select(func.count(Container.id))) == 1
    (sign,) = signs(session, "lot.flagged_duplicate_serial")
    assert sign.details["serial"] == "SER777"


def test_a_no_vacuum_waste_flags_its_lot_for_the_safety_lead(world, session):
    vial = world.container("botox", lot="NOVAC")
    factories.waste(world, vial, "no_vacuum")
    (sign,) = signs(session, "lot.flagged_no_vacuum")
    assert sign.details["lot_number"] == "NOVAC"
