"""Counts: blind count sheets, posted by a second manager.

The two-person rule over the API: ``POST /counts`` is the counter's whole sheet at
once. It is stored as *submitted* (counted by the caller) and answered with 201 and
the provisional variances against the ledger as each line was counted; nothing is adjusted yet. Another
manager reviews it (``GET /counts/<id>``) and posts it with ``POST /counts/<id>/post``,
which writes the ADJUST movements and answers with them; the counter posting their
own count gets 409 ``counter_may_not_post``. ``POST /counts/<id>/reopen`` (not by the
counter) sends a submitted count back to its counter as a draft, to correct on the
counts page; a posted count is never changed, only followed by another count.
"""

from __future__ import annotations

from inventory.blueprints.api.core import current_scope, current_user, operation
from inventory.counts.schemas import (
    AdjustmentOut,
    CountIn,
    CountLineOut,
    CountList,
    CountOut,
    CountQuery,
    CountSummaryOut,
)
from inventory.extensions import db
from inventory.models import utcnow
from inventory.counts.models import Count, CountStatus
from inventory.counts import service as counts
from inventory.counts.service import LineSpec
from inventory.services.permissions import Permission


def _count_out(count: Count) -> CountOut:
    if count.status is CountStatus.DRAFT:
        lines = [CountLineOut.blind(line) for line in count.lines]  # a draft sheet is blind
    else:
        lines = [CountLineOut.of(result) for result in counts.results(db.session, count)]
    moves = counts.adjustments_of(db.session, count) if count.is_posted else []
    return CountOut(
        **CountSummaryOut.fields_of(count), lines=lines,
        variances=[line for line in lines if line.variance not in (None, 0)],
        adjustments=[AdjustmentOut.of(m) for m in moves],
    )


@operation("POST", "/counts", summary="Submit a count sheet; another manager posts it",
           permission=Permission.RECEIVE, body=CountIn, response=CountOut, status=201, idempotent=True,
           errors=(404, 409, 422))
def create_count(body: CountIn) -> CountOut:
    count = counts.create_submitted(
        db.session, actor=current_user(), scope=current_scope(), location_id=body.location_id, now=utcnow(),
        note=body.note,
        lines=[
            LineSpec(counted=line.counted, container=str(line.container) if line.container is not None else None,
                     lot_id=line.lot_id, containers=line.containers)
            for line in body.lines
        ],
    )
    return _count_out(counts.get_count(db.session, count.id, current_scope()))


@operation("GET", "/counts", summary="The caller's counts, newest first", permission=Permission.RECEIVE,
           query=CountQuery, response=CountList, errors=(404, 422))
def list_counts(query: CountQuery) -> CountList:
    found = counts.list_counts(db.session, scope=current_scope(), location_id=query.location_id)
    return CountList(counts=[CountSummaryOut.of(c) for c in found])


@operation("GET", "/counts/<int:count_id>", summary="One count with its lines and variances",
           permission=Permission.RECEIVE, response=CountOut, errors=(404,))
def get_count(count_id: int) -> CountOut:
    return _count_out(counts.get_count(db.session, count_id, current_scope()))


@operation("POST", "/counts/<int:count_id>/post", summary="Review and post a submitted count (not its counter)",
           permission=Permission.RECEIVE, response=CountOut, idempotent=True, errors=(404, 409))
def post_count(count_id: int) -> CountOut:
    counts.post(db.session, actor=current_user(), scope=current_scope(), count_id=count_id, now=utcnow())
    return _count_out(counts.get_count(db.session, count_id, current_scope()))


@operation("POST", "/counts/<int:count_id>/reopen", summary="Send a submitted count back to its counter",
           permission=Permission.RECEIVE, response=CountOut, errors=(404, 409))
def reopen_count(count_id: int) -> CountOut:
    counts.reopen(db.session, actor=current_user(), scope=current_scope(), count_id=count_id)
    return _count_out(counts.get_count(db.session, count_id, current_scope()))
