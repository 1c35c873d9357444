"""Passwords, sign-in and API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import String, bindparam, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from inventory.errors import Unauthorized, UsernameTaken, ValidationError
from inventory.models import ApiToken, AuditEvent, Clinic, IdempotencyRecord, Role, User
from inventory.models.user import USERNAME_KEY_LENGTH, user_clinics, username_key
from inventory.services import idempotency
from inventory.services.permissions import CHAIN_LEVEL_ROLES, ROLE_LABELS
from inventory.services.uniqueness import held_once

MIN_PASSWORD_LENGTH = 10
# Verified against when the username is unknown, so both paths cost one verification: hashed once per
# hasher (per app), never per sign-in, or an unknown name would cost a hash more than a known one.
_DUMMY_PASSWORD = "not-a-real-password-" + "x" * 12
_dummy_hashes: dict[tuple[int, int, int], str] = {}


def dummy_hash(hasher: PasswordHasher) -> str:
    """The hash an unknown username is verified against (made once; create_app makes it at start)."""
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    stored = _dummy_hashes.get(key)
    if stored is None:
        stored = _dummy_hashes[key] = hasher.hash(_DUMMY_PASSWORD)
    return stored


def make_hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    """Argon2id (argon2-cffi's default type) with the given cost."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


def check_password_policy(password: str, username: str) -> None:
    """Raises ValidationError for a password too short or equal to the username."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.", field="password")
    if password.strip().lower() == username.strip().lower():
        raise ValidationError("A password may not be the username.", field="password")


def check_username(username: str) -> str:
    """The username as stored; raises ValidationError for an empty or overlong one."""
    username = username.strip()
    if not username:
        raise ValidationError("A username is needed.", field="username")
    if (len(username) > 80 or len(username_key(username)) > USERNAME_KEY_LENGTH
            or any(ch.isspace() or not ch.isprintable() for ch in username)):
        raise ValidationError("A username has at most 80 characters and no spaces.", field="username")
    return username


def find_user(session: Session, username: str) -> User | None:
    """The user of this username whatever its case (``MGR-LON`` is ``mgr-lon``): usernames are unique so."""
    return session.scalar(select(User).where(User.username_key == username_key(username.strip())))


def refuse_taken_username(session: Session, username: str, *, user_id: int | None = None) -> None:
    """Raises UsernameTaken if another user than ``user_id`` holds ``username`` in any case: two accounts whose
    names differ only in case (``MGR-LON`` and ``mgr-lon``) read as one person in every list and audit trail."""
    holder = find_user(session, username)
    if holder is not None and holder.id != user_id:
        same = "" if holder.username == username else f" (as {holder.username!r}: usernames ignore case)"
        raise UsernameTaken(f"The username {username!r} is taken{same}: choose another.", username=username)


class ClinicsRequired(ValidationError):
    """A user who must work at named clinics was given none. Its code stays validation_error (field clinic_ids)."""


def check_placement(role: Role, clinics: list[Clinic], chain_level: bool | None = None) -> bool:
    """Whether a user of ``role`` with ``clinics`` works at every clinic (chain level); raises otherwise.

    ``chain_level`` None: no clinics means chain level (the API's ``clinic_ids: []`` and the command line's
    missing ``--clinic``). True or False: the caller chose explicitly (the admin page), and the clinics must
    agree, so a forgotten tick is refused rather than read as "every clinic". Either way only a role that
    works across the chain may be chain level (DESIGN.md "Main entities"): a nurse without a clinic would
    otherwise see every clinic's patients. Raises ValidationError or ClinicsRequired (field clinic_ids).
    """
    if chain_level is None:
        chain_level = not clinics
    if chain_level and clinics:
        raise ValidationError("Choose either every clinic (chain level) or named clinics, not both.",
                              field="clinic_ids")
    if not chain_level and not clinics:
        raise ClinicsRequired("Choose the clinics this user works at, or every clinic (chain level).",
                              field="clinic_ids")
    if chain_level and role not in CHAIN_LEVEL_ROLES:
        raise ClinicsRequired(
            f"A {ROLE_LABELS[role].lower()} works at named clinics, never at every clinic: choose at least one.",
            field="clinic_ids", role=role.value,
        )
    return chain_level


def create_user(
    session: Session,
    hasher: PasswordHasher,
    *,
    username: str,
    password: str,
    role: Role,
    clinics: list[Clinic] | None = None,
    chain_level: bool | None = None,
    display_name: str = "",
) -> User:
    """Without clinics (and ``chain_level`` not False) a manager, safety lead or admin works at every clinic of
    the chain. Raises ValidationError, UsernameTaken or ClinicsRequired (see check_placement)."""
    username = check_username(username)
    check_password_policy(password, username)
    refuse_taken_username(session, username)
    clinics = list(clinics or [])
    is_chain_level = check_placement(role, clinics, chain_level)
    user = User(
        username=username,
        display_name=display_name,
        password_hash=hasher.hash(password),
        role=role,
        is_chain_level=is_chain_level,
        clinics=clinics,
    )
    with username_held_once(session, username):
        session.add(user)
    return user


def username_held_once(session: Session, username: str, *, user_id: int | None = None) -> AbstractContextManager[None]:
    """Around giving a user ``username`` (a new user added, or a rename), made inside: another admin may have taken
    the name, in any case, since it was looked up, answered as UsernameTaken (uniqueness.held_once)."""
    return held_once(session, lambda: refuse_taken_username(session, username, user_id=user_id))


def authenticate(session: Session, hasher: PasswordHasher, username: str, password: str) -> User:
    """Returns the active user with these credentials, the username matched whatever its case; raises
    Unauthorized otherwise."""
    user = find_user(session, username)
    stored = user.password_hash if user is not None else dummy_hash(hasher)
    try:
        hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None or not user.is_active:
        raise Unauthorized("Wrong username or password.")
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, *, hours: int, now: dt.datetime) -> tuple[str, ApiToken]:
    """A new bearer token; only its hash is stored, so it is shown once."""
    token = "vlg_" + secrets.token_urlsafe(32)
    record = ApiToken(
        user_id=user.id, token_hash=_token_hash(token), created_at=now, expires_at=now + dt.timedelta(hours=hours)
    )
    session.add(record)
    session.flush()
    return token, record


def user_for_token(session: Session, token: str, *, now: dt.datetime) -> User | None:
    """The active user holding this unexpired, unrevoked token, with the user's clinics loaded (the request's
    scope, and their time zones), or None. One statement, read at every request: a revoked token, a
    deactivated user or a changed clinic list takes effect at the next request, in every worker."""
    return _user_of(session.execute(_TOKEN_USER, {"token_hash": _token_hash(token), "now": now}).all())


def user_for_token_claiming(
    session: Session, token: str, *, now: dt.datetime, key: str, request_hash: str
) -> tuple[User | None, int | None]:
    """``user_for_token``, and the request's Idempotency-Key claimed for that user (idempotency.claim): on
    PostgreSQL by the same statement, the claim's INSERT riding in its WITH (one round trip for the two
    things every keyed write does first); on SQLite by a second statement (a function call there).

    Returns the user, or None (nothing claimed), and the id of the record claimed for this first request, or
    None when the key is already claimed (a retry: its answer is replayed)."""
    if session.get_bind().dialect.name != "postgresql":
        user = user_for_token(session, token, now=now)
        if user is None:
            return None, None
        return user, idempotency.claim(session, user_id=user.id, key=key, request_hash=request_hash, now=now)
    rows = session.execute(_TOKEN_USER_CLAIMING, {
        "token_hash": _token_hash(token), "now": now, "key": key, "request_hash": request_hash,
    }).all()
    claimed = rows[0][2] if rows else None
    return _user_of([row[:2] for row in rows]), None if claimed is None else int(claimed)


def _user_of(rows: Sequence[Sequence[Any]]) -> User | None:
    """The user of ``_TOKEN_USER``'s rows (one per clinic), with those clinics, or None for no row."""
    if not rows:
        return None
    user: User = rows[0][0]
    # The relationship as its own loader would fill it (ordered by name), without a second statement.
    set_committed_value(user, "clinics", sorted((clinic for _, clinic in rows if clinic is not None),
                                                key=lambda clinic: clinic.name))
    return user


