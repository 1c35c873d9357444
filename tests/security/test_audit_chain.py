"""Tamper evidence: hash-chained movements and audit events, append-only tables, ``vialog verify``."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from inventory.models import AuditEvent, Container, Movement, MovementKind, User
from inventory.services import audit_chain, ledger
from inventory.services.audit_chain import GENESIS
from inventory.services.permissions import Scope
from tests import factories
from tests.factories import NOW


def _movements(session: Session, container_id: int) -> list[Movement]:
    session.expire_all()
    return list(session.scalars(select(Movement).where(Movement.container_id == container_id).order_by(Movement.id)))


def _events(session: Session) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _record(session: Session, world, container_id: int, quantity: str, *, kind=MovementKind.ADJUST, flush=True):
    container = ledger.lock_container(session, container_id, Scope.everything())
    movement = ledger.record(session, container, kind=kind, quantity=Decimal(quantity), actor=world.users["manager"],
                             at=NOW, reason="count", note="counted")
    if flush:
        session.flush()
    return movement


def _event(session: Session, world, action: str = "lot.status_changed", **details) -> AuditEvent:
    event = AuditEvent(at=NOW, actor_id=world.users["safety"].id, clinic_id=world.clinic.id, action=action,
                       object_type="lot", object_id="7", details=details or None)
    session.add(event)
    return event


def _verify(app: Flask, *args: str):
    return app.test_cli_runner().invoke(args=["verify", *args])


# --- chaining ---------------------------------------------------------------------------


def test_a_containers_movements_are_chained_one_to_the_next(session, world):
    container = world.container("botox")
    _record(session, world, container.id, "-2.5")
    _record(session, world, container.id, "-0.0001")

    first, second, third = _movements(session, container.id)
    assert first.kind is MovementKind.RECEIVE and first.prev_hash == GENESIS
    assert second.prev_hash == first.row_hash and third.prev_hash == second.row_hash
    # Recomputed from the values read back from the database: the encoding does not depend on it.
    for movement in (first, second, third):
        assert len(movement.row_hash) == 64
        assert movement.row_hash == audit_chain.movement_hash(movement.prev_hash, movement)


def test_each_container_has_its_own_chain(session, world):
    one, two = world.receive("botox", containers=2).containers
    _record(session, world, one.id, "-1")
    assert _movements(session, two.id)[0].prev_hash == GENESIS
    assert _movements(session, one.id)[1].prev_hash == _movements(session, one.id)[0].row_hash


def test_several_movements_of_one_container_in_one_flush_chain_in_the_order_they_were_added(session, world):
    container = world.container("botox")
    for quantity in ("-1", "-2", "3", "-4"):
        _record(session, world, container.id, quantity, flush=False)
    session.flush()

    movements = _movements(session, container.id)
    assert [m.quantity for m in movements] == [Decimal(100), Decimal(-1), Decimal(-2), Decimal(3), Decimal(-4)]
    assert [m.balance_after for m in movements] == [Decimal(n) for n in (100, 99, 97, 100, 96)]
    for before, after in zip(movements, movements[1:]):
        assert after.prev_hash == before.row_hash
    assert audit_chain.find_chain_breaks(session)[0] == []


def test_audit_events_form_one_chain_across_flushes(session, world):
    _event(session, world, reason="first")
    session.flush()
    _event(session, world, "recall.viewed", patients=[3, 1], nested={"b": 1, "a": "é"})
    _event(session, world, "recall.exported")
    session.flush()

    everything = _events(session)
    events = everything[-3:]
    before = everything[-4].row_hash if len(everything) > 3 else GENESIS
    assert [e.prev_hash for e in events] == [before, events[0].row_hash, events[1].row_hash]
    assert events[1].details == {"patients": [3, 1], "nested": {"b": 1, "a": "é"}}
    for event in events:
        assert event.row_hash == audit_chain.audit_hash(event.prev_hash, event)


def test_the_canonical_encoding_is_fixed():
    class Row:
        clinic_id, location_id, container_id, lot_id, product_id = 1, 2, 3, 4, 5
        kind, quantity, balance_after, actor_id = MovementKind.DRAW, Decimal("-2.5"), Decimal("97.50000"), 6
        at = dt.datetime(2026, 6, 15, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
        reason = note = treatment_id = reverses_id = None

    # The same movement spelled differently (quantity scale, time zone) hashes alike, and to this value:
    # a changed encoding would make every stored hash fail, so it may never change silently.
    same = Row()
    same.quantity, same.balance_after = Decimal("-2.5000"), Decimal("97.5")
    same.at = dt.datetime(2026, 6, 15, 9, 30, tzinfo=dt.UTC)
    assert audit_chain.movement_hash(GENESIS, Row()) == audit_chain.movement_hash(GENESIS, same)
    assert audit_chain.canonical_value(Decimal("-0")) == "0.0000"
    assert audit_chain.canonical_value(Row.at) == "2026-06-15T09:30:00.000000+00:00"
    assert audit_chain.canonical_json({"b": [1, 2], "a": None}) == '{"a":null,"b":[1,2]}'
    spelled_out = json.dumps(
        ["vialog-movement-v1", GENESIS, "1", "2", "3", "4", "5", "draw", "-2.5000", "97.5000", "6",
         "2026-06-15T09:30:00.000000+00:00", "", "", "", ""],
        separators=(",", ":"),
    )
    assert audit_chain.movement_hash(GENESIS, Row()) == hashlib.sha256(spelled_out.encode()).hexdigest()
    assert audit_chain.movement_hash(GENESIS, Row()) == "61c904125f2b031a4e3175ace3b60230f79e0c2c929178f17dfada3aea490a8d"


# --- the database refuses changes ---------------------------------------------------------


def _refused(session: Session, statement) -> str:
    with pytest.raises(IntegrityError) as raised, session.begin_nested():
        session.execute(statement)
    return str(raised.value.orig)


def test_the_database_refuses_update_and_delete_of_movements_and_audit_events(session, world, backend):
    container = world.container("botox")
    _event(session, world)
    session.flush()

    assert "append-only" in _refused(session, update(Movement).where(Movement.container_id == container.id)
                                     .values(quantity=Decimal(1000)))
    assert "append-only" in _refused(session, delete(Movement).where(Movement.container_id == container.id))
    assert "append-only" in _refused(session, update(AuditEvent).values(action="nothing.happened"))
    assert "append-only" in _refused(session, delete(AuditEvent))
    if backend == "postgresql":
        assert "append-only" in _refused(session, text("TRUNCATE movements CASCADE"))
        assert "append-only" in _refused(session, text("TRUNCATE audit_events"))
    assert len(_movements(session, container.id)) == 1 and _movements(session, container.id)[0].quantity == 100


def test_the_database_refuses_a_movement_without_hashes(session, world):
    container = world.container("botox")
    row = {c: getattr(_movements(session, container.id)[0], c) for c in audit_chain.MOVEMENT_FIELDS}
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(insert(Movement).values(**row))  # Core: bypasses the listener, so no hashes


def test_no_code_path_updates_or_deletes_movements_or_audit_events():
    """The app only ever inserts them (grep the sources for statements aimed at either table)."""
    import re

    root = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"(update|delete)\(\s*(Movement|AuditEvent)\b|session\.delete\(\s*(movement|event)\b")
    offenders = [
        f"{path.relative_to(root)}:{n}"
        for package in ("inventory", "recall")
        for path in (root / package).rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []


# --- vialog verify ------------------------------------------------------------------------


@pytest.fixture
def history(session, world):
    """Receipts, adjustments, a reversal-free history of two containers and two audit events."""
    one, two = world.receive("botox", containers=2).containers
    for quantity in ("-5", "-7.25", "2"):
        _record(session, world, one.id, quantity)
    _record(session, world, two.id, "-10")
    _event(session, world, reason="quarantined")
    _event(session, world, "recall.viewed", patients=[1])
    session.commit()  # the command's session shares the test's connection; the test still rolls back
    return one, two


def test_verify_passes_on_a_clean_history_and_prints_anchors(app, history):
    result = _verify(app)
    assert result.exit_code == 0, result.output
    assert "Every hash chain, trigger and balance checks out." in result.output
    anchors = [line.split()[1] for line in result.output.splitlines() if line.startswith("anchor ")]
    assert [a.split(":")[0] for a in anchors] == ["audit", "movements"]
    again = _verify(app, *sum((["--anchor", a] for a in anchors), []))
    assert again.exit_code == 0, again.output


def _without_guards(session: Session, backend: str) -> None:
    """Tampering as a database superuser would: switch the triggers off inside the test's transaction."""
    if backend == "postgresql":
        session.execute(text("ALTER TABLE movements DISABLE TRIGGER USER"))
        session.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
    else:
        for name in audit_chain.SQLITE_TRIGGERS:
            if not name.endswith("hash_required"):
                session.execute(text(f"DROP TRIGGER {name}"))


