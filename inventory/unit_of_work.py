"""One commit point per entry: the request and the CLI command. Services flush, never commit.

A request's work is committed when its view answers with a success or a redirect (status < 400)
and did not call ``mark_refused()``; anything else (a 4xx or 5xx answer, an exception) is discarded
(``discard``: rolled back, or committed when it wrote nothing, which keeps nothing either).
``keep_despite_refusal()`` is the one way to save the work of a request that answers a 4xx.

The commit runs inside ``Flask.dispatch_request``, right after the view, and not in an
``after_request`` hook: an exception there skips the error handlers (Flask 3's ``finalize_request``
lets it escape to ``handle_exception``, which answers a bare 500 or, under TESTING, re-raises).
Inside dispatch, a commit that fails (a lost connection, a constraint) reaches the same handlers as
any view error (blueprints/errors.py: 503 database_unavailable or 500), so it never leaves a success
answer.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from flask import Flask, Response, current_app, g
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from inventory.extensions import db, wrote_nothing


@dataclass
class _Verdict:
    refused: bool = False
    kept: bool = False
    afterwards: list[Callable[[Session], object]] = field(default_factory=list)


def _verdict() -> _Verdict:
    return g.setdefault("unit_of_work", _Verdict())


def discard() -> None:
    """Ends the current transaction keeping nothing of it: how a refused request ends.

    A rollback, unless the transaction wrote nothing (``extensions.wrote_nothing``); that one is committed,
    which for it is the same thing at the same cost. The difference is psycopg's: it forgets a connection's
    prepared statements at every ROLLBACK, so after a refused scan the next requests on that connection
    would plan their statements afresh (a label scan 1.4 -> 3.5 ms here, docs/performance.md).
    """
    session = db.session
    if wrote_nothing(session):
        session.commit()
    else:
        session.rollback()


def mark_refused() -> None:
    """This request was refused: roll back what it did, even though it answers with a success or a
    redirect (the cart answers a refusal with a flash and a 302).

    The rollback happens now as well as at the end, so a form re-rendered after the refusal shows
    what is saved, not what the refused call had flushed.
    """
    _verdict().refused = True
    discard()


def keep_despite_refusal() -> None:
    """Commit what this request did although it answers with a 4xx: a failed sign-in must count
    against the throttle. ``mark_refused`` and exceptions still roll back."""
    _verdict().kept = True


def record_despite_refusal(write: Callable[[Session], object]) -> None:
    """Writes ``write(session)`` once the request's own work is committed or rolled back, and commits it
    alone: a record that must outlive the refusal it explains (a pack serial seen twice, a watched lot
    scanned: counterfeit signs for the safety lead). Nothing else of the refused request is kept."""
    _verdict().afterwards.append(write)


def _write_afterwards() -> None:
    writes = _verdict().afterwards
    if writes:
        for write in writes:
            write(db.session)
        db.session.commit()


def _should_commit(status: int) -> bool:
    verdict = _verdict()
    return not verdict.refused and (status < 400 or verdict.kept)


def _dispatch_in_unit_of_work(dispatch: Callable[[], ResponseReturnValue]) -> Response:
    g.unit_of_work = _Verdict()  # a fresh verdict, even where requests share an app context
    try:
        response = current_app.make_response(dispatch())
        if _should_commit(response.status_code):
            db.session.commit()
        else:
            discard()
    except BaseException:
        # Before the error handlers run: their page must not meet a session that needs a rollback.
        discard()
        _write_afterwards()
        raise
    _write_afterwards()
    return response


def init_app(app: Flask) -> None:
    """Runs every view of ``app`` inside the request's unit of work."""
    dispatch = app.dispatch_request

    @functools.wraps(dispatch)
    def dispatch_request() -> Response:
        return _dispatch_in_unit_of_work(dispatch)

    app.dispatch_request = dispatch_request  # type: ignore[method-assign]


@contextlib.contextmanager
def command() -> Iterator[Session]:
    """One CLI command's transaction: committed when the block ends, rolled back when it raises."""
    session = db.session
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    session.commit()
