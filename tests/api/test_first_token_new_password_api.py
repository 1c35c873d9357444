"""An account an admin made through the API gets its first token without a browser: the sign-in carries the
user's own new password (``new_password``), so an integration can provision a scanner account end to end."""

from __future__ import annotations

from sqlalchemy import func, select

from inventory.models import ApiToken, AuditEvent, User
from tests.api.conftest import error_code

ADMIN_SET = "admin-set-pw-1"
OWN = "my-own-scanner-pw-77"


def test_the_first_sign_in_sets_the_users_own_password_and_answers_a_token(api, world, session):
    created = api("admin").post("/users", {"username": "scanner-3", "password": ADMIN_SET, "role": "nurse",
                                           "clinic_ids": [world.clinic.id]})
    assert created.status_code == 201

    signed_in = api().post("/auth/tokens", {"username": "scanner-3", "password": ADMIN_SET, "new_password": OWN})

    assert signed_in.status_code == 201, signed_in.get_json()
    token = signed_in.get_json()["token"]
    assert api().get("/clinics", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    session.expire_all()
    user = session.scalar(select(User).where(User.username == "scanner-3"))
    assert user.must_change_password is False
    assert session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "user.password_changed",
                                                                   AuditEvent.object_id == str(user.id))) == 1
    # The admin's password is spent; the user's own signs in as any other.
    old = api().post("/auth/tokens", {"username": "scanner-3", "password": ADMIN_SET})
    assert (old.status_code, error_code(old)) == (401, "unauthorized")
    assert api().post("/auth/tokens", {"username": "scanner-3", "password": OWN}).status_code == 201


def test_without_new_password_the_answer_says_how_to_choose_one(api, world):
    api("admin").post("/users", {"username": "scanner-3", "password": ADMIN_SET, "role": "nurse",
                                 "clinic_ids": [world.clinic.id]})
    refused = api().post("/auth/tokens", {"username": "scanner-3", "password": ADMIN_SET})
    assert (refused.status_code, error_code(refused)) == (403, "password_change_required")
    assert "Send it as new_password with this sign-in" in refused.get_json()["error"]["message"]


def test_a_new_password_the_policy_refuses_changes_nothing_and_issues_no_token(api, world, session):
    api("admin").post("/users", {"username": "scanner-3", "password": ADMIN_SET, "role": "nurse",
                                 "clinic_ids": [world.clinic.id]})
    tokens_before = session.scalar(select(func.count(ApiToken.id)))
    for weak in ("short", ADMIN_SET):
        refused = api().post("/auth/tokens", {"username": "scanner-3", "password": ADMIN_SET, "new_password": weak})
        assert (refused.status_code, error_code(refused)) == (422, "validation_error"), weak
        assert refused.get_json()["error"]["details"]["field"] == "new_password"
    session.expire_all()
    assert session.scalar(select(User.must_change_password).where(User.username == "scanner-3")) is True
    assert session.scalar(select(func.count(ApiToken.id))) == tokens_before


def test_a_wrong_admin_password_is_the_usual_401_whatever_new_password_says(api, world):
    api("admin").post("/users", {"username": "scanner-3", "password": ADMIN_SET, "role": "nurse",
                                 "clinic_ids": [world.clinic.id]})
    wrong = api().post("/auth/tokens", {"username": "scanner-3", "password": "not-it-at-all", "new_password": OWN})
    assert (wrong.status_code, error_code(wrong)) == (401, "unauthorized")


def test_new_password_from_a_user_whose_password_is_their_own_is_refused(api, world):
    from tests.factories import PASSWORD

    refused = api().post("/auth/tokens", {"username": "nurse", "password": PASSWORD, "new_password": OWN})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error")
    assert refused.get_json()["error"]["details"]["field"] == "new_password"