def test_verify_reports_an_altered_movement_with_its_row(app, session, world, history, backend):
    one, _ = history
    target = _movements(session, one.id)[2]
    _without_guards(session, backend)
    # The balances still add up: only the hash can tell that the note and the actor were rewritten.
    session.execute(update(Movement).where(Movement.id == target.id).values(note="nothing to see",
                                                                         actor_id=world.users["nurse"].id))
    session.commit()

    result = _verify(app)
    assert result.exit_code == 1
    assert (f"BROKEN movement {target.id} (container {one.id}): row_hash does not match the row: it was altered"
            in result.output)
    assert "MISSING trigger" in result.output


def test_verify_reports_a_removed_movement_at_the_next_row(app, session, history, backend):
    one, _ = history
    movements = _movements(session, one.id)
    _without_guards(session, backend)
    session.execute(delete(Movement).where(Movement.id == movements[2].id))
    session.commit()

    result = _verify(app)
    assert result.exit_code == 1
    assert (f"BROKEN movement {movements[3].id} (container {one.id}): prev_hash does not match movement "
            f"{movements[1].id}" in result.output)
    assert f"BALANCE container {one.id}" in result.output


def test_verify_reports_a_forged_movement_inserted_with_a_made_up_hash(app, session, history):
    _, two = history
    last = _movements(session, two.id)[-1]
    values = {c: getattr(last, c) for c in audit_chain.MOVEMENT_FIELDS}
    values.update(quantity=Decimal(-1), balance_after=last.balance_after - 1, prev_hash=last.row_hash, row_hash="f" * 64)
    forged = session.execute(insert(Movement).values(**values).returning(Movement.id)).scalar_one()
    session.commit()

    result = _verify(app)
    assert result.exit_code == 1
    assert f"BROKEN movement {forged} (container {two.id}): row_hash does not match the row" in result.output


