"""Sign-in throttling per account and per address, stored in the database so that every gunicorn worker
(and every server of a PostgreSQL deployment) sees the same counts.

A lock starts when a failure brings the count inside the window to the limit, and lasts ``lockout`` from
that failure. While locked, attempts are refused before the password is checked and are not counted, so
a lock is not extended by hammering and costs the server no Argon2 work. A successful sign-in clears the
account's failures, never the address's: one valid account must not reset an attacker's budget.
Unknown usernames are counted like known ones, so a lock says nothing about which names exist.

Two workers checking at the same moment may each let one more guess through: the limits are a brake on
guessing, not an exact quota.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass

from argon2 import PasswordHasher
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from inventory.errors import DomainError, Unauthorized
from inventory.models import LoginFailure, User
from inventory.services import auth

# Sign-in failures, locks and refusals: the security team's log (never a password, never a token).
security_log = logging.getLogger("vialog.security")


@dataclass(frozen=True)
class Policy:
    account_limit: int = 5
    address_limit: int = 30
    window: dt.timedelta = dt.timedelta(minutes=15)
    lockout: dt.timedelta = dt.timedelta(minutes=15)


DEFAULT_POLICY = Policy()


class TooManyAttempts(DomainError):
    """Sign-in is locked for this account or address; ``retry_after`` is in whole seconds."""

    code = "too_many_requests"
    status = 429

    def __init__(self, message: str, *, retry_after: int, locked: str) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after
        self.locked = locked  # "account" or "address", for the log; not told to the caller


def username_key(username: str) -> str:
    return username.strip().lower()[:80]


def check(session: Session, *, username: str, address: str, now: dt.datetime, policy: Policy = DEFAULT_POLICY) -> None:
    """Raises TooManyAttempts while the account or the address is locked."""
    key = username_key(username)
    since = now - policy.window - policy.lockout
    rows = session.execute(
        select(LoginFailure.username_key, LoginFailure.address, LoginFailure.at)
        .where(LoginFailure.at > since, or_(LoginFailure.username_key == key, LoginFailure.address == address))
    ).all()
    account_until = _locked_until([at for k, _, at in rows if k == key], policy.account_limit, policy)
    address_until = _locked_until([at for _, a, at in rows if a == address], policy.address_limit, policy)
    until, locked = max((account_until, "account"), (address_until, "address"), key=lambda pair: pair[0] or now)
    if until is not None and until > now:
        retry_after = max(1, math.ceil((until - now).total_seconds()))
        minutes = max(1, math.ceil(retry_after / 60))
        raise TooManyAttempts(
            f"Too many failed sign-ins. Wait {minutes} minute{'s' if minutes != 1 else ''} and try again, "
            "or ask an admin.",
            retry_after=retry_after, locked=locked,
        )


def _locked_until(moments: list[dt.datetime], limit: int, policy: Policy) -> dt.datetime | None:
    """The end of the latest lock: a failure that is the limit-th within the window starts one."""
    ordered = sorted(moments)
    until = None
    for i in range(limit - 1, len(ordered)):
        if ordered[i] - ordered[i - limit + 1] < policy.window:
            until = ordered[i] + policy.lockout
    return until


def record_failure(session: Session, *, username: str, address: str, now: dt.datetime,
                   policy: Policy = DEFAULT_POLICY) -> None:
    """Counts one failed sign-in, and forgets failures too old to count towards any lock."""
    session.execute(delete(LoginFailure).where(LoginFailure.at <= now - policy.window - policy.lockout))
    session.add(LoginFailure(username_key=username_key(username), address=address[:64], at=now))
    session.flush()


def record_success(session: Session, *, username: str) -> None:
    """Clears the account's failures (not the address's)."""
    session.execute(delete(LoginFailure).where(LoginFailure.username_key == username_key(username)))


def sign_in(session: Session, hasher: PasswordHasher, *, username: str, password: str, address: str,
            now: dt.datetime, via: str, policy: Policy = DEFAULT_POLICY) -> User:
    """auth.authenticate behind the throttle, for the login page and the token endpoint alike.

    Raises TooManyAttempts while locked (the password is not checked), or Unauthorized after counting
    the failure: the caller commits in that case too, or the failure would be rolled back with the request.
    """
    try:
        check(session, username=username, address=address, now=now, policy=policy)
    except TooManyAttempts as error:
        security_log.warning("sign-in refused (%s locked) for %r from %s via %s", error.locked, username, address, via)
        raise
    try:
        user = auth.authenticate(session, hasher, username, password)
    except Unauthorized:
        record_failure(session, username=username, address=address, now=now, policy=policy)
        security_log.warning("sign-in failed for %r from %s via %s", username, address, via)
        raise
    record_success(session, username=username)
    user.last_login_at = now  # by the login page or a scanner's token alike: admins see who still signs in
    security_log.info("signed in %r from %s via %s", user.username, address, via)
    return user
