"""Sign-in throttling per account and per address: the service with controlled time, then the login
page and the token endpoint."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from inventory.errors import Unauthorized
from inventory.services import throttle
from inventory.services.throttle import DEFAULT_POLICY, TooManyAttempts
from tests.factories import HASHER, NOW, PASSWORD
from tests.pages.conftest import csrf_token

MINUTE = dt.timedelta(minutes=1)
HERE, THERE = "10.0.0.7", "10.0.0.8"


def _fail(session, username: str, at: dt.datetime, address: str = HERE) -> None:
    throttle.record_failure(session, username=username, address=address, now=at)


def _locked(session, username: str, at: dt.datetime, address: str = HERE) -> int | None:
    """Seconds to wait, or None when sign-in is open."""
    try:
        throttle.check(session, username=username, address=address, now=at)
    except TooManyAttempts as error:
        return error.retry_after
    return None


# --- the service, with the clock in the test's hands ------------------------------------------


def test_five_failures_in_fifteen_minutes_lock_the_account_for_fifteen_minutes(session):
    for i in range(4):
        _fail(session, "nurse", NOW + i * MINUTE)
    assert _locked(session, "nurse", NOW + 4 * MINUTE) is None

    _fail(session, "nurse", NOW + 4 * MINUTE)
    assert _locked(session, "nurse", NOW + 4 * MINUTE) == 15 * 60
    assert _locked(session, " NURSE ", NOW + 10 * MINUTE) == 9 * 60  # the name as typed, any case
    assert _locked(session, "nurse", NOW + 19 * MINUTE - dt.timedelta(seconds=1)) == 1
    assert _locked(session, "nurse", NOW + 19 * MINUTE) is None
    assert _locked(session, "manager", NOW + 5 * MINUTE) is None  # other accounts sign in as usual


def test_failures_spread_wider_than_the_window_do_not_lock(session):
    for i in range(8):
        _fail(session, "nurse", NOW + i * 4 * MINUTE)  # one every 4 minutes: never 5 within 15
        assert _locked(session, "nurse", NOW + i * 4 * MINUTE) is None


def test_unknown_names_are_counted_like_real_ones(session):
    for i in range(5):
        _fail(session, "nobody-by-this-name", NOW + i * MINUTE)
    assert _locked(session, "nobody-by-this-name", NOW + 5 * MINUTE) is not None


def test_thirty_failures_from_one_address_lock_that_address_for_every_account(session):
    for i in range(29):
        _fail(session, f"guess-{i}", NOW + dt.timedelta(seconds=20 * i))
    assert _locked(session, "nurse", NOW + 10 * MINUTE) is None
    _fail(session, "guess-29", NOW + 10 * MINUTE)

    assert _locked(session, "nurse", NOW + 10 * MINUTE) == 15 * 60
    assert _locked(session, "nurse", NOW + 10 * MINUTE, address=THERE) is None
    assert _locked(session, "nurse", NOW + 25 * MINUTE) is None


def test_success_clears_the_account_but_not_the_address(session, world):
    for i in range(4):
        _fail(session, "nurse", NOW + i * MINUTE)
    for i in range(25):
        _fail(session, f"guess-{i}", NOW + 5 * MINUTE)
    throttle.sign_in(session, HASHER, username="nurse", password=PASSWORD, address=HERE, now=NOW + 6 * MINUTE,
                     via="test")

    for i in range(4):
        _fail(session, "nurse", NOW + (7 + i) * MINUTE)  # 4 after the success: not 8
    assert _locked(session, "nurse", NOW + 11 * MINUTE) is None
    _fail(session, "nurse", NOW + 11 * MINUTE)  # 30th failure from this address
    assert _locked(session, "manager", NOW + 11 * MINUTE) == 15 * 60


def test_a_locked_account_is_refused_before_the_password_is_checked(session, world, caplog):
    for i in range(5):
        with pytest.raises(Unauthorized):
            throttle.sign_in(session, HASHER, username="nurse", password=f"wrong-{i}", address=HERE,
                             now=NOW + i * MINUTE, via="test")
    with caplog.at_level(logging.INFO, logger="vialog.security"), pytest.raises(TooManyAttempts) as refused:
        throttle.sign_in(session, HASHER, username="nurse", password=PASSWORD, address=HERE, now=NOW + 5 * MINUTE,
                         via="test")
    assert refused.value.code == "too_many_requests" and refused.value.status == 429
    assert refused.value.retry_after == 14 * 60
    assert "sign-in refused (account locked) for 'nurse' from 10.0.0.7 via test" in caplog.text
    assert PASSWORD not in caplog.text


def test_old_failures_are_forgotten(session):
    from sqlalchemy import func, select

    from inventory.models import LoginFailure

    _fail(session, "nurse", NOW)
    _fail(session, "nurse", NOW + DEFAULT_POLICY.window + DEFAULT_POLICY.lockout + MINUTE)
    assert session.scalar(select(func.count(LoginFailure.id)).where(LoginFailure.username_key == "nurse")) == 1


# --- the login page ------------------------------------------------------------------------------


def _page_login(client, username: str, password: str):
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client, "/login")})


def test_the_login_page_answers_429_after_five_failures_and_logs_them(app, session, world, caplog):
    client = app.test_client()
    with caplog.at_level(logging.INFO, logger="vialog.security"):
        for i in range(5):
            assert _page_login(client, "nurse", f"wrong-password-{i}").status_code == 401
        locked = _page_login(client, "nurse", PASSWORD)

    assert locked.status_code == 429
    assert "Too many failed sign-ins. Wait 15 minutes and try again" in locked.get_data(as_text=True)
    assert 0 < int(locked.headers["Retry-After"]) <= 900
    assert caplog.text.count("sign-in failed for 'nurse' from 127.0.0.1 via page") == 5
    assert "wrong-password" not in caplog.text and PASSWORD not in caplog.text
    assert _page_login(app.test_client(), "manager", PASSWORD).status_code == 302


def test_a_successful_page_sign_in_clears_the_accounts_counter(app, session, world):
    client = app.test_client()
    for i in range(4):
        assert _page_login(client, "nurse", f"wrong-{i}").status_code == 401
    assert _page_login(client, "nurse", PASSWORD).status_code == 302
    other = app.test_client()
    for i in range(4):
        assert _page_login(other, "nurse", f"wrong-again-{i}").status_code == 401
    assert _page_login(other, "nurse", PASSWORD).status_code == 302


# --- the token endpoint ---------------------------------------------------------------------------


def _token(client, username: str, password: str, address: str = "127.0.0.1"):
    return client.post("/api/v1/auth/tokens", data=json.dumps({"username": username, "password": password}),
                       content_type="application/json", environ_base={"REMOTE_ADDR": address})


def test_the_token_endpoint_answers_429_too_many_requests_with_retry_after(app, session, world):
    client = app.test_client()
    for i in range(5):
        assert _token(client, "nurse", f"wrong-{i}").status_code == 401
    locked = _token(client, "nurse", PASSWORD)

    assert locked.status_code == 429
    error = locked.get_json()["error"]
    assert error["code"] == "too_many_requests" and "Too many failed sign-ins" in error["message"]
    assert int(locked.headers["Retry-After"]) == error["details"]["retry_after"]
    assert _token(client, "manager", PASSWORD).status_code == 201


def test_the_page_and_the_api_share_one_count(app, session, world):
    for i in range(3):
        assert _page_login(app.test_client(), "nurse", f"wrong-{i}").status_code == 401
    for i in range(2):
        assert _token(app.test_client(), "nurse", f"wrong-{i}").status_code == 401
    assert _token(app.test_client(), "nurse", PASSWORD).status_code == 429
    assert _page_login(app.test_client(), "nurse", PASSWORD).status_code == 429


def test_thirty_failures_from_one_address_lock_it_for_the_token_endpoint(app, session, world):
    client = app.test_client()
    for i in range(30):
        assert _token(client, f"guess-{i}", "wrong-password", address="192.0.2.9").status_code == 401
    assert _token(client, "nurse", PASSWORD, address="192.0.2.9").status_code == 429
    assert _token(client, "nurse", PASSWORD, address="192.0.2.10").status_code == 201


def test_a_successful_token_sign_in_clears_the_accounts_counter(app, session, world):
    client = app.test_client()
    for i in range(4):
        assert _token(client, "nurse", f"wrong-{i}").status_code == 401
    assert _token(client, "nurse", PASSWORD).status_code == 201
    for i in range(4):
        assert _token(client, "nurse", f"wrong-again-{i}").status_code == 401
    assert _token(client, "nurse", PASSWORD).status_code == 201
