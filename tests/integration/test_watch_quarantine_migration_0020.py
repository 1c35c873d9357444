"""0020_quarantine_watched_lots on a database of its own: a watch-list entry stored with a space before 0019
(``XE 77812``) never quarantined lot ``XE77812`` in stock; upgrading to head quarantines it as adding the entry
does today (the reason, ``lot.quarantined`` and ``lot.watch_quarantined`` with no actor), hashed and sealed so
that ``vialog verify`` still checks out. Lots already quarantined or recalled, another product's lot of the same
number, and an entry matching no lot are left alone."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import select

from inventory.counterfeit import service as counterfeit
from inventory.extensions import db
from inventory.models import AuditEvent, Lot, LotStatus
from inventory.services.permissions import Scope
from recall import services as recall
from tests import factories
from tests.factories import NOW

SOURCE = "EMA alert 2026/118"
BEFORE_0019 = "0018_transfer_refusal"


def _watch_as_before_0019(world: factories.World, *entries: tuple[int, str]) -> None:
    """Watch-list rows as the code before 0019 stored them: the key trimmed and upper-cased, spaces kept."""
    with db.engine.begin() as connection:
        for product_id, typed in entries:
            connection.execute(sa.text(
                "INSERT INTO watched_lots (product_id, lot_number, number_key, source, added_by_id, added_at) "
                "VALUES (:p, :typed, :key, :source, :u, :at)"),
                {"p": product_id, "typed": typed, "key": typed.strip().upper(), "source": SOURCE,
                 "u": world.users["safety"].id, "at": NOW})


def _lot(lot_id: int) -> Lot:
    db.session.expire_all()
    lot = db.session.get(Lot, lot_id)
    assert lot is not None
    return lot


def _events_after(event_id: int) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.id > event_id).order_by(AuditEvent.id)))


def _last_event_id() -> int:
    return db.session.scalar(select(sa.func.max(AuditEvent.id))) or 0


def _verify(app: Flask):
    """``vialog verify``, in this app context: its session is closed after, so a migration can lock the file."""
    try:
        return app.test_cli_runner().invoke(args=["verify"])
    finally:
        db.session.close()


def test_0020_quarantines_an_active_lot_watched_before_0019_and_nothing_else(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        world = factories.build_world(db.session)
        watched = world.receive(lot="XE77812", containers=3).containers
        factories.send_transfer(world, watched[:1])  # one box on the road to New York
        held = world.receive(lot="QQ4411").containers[0].lot
        recall.quarantine(db.session, actor=world.users["safety"], lot_id=held.id, reason="Box found warm", now=NOW)
        recalled = world.receive(lot="RC5522").containers[0].lot
        recalled.status, recalled.status_reason, recalled.status_changed_at = LotStatus.RECALLED, "FSN 12", NOW
        twin = world.receive("dysport", lot="XE77812").containers[0].lot
        botox, lot_id, held_id, recalled_id, twin_id = (world.botox.id, watched[0].lot_id, held.id, recalled.id,
                                                         twin.id)
        db.session.commit()
        db.session.close()

        downgrade(directory=directory, revision=BEFORE_0019)
        _watch_as_before_0019(world, (botox, "xe 77812"), (botox, "QQ 4411"), (botox, "rc 5522"), (botox, "ZZ 999"))
        last_event = _last_event_id()
        db.session.close()
        started = dt.datetime.now(dt.UTC)
        upgrade(directory=directory)

        lot = _lot(lot_id)
        reason = f"On the counterfeit watch list: {SOURCE}"
        assert (lot.status, lot.status_reason) == (LotStatus.QUARANTINED, reason)
        assert lot.status_changed_at is not None and started <= lot.status_changed_at <= dt.datetime.now(dt.UTC)
        assert (_lot(held_id).status, _lot(held_id).status_reason, _lot(held_id).status_changed_at) == (
            LotStatus.QUARANTINED, "Box found warm", NOW)
        assert (_lot(recalled_id).status, _lot(recalled_id).status_reason) == (LotStatus.RECALLED, "FSN 12")
        assert (_lot(twin_id).status, _lot(twin_id).status_reason) == (LotStatus.ACTIVE, None)

        entry_id = db.session.scalar(sa.text("SELECT id FROM watched_lots WHERE number_key = 'XE77812'"))
        events = _events_after(last_event)
        assert [e.action for e in events] == ["lot.quarantined", "lot.watch_quarantined"]
        for event in events:
            assert (event.actor_id, event.clinic_id, event.object_type, event.object_id, event.at) == (
                None, None, "lot", str(lot_id), lot.status_changed_at)
            assert event.details == {
                "lot_id": lot_id, "lot_number": "XE77812", "product": "Botox Cosmetic 100 U", "from": "active",
                "to": "quarantined", "reason": reason, "watched_lot_id": entry_id,
                "containers_holding_stock": 3, "containers_in_transit": 1,
            }

        # What the safety lead's pages read: the watch list's signs and the recall change log.
        sign = counterfeit.signs(db.session)[0]
        assert (sign.event.action, sign.product, sign.lot_number, sign.actor) == (
            "lot.watch_quarantined", "Botox Cosmetic 100 U", "XE77812", None)
        changes = recall.access_log(db.session, scope=Scope.everything(), actions=recall.CHANGE_ACTIONS)
        assert (changes[0].event.id, changes[0].event.details["reason"]) == (events[0].id, reason)
        db.session.close()

        result = _verify(committed_app)
        assert result.exit_code == 0, result.output
        assert "Every hash chain, trigger and balance checks out." in result.output


def test_0020_never_vouches_for_a_lot_changed_outside_vialog(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        world = factories.build_world(db.session)
        lot_id = world.receive(lot="XE77812").containers[0].lot_id
        db.session.commit()
        db.session.close()
        assert _verify(committed_app).exit_code == 0

        downgrade(directory=directory, revision=BEFORE_0019)
        _watch_as_before_0019(world, (world.botox.id, "XE 77812"))
        with db.engine.begin() as connection:  # an expiry changed in the database, behind the seal's back
            connection.execute(sa.text("UPDATE lots SET expiry = '2030-01-31' WHERE id = :id"), {"id": lot_id})
        upgrade(directory=directory)

        assert _lot(lot_id).status is LotStatus.QUARANTINED  # the safety comes first
        db.session.close()
        result = _verify(committed_app)
        assert result.exit_code == 1
        assert f"lots row {lot_id} (seal): row_seal does not match the row" in result.output
        assert "1 problem:" in result.output  # the events the upgrade wrote chain as the app's do
