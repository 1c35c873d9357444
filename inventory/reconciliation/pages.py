"""Reconciliation: pick a period and a location (or all your clinics), read it, download it."""

from __future__ import annotations

import datetime as dt
import tempfile

from flask import Response, render_template, request, send_file
from flask_login import current_user
from sqlalchemy import select

from inventory.blueprints.pages.core import bp, page, scope
from inventory.errors import DomainError, ValidationError
from inventory.extensions import db
from inventory.models import Clinic, Location, utcnow
from inventory.reconciliation import export
from inventory.services.clock import clinic_today
from inventory.services.permissions import Permission
from inventory.reconciliation.service import Period, reconcile


def _locations() -> list[Location]:
    stmt = scope().filter(select(Location), Location.clinic_id)
    return list(db.session.scalars(stmt.order_by(Location.clinic_id, Location.name)))


def _default_period() -> Period:
    """This month up to today, in the caller's (first) clinic."""
    clinic = db.session.scalar(scope().filter(select(Clinic), Clinic.id).order_by(Clinic.code))
    today = clinic_today(utcnow(), clinic.timezone if clinic is not None else "UTC")
    return Period(today.replace(day=1), today)


def _date(name: str) -> dt.date | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{text[:20]!r} is not a date: use YYYY-MM-DD.", field=name) from None


def _choice() -> tuple[Period, int | None]:
    """The period and location asked for; raises ValidationError for nonsense."""
    location = request.args.get("location_id", "").strip()
    if location and not (location.isascii() and location.isdigit() and 0 < int(location) < 2**31):
        raise ValidationError("Choose a location from the list.", field="location_id")
    if not request.args.get("from") and not request.args.get("to"):
        return _default_period(), int(location) if location else None
    return Period.of(_date("from"), _date("to")), int(location) if location else None


@bp.get("/reconciliation")
@page(Permission.RECONCILE)
def reconciliation():
    rec, status, error = None, 200, None
    try:
        period, location_id = _choice()
        rec = reconcile(db.session, scope=scope(), period=period, location_id=location_id)
    except DomainError as refused:
        period, location_id, status, error = _default_period(), None, refused.status, refused.message
    return render_template(
        "pages/reconciliation.html", rec=rec, period=period, location_id=location_id, locations=_locations(),
        error=error,
    ), status


@bp.get("/reconciliation.xlsx")
@page(Permission.RECONCILE)
def reconciliation_xlsx():
    period, location_id = _choice()
    now = utcnow()
    out = tempfile.TemporaryFile()
    try:
        export.write_workbook(db.session, out, scope=scope(), period=period, now=now, location_id=location_id)
    except BaseException:
        out.close()
        raise
    export.record_export(db.session, actor=current_user, period=period, location_id=location_id, kind="xlsx",
                         now=now)
    out.seek(0)
    return send_file(out, mimetype=export.XLSX_MEDIA_TYPE, as_attachment=True,
                     download_name=export.workbook_filename(period))


@bp.get("/reconciliation.csv")
@page(Permission.RECONCILE)
def reconciliation_csv():
    period, location_id = _choice()
    rec = reconcile(db.session, scope=scope(), period=period, location_id=location_id)
    export.record_export(db.session, actor=current_user, period=period, location_id=location_id, kind="csv",
                         now=utcnow())
    return Response(export.write_csv(rec), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{export.csv_filename(period)}"'})
