"""Counterfeit signs say where they were seen (a receipt refused as watched: the clinic of its location)."""

from __future__ import annotations

from sqlalchemy import select

from inventory.models import AuditEvent


def test_a_receipt_refused_as_watched_records_the_clinic_it_turned_up_at(api, world, session):
    lead, manager = api("safety"), api("manager")
    assert lead.post("/watchlist", {"gtin": world.botox.gtins[0].gtin, "lot_number": "FAKE9",
                                    "source": "alert"}).status_code == 201
    refused = manager.post("/receipts", {"gtin": world.botox.gtins[0].gtin, "lot": "FAKE-9", "expiry": "2028-12-31",
                                         "containers": 1, "location_id": world.location().id,
                                         "supplier_id": world.supplier.id})
    assert refused.status_code == 409
    session.expire_all()
    (sign,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "lot.flagged_suspect")).all()
    assert sign.clinic_id == world.location().clinic_id == world.clinic.id
