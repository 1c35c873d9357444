"""The cursor Vialog's PostgreSQL connections use (extensions._configure_postgresql)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

import psycopg


class DescribedOnReadCursor(psycopg.Cursor[Any]):
    """A psycopg cursor whose ``description`` builds its columns only when one is read.

    SQLAlchemy asks every result for its description, but reads its columns only the first time a statement
    runs (then it keeps the result's shape with the compiled statement). psycopg builds a Column for each
    column of each result all the same: 6.9% of a draw's time by py-spy, most of it the lock's five rows; the
    draw is 3% faster without it (docs/performance.md, fourteenth pass).
    """

    @property
    def description(self) -> Sequence[psycopg.Column] | None:  # type: ignore[override]  # DB-API: a sequence
        result = self.pgresult
        if result is None or not result.nfields:
            return super().description  # no result, or none with columns: psycopg's own answer
        return _Description(self, result)


class _Description(Sequence[psycopg.Column]):
    """The columns of one result of a cursor, built by psycopg the first time one is read."""

    __slots__ = ("_columns", "_cursor", "_result")

    def __init__(self, cursor: psycopg.Cursor[Any], result: Any) -> None:
        self._cursor, self._result = cursor, result
        self._columns: list[psycopg.Column] | None = None

    def __len__(self) -> int:
        return int(self._result.nfields)

    @overload
    def __getitem__(self, index: int) -> psycopg.Column: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[psycopg.Column]: ...
    def __getitem__(self, index: int | slice) -> psycopg.Column | Sequence[psycopg.Column]:
        if self._columns is None:
            if self._cursor.pgresult is not self._result:  # psycopg describes the cursor's current result only
                raise RuntimeError("a result's description read after its cursor ran another statement")
            self._columns = psycopg.Cursor.description.fget(self._cursor)  # type: ignore[attr-defined]
        assert self._columns is not None
        return self._columns[index]
