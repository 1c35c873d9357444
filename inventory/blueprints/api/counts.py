"""Counts (blind count sheets posted by a second manager) and the reconciliation reports.

The two-person rule over the API: ``POST /counts`` is the counter's whole sheet at
once. It is stored as *submitted* (counted by the caller) and answered with 201 and
the provisional variances against today's ledger; nothing is adjusted yet. Another
manager reviews it (``GET /counts/<id>``) and posts it with ``POST /counts/<id>/post``,
which writes the ADJUST movements and answers with them; the counter posting their
own count gets 409 ``counter_may_not_post``. ``POST /counts/<id>/reopen`` (not by the
counter) sends a submitted count back to its counter as a draft, to correct on the
counts page; a posted count is never changed, only followed by another count.
"""

from __future__ import annotations

import tempfile

from flask import Response, send_file

from inventory.blueprints.api.core import current_scope, current_user, operation
from inventory.blueprints.api.counts_schemas import (
    AdjustmentOut,
    CountIn,
    CountLineOut,
    CountList,
    CountOut,
    CountQuery,
    CountSummaryOut,
    ReconciliationOut,
    ReportQuery,
)
from inventory.extensions import db
from inventory.models import Count, CountStatus, utcnow
from inventory.services import counts
from inventory.services import reconciliation_export as export
from inventory.services.counts import LineSpec
from inventory.services.permissions import Permission
from inventory.services.reconciliation import Period, reconcile


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
           query=CountQuery, response=CountList, errors=(422,))
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


# --- reconciliation reports ---------------------------------------------------------------------------


def _period(query: ReportQuery) -> Period:  # type: ignore[valid-type]
    return Period.of(getattr(query, "from"), query.to)  # type: ignore[attr-defined]


@operation("GET", "/reports/reconciliation", summary="The reconciliation as JSON", permission=Permission.RECONCILE,
           query=ReportQuery, response=ReconciliationOut, errors=(404, 422))
def reconciliation_report(query: ReportQuery) -> ReconciliationOut:  # type: ignore[valid-type]
    rec = reconcile(db.session, scope=current_scope(), period=_period(query), location_id=query.location_id)
    return ReconciliationOut.of(rec)


@operation("GET", "/reports/reconciliation.xlsx", summary="The reconciliation workbook (live formulas)",
           permission=Permission.RECONCILE, query=ReportQuery, errors=(404, 422), media_type=export.XLSX_MEDIA_TYPE)
def reconciliation_workbook(query: ReportQuery) -> Response:  # type: ignore[valid-type]
    period = _period(query)
    now = utcnow()
    out = tempfile.TemporaryFile()  # on disk, not in memory: a year of a chain is large
    try:
        export.write_workbook(db.session, out, scope=current_scope(), period=period, now=now,
                              location_id=query.location_id)
    except BaseException:
        out.close()
        raise
    export.record_export(db.session, actor=current_user(), period=period, location_id=query.location_id,
                         kind="xlsx", now=now)
    out.seek(0)
    return send_file(out, mimetype=export.XLSX_MEDIA_TYPE, as_attachment=True,
                     download_name=export.workbook_filename(period))


@operation("GET", "/reports/reconciliation.csv", summary="The reconciliation rows as CSV",
           permission=Permission.RECONCILE, query=ReportQuery, errors=(404, 422), media_type="text/csv")
def reconciliation_csv(query: ReportQuery) -> Response:  # type: ignore[valid-type]
    period = _period(query)
    rec = reconcile(db.session, scope=current_scope(), period=period, location_id=query.location_id)
    export.record_export(db.session, actor=current_user(), period=period, location_id=query.location_id,
                         kind="csv", now=utcnow())
    return Response(export.write_csv(rec), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{export.csv_filename(period)}"'})
