"""Users through the API: a username is one name whatever its case, and only a manager, safety lead or admin
works at every clinic (API.md "Administration": ``clinic_ids: []`` is chain level for them)."""

from __future__ import annotations

from sqlalchemy import select

from inventory.models import User
from tests.api.conftest import error_code
from tests.factories import PASSWORD


def _usernames(session) -> set[str]:
    session.expire_all()
    return set(session.scalars(select(User.username)))


def test_a_username_held_in_another_case_is_taken_and_sign_in_ignores_case(api, world, session):
    admin = api("admin")
    manager = admin.post("/users", {"username": "mgr-lon", "password": "long-enough-pw", "role": "manager",
                                    "clinic_ids": [world.clinic.id]})
    assert manager.status_code == 201
    before = _usernames(session)
    look_alike = admin.post("/users", {"username": "MGR-LON", "password": "another-long-pw", "role": "nurse",
                                       "clinic_ids": [world.clinic.id]})
    assert (look_alike.status_code, error_code(look_alike)) == (409, "username_taken")
    assert "'mgr-lon'" in look_alike.get_json()["error"]["message"]
    assert _usernames(session) == before
    # Sign-in finds the user whatever the case (the admin's password is refused only as one to change).
    token = api().post("/auth/tokens", {"username": "MGR-LON", "password": "long-enough-pw"})
    assert (token.status_code, error_code(token)) == (403, "password_change_required")
    assert error_code(api().post("/auth/tokens", {"username": "MGR-LON", "password": "not-the-password"})) \
        == "unauthorized"
    assert api().post("/auth/tokens", {"username": "NURSE", "password": PASSWORD}).status_code == 201


def test_a_rename_to_another_users_name_in_another_case_is_refused(api, world, session):
    nurse = world.users["nurse"]
    refused = api("admin").patch(f"/users/{nurse.id}", {"username": "ADMIN"})
    assert (refused.status_code, error_code(refused)) == (409, "username_taken")
    renamed = api("admin").patch(f"/users/{nurse.id}", {"username": "Nurse.Lon"})
    assert renamed.status_code == 200 and renamed.get_json()["username"] == "Nurse.Lon"
    assert api().post("/auth/tokens", {"username": "nurse.lon", "password": PASSWORD}).status_code == 201


def test_a_nurse_without_clinic_ids_is_refused_instead_of_working_at_every_clinic(api, world, session):
    admin = api("admin")
    before = _usernames(session)
    for body in ({"role": "nurse"}, {"role": "nurse", "clinic_ids": []}, {"role": "nurse", "chain_level": True}):
        refused = admin.post("/users", {"username": "new-nurse", "password": "long-enough-pw"} | body)
        assert (refused.status_code, error_code(refused)) == (422, "validation_error"), body
        assert refused.get_json()["error"]["details"]["field"] == "clinic_ids"
    assert _usernames(session) == before


def test_chain_level_stays_what_empty_clinic_ids_give_a_chain_role_and_shows_on_every_user(api, world):
    admin = api("admin")
    chain = admin.post("/users", {"username": "chain-mgr", "password": "long-enough-pw", "role": "manager"})
    assert chain.status_code == 201
    assert (chain.get_json()["clinic_ids"], chain.get_json()["chain_level"]) == ([], True)
    forgot = admin.post("/users", {"username": "lon-mgr-2", "password": "long-enough-pw", "role": "manager",
                                   "chain_level": False})
    assert (forgot.status_code, error_code(forgot)) == (422, "validation_error")
    both = admin.post("/users", {"username": "lon-mgr-2", "password": "long-enough-pw", "role": "manager",
                                 "chain_level": True, "clinic_ids": [world.clinic.id]})
    assert (both.status_code, error_code(both)) == (422, "validation_error")
    listed = {u["username"]: u["chain_level"] for u in admin.get("/users").get_json()["users"]}
    assert listed["nurse"] is False and listed["manager"] is True and listed["chain-mgr"] is True


def test_a_patch_never_leaves_a_nurse_at_every_clinic(api, world):
    admin = api("admin")
    nurse, manager = world.users["nurse"], world.users["manager"]
    emptied = admin.patch(f"/users/{nurse.id}", {"clinic_ids": []})
    assert (emptied.status_code, error_code(emptied)) == (422, "validation_error")
    demoted = admin.patch(f"/users/{manager.id}", {"role": "nurse"})
    assert (demoted.status_code, error_code(demoted)) == (422, "validation_error")
    assert admin.get(f"/users/{manager.id}").get_json()["role"] == "manager"
    placed = admin.patch(f"/users/{manager.id}", {"role": "nurse", "clinic_ids": [world.clinic.id]})
    assert placed.status_code == 200
    assert (placed.get_json()["chain_level"], placed.get_json()["clinic_ids"]) == (False, [world.clinic.id])
    chain_again = admin.patch(f"/users/{manager.id}", {"role": "manager", "chain_level": True, "clinic_ids": []})
    assert chain_again.status_code == 200 and chain_again.get_json()["chain_level"] is True


def test_the_openapi_document_describes_chain_level(api, world):
    schemas = api("admin").get("/openapi.json").get_json()["components"]["schemas"]
    assert "chain_level" in schemas["UserOut"]["required"]
    assert {"chain_level", "username"} <= set(schemas["UserPatch"]["properties"])


def test_the_openapi_document_lists_sign_ins_refusals(api, world):
    # A sign-in after an admin's reset is 403 password_change_required: integrations read it from the document.
    answers = api().get("/openapi.json").get_json()["paths"]["/api/v1/auth/tokens"]["post"]["responses"]
    assert {"201", "401", "403", "429"} <= set(answers)
