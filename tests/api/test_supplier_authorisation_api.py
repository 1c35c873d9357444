"""Authorising a supplier over the API: the list is the chain's (a clinic-level manager may not authorise,
stop or change an authorised supplier), and an authorisation takes the supplier's licence and a reason, on
record (DOMAIN.md "Counterfeits, suppliers and the cold chain")."""

from __future__ import annotations

from sqlalchemy import func, select

from inventory.counterfeit.models import Supplier
from inventory.models import AuditEvent, Receipt
from tests.api.conftest import error_code

CHAINS = "The authorised suppliers are the chain's: a chain-level manager or chain-level admin authorises one."
NEEDS_LICENCE = "A supplier is authorised with its licence or registration number: type it as on their licence."


def receipt_body(world, lot: str, supplier_id: int) -> dict:
    return {"gtin": world.botox.gtins[0].gtin, "lot": lot, "expiry": "2028-12-31", "containers": 1,
            "location_id": world.location().id, "supplier_id": supplier_id}


def grey_market(session, licence: str | None = None) -> Supplier:
    grey = Supplier(name="Grey market", licence=licence, is_authorised=False)
    session.add(grey)
    session.flush()
    return grey


def error(response) -> dict:
    return response.get_json()["error"]


def authorised_events(session, supplier_id: int) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "supplier.authorised",
                                                         AuditEvent.object_id == str(supplier_id))))


def test_a_clinic_level_manager_may_not_authorise_a_supplier_nor_receive_from_it(api, world, session):
    """QA's report: a London-only manager authorised an unlicensed seller for the whole chain and received
    from it at once."""
    grey = grey_market(session)
    london = api("clinic_manager")
    for body in ({"authorised": True}, {"authorised": True, "licence": "WDA 9", "reason": "I checked"}):
        refused = london.patch(f"/suppliers/{grey.id}", body)
        assert (refused.status_code, error_code(refused)) == (403, "forbidden")
        assert error(refused)["message"] == CHAINS
    for body in ({"name": "Botox4Less Ltd", "authorised": True}, {"name": "Botox4Less Ltd"},  # authorised by default
                 {"name": "Botox4Less Ltd", "authorised": True, "licence": "WDA 1", "reason": "cheap"}):
        refused = london.post("/suppliers", body)
        assert (refused.status_code, error_code(refused)) == (403, "forbidden")
        assert error(refused)["message"].startswith(CHAINS)
        assert "Add it as not authorised" in error(refused)["message"]
    blocked = london.post("/receipts", receipt_body(world, "GREY1", grey.id))
    assert (blocked.status_code, error_code(blocked)) == (409, "supplier_not_authorised")
    session.expire_all()
    assert not session.get(Supplier, grey.id).is_authorised
    assert session.scalar(select(func.count(Supplier.id))) == 2
    assert session.scalar(select(func.count(Receipt.id))) == 0


def test_a_clinic_level_manager_may_not_stop_or_change_an_authorised_supplier(api, world, session):
    london = api("clinic_manager")
    supplier = world.supplier
    for body in ({"authorised": False}, {"licence": "FAKE 1"}, {"licence": None}, {"name": "Botox4Less Ltd"},
                 {"authorised": True}):
        refused = london.patch(f"/suppliers/{supplier.id}", body)
        assert (refused.status_code, error_code(refused)) == (403, "forbidden"), body
    session.expire_all()
    kept = session.get(Supplier, supplier.id)
    assert (kept.name, kept.licence, kept.is_authorised) == ("Allergan Aesthetics (direct)", "WDA(H) 0001", True)
    assert london.get("/suppliers").status_code == 200  # still reads the list


def test_a_clinic_level_manager_adds_a_supplier_for_review_and_a_chain_manager_authorises_it(api, world, session):
    london = api("clinic_manager")
    added = london.post("/suppliers", {"name": "Harbour Pharma", "authorised": False})
    assert added.status_code == 201 and added.get_json()["authorised"] is False
    harbour = added.get_json()["id"]
    corrected = london.patch(f"/suppliers/{harbour}", {"licence": "WDA(H) 4411", "name": "Harbour Pharma Ltd"})
    assert corrected.status_code == 200 and corrected.get_json()["licence"] == "WDA(H) 4411"
    assert london.patch(f"/suppliers/{harbour}", {"authorised": False}).status_code == 200  # stays not authorised
    assert error_code(london.post("/receipts", receipt_body(world, "HB1", harbour))) == "supplier_not_authorised"
    chain = api("manager")
    authorised = chain.patch(f"/suppliers/{harbour}", {"authorised": True, "reason": "licence on the MHRA register"})
    assert authorised.status_code == 200 and authorised.get_json()["authorised"] is True
    assert london.post("/receipts", receipt_body(world, "HB2", harbour)).status_code == 201
    [event] = authorised_events(session, harbour)
    assert event.actor_id == world.users["manager"].id
    assert event.details == {"name": "Harbour Pharma Ltd", "licence": "WDA(H) 4411",
                             "reason": "licence on the MHRA register"}


