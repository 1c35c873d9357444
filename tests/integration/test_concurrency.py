"""Nurses drawing from one vial at the same moment, with real threads, connections and commits.

The rolled-back ``session`` fixture cannot show this: every thread here has its own
session and connection on a scratch database with committed data, as in production.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from inventory.errors import DomainError
from inventory.models import Container, Draw, IdempotencyRecord, Movement, MovementKind, Product, User, utcnow
from inventory.services import auth, ledger
from inventory.cart import service as cart
from inventory.receiving import service as receiving
from inventory.services.permissions import Scope
from tests import factories

pytestmark = pytest.mark.concurrency

THREADS = 24
DOSE = Decimal("7")  # 24 x 7 U = 168 U asked of a 100 U vial: 14 draws fit, 10 are refused
FAR = dt.date(2099, 12, 31)


@dataclass
class Scene:
    """Committed data: one reconstituted vial, the nurse and one open treatment per thread."""

    app: Flask
    container_id: int
    nurse_id: int
    treatment_ids: list[int]
    token: str

    def session(self) -> Session:
        return self.app.extensions["vialog_db"].sessionmaker()


@pytest.fixture
def scene(committed_app: Flask) -> Scene:
    """The shared vial is multi-patient, so every thread may draw for its own patient: only quantity races."""
    session = committed_app.extensions["vialog_db"].sessionmaker()
    with session:
        world = factories.build_world(session)
        world.botox.is_multi_patient = True
        nurse = world.users["nurse"]
        now = utcnow()
        container = world.container("botox", expiry=FAR, now=now)
        factories.reconstitute(world, container, at=now)
        treatment_ids = [factories.start_treatment(world, f"P-{i}", at=now).id for i in range(THREADS)]
        token, _ = auth.issue_token(session, nurse, hours=1, now=now)
        session.commit()
        return Scene(committed_app, container.id, nurse.id, treatment_ids, token)


def run_together(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Runs ``work(i)`` in ``count`` threads released at the same instant; returns results in order."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait(timeout=10)
        try:
            results[i] = work(i)
        except BaseException as error:  # reported by the test, not lost in a thread
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


def test_nurses_drawing_one_vial_at_once_never_take_more_than_it_holds(scene: Scene):
    def draw_once(i: int) -> str:
        with scene.app.app_context(), scene.session() as session:
            nurse = session.get(User, scene.nurse_id)
            assert nurse is not None
            try:
                cart.draw(session, actor=nurse, scope=Scope.for_user(nurse), treatment_id=scene.treatment_ids[i],
                          container_id=scene.container_id, quantity=DOSE, unit="U", area="glabella", now=utcnow())
                session.commit()
                return "drawn"
            except DomainError as error:
                session.rollback()
                return error.code

    outcomes = run_together(THREADS, draw_once)

    assert all(isinstance(o, str) for o in outcomes), outcomes
    counts = Counter(outcomes)
    assert set(counts) <= {"drawn", "insufficient_quantity"}, counts
    with scene.session() as session:
        container = session.get(Container, scene.container_id)
        assert container is not None
        assert container.remaining >= 0
        assert counts["drawn"] * DOSE + container.remaining == Decimal(100)
        assert counts["drawn"] == 14 and container.remaining == Decimal(2)
        draws = session.scalars(select(Movement).where(Movement.kind == MovementKind.DRAW)).all()
        assert len(draws) == counts["drawn"]
        assert sorted(m.balance_after for m in draws) == [Decimal(100) - DOSE * n for n in range(14, 0, -1)]
        assert ledger.find_balance_mismatches(session) == []


KEYS = 6
PER_KEY = 4  # 24 requests: every key sent by four threads at once


def test_retries_with_one_idempotency_key_draw_once_and_answer_alike(scene: Scene):
    client_for = [scene.app.test_client() for _ in range(KEYS * PER_KEY)]

    def post(i: int) -> tuple[int, bytes]:
        key = i % KEYS
        response = client_for[i].post(
            f"/api/v1/treatments/{scene.treatment_ids[key]}/draws",
            data=json.dumps({"container": scene.container_id, "quantity": "5", "unit": "U", "area": "forehead"}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {scene.token}", "Idempotency-Key": f"draw-{key}"},
        )
        return response.status_code, response.get_data()

    answers = run_together(KEYS * PER_KEY, post)

    assert all(isinstance(a, tuple) for a in answers), answers
    for key in range(KEYS):
        group = {answers[i] for i in range(key, KEYS * PER_KEY, KEYS)}
        assert len(group) == 1, f"key {key} answered differently: {group}"
        status, body = group.pop()
        assert status == 201, body
        assert json.loads(body)["treatment_id"] == scene.treatment_ids[key]
    with scene.session() as session:
        per_treatment = dict(
            session.execute(select(Draw.treatment_id, func.count(Draw.id)).group_by(Draw.treatment_id)).all()
        )
        assert per_treatment == {scene.treatment_ids[key]: 1 for key in range(KEYS)}
        assert session.scalar(select(func.count(IdempotencyRecord.id))) == KEYS
        container = session.get(Container, scene.container_id)
        assert container is not None and container.remaining == Decimal(100 - 5 * KEYS)
        assert ledger.find_balance_mismatches(session) == []


def test_two_patients_racing_for_a_fresh_single_patient_vial_bind_it_to_one(scene: Scene):
    with scene.session() as session:
        product = session.scalar(select(Product).where(Product.name == "Botox Cosmetic 100 U"))
        assert product is not None
        product.is_multi_patient = False
        session.commit()
    with scene.app.app_context(), scene.session() as session:
        # A second vial, fresh for this race: the scene's vial is shared.
        nurse = session.get(User, scene.nurse_id)
        receipt_container = session.get(Container, scene.container_id)
        assert nurse is not None and receipt_container is not None
        now = utcnow()
        receipt = receiving.receive(
            session, actor=nurse, scope=Scope.everything(), location_id=receipt_container.location_id, containers=1,
            now=now, gtin=receipt_container.product.gtins[0].gtin, lot_number="RACE1", expiry=FAR,
        )
        fresh_id = receipt.containers[0].id
        cart.reconstitute(session, actor=nurse, scope=Scope.everything(), container_id=fresh_id,
                          diluent_ml=Decimal("2.5"), now=now)
        session.commit()

    def draw_once(i: int) -> str:
        with scene.app.app_context(), scene.session() as session:
            nurse = session.get(User, scene.nurse_id)
            assert nurse is not None
            try:
                cart.draw(session, actor=nurse, scope=Scope.for_user(nurse), treatment_id=scene.treatment_ids[i % 2],
                          container_id=fresh_id, quantity=Decimal(4), unit="U", area="glabella", now=utcnow())
                session.commit()
                return f"drawn-{i % 2}"
            except DomainError as error:
                session.rollback()
                return error.code

    outcomes = Counter(run_together(8, draw_once))
    winners = [o for o in outcomes if o.startswith("drawn")]
    assert len(winners) == 1 and outcomes[winners[0]] == 4, outcomes
    assert outcomes["container_other_patient"] == 4, outcomes
    with scene.session() as session:
        container = session.get(Container, fresh_id)
        assert container is not None and container.remaining == Decimal(84)
        winner_treatment = scene.treatment_ids[int(winners[0][-1])]
        assert container.opened_treatment_id == winner_treatment
        assert ledger.find_balance_mismatches(session) == []


def test_a_quarantine_waits_for_a_draw_under_way_and_binds_every_later_one(scene: Scene):
    """The lot row is share-locked with the container, so no dose slips past a recall's patient list."""
    if scene.app.extensions["vialog_db"].engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises every writer already (BEGIN IMMEDIATE)")
    from recall import services as recalls

    drawing = scene.session()
    nurse = drawing.get(User, scene.nurse_id)
    container = ledger.lock_container(drawing, scene.container_id, Scope.everything())  # a draw under way
    lot_id = container.lot_id

    def quarantine() -> None:
        with scene.session() as session:
            safety = session.scalar(select(User).where(User.username == "safety"))
            recalls.quarantine(session, actor=safety, lot_id=lot_id, reason="regulator alert", now=utcnow())
            session.commit()

    waiting = threading.Thread(target=quarantine)
    waiting.start()
    waiting.join(timeout=0.7)
    assert waiting.is_alive(), "the quarantine did not wait for the draw under way"
    cart.draw(drawing, actor=nurse, scope=Scope.everything(), treatment_id=scene.treatment_ids[0],
              container_id=scene.container_id, quantity=DOSE, unit="U", area="glabella", now=utcnow())
    drawing.commit()
    drawing.close()
    waiting.join(timeout=10)
    assert not waiting.is_alive()

    with scene.session() as later:
        with pytest.raises(DomainError) as refused:
            cart.draw(later, actor=later.get(User, scene.nurse_id), scope=Scope.everything(),
                      treatment_id=scene.treatment_ids[1], container_id=scene.container_id, quantity=DOSE,
                      unit="U", area="glabella", now=utcnow())
        assert refused.value.code == "lot_quarantined"


