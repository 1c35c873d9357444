"""The reconciliation reports over the API: JSON, the Excel workbook and CSV for a period."""

from __future__ import annotations

import tempfile

from flask import Response, send_file

from inventory.blueprints.api.core import current_scope, current_user, operation
from inventory.extensions import db
from inventory.models import utcnow
from inventory.reconciliation import export
from inventory.reconciliation.schemas import ReconciliationOut, ReportQuery
from inventory.reconciliation.service import Period, clinics_and_location, reconcile
from inventory.services.permissions import Permission, Scope


def _period(query: ReportQuery) -> Period:
    return Period.of(getattr(query, "from"), query.to)


def _scope(query: ReportQuery) -> Scope:
    """The caller's clinics, or the one ``clinic_id`` asks for (404 for a clinic not theirs)."""
    return current_scope().narrowed_to(db.session, query.clinic_id)


@operation("GET", "/reports/reconciliation", summary="The reconciliation as JSON", permission=Permission.RECONCILE,
           query=ReportQuery, response=ReconciliationOut, errors=(404, 422))
def reconciliation_report(query: ReportQuery) -> ReconciliationOut:
    rec = reconcile(db.session, scope=_scope(query), period=_period(query), location_id=query.location_id)
    return ReconciliationOut.of(rec)


@operation("GET", "/reports/reconciliation.xlsx", summary="The reconciliation workbook (live formulas)",
           permission=Permission.RECONCILE, query=ReportQuery, errors=(404, 422), media_type=export.XLSX_MEDIA_TYPE)
def reconciliation_workbook(query: ReportQuery) -> Response:
    period = _period(query)
    now = utcnow()
    reported = _scope(query)
    clinics, location = clinics_and_location(db.session, reported, query.location_id)  # raises NotFound
    out = tempfile.TemporaryFile()  # on disk, not in memory: a year of a chain is large
    try:
        export.write_workbook(db.session, out, scope=reported, period=period, now=now,
                              location_id=query.location_id)
    except BaseException:
        out.close()
        raise
    export.record_export(db.session, actor=current_user(), period=period, location_id=query.location_id,
                         clinic_id=query.clinic_id, kind="xlsx", now=now)
    out.seek(0)
    return send_file(out, mimetype=export.XLSX_MEDIA_TYPE, as_attachment=True,
                     download_name=export.workbook_filename(period, clinics, location))


@operation("GET", "/reports/reconciliation.csv", summary="The reconciliation rows as CSV",
           permission=Permission.RECONCILE, query=ReportQuery, errors=(404, 422), media_type="text/csv")
def reconciliation_csv(query: ReportQuery) -> Response:
    period = _period(query)
    rec = reconcile(db.session, scope=_scope(query), period=period, location_id=query.location_id)
    export.record_export(db.session, actor=current_user(), period=period, location_id=query.location_id,
                         clinic_id=query.clinic_id, kind="csv", now=utcnow())
    return Response(export.write_csv(rec), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{export.csv_filename(period, rec.clinics, rec.location)}"'})
