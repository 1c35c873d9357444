"""0019_lot_keys_without_spaces on a database of its own: watch-list entries and lots whose keys were stored
with a space (by the code before it) are rewritten without it, so a watched ``XE 77812`` matches lot
``XE77812``; a key whose spaceless form is taken already stays as it was."""

from __future__ import annotations

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from inventory.extensions import db
from inventory.models import Product
from inventory.errors import LotSuspect
from inventory.counterfeit import service as counterfeit
from tests import factories


def _keys(table: str) -> dict[int, str]:
    with db.engine.connect() as connection:
        return dict(connection.execute(sa.text(f"SELECT id, number_key FROM {table}")).all())


def test_0019_rewrites_spaced_keys_and_leaves_a_taken_one(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        world = factories.build_world(db.session)
        lot = world.receive(lot="XE77812").containers[0].lot
        twin = world.receive(lot="AB1").containers[0].lot
        product_id, lot_id, twin_id = lot.product_id, lot.id, twin.id
        db.session.commit()
        db.session.close()

        downgrade(directory=directory, revision="0018_transfer_refusal")
        with db.engine.begin() as connection:  # what the code before this revision stored
            connection.execute(sa.text(
                "INSERT INTO watched_lots (product_id, lot_number, number_key, source, added_by_id, added_at) "
                "VALUES (:p, 'xe 77812', 'XE 77812', 'EMA alert', :u, :at)"),
                {"p": product_id, "u": world.users["safety"].id, "at": factories.NOW})
            spaced = connection.execute(sa.text(
                "INSERT INTO lots (product_id, number, number_key, expiry, status, created_at, row_seal) "
                "SELECT product_id, 'AB 1', 'AB 1', expiry, status, created_at, row_seal FROM lots WHERE id = :id "
                "RETURNING id"),
                {"id": twin_id}).scalar_one()
        upgrade(directory=directory)

        assert set(_keys("watched_lots").values()) == {"XE77812"}
        lots = _keys("lots")
        assert (lots[lot_id], lots[twin_id], lots[spaced]) == ("XE77812", "AB1", "AB 1")
        product = db.session.get(Product, product_id)
        try:
            counterfeit.refuse_watched_lot(db.session, product, "XE77812")
        except LotSuspect as refusal:
            assert refusal.details["lot_number"] == "XE77812"
        else:
            raise AssertionError("the watched lot was not refused after the upgrade")