def test_verify_reports_an_altered_audit_event_and_a_broken_anchor(app, session, history, backend):
    clean = _verify(app)
    audit_anchor = next(line.split()[1] for line in clean.output.splitlines() if line.startswith("anchor audit:"))
    event = _events(session)[-2]
    _without_guards(session, backend)
    session.execute(update(AuditEvent).where(AuditEvent.id == event.id).values(details={"reason": "routine"}))
    session.commit()

    result = _verify(app, "--anchor", audit_anchor)
    assert result.exit_code == 1
    assert f"BROKEN audit event {event.id} (audit log): row_hash does not match the row" in result.output


def test_verify_reports_a_rewritten_chain_through_an_anchor(app, session, history, backend):
    """An insider who recomputes every hash after a change passes the chain check, not the anchor."""
    one, _ = history
    clean = _verify(app)
    anchor = next(line.split()[1] for line in clean.output.splitlines() if line.startswith("anchor movements:"))
    movements = _movements(session, one.id)
    _without_guards(session, backend)
    prev = movements[0].row_hash
    for movement in movements[1:]:
        note = "rewritten" if movement is movements[1] else movement.note
        session.execute(update(Movement).where(Movement.id == movement.id).values(note=note))
        session.expire_all()
        reloaded = session.get(Movement, movement.id)
        row_hash = audit_chain.movement_hash(prev, reloaded)
        session.execute(update(Movement).where(Movement.id == movement.id).values(prev_hash=prev, row_hash=row_hash))
        prev = row_hash
    session.execute(update(Container).where(Container.id == one.id).values(chain_head=prev))  # and the head
    session.commit()

    result = _verify(app, "--anchor", anchor)
    assert result.exit_code == 1
    assert "BROKEN" not in result.output
    assert f"ANCHOR {anchor}: the movement chains up to movement" in result.output


def test_verify_reports_a_chain_head_out_of_step_with_the_ledger(app, session, history):
    """The container row carries the hash its next movement chains to: a head that is not the newest movement's
    would chain the next stock change to the wrong row, so verify names it."""
    one, two = history
    newest = _movements(session, one.id)[-1]
    session.execute(update(Container).where(Container.id == one.id).values(chain_head="e" * 64))
    session.execute(update(Container).where(Container.id == two.id).values(chain_head=None))
    session.commit()

    result = _verify(app)
    assert result.exit_code == 1
    assert (f"BROKEN container {one.id} (container {one.id}): chain_head does not match the container's newest "
            "movement: it was altered" in result.output)
    assert f"BROKEN container {two.id} (container {two.id}): chain_head does not match" in result.output
    assert f"movement {newest.id}" not in result.output  # the ledger itself is whole


def test_verify_refuses_a_malformed_anchor(app, history):
    result = _verify(app, "--anchor", "audit:1:short")
    assert result.exit_code == 2 and "not an anchor" in result.output


# --- the global audit chain under real concurrency ----------------------------------------------


@pytest.mark.concurrency
def test_writers_racing_to_add_audit_events_and_movements_keep_every_chain_whole(committed_app):
    sessionmaker = committed_app.extensions["vialog_db"].sessionmaker
    with sessionmaker() as session:
        world = factories.build_world(session)
        container_id = world.container("botox").id
        actor_id = world.users["manager"].id
        session.commit()
    threads, rounds = 12, 3
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            for n in range(rounds):
                with sessionmaker() as session:
                    session.add(AuditEvent(at=NOW, actor_id=actor_id, action="test.race", object_type="thread",
                                           object_id=f"{i}-{n}", details={"thread": i, "round": n}))
                    session.flush()
                    container = ledger.lock_container(session, container_id, Scope.everything())
                    ledger.record(session, container, kind=MovementKind.ADJUST, quantity=Decimal("-0.5"),
                                  actor=session.get(User, actor_id), at=NOW)
                    session.commit()
        except BaseException as error:  # reported below, not lost in a thread
            failures.append(error)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert failures == [] and not any(w.is_alive() for w in workers)

    with committed_app.app_context():
        result = _verify(committed_app)
    assert result.exit_code == 0, result.output
    assert f"{threads * rounds} audit events" in result.output
