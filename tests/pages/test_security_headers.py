"""Every response carries the security headers; pages and the API are never cached."""

from __future__ import annotations

import pytest

from inventory.security import CONTENT_SECURITY_POLICY
from tests.pages.conftest import csrf_token


@pytest.mark.parametrize("path", ["/login", "/api/v1/openapi.json", "/static/vialog.css", "/no-such-page"])
def test_security_headers_on_every_response(browser_client, path):
    response = browser_client().get(path)
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_pages_and_api_answers_are_not_cached(browser_client, world):
    client = browser_client("nurse")
    assert client.get("/stock").headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/openapi.json").headers["Cache-Control"] == "no-store"


def test_hsts_only_when_cookies_are_secure(app, browser_client):
    assert "Strict-Transport-Security" not in browser_client().get("/login").headers
    app.config["SESSION_COOKIE_SECURE"] = True
    try:
        assert browser_client().get("/login").headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        app.config["SESSION_COOKIE_SECURE"] = False


def test_session_cookie_is_httponly_and_samesite(browser_client, world):
    client = browser_client()
    response = client.get("/login")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie



def test_nul_characters_in_a_form_are_refused_before_any_view(browser_client, world):
    client = browser_client()
    token = csrf_token(client, "/login")
    response = client.post("/login", data={"username": "a\x00b", "password": "x", "csrf_token": token})
    assert response.status_code == 422 and "NUL" in response.get_data(as_text=True)
