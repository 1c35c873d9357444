"""A scan of a Vialog label reads its container, lot, product, location and clinic in one statement.

Behaviour, not timing (docs/performance.md "Scan"): the clinic's time zone judges the lot's
expiry, and loading it lazily cost a second round trip on every label scanned at the cart.
"""

from __future__ import annotations

from sqlalchemy import event

from inventory.services import scanning
from inventory.services.permissions import Scope
from tests.factories import NOW


def test_a_label_scan_is_one_statement_and_finds_everything(world, session):
    container = world.container("botox")
    label, expected_id, lot, product = container.label_code, container.id, container.lot.number, container.product.name
    session.expire_all()  # nothing already in the identity map
    statements: list[str] = []
    connection = session.connection()

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(connection, "before_cursor_execute", record)
    try:
        result = scanning.scan(session, label, scope=Scope.everything(), now=NOW, timezone="Europe/London")
        found = result.container
        assert (found.id, found.lot.number, found.product.name) == (expected_id, lot, product)
        assert found.location.name and found.clinic.timezone == "Europe/London"
    finally:
        event.remove(connection, "before_cursor_execute", record)
    assert len(statements) == 1, [s.split("FROM")[0][:80] for s in statements]
