"""A supplier is on the chain's list once (migration 0027): a second entry whose name reads as another's (case,
spaces, width and punctuation aside), or that gives another supplier's licence number, is refused as 409
supplier_name_taken / supplier_licence_taken naming the supplier that holds it, on adding and on changing one;
when the service's look-up misses a supplier another manager has just added (a race), the unique keys refuse the
second entry the same way, never a 500, and nothing of it is written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select

from inventory.counterfeit import service as counterfeit
from inventory.counterfeit.models import Supplier
from tests.api.conftest import error_code

ACME = {"name": "Acme Pharma", "licence": "WDA(H) 90211", "reason": "licence checked on the register"}


def suppliers(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(Supplier.id)))


def add_acme(api) -> int:
    created = api("manager").post("/suppliers", ACME)
    assert created.status_code == 201, created.get_json()
    return created.get_json()["id"]


@pytest.mark.parametrize("copy", ["acme  pharma", "ACME PHARMA", " Acme-Pharma. ", "Ａｃｍｅ Pharma", "acme\tpharma"])
def test_a_copy_of_a_suppliers_name_is_refused_naming_it(api, world, session, copy):
    acme = add_acme(api)
    before = suppliers(session)
    refused = api("manager").post("/suppliers", {"name": copy, "authorised": False})
    assert (refused.status_code, error_code(refused)) == (409, "supplier_name_taken"), refused.get_json()
    error = refused.get_json()["error"]
    assert error["message"].startswith("A supplier named “Acme Pharma” is on the list already (“")
    assert "case, spaces and punctuation are not told apart" in error["message"]
    assert (error["details"]["supplier_id"], error["details"]["field"]) == (acme, "name")
    assert suppliers(session) == before


def test_a_stopped_supplier_cannot_come_back_under_a_copy_of_its_name(api, world, session):
    acme = add_acme(api)
    manager = api("manager")
    assert manager.patch(f"/suppliers/{acme}", {"authorised": False}).status_code == 200
    refused = manager.post("/suppliers", {"name": "acme  pharma", "licence": "WDA(H) 77001",
                                          "reason": "looks fine"})
    assert (refused.status_code, error_code(refused)) == (409, "supplier_name_taken"), refused.get_json()
    assert "It is not authorised: its deliveries are refused" in refused.get_json()["error"]["message"]
    assert [s.name for s in counterfeit.authorised_suppliers(session)] == ["Allergan Aesthetics (direct)"]


def test_another_suppliers_licence_is_refused_naming_the_supplier_that_holds_it(api, world, session):
    acme = add_acme(api)
    manager = api("manager")
    before = suppliers(session)
    for copy in ("wda(h)90211", " WDA(H)  90211 ", "WDA-H 90211"):
        refused = manager.post("/suppliers", {"name": "Harbour Pharma", "licence": copy, "reason": "tender"})
        assert (refused.status_code, error_code(refused)) == (409, "supplier_licence_taken"), refused.get_json()
        error = refused.get_json()["error"]
        assert error["message"].startswith(f"Licence {copy.strip()} belongs to “Acme Pharma” (on file as "
                                           "“WDA(H) 90211”): a licence is one supplier's.")
        assert (error["details"]["supplier_id"], error["details"]["field"]) == (acme, "licence")
    # A clinic-level manager's supplier for review is refused the same way, and one without a licence is not.
    refused = api("clinic_manager").post("/suppliers", {"name": "Harbour Pharma", "licence": "WDA(H) 90211",
                                                        "authorised": False})
    assert error_code(refused) == "supplier_licence_taken"
    assert suppliers(session) == before
    for name in ("Harbour Pharma", "Quay Pharma"):
        assert api("clinic_manager").post("/suppliers", {"name": name, "authorised": False}).status_code == 201


def test_a_rename_or_a_new_licence_is_checked_the_same_way(api, world, session):
    acme = add_acme(api)
    manager = api("manager")
    allergan = world.supplier.id
    renamed = manager.patch(f"/suppliers/{allergan}", {"name": "ACME  pharma"})
    assert (renamed.status_code, error_code(renamed)) == (409, "supplier_name_taken"), renamed.get_json()
    relicensed = manager.patch(f"/suppliers/{allergan}", {"licence": "wda(h) 90211"})
    assert (relicensed.status_code, error_code(relicensed)) == (409, "supplier_licence_taken")
    assert relicensed.get_json()["error"]["details"]["supplier_id"] == acme
    session.expire_all()
    kept = session.get(Supplier, allergan)
    assert (kept.name, kept.licence) == ("Allergan Aesthetics (direct)", "WDA(H) 0001")
    # A supplier's own name and licence are its own to respell; stopping one is never refused for them.
    assert manager.patch(f"/suppliers/{acme}", {"name": "ACME Pharma", "licence": "WDA(H)90211"}).status_code == 200
    assert manager.patch(f"/suppliers/{acme}", {"authorised": False}).status_code == 200


@pytest.fixture
def look_ups_miss_once(monkeypatch):
    """The service's checks see the list as it was before another manager's supplier was committed."""
    calls = []
    for name in ("_refuse_taken_name", "_refuse_taken_licence"):
        real = getattr(counterfeit, name)

        def first_misses(session, value, supplier_id, real=real, name=name):
            calls.append(name)
            if calls.count(name) > 1:
                real(session, value, supplier_id)
        monkeypatch.setattr(counterfeit, name, first_misses)
    return calls


def test_a_new_supplier_named_as_one_just_added_is_refused_by_its_key(api, world, session, look_ups_miss_once):
    before = suppliers(session)
    refused = api("manager").post("/suppliers", {"name": "allergan aesthetics direct", "authorised": False})
    assert (refused.status_code, error_code(refused)) == (409, "supplier_name_taken"), refused.get_json()
    assert refused.get_json()["error"]["message"].startswith("A supplier named “Allergan Aesthetics (direct)”")
    assert suppliers(session) == before


def test_a_new_supplier_with_a_licence_just_taken_is_refused_by_its_key(api, world, session, look_ups_miss_once):
    before = suppliers(session)
    refused = api("manager").post("/suppliers", {"name": "Harbour Pharma", "licence": "wda(h) 0001",
                                                 "authorised": False})
    assert (refused.status_code, error_code(refused)) == (409, "supplier_licence_taken"), refused.get_json()
    assert refused.get_json()["error"]["details"]["supplier_id"] == world.supplier.id
    assert suppliers(session) == before


def test_a_rename_to_a_name_just_taken_is_refused_by_its_key(api, world, session, look_ups_miss_once):
    grey = Supplier(name="Grey market", is_authorised=False)
    session.add(grey)
    session.flush()
    refused = api("manager").patch(f"/suppliers/{grey.id}", {"name": "ALLERGAN aesthetics (direct)"})
    assert (refused.status_code, error_code(refused)) == (409, "supplier_name_taken"), refused.get_json()
    session.expire_all()
    assert session.get(Supplier, grey.id).name == "Grey market"


def test_every_supplier_is_keyed_as_names_and_licences_are_compared(world, session):
    allergan = world.supplier
    assert (allergan.name_key, allergan.licence_key) == ("allerganaestheticsdirect", "wdah0001")
    allergan.name, allergan.licence = "Ａｌｌｅｒｇａｎ Ltd.", None
    assert (allergan.name_key, allergan.licence_key) == ("allerganltd", None)
    # A Core INSERT (bench data, a script) is keyed by the columns' defaults.
    session.execute(insert(Supplier).values(name="Quay  Pharma", licence="wda 7", is_authorised=False))
    session.execute(insert(Supplier).values(name="Pier Pharma", is_authorised=False))
    keys = dict(session.execute(select(Supplier.name, Supplier.licence_key).where(Supplier.name.like("%Pharma"))).all())
    assert keys == {"Quay  Pharma": "wda7", "Pier Pharma": None}
    assert session.scalar(select(Supplier.name_key).where(Supplier.name == "Quay  Pharma")) == "quaypharma"
