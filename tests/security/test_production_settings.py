"""Settings a production deployment must not get wrong."""

from __future__ import annotations

import pytest
from flask import request

from inventory import ConfigurationError, create_app


@pytest.fixture
def make_app(monkeypatch, tmp_path):
    monkeypatch.setenv("VIALOG_INSTANCE", str(tmp_path))
    monkeypatch.delenv("VIALOG_ENV", raising=False)
    monkeypatch.delenv("VIALOG_PROXY_HOPS", raising=False)

    def make(**overrides):
        return create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'settings.db'}", **overrides})

    return make


def test_production_refuses_a_secret_key_shorter_than_32_characters(make_app, monkeypatch):
    monkeypatch.setenv("VIALOG_ENV", "production")
    with pytest.raises(ConfigurationError, match="at least 32 characters"):
        make_app(SECRET_KEY="x" * 31)
    assert make_app(SECRET_KEY="x" * 32).config["VIALOG_ENV"] == "production"


def test_outside_production_a_short_key_is_accepted(make_app):
    assert make_app(SECRET_KEY="dev").config["VIALOG_ENV"] == "development"


def test_passwords_are_hashed_with_argon2id_at_owasps_parameters_by_default(make_app):
    hasher = make_app(SECRET_KEY="k" * 32).extensions["password_hasher"]
    encoded = hasher.hash("a-long-enough-secret")
    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$"), encoded
    assert hasher.verify(encoded, "a-long-enough-secret")


def test_behind_a_proxy_the_client_address_comes_from_x_forwarded_for(make_app):
    direct, proxied = make_app(SECRET_KEY="k" * 32), make_app(SECRET_KEY="k" * 32, PROXY_HOPS=1)
    for app in (direct, proxied):
        app.add_url_rule("/_address", "address", lambda: request.remote_addr or "")
    forwarded = {"X-Forwarded-For": "203.0.113.5"}
    assert direct.test_client().get("/_address", headers=forwarded).get_data(as_text=True) == "127.0.0.1"
    assert proxied.test_client().get("/_address", headers=forwarded).get_data(as_text=True) == "203.0.113.5"