def test_authorising_needs_the_suppliers_licence(api, world, session):
    grey = grey_market(session)
    for who in ("manager", "admin"):
        client = api(who)
        for body in ({"authorised": True, "reason": "ok"}, {"authorised": True, "licence": "", "reason": "ok"},
                     {"authorised": True, "licence": "   ", "reason": "ok"}):
            refused = client.patch(f"/suppliers/{grey.id}", body)
            assert (refused.status_code, error_code(refused)) == (422, "validation_error"), body
            assert error(refused)["details"]["field"] == "licence"
            assert error(refused)["message"] == NEEDS_LICENCE
        added = client.post("/suppliers", {"name": f"Botox4Less {who}", "authorised": True, "reason": "ok"})
        assert (added.status_code, error(added)["details"]["field"]) == (422, "licence")
        # An authorised supplier keeps its licence.
        for licence in (None, "", " "):
            cleared = client.patch(f"/suppliers/{world.supplier.id}", {"licence": licence})
            assert (cleared.status_code, error(cleared)["details"]["field"]) == (422, "licence")
    session.expire_all()
    assert not session.get(Supplier, grey.id).is_authorised
    assert session.get(Supplier, world.supplier.id).licence == "WDA(H) 0001"
    assert session.scalar(select(Supplier.id).where(Supplier.name.like("Botox4Less%"))) is None
    # Changing the licence of an authorised supplier to another one is the chain's to do.
    assert api("manager").patch(f"/suppliers/{world.supplier.id}", {"licence": "WDA(H) 0002"}).status_code == 200


def test_authorising_needs_a_reason_on_record(api, world, session):
    grey = grey_market(session, licence="WDA 9")
    manager = api("manager")
    for body in ({"authorised": True}, {"authorised": True, "reason": "  "}):
        refused = manager.patch(f"/suppliers/{grey.id}", body)
        assert (refused.status_code, error(refused)["details"]["field"]) == (422, "reason")
    both = manager.post("/suppliers", {"name": "New Wholesale"})  # authorised by default: no licence, no reason
    assert both.status_code == 422
    assert [f["field"] for f in error(both)["details"]["fields"]] == ["licence", "reason"]
    assert authorised_events(session, grey.id) == []
    done = manager.patch(f"/suppliers/{grey.id}", {"authorised": True, "reason": "registered wholesaler, checked"})
    assert done.status_code == 200 and done.get_json()["authorised"] is True
    [event] = authorised_events(session, grey.id)
    assert event.details["reason"] == "registered wholesaler, checked" and event.details["licence"] == "WDA 9"
    added = manager.post("/suppliers", {"name": "New Wholesale", "licence": "WDA 12", "reason": "tender 2026"})
    assert added.status_code == 201 and added.get_json()["authorised"] is True
    [event] = authorised_events(session, added.get_json()["id"])
    assert (event.details["reason"], event.actor_id) == ("tender 2026", world.users["manager"].id)
    # A reason alone changes nothing; stopping a supplier may carry one, on record.
    assert manager.patch(f"/suppliers/{grey.id}", {"reason": "why not"}).status_code == 422
    stopped = manager.patch(f"/suppliers/{grey.id}", {"authorised": False, "reason": "licence suspended"})
    assert stopped.status_code == 200
    session.expire_all()
    update = session.scalars(select(AuditEvent).where(AuditEvent.action == "supplier.updated",
                                                      AuditEvent.object_id == str(grey.id))).all()[-1]
    assert update.details["reason"] == "licence suspended" and update.details["to"]["authorised"] is False


def test_a_supplier_authorised_before_licences_were_asked_stays_authorised(api, world, session):
    old = Supplier(name="Old Friend Wholesale", licence=None, is_authorised=True)
    session.add(old)
    session.flush()
    manager = api("manager")
    assert manager.post("/receipts", receipt_body(world, "OLD1", old.id)).status_code == 201
    renamed = manager.patch(f"/suppliers/{old.id}", {"name": "Old Friend Wholesale Ltd"})
    assert renamed.status_code == 200 and renamed.get_json()["authorised"] is True
    listed = {s["id"]: s for s in manager.get("/suppliers").get_json()["suppliers"]}
    assert (listed[old.id]["authorised"], listed[old.id]["licence"]) == (True, None)


def test_the_openapi_document_offers_the_reason(api):
    document = api().get("/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    assert "reason" in schemas["SupplierIn"]["properties"] and "reason" in schemas["SupplierPatch"]["properties"]
