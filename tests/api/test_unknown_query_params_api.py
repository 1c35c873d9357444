"""A query parameter an API operation does not take is refused (422 naming it), on the operations that take no
query at all as on those that take some, as docs/api.md promises: a client asking for one clinic's suppliers, users
or recall cases with a parameter the list ignores got every one and could not tell."""

from __future__ import annotations

import pytest

from tests.api.conftest import error_code


@pytest.mark.parametrize(("path", "role"), [
    ("/clinics", "admin"),
    ("/suppliers", "manager"),
    ("/watchlist", "safety"),
    ("/kit-templates", "manager"),
    ("/users", "admin"),
    ("/recalls", "safety"),
])
def test_a_list_that_takes_no_parameter_refuses_one(world, api, path, role):
    client = api(role)
    assert client.get(path).status_code == 200

    refused = client.get(f"{path}?clinic_id={world.other_clinic.id}")

    assert refused.status_code == 422, refused.get_json()
    assert error_code(refused) == "validation_error"
    body = refused.get_json()["error"]
    assert "clinic_id" in body["message"] and "leave it out" in body["message"]


def test_an_operation_with_a_query_still_reads_it(world, api):
    assert api("admin").get(f"/kits?clinic_id={world.clinic.id}").status_code == 200
    assert error_code(api("admin").get("/kits?clinic=1")) == "validation_error"
