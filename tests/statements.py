"""What a piece of code sends to the database, and how PostgreSQL would run it: for tests that guard
statement counts (N+1 loads) and index use (behaviour, never timing; docs/performance.md)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import event
from sqlalchemy.orm import Session


@contextlib.contextmanager
def recorded(session: Session) -> Iterator[list[tuple[str, object]]]:
    """Every statement, with its parameters, that the session's connection sends inside the block."""
    sent: list[tuple[str, object]] = []
    connection = session.connection()

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(connection, "before_cursor_execute", record)


def kinds(sent: list[tuple[str, object]]) -> list[str]:
    """Each recorded statement as its verb and first table: "SELECT treatments", "INSERT movements", ..."""
    out = []
    for statement, _ in sent:
        words = statement.split()
        verb = words[0].upper()
        if verb == "WITH" and "INSERT" in words:  # a data-modifying WITH: its INSERT, with what rode along
            inner = [f"{word.lstrip('(')} {words[i + 1]}" for i, word in enumerate(words)
                     if word.lstrip("(") in ("UPDATE", "DELETE")]
            out.append(f"INSERT {words[words.index('INSERT') + 2]} (with {', '.join(inner)})")
            continue
        if verb == "SELECT":
            table = words[words.index("FROM") + 1] if "FROM" in words else ""
        elif verb == "INSERT":
            table = words[2]
        elif verb == "UPDATE":
            table = words[1]
        else:
            table = ""
        out.append(f"{verb} {table}".strip())
    return out


def plan(session: Session, statement: str, parameters: object, *, without: tuple[str, ...] = ()) -> str:
    """PostgreSQL's plan with sequential scans off and the ``without`` indexes dropped (inside the test's
    rolled-back transaction): the planner then shows which index it *can* use, not what is cheapest on a
    test-sized table or how it breaks a tie between two indexes of the same cost."""
    connection = session.connection()
    for index in without:
        connection.exec_driver_sql(f"DROP INDEX {index}")
    connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
    try:
        rows = connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
    finally:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = on")
    return "\n".join(row[0] for row in rows)


def movement_and_container(session: Session) -> list[str]:
    """How the draw's hot path writes its movement and its container (inventory/services/ledger.py ``append``):
    one statement on PostgreSQL, the UPDATE riding in the INSERT's WITH; two on SQLite, where a statement is a
    function call, not a round trip."""
    if session.bind.dialect.name == "postgresql":
        return ["INSERT movements (with UPDATE containers)"]
    return ["INSERT movements", "UPDATE containers"]

