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
from inventory.services.permissions import Permission, Scope
from inventory.reconciliation.service import Period, clinics_and_location, location_at_another_clinic, reconcile


# The page shows this many lines at most; the totals per product and the downloads hold every line.
PAGE_LINES = 500
# Locations offered without a clinic chosen: a chain whose clinics each keep many kits asks for a clinic first.
MAX_LOCATION_CHOICES = 250
# Clinics reconciled together on the page: each costs tens of milliseconds of the database's time (70 ms a
# clinic at the bench's scale), so a chain-level user of more picks a clinic; the downloads hold them all.
CLINICS_AT_ONCE = 5


def _locations(clinic_id: int | None) -> list[Location]:
    """The locations the Where list offers: the chosen clinic's, or all of the caller's while they are few."""
    stmt = scope().filter(select(Location), Location.clinic_id)
    if clinic_id is not None:
        stmt = stmt.where(Location.clinic_id == clinic_id)
    found = list(db.session.scalars(stmt.order_by(Location.clinic_id, Location.name).limit(MAX_LOCATION_CHOICES + 1)))
    return found if len(found) <= MAX_LOCATION_CHOICES else []


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


def _period_as_asked() -> Period:
    """The dates the form asked for, shown again beside a refusal (a period the other way round, a location not
    the caller's), so the manager puts right what is wrong instead of typing both dates again: a date that
    cannot be read, or was not given, shows this month's default."""
    default = _default_period()
    try:
        start = _date("from")
    except ValidationError:
        start = None
    try:
        end = _date("to")
    except ValidationError:
        end = None
    return Period(start or default.start, end or default.end)


def _id(name: str, what: str) -> int | None:
    text = request.args.get(name, "").strip()
    if text and not (text.isascii() and text.isdigit() and 0 < int(text) < 2**31):
        raise ValidationError(f"Choose a {what} from the list.", field=name)
    return int(text) if text else None


def _choice() -> tuple[Period, int | None, int | None]:
    """The period, location and clinic asked for; raises ValidationError for nonsense."""
    location_id, clinic_id = _id("location_id", "location"), _id("clinic_id", "clinic")
    if not request.args.get("from") and not request.args.get("to"):
        return _default_period(), location_id, clinic_id
    return Period.of(_date("from"), _date("to")), location_id, clinic_id


def _reported(clinic_id: int | None) -> Scope:
    """The caller's scope, kept to the clinic asked for (raises NotFound for one not theirs)."""
    return scope().narrowed_to(db.session, clinic_id)


@bp.get("/reconciliation")
@page(Permission.RECONCILE)
def reconciliation():
    rec, status, error, note, location_id, clinic_id = None, 200, None, None, None, None
    clinics = scope().clinics(db.session)
    choose_a_clinic = False
    try:
        period, location_id, clinic_id = _choice()
        elsewhere = location_at_another_clinic(db.session, scope(), clinic_id=clinic_id, location_id=location_id)
        if elsewhere is not None:
            # The clinic was changed with the last clinic's location still chosen (no script empties the select):
            # the clinic is what was just picked, as on the Stock page.
            code = next(c.code for c in clinics if c.id == clinic_id)
            location_id = None
            note = (f"The location chosen, {elsewhere.clinic.code} · {elsewhere.name}, is not at {code}: "
                    f"showing all of {code}'s locations.")
        choose_a_clinic = clinic_id is None and location_id is None and len(clinics) > CLINICS_AT_ONCE
        if not choose_a_clinic:
            rec = reconcile(db.session, scope=_reported(clinic_id), period=period, location_id=location_id)
    except DomainError as refused:
        period, status, error = _period_as_asked(), refused.status, refused.message
        location_id = clinic_id = None
    return render_template(
        "pages/reconciliation.html", rec=rec, period=period, location_id=location_id, clinic_id=clinic_id,
        clinics=clinics, locations=_locations(clinic_id), page_lines=PAGE_LINES, error=error, note=note,
        choose_a_clinic=choose_a_clinic,
    ), status


@bp.get("/reconciliation.xlsx")
@page(Permission.RECONCILE)
def reconciliation_xlsx():
    period, location_id, clinic_id = _choice()
    now = utcnow()
    reported = _reported(clinic_id)
    clinics, location = clinics_and_location(db.session, reported, location_id)  # raises NotFound
    out = tempfile.TemporaryFile()
    try:
        export.write_workbook(db.session, out, scope=reported, period=period, now=now, location_id=location_id)
    except BaseException:
        out.close()
        raise
    export.record_export(db.session, actor=current_user, period=period, location_id=location_id,
                         clinic_id=clinic_id, kind="xlsx", now=now)
    out.seek(0)
    return send_file(out, mimetype=export.XLSX_MEDIA_TYPE, as_attachment=True,
                     download_name=export.workbook_filename(period, clinics, location))


@bp.get("/reconciliation.csv")
@page(Permission.RECONCILE)
def reconciliation_csv():
    period, location_id, clinic_id = _choice()
    rec = reconcile(db.session, scope=_reported(clinic_id), period=period, location_id=location_id)
    export.record_export(db.session, actor=current_user, period=period, location_id=location_id,
                         clinic_id=clinic_id, kind="csv", now=utcnow())
    return Response(export.write_csv(rec), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{export.csv_filename(period, rec.clinics, rec.location)}"'})
