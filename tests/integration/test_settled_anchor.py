"""The movements anchor ``vialog verify`` prints must stay true. A draw takes its movement's id with its
container's lock and commits a moment later, so while it is under way another draw may commit a higher id:
an anchor at the newest id then visible would be broken by the first draw's commit, and the next verify would
report tampering that never happened. ``audit_chain.settled_movement_id`` waits those writers out.

Real threads and commits on PostgreSQL (SQLite serialises writers: no draw commits while another is under
way)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select

from inventory.cart import service as cart
from inventory.models import Movement, utcnow
from inventory.services import audit_chain
from inventory.services.permissions import Scope
from tests import factories
from tests.conftest import db_backend_name

pytestmark = pytest.mark.concurrency


def test_an_anchor_taken_while_a_draw_is_under_way_holds_once_it_commits(committed_app: Flask):
    if db_backend_name(committed_app) != "postgresql":
        pytest.skip("SQLite serialises every writer already (BEGIN IMMEDIATE)")
    database = committed_app.extensions["vialog_db"]
    with database.sessionmaker() as setup:
        world = factories.build_world(setup)
        now = utcnow()
        vials = [factories.reconstitute(world, world.container("botox", now=now), at=now) for _ in range(2)]
        treatments = [factories.start_treatment(world, f"P-A{i}", at=now) for i in range(2)]
        nurse = world.users["nurse"]
        setup.commit()
        ids = [(t.id, v.id) for t, v in zip(treatments, vials)]
        nurse_id = nurse.id

    def draw(session, slot):
        treatment_id, container_id = slot
        return cart.draw(session, actor=session.get(type(nurse), nurse_id), scope=Scope.everything(),
                         treatment_id=treatment_id, container_id=container_id, quantity=Decimal("2"), unit="U",
                         area="glabella", now=utcnow())

    under_way, later = database.sessionmaker(), database.sessionmaker()
    first = draw(under_way, ids[0])  # its movement written with the id its lock took, not committed
    second = draw(later, ids[1])
    later.commit()  # a higher id committed while the lower one is still under way
    assert second.draw.movement_id > first.draw.movement_id

    settled: dict[str, int | None] = {}
    waiting = threading.Thread(target=lambda: settled.update(id=audit_chain.settled_movement_id(database.engine)))
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive(), "the anchor was read while a draw was under way"
    under_way.commit()
    waiting.join(10)
    assert not waiting.is_alive()
    assert settled["id"] == second.draw.movement_id

    with database.sessionmaker() as reader:
        anchor = audit_chain.Anchor("movements", settled["id"],
                                    audit_chain.movements_digest(reader, settled["id"]))
        assert reader.scalar(select(func.count(Movement.id)).where(
            Movement.id.in_([first.draw.movement_id, second.draw.movement_id]))) == 2
    with database.sessionmaker() as again:  # later draws add higher ids: the anchor still holds
        draw(again, ids[0])
        again.commit()
        assert audit_chain.check_anchor(again, anchor) is None
    under_way.close()
    later.close()


def test_verify_prints_the_settled_anchor_and_it_checks_out(committed_app: Flask):
    database = committed_app.extensions["vialog_db"]
    with database.sessionmaker() as setup:
        world = factories.build_world(setup)
        now = utcnow()
        vial = factories.reconstitute(world, world.container("botox", now=now), at=now)
        treatment = factories.start_treatment(world, "P-V", at=now)
        factories.draw(world, treatment, vial, "3", at=now)
        setup.commit()
        newest = setup.scalar(select(func.max(Movement.id)))
    runner = committed_app.test_cli_runner()
    result = runner.invoke(args=["verify"])
    assert result.exit_code == 0, result.output
    anchors = [line.split()[1] for line in result.output.splitlines() if line.startswith("anchor ")]
    assert [a for a in anchors if a.startswith("movements:")] == [
        next(a for a in anchors if a.startswith(f"movements:{newest}:"))]
    again = runner.invoke(args=["verify", *(f"--anchor={a}" for a in anchors)])
    assert again.exit_code == 0, again.output
