"""A write whose unique key was looked up free before it: one home for losing that race gracefully.

Another request may take the same key (a username, a product's or a supplier's name, a pack serial) between the
look-up and the write, and the database's unique index then refuses the second. The write runs in a savepoint, so
its rollback takes out only what was made inside, and the look-ups run again: the one that now finds the other's
row raises the domain error a caller reads (409 with what holds the key), never a 500. A violation none of them
explains is another constraint's, raised as it came.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

__all__ = ["held_once"]


@contextlib.contextmanager
def held_once(session: Session, *look_ups: Callable[[], None]) -> Iterator[None]:
    """Around making the rows that hold the key (added or changed inside the block, flushed at its end); on a
    unique violation each of ``look_ups`` runs again, the first to find the key taken raising its error."""
    try:
        with session.begin_nested():
            yield
            session.flush()
    except IntegrityError:
        for look_up in look_ups:
            look_up()
        raise
