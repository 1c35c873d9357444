"""A nurse's correction racing the safety lead's close of a recall case, with real threads, connections and
commits: either the stock comes back first and holds the case open, or the case closes first and the
correction is refused (``recall_closed``). Never a closed case with its lot's stock back on a shelf."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import select

from inventory.cart import service as cart
from inventory.errors import DomainError
from inventory.models import Container, User, utcnow
from inventory.services.permissions import Scope
from recall import services
from recall.models import RecallCase, RecallContainer, RecallContainerStatus, RecallStatus
from tests import factories
from tests.factories import EVERYWHERE
from tests.integration.test_concurrency import run_together

pytestmark = pytest.mark.concurrency


def test_a_reversal_racing_the_close_either_holds_the_case_open_or_is_refused(committed_app: Flask):
    maker = committed_app.extensions["vialog_db"].sessionmaker
    with maker() as session:
        world = factories.build_world(session)
        now = utcnow()
        kept, dropped = world.receive("botox", lot="RACE31", containers=2, expiry=dt.date(2099, 12, 31),
                                      now=now).containers
        waste_id = factories.waste(world, dropped, "dropped", at=now).id
        case = services.open_recall(session, actor=world.users["safety"], lot_ids=[kept.lot_id], reason="notice",
                                    recall_class="II", source="manufacturer", now=now)
        services.update_container(session, actor=world.users["safety"], scope=EVERYWHERE, case_id=case.id,
                                  container_id=kept.id, status="returned", now=now)
        case_id, dropped_id = case.id, dropped.id
        session.commit()

    def act(i: int) -> str:
        with committed_app.app_context(), maker() as session:
            try:
                if i == 0:
                    safety = session.scalar(select(User).where(User.username == "safety"))
                    services.close_case(session, actor=safety, case_id=case_id, now=utcnow())
                    outcome = "closed"
                else:
                    nurse = session.scalar(select(User).where(User.username == "nurse"))
                    cart.reverse(session, actor=nurse, scope=Scope.for_user(nurse), movement_id=waste_id,
                                 reason="not dropped", now=utcnow())
                    outcome = "reversed"
                session.commit()
                return outcome
            except DomainError as error:
                session.rollback()
                return error.code

    outcomes = run_together(2, act)

    assert outcomes in (["closed", "recall_closed"], ["recall_open_items", "reversed"]), outcomes
    with maker() as session:
        status = session.scalar(select(RecallCase.status).where(RecallCase.id == case_id))
        remaining = session.scalar(select(Container.remaining).where(Container.id == dropped_id))
        line = session.scalar(select(RecallContainer.status).where(
            RecallContainer.case_id == case_id, RecallContainer.container_id == dropped_id))
        if status is RecallStatus.CLOSED:
            assert (remaining, line) == (0, None)
        else:
            assert (remaining, line) == (100, RecallContainerStatus.OPEN)
