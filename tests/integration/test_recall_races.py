"""Receipts and reversals racing the opening of a recall, with real threads, connections and commits.

Every container of the lot that holds stock once the dust settles is on the case's list: a receipt either
commits before the recall (and the recall lists its vials) or waits for it and is refused (lot_recalled); a
reversed waste either commits first or joins the case (inventory/services/lot_guard.py).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from flask import Flask
from sqlalchemy import or_, select

from inventory import lifecycle
from inventory.cart import service as cart
from inventory.errors import DomainError
from inventory.models import Container, Movement, User, utcnow
from inventory.receiving import service as receiving
from inventory.services import ledger
from inventory.services.permissions import Scope
from recall import services as recalls
from recall.models import RecallCase, RecallContainer, RecallContainerStatus
from tests import factories
from tests.integration.test_concurrency import run_together

pytestmark = pytest.mark.concurrency

RECEIPTS = 12
REVERSALS = 4
FAR = dt.date(2099, 12, 31)
LOT = "RACE19"


def test_receipts_and_reversals_racing_a_recall_never_leave_stock_off_its_list(committed_app: Flask):
    maker = committed_app.extensions["vialog_db"].sessionmaker
    with maker() as session:
        world = factories.build_world(session)
        now = utcnow()
        first = world.receive("botox", lot=LOT, expiry=FAR, containers=1 + REVERSALS, now=now).containers
        wastes = [factories.waste(world, c, "dropped", user="manager", at=now).id for c in first[1:]]
        lot_id, gtin = first[0].lot_id, world.botox.gtins[0].gtin
        location_id = world.location().id
        session.commit()

    def act(i: int) -> str:
        with committed_app.app_context(), maker() as session:
            try:
                if i == 0:
                    safety = session.scalar(select(User).where(User.username == "safety"))
                    recalls.open_recall(session, actor=safety, lot_ids=[lot_id], reason="counterfeit alert",
                                        recall_class="I", source="regulator", now=utcnow())
                    outcome = "recalled"
                elif i <= RECEIPTS:
                    manager = session.scalar(select(User).where(User.username == "manager"))
                    receiving.receive(session, actor=manager, scope=Scope.everything(), location_id=location_id,
                                      containers=2, now=utcnow(), gtin=gtin, lot_number=LOT, expiry=FAR)
                    outcome = "received"
                else:
                    manager = session.scalar(select(User).where(User.username == "manager"))
                    cart.reverse(session, actor=manager, scope=Scope.everything(),
                                 movement_id=wastes[i - RECEIPTS - 1], reason="not dropped", now=utcnow())
                    outcome = "reversed"
                session.commit()
                return outcome
            except DomainError as error:
                session.rollback()
                return error.code

    outcomes = run_together(1 + RECEIPTS + REVERSALS, act)

    assert all(isinstance(o, str) for o in outcomes), outcomes
    counts = Counter(outcomes)
    assert counts["recalled"] == 1, counts
    assert set(counts) <= {"recalled", "received", "lot_recalled", "reversed"}, counts
    assert counts["reversed"] == REVERSALS  # a correction is never refused for the recall: it joins the case
    with maker() as session:
        case = session.scalar(select(RecallCase))
        listed = set(session.scalars(select(RecallContainer.container_id).where(
            RecallContainer.case_id == case.id, RecallContainer.status == RecallContainerStatus.OPEN)))
        in_stock = set(session.scalars(select(Container.id).where(
            Container.lot_id == lot_id,
            or_(Container.state.in_(lifecycle.HELD_STATES), Container.remaining > 0))))
        assert in_stock == listed
        assert len(in_stock) == 1 + REVERSALS + 2 * counts["received"]
        assert recalls.open_counts(session, case.id)["containers_back_in_stock"] == 0
        assert ledger.find_balance_mismatches(session) == []
        assert session.scalar(select(Movement.id).where(Movement.lot_id == lot_id)) is not None


def test_a_recall_waits_for_a_receipt_that_has_read_its_lot(committed_app: Flask):
    """The window the lock closes: a receipt that has found the lot (still active) but written nothing yet. The
    recall opening waits for it, then lists what it received."""
    if committed_app.extensions["vialog_db"].engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises every writer already (BEGIN IMMEDIATE)")
    maker = committed_app.extensions["vialog_db"].sessionmaker
    with maker() as session:
        world = factories.build_world(session)
        lot_id = world.receive("botox", lot=LOT, expiry=FAR, now=utcnow()).lot_id
        session.commit()

    receiving_session = maker()
    manager = receiving_session.scalar(select(User).where(User.username == "manager"))
    botox = receiving_session.get(Container, receiving_session.scalar(
        select(Container.id).where(Container.lot_id == lot_id))).product
    found = receiving._lot_on_file(receiving_session, botox, LOT, FAR)  # the receipt's read
    assert found.id == lot_id

    def recall() -> None:
        with committed_app.app_context(), maker() as session:
            safety = session.scalar(select(User).where(User.username == "safety"))
            recalls.open_recall(session, actor=safety, lot_ids=[lot_id], reason="alert", recall_class="I",
                                source="regulator", now=utcnow())
            session.commit()

    waiting = threading.Thread(target=recall)
    waiting.start()
    waiting.join(timeout=0.7)
    assert waiting.is_alive(), "the recall did not wait for the receipt under way"
    receiving.receive(receiving_session, actor=manager, scope=Scope.everything(),
                      location_id=receiving_session.scalar(select(Container.location_id).limit(1)), containers=3,
                      now=utcnow(), gtin=botox.gtins[0].gtin, lot_number=LOT, expiry=FAR)
    receiving_session.commit()
    receiving_session.close()
    waiting.join(timeout=10)
    assert not waiting.is_alive()
    with maker() as session:
        listed = session.scalars(select(RecallContainer.container_id)).all()
        assert len(listed) == 4  # the first vial and the three received while the recall waited
