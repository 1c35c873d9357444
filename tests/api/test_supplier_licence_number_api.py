"""A placeholder typed as a supplier's licence ("n/a", "tbc", "000") is 422 validation_error, field licence, on POST
and PATCH /suppliers, and nothing is written: before, a second supplier's "n/a" was refused as 409
supplier_licence_taken, a duplicate of the first's."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from inventory.counterfeit.models import Supplier
from inventory.models import AuditEvent
from tests.api.conftest import error_code

NOT_A_LICENCE = ("Type the supplier's licence number as printed on its licence, or leave the field empty until you "
                 "have it: “{}” is not a licence number.")


def written(session) -> tuple[int, int]:
    session.expire_all()
    return (session.scalar(select(func.count(Supplier.id))),
            session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.object_type == "supplier")))


def assert_not_a_licence(response, typed: str) -> None:
    assert (response.status_code, error_code(response)) == (422, "validation_error"), response.get_json()
    error = response.get_json()["error"]
    assert error["message"] == NOT_A_LICENCE.format(typed)
    assert error["details"] == {"field": "licence", "fields": [{"field": "licence", "problem": error["message"]}]}


@pytest.mark.parametrize("placeholder", ["n/a", "N/A", "none", "-", "unknown", "tbc", "pending", "0", "000", "?"])
def test_a_placeholder_licence_is_refused_and_nothing_is_written(api, world, session, placeholder):
    manager = api("manager")
    assert manager.post("/suppliers", {"name": "Harbour Pharma", "authorised": False}).status_code == 201
    before = written(session)
    refused = manager.post("/suppliers", {"name": "Quay Pharma", "licence": f" {placeholder} ", "authorised": False})
    assert_not_a_licence(refused, placeholder)
    harbour = session.scalar(select(Supplier.id).where(Supplier.name == "Harbour Pharma"))
    assert_not_a_licence(manager.patch(f"/suppliers/{harbour}", {"licence": placeholder}), placeholder)
    assert written(session) == before
    session.expire_all()
    assert session.get(Supplier, harbour).licence is None


def test_two_suppliers_typed_n_a_are_not_refused_as_one_licence(api, world, session):
    """The QA report: the second supplier whose licence was typed "n/a" was refused as a copy of the first's."""
    london = api("clinic_manager")
    for name in ("Harbour Pharma", "Quay Pharma"):
        refused = london.post("/suppliers", {"name": name, "licence": "n/a", "authorised": False})
        assert (error_code(refused), refused.get_json()["error"]["details"]["field"]) == ("validation_error", "licence")
        added = london.post("/suppliers", {"name": name, "authorised": False})  # no licence yet: fine
        assert (added.status_code, added.get_json()["licence"]) == (201, None)
    corrected = london.patch(f"/suppliers/{added.get_json()['id']}", {"licence": "WDA(H) 4411"})
    assert (corrected.status_code, corrected.get_json()["licence"]) == (200, "WDA(H) 4411")


def test_authorising_on_a_placeholder_on_file_is_refused_saying_why(api, world, session):
    grey = Supplier(name="Grey market", licence="tbc", is_authorised=False)
    session.add(grey)
    session.flush()
    manager = api("manager")
    refused = manager.patch(f"/suppliers/{grey.id}", {"authorised": True, "reason": "checked"})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error")
    error = refused.get_json()["error"]
    assert error["details"]["field"] == "licence"
    assert error["message"] == ("The licence on file, “tbc”, is not a licence number: type the supplier's licence "
                                "number as printed on its licence to authorise it.")
    session.expire_all()
    assert not session.get(Supplier, grey.id).is_authorised
    done = manager.patch(f"/suppliers/{grey.id}", {"authorised": True, "licence": "WDA(H) 90377", "reason": "checked"})
    assert (done.status_code, done.get_json()["licence"]) == (200, "WDA(H) 90377")


def test_the_openapi_document_says_a_placeholder_is_refused(api):
    schemas = api().get("/openapi.json").get_json()["components"]["schemas"]
    for name in ("SupplierIn", "SupplierPatch"):
        assert "placeholder" in str(schemas[name]["properties"]["licence"]), name
