"""vialog purge-idempotency: idempotency keys are kept at least 24 hours."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from inventory.models import IdempotencyRecord, utcnow


def _record(session, world, key: str, age_hours: int) -> None:
    session.add(IdempotencyRecord(user_id=world.users["nurse"].id, key=key, request_hash="0" * 64, status_code=201,
                                  response_body="{}", created_at=utcnow() - dt.timedelta(hours=age_hours)))


def _keys(session) -> list[str]:
    session.expire_all()
    return sorted(session.scalars(select(IdempotencyRecord.key)))


def test_purge_idempotency_deletes_only_records_older_than_asked(app, session, world):
    for key, age in (("fresh", 1), ("yesterday", 30), ("old", 50)):
        _record(session, world, key, age)
    session.commit()
    runner = app.test_cli_runner()

    default = runner.invoke(args=["purge-idempotency"])
    assert default.exit_code == 0 and "Deleted 1 idempotency record older than 48 hours." in default.output
    assert _keys(session) == ["fresh", "yesterday"]
    day = runner.invoke(args=["purge-idempotency", "--older-than-hours", "24"])
    assert day.exit_code == 0 and "Deleted 1" in day.output
    assert _keys(session) == ["fresh"]


def test_purge_idempotency_refuses_less_than_24_hours(app, session, world):
    _record(session, world, "recent", 2)
    session.commit()
    result = app.test_cli_runner().invoke(args=["purge-idempotency", "--older-than-hours", "23"])
    assert result.exit_code == 2 and "kept at least 24 hours" in result.output
    assert _keys(session) == ["recent"]
