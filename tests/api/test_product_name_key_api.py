"""Product names are unique whatever their case and spaces in the database too (migration 0025): when the
service's look-up misses a name another admin has just given (a race), the unique key refuses the second
entry, answered as 409 duplicate_name, never a 500, and nothing of it is written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from inventory.admin import service as admin_service
from inventory.models import Product
from tests.api.conftest import error_code
from tests.api.test_product_catalog_rules_api import SINGLE_DOSE_TOXIN


@pytest.fixture
def look_up_misses_once(monkeypatch):
    """The service's check sees the catalog as it was before another admin's product was committed."""
    real = admin_service._refuse_taken_name
    calls = []

    def first_misses(session, name, product_id):
        calls.append(name)
        if len(calls) > 1:
            real(session, name, product_id)
    monkeypatch.setattr(admin_service, "_refuse_taken_name", first_misses)
    return calls


def test_a_new_product_named_as_one_just_added_is_refused_by_its_key(api, world, session, look_up_misses_once):
    before = session.scalar(select(func.count(Product.id)))
    refused = api("manager").post("/products", SINGLE_DOSE_TOXIN | {"name": "BOTOX cosmetic 100U", "gtins": []})
    assert (refused.status_code, error_code(refused)) == (409, "duplicate_name"), refused.get_json()
    assert refused.get_json()["error"]["message"].startswith("A product named “Botox Cosmetic 100 U” is already")
    session.expire_all()
    assert session.scalar(select(func.count(Product.id))) == before


def test_a_rename_to_a_name_just_taken_is_refused_by_its_key(api, world, session, look_up_misses_once):
    dysport = world.products["dysport"]
    refused = api("manager").patch(f"/products/{dysport.id}", {"name": "botox  cosmetic 100 u"})
    assert (refused.status_code, error_code(refused)) == (409, "duplicate_name"), refused.get_json()
    session.expire_all()
    assert session.get(Product, dysport.id).name == "Dysport 300 U"


def test_every_product_is_keyed_as_names_are_compared(world, session):
    botox = world.botox
    assert botox.name_key == "botoxcosmetic100u"
    botox.name = "Ｂｏｔｏｘ Cosmetic 100 U (old)"
    assert botox.name_key == "botoxcosmetic100u(old)"
