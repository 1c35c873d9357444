"""Adverse events at the cart (a short form from the treatment), their page with the regulator's fields,
the list, and the lot-signal page where unusual lots stand out."""

from __future__ import annotations

import datetime as dt

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from inventory.adverse_events import service as adverse_events
from inventory.blueprints.pages import once
from inventory.blueprints.pages.core import bp, page, refused, scope
from inventory.cart import service as cart
from inventory.errors import DomainError, ValidationError
from inventory.extensions import db
from inventory.models import utcnow
from inventory.services.clock import clinic_today
from inventory.services.permissions import Permission
from inventory.words import counted

UPDATABLE = ("outcome", "follow_up_notes", "severity", "patient_sex")


def _words() -> dict:
    return {"kinds": adverse_events.KIND_LABELS, "severities": adverse_events.SEVERITY_LABELS,
            "outcomes": adverse_events.OUTCOME_LABELS, "sexes": adverse_events.SEX_LABELS,
            "kind_words": {k.value: v for k, v in adverse_events.KIND_LABELS.items()},
            "seriousness": adverse_events.seriousness, "manufacturer_words": adverse_events.manufacturer_words,
            "has_trace": "pages.trace_lot" in current_app.view_functions,
            "has_product_edit": "pages.product_edit" in current_app.view_functions}


@bp.route("/cart/treatments/<int:treatment_id>/adverse-event", methods=["GET", "POST"])
@page(Permission.CART)
def adverse_event_new(treatment_id: int):
    treatment = cart.get_treatment(db.session, treatment_id, scope())
    # Emergency hyaluronidase is shown as the event's rescue, never offered as a cause.
    rescues = adverse_events.emergency_rescues(db.session, treatment.id)
    rescue_vials = {d.container_id for d in rescues}
    drawn = [c for c in adverse_events.drawn_containers(db.session, treatment.id) if c.id not in rescue_vials]
    today = clinic_today(utcnow(), treatment.location.clinic.timezone)
    status = 200
    if request.method == "POST":
        try:
            picked = [int(v) for v in request.form.getlist("container_ids") if v.isdigit() and len(v) <= 10]
            if drawn and not picked and request.form.get("links_shown"):
                # QA: a nurse who unticked every box shown meant "none of these", and every one was linked.
                # Linking none would hide a lot's signal: she says which, or ticks them all when she cannot
                # tell. (A form without the boxes still links every container the treatment drew from.)
                raise ValidationError("Tick what may have caused it: at least one of the containers this treatment "
                                      "drew from. If you cannot tell, tick them all.", field="container_ids")
            onset_date = _date(request.form.get("onset_date", ""))
            claim = once.claim_form_key(url_for("pages.cart_treatment", treatment_id=treatment.id))
            event = adverse_events.record(
                db.session, actor=current_user, scope=scope(), treatment_id=treatment.id,
                kind=request.form.get("kind", ""), onset_date=onset_date,
                severity=request.form.get("severity", ""), outcome=request.form.get("outcome", "ongoing"),
                description=request.form.get("description", ""), patient_sex=request.form.get("patient_sex") or None,
                container_ids=picked or None, now=utcnow(),
            )
        except DomainError as error:
            refused(error)
            status = error.status
        else:
            flash(f"Adverse event recorded and linked to {counted(len(event.suspect_links), 'container')}."
                  + (f" Rescue: {counted(len(event.rescues), 'hyaluronidase dose')}." if event.rescues else ""), "ok")
            return once.answered(claim, redirect(url_for("pages.adverse_event", event_id=event.id)))
    return render_template("pages/adverse_event_new.html", treatment=treatment, drawn=drawn, rescues=rescues,
                           rescued_events=adverse_events.rescued_events(db.session, [d.id for d in rescues]),
                           today=today, form=request.form, **_words()), status


@bp.get("/adverse-events", endpoint="adverse_events")
@page(Permission.CART)
def adverse_events_list():
    events = adverse_events.list_events(db.session, viewer=current_user, scope=scope())
    return render_template("pages/adverse_events.html", events=events, **_words())


@bp.route("/adverse-events/<int:event_id>", methods=["GET", "POST"])
@page(Permission.CART)
def adverse_event(event_id: int):
    event = adverse_events.get_event(db.session, viewer=current_user, scope=scope(), event_id=event_id)
    status = 200
    if request.method == "POST":
        changes: dict[str, object] = {name: (request.form.get(name) or None) for name in UPDATABLE
                                      if name in request.form}
        try:
            adverse_events.update(db.session, actor=current_user, scope=scope(), event_id=event.id, changes=changes,
                                  now=utcnow())
        except DomainError as error:
            refused(error)
            status = error.status
        else:
            flash("Adverse event updated.", "ok")
            return redirect(url_for("pages.adverse_event", event_id=event.id))
    report = adverse_events.regulator_report(db.session, event, now=utcnow())
    candidates = adverse_events.rescue_candidates(db.session, scope=scope(), event=event)
    return render_template("pages/adverse_event.html", event=event, report=report, candidates=candidates,
                           lots=adverse_events.lots_of(event), **_words()), status


@bp.post("/adverse-events/<int:event_id>/rescues")
@page(Permission.CART)
def adverse_event_rescue(event_id: int):
    raw = request.form.get("draw_id", "").strip()
    try:
        if not (raw.isdigit() and len(raw) <= 18):  # a draw's id is 64-bit
            raise ValidationError("Choose the dose to link as the rescue.", field="draw_id")
        claim = once.claim_form_key(url_for("pages.adverse_event", event_id=event_id))
        adverse_events.link_rescue_afterwards(db.session, actor=current_user, scope=scope(), event_id=event_id,
                                              draw_id=int(raw), now=utcnow())
    except DomainError as error:
        refused(error)  # a 302 back to the event: the marker, not the status, rolls it back
        return redirect(url_for("pages.adverse_event", event_id=event_id))
    flash("Rescue linked: the dose is shown as the event's treatment, not its cause.", "ok")
    return once.answered(claim, redirect(url_for("pages.adverse_event", event_id=event_id)))


@bp.get("/adverse-events/<int:event_id>/report.csv")
@page(Permission.CART)
def adverse_event_report_csv(event_id: int):
    event = adverse_events.get_event(db.session, viewer=current_user, scope=scope(), event_id=event_id)
    report = adverse_events.regulator_report(db.session, event, now=utcnow())
    adverse_events.record_export(db.session, event, viewer=current_user, now=utcnow(), what="report.csv")
    return Response(adverse_events.report_csv(report), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="adverse-event-{event.id}.csv"'})


@bp.get("/safety/lot-signals")
@page(Permission.RECALL)
def lot_signals():
    signals = adverse_events.lot_signals(db.session, scope=scope())
    return render_template("pages/lot_signals.html", signals=signals, ratio=adverse_events.SIGNAL_RATIO,
                           min_events=adverse_events.SIGNAL_MIN_EVENTS, **_words())


def _date(raw: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationError("Give the onset date.", field="onset_date") from None
