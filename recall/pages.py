"""Recall pages: trace (lot -> containers and patients, patient -> lots), recall cases, and the access log.

Registered on the pages blueprint by importing this module (inventory/blueprints/pages).
Searching is a GET (it changes nothing but the access log); every change is a
CSRF-protected POST that redirects back. The services validate every value; a
refusal comes back as a message on the page the user came from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from inventory.services.clock import to_clinic_time
from inventory import unit_of_work
from inventory.adverse_events import service as adverse_events
from inventory.blueprints.pages import once
from inventory.blueprints.pages.core import bp, flash_refusal, page, refused, scope
from inventory.errors import DomainError, NotFound
from inventory.extensions import db
from inventory.models import LotStatus, utcnow
from inventory.cart.service import AREA_LABELS
from inventory.services.permissions import Permission
from recall import exports, queries, services
from recall.models import NotificationMethod, NotificationStatus, RecallClass, RecallSource
from inventory.words import counted

RECALL = Permission.RECALL

CLASS_WORDS = {
    RecallClass.I: "Class I: reasonable probability of serious harm or death",
    RecallClass.II: "Class II: temporary or medically reversible harm",
    RecallClass.III: "Class III: unlikely to cause harm",
}
SOURCE_WORDS = {RecallSource.MANUFACTURER: "Manufacturer", RecallSource.REGULATOR: "Regulator",
                RecallSource.INTERNAL: "Internal (our own finding)"}
STATUS_WORDS = {NotificationStatus.PENDING: "Pending", NotificationStatus.NOTIFIED: "Notified",
                NotificationStatus.UNREACHABLE: "Unreachable", NotificationStatus.NOT_REQUIRED: "Not required"}
METHOD_WORDS = {NotificationMethod.PHONE: "Phone", NotificationMethod.EMAIL: "Email",
                NotificationMethod.LETTER: "Letter", NotificationMethod.IN_PERSON: "In person"}
LOG_VIEWS = {
    "access": ("Patient data looked at or exported", services.ACCESS_ACTIONS),
    "viewed": ("Looked at", (services.VIEWED,)),
    "exported": ("Exported", (services.EXPORTED,)),
    "changes": ("Quarantine, release and recall changes", services.CHANGE_ACTIONS),
}


def _words() -> dict:
    return {"class_words": CLASS_WORDS, "source_words": SOURCE_WORDS, "status_words": STATUS_WORDS,
            "method_words": METHOD_WORDS, "area_labels": AREA_LABELS,
            "event_kinds": adverse_events.KIND_LABELS, "event_severities": adverse_events.SEVERITY_LABELS,
            "tz": current_app.config["CLINIC_TZ"]}  # chain-wide moments (a case, a lot's status) in the chain's zone


# --- trace ---------------------------------------------------------------------------------------


@bp.get("/trace")
@page(RECALL)
def trace():
    """Scan or type a lot number, or type a patient reference.

    A notice that names several lots is traced lot by lot on one page: the lots already shown come back as
    ``lot_id`` (the page's "Another lot of the same notice" form), the next one is scanned or typed as ``q``, and
    one recall case can then name them all, so a patient who received two of them is on one list, told once."""
    q = request.args.get("q", "").strip()
    ref = request.args.get("patient", "").strip()
    kept = list(dict.fromkeys(int(v) for v in request.args.getlist("lot_id") if v.isdigit() and len(v) <= 10))
    traces, patients, status, missing = [], None, 200, None
    warnings = []  # queries.TraceWarning: what a scanned code says against its lot, said and never refused
    lots = queries.lots_by_ids(db.session, kept, scope()) if kept else []  # an unknown one is a 404 page
    try:
        if q:
            traced = queries.find_traced(db.session, q, scope())
            found, warnings = traced.lots, traced.warnings
            again = [lot for lot in found if lot.id in kept]
            if again and len(again) == len(found):
                flash(f"Lot {again[0].number} of {again[0].product.name} is on this trace already.", "warning")
            lots += [lot for lot in found if lot.id not in kept]
        elif ref:
            patients = queries.find_patients(db.session, ref, scope())
            services.record_access(db.session, viewer=current_user, action=services.VIEWED, object_type="patient",
                                   object_id=None, now=utcnow(),
                                   details={"view": "patient_search", "external_ref": ref,
                                            "patient_ids": [p.id for p in patients]})
    except DomainError as error:
        # The lots traced before it stay on the page (and their look-up in the access log): only the new one
        # is refused. Alone, the refusal is the page's answer.
        candidates = isinstance(error, queries.LotNotOnFile) and error.candidates
        if candidates:  # each a link to its trace: the template words this refusal, not a flash
            missing = error
        elif lots:
            flash_refusal(error)
        if not lots:
            if candidates:
                unit_of_work.mark_refused()
            else:
                refused(error)
            status = error.status
    if lots:
        traces = services.trace_lots(db.session, viewer=current_user, scope=scope(), lots=lots, now=utcnow(),
                                     query=q or None)
    return _render_traces(traces, q=q, ref=ref, patients=patients, missing=missing, asked=len(kept) + bool(q),
                          warnings=warnings), status


@bp.get("/trace/lots/<int:lot_id>")
@page(RECALL)
def trace_lot(lot_id: int):
    lots = queries.lots_by_ids(db.session, [lot_id], scope())
    traces = services.trace_lots(db.session, viewer=current_user, scope=scope(), lots=lots, now=utcnow())
    return _render_traces(traces, q=lots[0].number)


def _render_traces(traces: list[queries.LotTrace], *, q: str = "", ref: str = "",
                   patients: list[queries.PatientRef] | None = None,
                   missing: queries.LotNotOnFile | None = None, asked: int = 1,
                   warnings: list[queries.TraceWarning] | None = None) -> str:
    """``asked``: how many lots the page was asked for (each kept lot and the new query); with more than one,
    the page offers one recall case on all of them. ``warnings``: a scanned code's, said in its lot's trace."""
    by_lot: dict[int, list[queries.TraceWarning]] = {}
    for warning in warnings or []:
        by_lot.setdefault(warning.lot_id, []).append(warning)
    cases = services.cases_for_lots(db.session, [t.lot.id for t in traces])
    clinics = services.clinic_names(db.session)
    # A quarantined lot another clinic holds is released by a chain-level safety lead only: say so, no button.
    release_refusals = services.release_refusals(
        db.session, scope(), [t.lot for t in traces if t.lot.status is LotStatus.QUARANTINED])
    # The adverse events reported against each lot: a lot's trace is where a signal is weighed.
    events = adverse_events.events_by_lot(db.session, viewer=current_user, scope=scope(),
                                          lot_ids=[t.lot.id for t in traces])
    return render_template("pages/recall_trace.html", traces=traces, q=q, ref=ref, patients=patients, cases=cases,
                           clinics=clinics, release_refusals=release_refusals, events=events,
                           missing=missing, several=asked > 1, warnings=by_lot, **_words())


@bp.get("/trace/patients/<int:patient_id>")
@page(RECALL)
def trace_patient(patient_id: int):
    trace = services.trace_patient(db.session, viewer=current_user, scope=scope(), patient_id=patient_id,
                                   now=utcnow())
    return render_template("pages/recall_patient.html", trace=trace, **_words())


@bp.post("/trace/lots/<int:lot_id>/quarantine")
@page(RECALL)
def lot_quarantine(lot_id: int):
    return _change_status(lot_id, services.quarantine, "Lot {number} of {product} is quarantined at every location.")


@bp.post("/trace/lots/<int:lot_id>/release")
@page(RECALL)
def lot_release(lot_id: int):
    return _change_status(lot_id, services.release,
                          "Lot {number} of {product} is released at every clinic: it may be used again.")


def _change_status(lot_id: int, change, done: str):
    queries.lots_by_ids(db.session, [lot_id], scope())  # an unknown lot (or another clinic's) is a 404
    claim = once.claim_form_key(url_for("pages.trace_lot", lot_id=lot_id))
    try:
        lot = change(db.session, actor=current_user, lot_id=lot_id, reason=request.form.get("reason", ""),
                     now=utcnow(), scope=scope())
    except DomainError as error:
        refused(error)
        return redirect(url_for("pages.trace_lot", lot_id=lot_id))
    flash(done.format(number=lot.number, product=lot.product.name), "ok")
    return once.answered(claim, redirect(url_for("pages.trace_lot", lot_id=lot_id)))


# --- recall cases -------------------------------------------------------------------------------------


@bp.post("/recalls")
@page(RECALL)
def recall_open():
    lot_ids = [int(v) for v in request.form.getlist("lot_ids") if v.isdigit() and len(v) <= 10]
    claim = once.claim_form_key(url_for("pages.recalls"))
    try:
        case = services.open_recall(
            db.session, actor=current_user, lot_ids=lot_ids, reason=request.form.get("reason", ""),
            recall_class=request.form.get("recall_class", ""), source=request.form.get("source", ""), now=utcnow(),
            scope=scope(),
        )
    except DomainError as error:
        refused(error)
        return redirect(url_for("pages.trace_lot", lot_id=lot_ids[0]) if len(lot_ids) == 1
                        else url_for("pages.trace", lot_id=lot_ids) if lot_ids else url_for("pages.recalls"))
    # A patient an earlier case already told about every dose is listed as notified (carried over): no work. A
    # Class III case asks no notification unless the safety lead widens it: its patients are "not required".
    carried = sum(1 for p in case.patients if p.status is NotificationStatus.NOTIFIED)
    to_notify = sum(1 for p in case.patients if p.status is NotificationStatus.PENDING)
    told = f" ({carried} already notified in an earlier case)" if carried else ""
    unasked = len(case.patients) - carried - to_notify
    needless = f", {unasked} who received it need no notification (Class {case.recall_class})" if unasked else ""
    flash(f"Recall case {case.id} is open: the lots are recalled at every clinic. "
          f"{counted(to_notify, 'patient')} to notify{told}{needless}, "
          f"{counted(len(case.containers), 'container')} to take back.", "ok")
    return once.answered(claim, redirect(url_for("pages.recall_case", case_id=case.id)))


@bp.get("/recalls")
@page(RECALL)
def recalls():
    summaries = services.list_cases(db.session, scope())
    return render_template("pages/recall_cases.html", open_cases=[s for s in summaries if s.case.is_open],
                           closed_cases=[s for s in summaries if not s.case.is_open],
                           uncovered=services.uncovered_stock(db.session, scope()), **_words())


@bp.get("/recalls/<int:case_id>")
@page(RECALL)
def recall_case(case_id: int):
    view = services.view_case(db.session, viewer=current_user, scope=scope(), case_id=case_id, now=utcnow())
    events = adverse_events.events_by_lot(db.session, viewer=current_user, scope=scope(),
                                          lot_ids=[rl.lot_id for rl in view.case.lots])
    return render_template("pages/recall_case.html", view=view, case=view.case, events=events, **_words())


@bp.post("/recalls/<int:case_id>/patients/<int:patient_id>")
@page(RECALL)
def recall_patient_update(case_id: int, patient_id: int):
    back = url_for("pages.recall_case", case_id=case_id) + f"#patient-{patient_id}"
    claim = once.claim_form_key(back)
    try:
        line = services.update_patient(
            db.session, actor=current_user, scope=scope(), case_id=case_id, patient_id=patient_id,
            status=request.form.get("status", ""), method=request.form.get("method") or None,
            note=request.form.get("note"), now=utcnow(),
        )
    except DomainError as error:
        if isinstance(error, NotFound):
            raise
        refused(error)
        return redirect(back)
    flash(f"{line.patient.name}: {STATUS_WORDS[line.status].lower()}"
          + (f" by {METHOD_WORDS[line.method].lower()}" if line.method else "") + ".", "ok")
    return once.answered(claim, redirect(back))


@bp.post("/recalls/<int:case_id>/containers/<int:container_id>")
@page(RECALL)
def recall_container_update(case_id: int, container_id: int):
    back = url_for("pages.recall_case", case_id=case_id) + f"#container-{container_id}"
    claim = once.claim_form_key(back)
    try:
        line = services.update_container(
            db.session, actor=current_user, scope=scope(), case_id=case_id, container_id=container_id,
            status=request.form.get("status", ""), note=request.form.get("note"), now=utcnow(),
        )
    except DomainError as error:
        if isinstance(error, NotFound):
            raise
        refused(error)
        return redirect(back)
    flash(f"{line.container.label_code} marked {line.status.value}: it has left stock.", "ok")
    return once.answered(claim, redirect(back))


@bp.post("/recalls/<int:case_id>/containers")
@page(RECALL)
def recall_containers_update(case_id: int):
    ids = [int(v) for v in request.form.getlist("container_ids") if v.isdigit() and len(v) <= 10]
    back = url_for("pages.recall_case", case_id=case_id) + "#containers"
    claim = once.claim_form_key(back)
    try:
        lines = services.update_containers(
            db.session, actor=current_user, scope=scope(), case_id=case_id, container_ids=ids,
            status=request.form.get("status", ""), note=request.form.get("note"), now=utcnow(),
        )
    except DomainError as error:
        if isinstance(error, NotFound) and not ids:
            raise
        refused(error)
        return redirect(back)
    flash(f"{counted(len(lines), 'container')} marked {lines[0].status.value}: they have left stock.", "ok")
    return once.answered(claim, redirect(back))


@bp.post("/recalls/<int:case_id>/widen")
@page(RECALL)
def recall_widen(case_id: int):
    claim = once.claim_form_key(url_for("pages.recall_case", case_id=case_id))
    try:
        widened = services.widen(db.session, actor=current_user, case_id=case_id, now=utcnow())
    except DomainError as error:
        if isinstance(error, NotFound):
            raise
        refused(error)
        return redirect(url_for("pages.recall_case", case_id=case_id))
    flash(f"{counted(widened, 'patient')} to notify after all.", "ok")
    return once.answered(claim, redirect(url_for("pages.recall_case", case_id=case_id)))


@bp.get("/recalls/<int:case_id>/patients/<int:patient_id>/letter")
@page(RECALL)
def recall_letter(case_id: int, patient_id: int):
    """A printable letter to one patient on the list: lot, dates, areas, what to watch for, whom to call.

    A patient whose every dose from the recalled lots was reversed (recorded by mistake, then corrected, after
    the case opened: the case page shows each "reversed: not given") received none of them; their letter says
    so instead of naming a product "used in your treatment".
    """
    view = services.case_view(db.session, case_id, scope())
    item = next((p for p in view.patients if p.patient.id == patient_id), None)
    if item is None:
        raise NotFound(f"Patient {patient_id} is not on the list of recall case {case_id}.", patient_id=patient_id)
    services.record_access(db.session, viewer=current_user, action=services.VIEWED, object_type="patient",
                           object_id=str(patient_id), clinic_id=item.clinic.id, now=utcnow(),
                           details={"view": "recall_letter", "case_id": case_id, "patient_ids": [patient_id]})
    given = [d for d in item.doses if not d.is_reversed]
    received = letter_lots(given)
    corrected = letter_lots([d for d in item.doses if d.is_reversed])
    # What to watch for follows what this patient received, not every lot the case names: a toxin's patient
    # is not told to watch for a filler's vascular signs. Doses given where the viewer does not work are not
    # shown to them: the letter then names every lot of the case, and its signs.
    kind_of_lot = {rl.lot.id: rl.lot.product.kind.value for rl in view.case.lots}
    kinds = {kind_of_lot[d.lot_id] for d in given} if given else set(kind_of_lot.values())
    return render_template("pages/recall_letter.html", view=view, case=view.case, item=item, received=received,
                           corrected=corrected, not_received=bool(corrected) and not received,
                           contact=item.line.patient,
                           watch_for=[WATCH_FOR[k] for k in sorted(kinds) if k in WATCH_FOR],
                           today=_letter_date(utcnow(), item.clinic.timezone), **_words())


def _letter_date(moment: dt.datetime, timezone: str) -> str:
    """The letter's date as a letter is dated, on the clinic's calendar: "5 December 2026" (no clock time)."""
    day = to_clinic_time(moment, timezone).date()
    return f"{day.day} {day:%B %Y}"


@dataclass(frozen=True)
class LetterLot:
    """One product and lot a patient's doses came from, said the way a letter says it."""

    product: str
    lot_number: str
    days: str  # "3 March 2025 in the forehead and glabella (frown lines), and 10 March 2025 in the lips"


def letter_lots(doses: list[queries.DoseLine]) -> list[LetterLot]:
    """The doses grouped by product and lot, each with its days (in the clinic's time) and areas, in order."""
    grouped: dict[tuple[str, str], dict[dt.date, list[str]]] = {}
    for dose in doses:
        days = grouped.setdefault((dose.product, dose.lot_number), {})
        areas = days.setdefault(dose.local_at.date(), [])
        area = _letter_area(dose)
        if area not in areas:
            areas.append(area)
    return [
        LetterLot(product, lot, _and([f"{day.day} {day:%B %Y} in the {_and(areas)}" for day, areas in days.items()],
                                     comma=True))
        for (product, lot), days in grouped.items()
    ]


def _letter_area(dose: queries.DoseLine) -> str:
    """An area in running text: "glabella (frown lines)", "depressor anguli oris (DAO)", or what was typed
    for "other"."""
    if dose.area == "other" and dose.area_detail:
        return dose.area_detail
    label = AREA_LABELS.get(dose.area, dose.area.replace("_", " "))
    label = label[:1].lower() + label[1:] if label[1:2].islower() else label  # a sentence's word, not an acronym
    return f"{label} ({dose.area_detail})" if dose.area_detail else label


def _and(words: list[str], *, comma: bool = False) -> str:
    """ "a", "a and b", "a, b and c" (or "a, and b" when each part has its own "and")."""
    if len(words) < 2:
        return "".join(words)
    return ", ".join(words[:-1]) + (", and " if comma else " and ") + words[-1]


# What a patient is asked to look out for, by the kind of product recalled (plain words, for a letter).
WATCH_FOR = {
    "neuromodulator": "Difficulty swallowing, speaking or breathing, a drooping eyelid or face, double or blurred "
                      "vision, or muscle weakness away from where you were treated. These can start days or weeks "
                      "after treatment: seek urgent medical care and tell them you had botulinum toxin.",
    "filler": "Increasing pain, redness, swelling, warmth, lumps, a change of skin colour (white, blue or mottled), "
              "or any change in your vision near where you were treated. A change in vision or skin colour is an "
              "emergency: call us or go to an emergency department at once.",
    "hyaluronidase": "Itching, a rash, swelling beyond the treated area, or difficulty breathing (an allergic "
                     "reaction): seek urgent medical care.",
}


@bp.post("/recalls/<int:case_id>/close")
@page(RECALL)
def recall_close(case_id: int):
    claim = once.claim_form_key(url_for("pages.recall_case", case_id=case_id))
    try:
        services.close_case(db.session, actor=current_user, case_id=case_id, now=utcnow())
    except DomainError as error:
        if isinstance(error, NotFound):
            raise
        refused(error)
        return redirect(url_for("pages.recall_case", case_id=case_id))
    flash(f"Recall case {case_id} is closed. Its lots stay recalled for good.", "ok")
    return once.answered(claim, redirect(url_for("pages.recall_case", case_id=case_id)))


@bp.get("/recalls/<int:case_id>/export/<which>.<fmt>")
@page(RECALL)
def recall_export(case_id: int, which: str, fmt: str):
    file = exports.export(db.session, viewer=current_user, scope=scope(), case_id=case_id, which=which, fmt=fmt,
                          now=utcnow())
    return Response(file.content, mimetype=file.mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{file.filename}"'})


# --- access log -----------------------------------------------------------------------------------------


@bp.get("/access-log")
@page(Permission.USERS)
def access_log():
    """The access (or change) log, filtered by who acted, which patient, and dates in the chain's zone."""
    kind = request.args.get("kind", "access")
    if kind not in LOG_VIEWS:
        kind = "access"
    tz = current_app.config["CLINIC_TZ"]
    before_id, actor_id, patient_id = (_number(request.args.get(name)) for name in ("before", "user", "patient"))
    since, until, error = _day_bounds(request.args.get("from", ""), request.args.get("to", ""), tz)
    if error:
        flash(error, "error:validation_error")
    seen = scope()  # a clinic-level admin reads her clinics' entries, by her users (services.access_log)
    entries = services.access_log(db.session, scope=seen, actions=LOG_VIEWS[kind][1], before_id=before_id,
                                  actor_id=actor_id, patient_id=patient_id, since=since, until=until)
    users = services.log_users(db.session, seen)
    filters = {key: request.args.get(key, "") for key in ("user", "patient", "from", "to")}
    return render_template("pages/recall_access_log.html", entries=entries, kind=kind, views=LOG_VIEWS,
                           timezone=tz, clinics=services.clinic_names(db.session), limit=services.LOG_PAGE,
                           names=services.log_names(db.session, entries, seen), users=users,
                           filters={k: v for k, v in filters.items() if v}, patient_id=patient_id)


def _number(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _day_bounds(start: str, end: str, tz: str) -> tuple[dt.datetime | None, dt.datetime | None, str | None]:
    """[first moment of ``start``, first moment after ``end``) in UTC, days read in ``tz``."""
    zone = ZoneInfo(tz)
    try:
        first = dt.date.fromisoformat(start) if start.strip() else None
        last = dt.date.fromisoformat(end) if end.strip() else None
    except ValueError:
        return None, None, "Dates are YYYY-MM-DD: the date filter is left out."
    since = dt.datetime.combine(first, dt.time(0), tzinfo=zone).astimezone(dt.UTC) if first else None
    until = (dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=zone).astimezone(dt.UTC)
             if last else None)
    return since, until, None