# What makes a token good: one home for the plain look-up and the claiming one.
_TOKEN_IS_VALID = (ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None),
                   ApiToken.expires_at > bindparam("now"), User.is_active)
# Built once (every API request runs it); the hash and the time come as parameters. One row per clinic of
# the user (one with none for a user with no clinic): the user is loaded once, each clinic with it.
_TOKEN_USER = (
    select(User, Clinic)
    .select_from(ApiToken).join(User, User.id == ApiToken.user_id)
    .outerjoin(user_clinics, user_clinics.c.user_id == User.id).outerjoin(Clinic, Clinic.id == user_clinics.c.clinic_id)
    .where(*_TOKEN_IS_VALID)
)
# The claim of idempotency.CLAIM for the token's user, if the token is good (no row, no claim), as a WITH of
# the look-up; its id (NULL when the key was claimed before) is each row's third column.
_CLAIM_FOR_TOKEN = (
    postgresql.insert(IdempotencyRecord)
    .from_select(["user_id", "key", "request_hash", "created_at"], select(
        ApiToken.user_id, bindparam("key", type_=String), bindparam("request_hash", type_=String),
        bindparam("now", type_=IdempotencyRecord.created_at.type),
    ).join(User, User.id == ApiToken.user_id).where(*_TOKEN_IS_VALID))
    .on_conflict_do_nothing(index_elements=["user_id", "key"])
    .returning(IdempotencyRecord.id)
    .cte("claimed")
)
_TOKEN_USER_CLAIMING = _TOKEN_USER.add_columns(select(_CLAIM_FOR_TOKEN.c.id).scalar_subquery()).add_cte(_CLAIM_FOR_TOKEN)