def draw_waiting_for(scene: Scene, holder: Session, treatment_id: int, what: str) -> BaseException | None:
    """Starts a draw from the scene's vial for ``treatment_id`` while ``holder`` has changed (and so locks) a row
    the draw needs; checks the draw waits, commits ``holder``, and returns how the draw ended (None: drawn)."""
    outcome: list[BaseException | None] = []

    def draw() -> None:
        with scene.session() as session:
            try:
                cart.draw(session, actor=session.get(User, scene.nurse_id), scope=Scope.everything(),
                          treatment_id=treatment_id, container_id=scene.container_id, quantity=DOSE, unit="U",
                          area="glabella", now=utcnow())
                session.commit()
                outcome.append(None)
            except BaseException as error:  # a deadlock would surface here as a database error
                outcome.append(error)

    drawing = threading.Thread(target=draw)
    drawing.start()
    drawing.join(timeout=0.7)
    assert drawing.is_alive(), f"the draw did not wait for {what}"
    holder.commit()
    holder.close()
    drawing.join(timeout=10)
    assert not drawing.is_alive()
    return outcome[0]


def test_a_draw_that_waits_for_a_quarantine_under_way_is_refused_when_it_commits(scene: Scene):
    """The other direction: the draw locks container and lot in one statement, and after waiting for the
    lot PostgreSQL re-reads it, so the draw sees the status the quarantine committed."""
    if scene.app.extensions["vialog_db"].engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises every writer already (BEGIN IMMEDIATE)")
    from recall import services as recalls

    quarantining = scene.session()
    safety = quarantining.scalar(select(User).where(User.username == "safety"))
    lot_id = quarantining.get(Container, scene.container_id).lot_id
    recalls.quarantine(quarantining, actor=safety, lot_id=lot_id, reason="regulator alert", now=utcnow())
    quarantining.flush()  # the lot row is updated and locked, not yet committed

    outcome = draw_waiting_for(scene, quarantining, scene.treatment_ids[0], "the quarantine under way")

    assert isinstance(outcome, DomainError) and outcome.code == "lot_quarantined", outcome
    with scene.session() as session:
        assert session.scalar(select(func.count(Draw.id)).where(Draw.container_id == scene.container_id)) == 0


def test_a_draw_that_waits_for_its_treatment_being_closed_is_refused_when_it_commits(scene: Scene):
    """The draw locks its treatment and container in one statement, the treatment first, as closing does:
    a draw arriving while its treatment is being closed waits, then sees the treatment closed (never a
    deadlock, never a dose in a closed treatment)."""
    if scene.app.extensions["vialog_db"].engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises every writer already (BEGIN IMMEDIATE)")
    treatment_id = scene.treatment_ids[0]
    closing = scene.session()
    cart.close_treatment(closing, actor=closing.get(User, scene.nurse_id), scope=Scope.everything(),
                         treatment_id=treatment_id, now=utcnow())
    closing.flush()  # the treatment row is updated and locked, not yet committed

    outcome = draw_waiting_for(scene, closing, treatment_id, "the treatment being closed")

    assert isinstance(outcome, DomainError) and outcome.code == "treatment_closed", outcome
    with scene.session() as session:
        assert session.scalar(select(func.count(Draw.id)).where(Draw.treatment_id == treatment_id)) == 0
