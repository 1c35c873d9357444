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
    """Each recorded statement as its verb and first table: "SELECT treatments", "INSERT movements", ...; a
    statement with a data-modifying WITH says what rode along: "INSERT movements (with UPDATE containers)"."""
    out = []
    for statement, _ in sent:
        words = _words_at_depth(statement)
        if words[0][0].upper() == "WITH":
            inner = [f"{word.upper()} {words[i + (2 if word.upper() == 'INSERT' else 1)][0]}"
                     for i, (word, depth) in enumerate(words) if depth == 1 and word.upper() in _WRITES]
            # The statement itself: the first verb at the top level after the WITH's parts.
            main = next(i for i, (word, depth) in enumerate(words) if depth == 0 and word.upper() in _VERBS)
            kind = _kind(words[main:])
            out.append(f"{kind} (with {', '.join(inner)})" if inner else kind)
            continue
        out.append(_kind(words))
    return out


_WRITES = ("INSERT", "UPDATE", "DELETE")
_VERBS = ("SELECT", *_WRITES)


def _words_at_depth(statement: str) -> list[tuple[str, int]]:
    """The statement's words without parentheses, each with how many parentheses enclose it."""
    words, depth = [], 0
    for raw in statement.replace("(", " ( ").replace(")", " ) ").split():
        if raw == "(":
            depth += 1
        elif raw == ")":
            depth -= 1
        else:
            words.append((raw, depth))
    return words


def _kind(words: list[tuple[str, int]]) -> str:
    verb, top = words[0][0].upper(), words[0][1]
    if verb == "SELECT":
        table = next(("(" * (words[i + 1][1] - top) + words[i + 1][0] for i, (word, depth) in enumerate(words)
                      if word.upper() == "FROM" and depth == top and i + 1 < len(words)), "")
    elif verb == "INSERT":
        table = words[2][0]
    elif verb == "UPDATE":
        table = words[1][0]
    else:
        table = ""
    return f"{verb} {table}".strip()


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


def movement_container_and_draw(session: Session) -> list[str]:
    """How the draw's hot path writes its movement, its container and the draw (inventory/services/ledger.py
    ``append``): one statement on PostgreSQL, the draw's INSERT with the container's UPDATE and the movement's
    INSERT riding in its WITH (the movement's id reserved by the lock); three on SQLite, where a statement is a
    function call, not a round trip."""
    if session.bind.dialect.name == "postgresql":
        return ["INSERT draws (with UPDATE containers, INSERT movements)"]
    return ["INSERT movements", "UPDATE containers", "INSERT draws"]


def token_and_claim(session: Session) -> list[str]:
    """How a keyed API write starts (inventory/services/auth.py ``user_for_token_claiming``): the token's user
    and her clinics, and the key claimed (ON CONFLICT DO NOTHING), in one statement on PostgreSQL, the INSERT
    riding in the look-up's WITH; two on SQLite."""
    if session.bind.dialect.name == "postgresql":
        return ["SELECT api_tokens (with INSERT idempotency_records)"]
    return ["SELECT api_tokens", "INSERT idempotency_records"]
