"""Idempotency keys: a request sent twice (a retry, a double press) does its work once.

One table serves the API (``Idempotency-Key`` headers, inventory/blueprints/api/core.py) and the pages (a
one-time key in each form that writes, inventory/blueprints/pages/once.py). A key is unique per user; the
pages prefix theirs (``PAGE_PREFIX``) and hash their requests otherwise than the API, so a page key never
replays an API answer nor an API key a page's.

A key is claimed by one statement, ``INSERT ... ON CONFLICT DO NOTHING RETURNING id``, before any work and in
the request's own transaction (an API write on PostgreSQL claims it in its token's look-up,
auth.user_for_token_claiming): a refused request rolls its claim back with its work, so its retry is
evaluated again. A concurrent request with the same key waits on the unique index (PostgreSQL) or on the
write lock (SQLite) until the first one's transaction ends, then finds the row and its answer.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from inventory.models import IdempotencyRecord

PAGE_PREFIX = "page:"
# Fields never hashed into a request's stored hash (API and pages): a fast, unsalted hash of a password would be
# as good as the password to whoever reads these records (passwords are kept only as argon2 hashes). A retry
# with the same key is the same request whatever password it sends again.
SECRET_FIELDS = frozenset({"password", "current_password"})


def claim(session: Session, *, user_id: int, key: str, request_hash: str, now: dt.datetime) -> int | None:
    """The id of the record claimed for this first request, or None when the key is already claimed."""
    connection = session.connection()
    claimed = connection.execute(
        CLAIM[connection.dialect.name],
        {"user_id": user_id, "key": key, "request_hash": request_hash, "created_at": now},
    ).scalar()
    return None if claimed is None else int(claimed)


def claimed_record(session: Session, *, user_id: int, key: str) -> IdempotencyRecord | None:
    """The record that claimed ``key`` for this user (committed with its answer), if any."""
    return session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
    )


def save_answer(session: Session, record_id: int, status: int, body: str) -> None:
    """The answer a repeat of the claimed key gets: saved by the request's commit, with the work it answers for."""
    session.connection().execute(SAVE_ANSWER, {"b_id": record_id, "status_code": status, "response_body": body})


# Built once (SQL only): the values come as execute parameters, so nothing is coerced per request.
CLAIM = {
    name: dialect.insert(IdempotencyRecord).on_conflict_do_nothing(index_elements=["user_id", "key"])
    .returning(IdempotencyRecord.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
SAVE_ANSWER = update(IdempotencyRecord).where(IdempotencyRecord.id == bindparam("b_id"))
