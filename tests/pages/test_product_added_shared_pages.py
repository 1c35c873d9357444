"""On the catalog page, a product added multi-patient asks the admin why, and keeps the reason."""

from __future__ import annotations

from html import unescape

from sqlalchemy import select

from inventory.models import AuditEvent, Product
from tests.pages.conftest import csrf_token

FORM = {"name": "Xeomin 100 U", "kind": "neuromodulator", "form": "powder", "base_unit": "U",
        "molecule": "incobotulinumtoxinA", "quantity_per_container": "100", "beyond_use_hours": "24",
        "requires_reconstitution": "y", "is_multi_patient": "y", "is_active": "y", "gtins": "4006381333948"}


def test_a_product_added_multi_patient_on_the_page_asks_why_and_keeps_it(browser_client, world, session):
    admin = browser_client("admin")
    refused = admin.post("/catalog/new", data=FORM | {"csrf_token": csrf_token(admin, "/catalog/new")})

    assert refused.status_code == 422
    html = unescape(refused.get_data(as_text=True))
    assert "Letting patients share an opened Xeomin 100 U" in html
    assert "Why (required: this save lets patients share a vial)" in html
    assert session.scalar(select(Product).where(Product.name == "Xeomin 100 U")) is None

    saved = admin.post("/catalog/new", data=FORM | {"reason": "Clinic protocol CP-7",
                                                     "csrf_token": csrf_token(admin, "/catalog/new")})
    assert saved.status_code == 302, unescape(saved.get_data(as_text=True))
    product = session.scalar(select(Product).where(Product.name == "Xeomin 100 U"))
    assert product is not None and product.is_multi_patient
    (event,) = session.scalars(select(AuditEvent).where(
        AuditEvent.action == "product.created", AuditEvent.object_id == str(product.id)))
    assert event.details["reason"] == "Clinic protocol CP-7"
