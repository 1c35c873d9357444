"""The same excursion recorded by several requests at the same instant, with real threads, connections and
commits: the location's row is locked before the look-up, so exactly one records it and the others are answered
already recorded."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from inventory.cold_chain import service as cold_chain
from inventory.cold_chain.models import Excursion
from inventory.errors import DomainError
from inventory.models import User, utcnow
from inventory.services.permissions import Scope
from tests import factories

pytestmark = pytest.mark.concurrency

THREADS = 6


def test_the_same_excursion_recorded_at_once_by_several_requests_is_recorded_once(committed_app: Flask):
    sessionmaker = committed_app.extensions["vialog_db"].sessionmaker
    with sessionmaker() as session:
        world = factories.build_world(session)
        manager_id, fridge_id = world.users["manager"].id, world.location().id
        session.commit()
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS
    now = utcnow()

    def record(i: int) -> None:
        barrier.wait(timeout=10)
        with committed_app.app_context(), sessionmaker() as session:
            try:
                cold_chain.record_excursion(session, actor=session.get(User, manager_id), scope=Scope.everything(),
                                            location_id=fridge_id, started_at=now - dt.timedelta(hours=1),
                                            ended_at=now, min_c=Decimal("9"), max_c=Decimal("12"), now=now)
                session.commit()
                results[i] = "recorded"
            except DomainError as error:
                session.rollback()
                results[i] = error.code
            except BaseException as error:  # reported by the test, not lost in a thread
                results[i] = repr(error)

    threads = [threading.Thread(target=record, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"

    assert Counter(results) == {"recorded": 1, "excursion_already_recorded": THREADS - 1}, results
    with sessionmaker() as session:
        assert session.scalar(select(func.count(Excursion.id))) == 1
