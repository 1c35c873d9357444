"""Vialog's PostgreSQL cursor describes a result's columns only when they are read (inventory/postgresql_cursor.py).

SQLAlchemy reads a statement's columns the first time it runs and keeps its shape; every later run only asks
whether the result has columns. What the cursor answers must read as psycopg's own description wherever it is
read, and never describe another statement's result.
"""

import psycopg
import pytest
import sqlalchemy as sa

from inventory.extensions import db
from inventory.postgresql_cursor import DescribedOnReadCursor


@pytest.fixture
def pg_connection(app, backend):
    if backend != "postgresql":
        pytest.skip("PostgreSQL's cursor")
    with app.app_context(), db.engine.connect() as connection:
        yield connection


def test_the_description_reads_as_psycopgs_own(pg_connection):
    cursor = pg_connection.connection.dbapi_connection.cursor()
    assert isinstance(cursor, DescribedOnReadCursor)  # every connection of Vialog's engine
    cursor.execute("SELECT 1 AS one, 'x'::text AS letter, now() AS at")
    described = cursor.description

    assert len(described) == 3
    assert [column.name for column in described] == ["one", "letter", "at"]
    assert described[1].name == "letter" and described[-1].name == "at"
    assert [column.name for column in described[:2]] == ["one", "letter"]
    assert [tuple(column) for column in described] == [
        tuple(column) for column in psycopg.Cursor.description.fget(cursor)
    ]


def test_a_result_without_columns_is_described_as_psycopg_describes_it(pg_connection):
    cursor = pg_connection.connection.dbapi_connection.cursor()
    cursor.execute("SET LOCAL statement_timeout = '5s'")
    assert cursor.description is None
    cursor.execute("SELECT")  # a result of no columns
    assert cursor.description == []


def test_a_description_read_after_its_cursor_ran_another_statement_is_refused(pg_connection):
    cursor = pg_connection.connection.dbapi_connection.cursor()
    cursor.execute("SELECT 1 AS first")
    described = cursor.description
    cursor.execute("SELECT 2 AS second, 3 AS third")

    with pytest.raises(RuntimeError, match="another statement"):
        described[0]


def test_sqlalchemy_reads_each_statements_columns_first_run_and_cached(pg_connection):
    """The same statement three times: its columns read the first time, its kept shape the next ones."""
    statement = sa.select(sa.literal(7).label("seven"), sa.literal("x").label("letter"), sa.func.current_database())
    for _ in range(3):
        row = pg_connection.execute(statement).one()
        assert row._mapping["seven"] == 7 and row.letter == "x" and row[2].startswith("vialog_test")