def revoke_token(session: Session, token: str, *, now: dt.datetime) -> bool:
    record = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if record is None or record.revoked_at is not None:
        return False
    record.revoked_at = now
    return True


def verify_password(hasher: PasswordHasher, user: User, password: str) -> bool:
    try:
        return hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def set_password(hasher: PasswordHasher, user: User, password: str, *, must_change: bool) -> None:
    """Raises ValidationError for a password the policy refuses; nothing is changed then."""
    check_password_policy(password, user.username)
    user.password_hash = hasher.hash(password)
    user.must_change_password = must_change


def end_page_sessions(user: User) -> None:
    """Every page session of ``user`` ends at its next request: each carries the version it signed in with
    (inventory/blueprints/pages/core.py compares it), and that version is left behind here."""
    user.session_version = (user.session_version or 1) + 1


def revoke_tokens(session: Session, user: User, *, now: dt.datetime, keep: str | None = None) -> int:
    """Revokes every live API token of ``user`` but the one ``keep`` names; returns how many."""
    stmt = update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    if keep is not None:
        stmt = stmt.where(ApiToken.token_hash != _token_hash(keep))
    result = session.execute(stmt.values(revoked_at=now).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def end_all_sessions(session: Session, user: User, *, now: dt.datetime, keep_token: str | None = None) -> None:
    """Ends the user's page sessions and API tokens at once (deactivation, a password change or reset)."""
    end_page_sessions(user)
    revoke_tokens(session, user, now=now, keep=keep_token)


def change_own_password(session: Session, hasher: PasswordHasher, user: User, *, current_password: str | None,
                        password: str, now: dt.datetime, keep_token: str | None = None) -> None:
    """A user's change of their own password, the current one given: ends their other page sessions and API tokens
    (``keep_token``: the request's own) and is audited (``user.password_changed``). Raises ValidationError (a wrong
    current password, the same password again, the policy); nothing is changed then."""
    if not current_password or not verify_password(hasher, user, current_password):
        raise ValidationError("The current password is wrong.", field="current_password")
    if current_password == password:
        raise ValidationError("Choose a password other than the current one.", field="password")
    set_password(hasher, user, password, must_change=False)
    end_all_sessions(session, user, now=now, keep_token=keep_token)
    session.add(AuditEvent(at=now, actor_id=user.id, action="user.password_changed", object_type="user",
                           object_id=str(user.id)))
