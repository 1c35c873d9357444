"""A product added multi-patient loosens the label's one patient, one session as making one multi-patient does:
it needs an admin's reason, kept in the audit trail (before, POST /products took it without one)."""

from __future__ import annotations

from sqlalchemy import select

from inventory.models import AuditEvent, Product
from tests.api.conftest import error_code

SHARED_TOXIN = {
    "name": "Xeomin 100 U", "kind": "neuromodulator", "base_unit": "U", "form": "powder",
    "molecule": "incobotulinumtoxinA", "units_per_container": "100", "beyond_use_hours": 24,
    "multi_patient": True, "gtins": ["4006381333948"],
}


def test_a_product_added_multi_patient_without_a_reason_is_refused_and_not_added(api, world, session):
    refused = api("admin").post("/products", SHARED_TOXIN)

    assert refused.status_code == 422 and error_code(refused) == "validation_error"
    error = refused.get_json()["error"]
    assert error["details"]["field"] == "reason"
    assert "Letting patients share an opened Xeomin 100 U" in error["message"]
    assert error["details"]["loosened"] == [
        {"product_id": None, "name": "Xeomin 100 U", "field": "multi_patient", "from": False, "to": True}]
    assert session.scalar(select(Product).where(Product.name == "Xeomin 100 U")) is None


def test_a_product_added_multi_patient_with_a_reason_keeps_it_in_the_audit_trail(api, world, session):
    saved = api("admin").post("/products", SHARED_TOXIN | {"reason": "Clinic protocol CP-7: shared within 24 h"})

    assert saved.status_code == 201, saved.get_json()
    product = session.get(Product, saved.get_json()["id"])
    assert product.is_multi_patient
    (event,) = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "product.created", AuditEvent.object_id == str(product.id)))
    assert event.details["reason"] == "Clinic protocol CP-7: shared within 24 h"
    assert event.details["loosened"] == {"sharing": "single patient to multi-patient within beyond-use time"}


def test_a_product_added_single_patient_needs_no_reason(api, world, session):
    saved = api("admin").post("/products", SHARED_TOXIN | {"multi_patient": False})
    assert saved.status_code == 201, saved.get_json()
    assert not session.get(Product, saved.get_json()["id"]).is_multi_patient
