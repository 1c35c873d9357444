"""API tokens are revocable: by the caller (sign out) and by an operator for every token of a user."""

from __future__ import annotations

import logging

from sqlalchemy import select

from inventory.models import ApiToken
from inventory.services import auth
from tests.factories import NOW


def _issue(session, world, username: str) -> str:
    token, _ = auth.issue_token(session, world.users[username], hours=24 * 365 * 20, now=NOW)
    session.flush()
    return token


def _get(app, token: str | None, path: str = "/api/v1/clinics"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return app.test_client().get(path, headers=headers)


def _delete_current(app, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return app.test_client().delete("/api/v1/auth/tokens/current", headers=headers)


def test_signing_out_revokes_only_the_token_the_request_carries(app, session, world):
    token, other = _issue(session, world, "nurse"), _issue(session, world, "nurse")
    assert _get(app, token).status_code == 200

    response = _delete_current(app, token)
    assert response.status_code == 204 and response.get_data() == b""

    refused = _get(app, token)
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "unauthorized"
    assert _delete_current(app, token).status_code == 401  # a revoked token cannot sign out twice
    assert _get(app, other).status_code == 200
    session.expire_all()
    assert session.scalar(select(ApiToken.revoked_at).where(ApiToken.token_hash == auth._token_hash(token)))


def test_signing_out_needs_a_token(app, session, world):
    response = _delete_current(app, None)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


def test_revoke_tokens_revokes_every_token_of_one_user(app, session, world, caplog):
    nurse_tokens = [_issue(session, world, "nurse") for _ in range(3)]
    manager_token = _issue(session, world, "manager")
    session.commit()

    with caplog.at_level(logging.INFO, logger="vialog.security"):
        result = app.test_cli_runner().invoke(args=["revoke-tokens", "nurse"])
    assert result.exit_code == 0, result.output
    assert "Revoked 3 tokens of nurse." in result.output
    assert "revoked 3 token(s) of 'nurse' from the command line" in caplog.text
    assert [_get(app, t).status_code for t in nurse_tokens] == [401, 401, 401]
    assert _get(app, manager_token).status_code == 200
    again = app.test_cli_runner().invoke(args=["revoke-tokens", "nurse"])
    assert again.exit_code == 0 and "Revoked 0 tokens" in again.output


def test_revoke_tokens_finds_the_user_whatever_the_case_typed(app, session, world):
    """Usernames ignore case (sign-in does): revoking a lost scanner's tokens must not miss them for a capital."""
    token = _issue(session, world, "nurse")
    session.commit()
    result = app.test_cli_runner().invoke(args=["revoke-tokens", "NURSE"])
    assert result.exit_code == 0 and "Revoked 1 token " in result.output, result.output
    assert _get(app, token).status_code == 401


def test_revoke_tokens_of_an_unknown_user_fails(app, session, world):
    result = app.test_cli_runner().invoke(args=["revoke-tokens", "nobody"])
    assert result.exit_code == 1 and "No user named 'nobody'." in result.output


def test_a_refused_authorisation_is_logged_with_who_and_where(app, session, world, caplog):
    token = _issue(session, world, "nurse")
    with caplog.at_level(logging.WARNING, logger="vialog.security"):
        response = app.test_client().post(
            "/api/v1/receipts", json={"gtin": "x"}, headers={"Authorization": f"Bearer {token}"},
            environ_base={"REMOTE_ADDR": "10.1.2.3"},
        )
    assert response.status_code == 403
    assert "refused POST /api/v1/receipts for 'nurse' (nurse) from 10.1.2.3" in caplog.text
    assert token not in caplog.text


def test_signing_out_answers_without_a_body_or_its_type(app, session, world):
    response = _delete_current(app, _issue(session, world, "admin"))
    assert response.status_code == 204 and "Content-Type" not in response.headers
