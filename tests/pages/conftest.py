"""Page clients that sign in through the real login form, CSRF token and all."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import PASSWORD

_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    match = _TOKEN.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


@pytest.fixture
def browser_client(app: Flask, session, world):
    """``browser_client("nurse")`` is a test client signed in as that world user."""

    def sign_in(username: str | None = None) -> FlaskClient:
        client = app.test_client()
        if username is not None:
            user = world.users[username]
            token = csrf_token(client, "/login")
            response = client.post("/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token})
            assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return sign_in
