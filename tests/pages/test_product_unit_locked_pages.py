"""Exploratory QA: on /catalog/<id>/edit a manager changed Botox Cosmetic 100 U to 50 mL a vial while it held stock,
and it was "saved". The page now says which facts stay once containers are on file (shown read-only), and a save
that changes one is refused (409 product_in_use) with why beside each field, nothing written."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import select

from inventory.models import AuditEvent, Product
from tests.pages.conftest import csrf_token


def _form(product: Product, **changes) -> dict:
    """The product form as the edit page fills it in, with ``changes``."""
    data = {"name": product.name, "brand": product.brand, "generic_name": product.generic_name,
            "kind": product.kind.value, "molecule": product.molecule or "", "form": product.form.value,
            "base_unit": product.base_unit, "quantity_per_container": str(product.quantity_per_container),
            "beyond_use_hours": str(product.beyond_use_hours), "gtins": product.gtins[0].gtin, "is_active": "y"}
    return data | changes


def _save(client, product: Product, **changes):
    path = f"/catalog/{product.id}/edit"
    return client.post(path, data=_form(product, **changes) | {"csrf_token": csrf_token(client, path)})


def _input(html: str, element_id: str) -> str:
    match = re.search(rf'<input[^>]*id="{element_id}"[^>]*>', html)
    assert match, f"no input {element_id}"
    return match.group(0)


def test_qa_repro_a_manager_cannot_save_another_unit_and_size_for_a_product_holding_stock(browser_client, world,
                                                                                          session):
    botox = world.botox
    world.container("botox", lot="PAGE1")
    manager = browser_client("manager")

    refused = _save(manager, botox, base_unit="mL", quantity_per_container="50", generic_name="botulinum toxin")

    assert refused.status_code == 409
    html = refused.get_data(as_text=True)
    assert 'data-code="product_in_use"' in html
    assert ("Botox Cosmetic 100 U cannot change its base unit (U to mL) or its units or mL per container (100 to 50)"
            in html)
    assert "A new presentation (another unit, size or form) is a new product" in html
    # The fields show what stays, with why beside them; what else was typed is kept.
    assert 'value="U"' in _input(html, "p-unit") and 'value="100"' in _input(html, "p-quantity")
    assert "Stays U: containers of it are on file." in html and "Stays 100: containers of it are on file." in html
    assert 'value="botulinum toxin"' in _input(html, "p-generic")
    session.expire_all()
    botox = session.get(Product, botox.id)
    assert (botox.base_unit, botox.quantity_per_container) == ("U", Decimal(100))
    assert session.scalar(select(AuditEvent).where(AuditEvent.object_type == "product",
                                                   AuditEvent.object_id == str(botox.id))) is None


def test_the_edit_page_shows_the_facts_fixed_once_received_and_still_saves_the_rest(browser_client, world, session):
    botox = world.botox
    manager = browser_client("manager")
    before = manager.get(f"/catalog/{botox.id}/edit").get_data(as_text=True)
    assert 'id="p-presentation-fixed"' not in before and "readonly" not in _input(before, "p-unit")
    world.container("botox", lot="PAGE2")

    html = manager.get(f"/catalog/{botox.id}/edit").get_data(as_text=True)

    assert 'id="p-presentation-fixed"' in html
    assert "1 container of Botox Cosmetic 100 U is on file" in html and 'href="/catalog/new"' in html
    for element_id in ("p-unit", "p-quantity", "p-volume", "p-strength"):
        assert "readonly" in _input(html, element_id)
    saved = _save(manager, botox, manufacturer="Allergan Aesthetics (AbbVie)")
    assert saved.status_code == 302
    session.expire_all()
    assert session.get(Product, botox.id).manufacturer == "Allergan Aesthetics (AbbVie)"
