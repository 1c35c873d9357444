"""API clients that sign in as a given user with a real bearer token."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from inventory.models import User
from inventory.services import auth
from tests.factories import NOW


@dataclass
class ApiClient:
    client: FlaskClient
    token: str | None

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        merged = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return merged | (headers or {})

    def get(self, path: str, headers: dict[str, str] | None = None, **kwargs: Any):
        return self.client.get("/api/v1" + path, headers=self._headers(headers), **kwargs)

    def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None):
        data = body if isinstance(body, (str, bytes)) else json.dumps(body if body is not None else {})
        return self.client.post(
            "/api/v1" + path, data=data, headers=self._headers(headers), content_type="application/json"
        )

    def put(self, path: str, body: Any = None, headers: dict[str, str] | None = None):
        return self.client.put(
            "/api/v1" + path, data=json.dumps(body or {}), headers=self._headers(headers),
            content_type="application/json",
        )

    def patch(self, path: str, body: Any = None, headers: dict[str, str] | None = None):
        return self.client.patch(
            "/api/v1" + path, data=json.dumps(body or {}), headers=self._headers(headers),
            content_type="application/json",
        )


@pytest.fixture
def api(app: Flask, session, world):
    """``api(user)`` signs in as that user (a User or a key of world.users); ``api()`` is anonymous."""

    def sign_in(user: User | str | None = None) -> ApiClient:
        if user is None:
            return ApiClient(app.test_client(), None)
        if isinstance(user, str):
            user = world.users[user]
        # Tokens are issued far into the future: requests run at the real clock.
        token, _ = auth.issue_token(session, user, hours=24 * 365 * 20, now=NOW)
        session.flush()
        return ApiClient(app.test_client(), token)

    return sign_in


def error_code(response) -> str:
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]), body
    return body["error"]["code"]
