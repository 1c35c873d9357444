"""Operator chores run from the command line: revoking a user's tokens, purging old idempotency records."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import CursorResult, delete, update
from sqlalchemy.orm import Session

from inventory.errors import NotFound, ValidationError
from inventory.models import ApiToken, IdempotencyRecord
from inventory.services import auth

# A scanner or an integration may retry the next morning: its key must still be known then.
MIN_IDEMPOTENCY_HOURS = 24


def revoke_user_tokens(session: Session, *, username: str, now: dt.datetime) -> int:
    """Revokes every unrevoked API token of the user; returns how many. Raises NotFound."""
    user = auth.find_user(session, username)  # whatever the case typed, as sign-in finds her
    if user is None:
        raise NotFound(f"No user named {username!r}.", username=username)
    user_id = user.id
    # A DML statement answers a CursorResult (it has rowcount); Session.execute is typed as Result.
    result = cast(CursorResult[Any], session.execute(
        update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
    ))
    return result.rowcount or 0


def purge_idempotency_records(session: Session, *, older_than_hours: int, now: dt.datetime) -> int:
    """Deletes idempotency records older than the given age; returns how many. Refuses under 24 hours
    (ValidationError): a retry after the purge would do the work a second time."""
    if older_than_hours < MIN_IDEMPOTENCY_HOURS:
        raise ValidationError(
            f"Idempotency keys are kept at least {MIN_IDEMPOTENCY_HOURS} hours; {older_than_hours} asked.",
            older_than_hours=older_than_hours,
        )
    cutoff = now - dt.timedelta(hours=older_than_hours)
    result = cast(
        CursorResult[Any], session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    )
    return result.rowcount or 0
