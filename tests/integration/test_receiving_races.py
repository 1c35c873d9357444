"""Copies of one box received at the same instant, with real threads, connections and commits: each is a
pack of several vials on a lot of its own (so no lot lock lines them up), and exactly one gets in."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from inventory.errors import DomainError
from inventory.models import Container, Receipt, User, utcnow
from inventory.receiving import service as receiving
from inventory.receiving.models import PackSerial
from inventory.services.permissions import Scope
from tests import factories

pytestmark = pytest.mark.concurrency

THREADS = 8


def test_copies_of_a_pack_of_several_received_at_once_get_in_once(committed_app: Flask):
    sessionmaker = committed_app.extensions["vialog_db"].sessionmaker
    with sessionmaker() as session:
        world = factories.build_world(session)
        gtin, manager_id, fridge_id = world.botox.gtins[0].gtin, world.users["manager"].id, world.location().id
        session.commit()
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS

    def receive(i: int) -> None:
        barrier.wait(timeout=10)
        with committed_app.app_context(), sessionmaker() as session:
            try:
                receiving.receive(session, actor=session.get(User, manager_id), scope=Scope.everything(),
                                  location_id=fridge_id, containers=2, now=utcnow(),
                                  code=f"(01){gtin}(17)281231(10)RACE{i}(21)COPIED1")
                session.commit()
                results[i] = "received"
            except DomainError as error:
                session.rollback()
                results[i] = error.code
            except BaseException as error:  # reported by the test, not lost in a thread
                results[i] = repr(error)

    threads = [threading.Thread(target=receive, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"

    assert Counter(results) == {"received": 1, "duplicate_serial": THREADS - 1}, results
    with sessionmaker() as session:
        assert session.scalar(select(func.count(Receipt.id))) == 1
        assert session.scalar(select(func.count(Container.id))) == 2
        (pack,) = session.scalars(select(PackSerial)).all()
        assert pack.serial == "COPIED1" and pack.receipt.container_count == 2
