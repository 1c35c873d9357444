"""A nurse's patient pages: find a patient by reference or name, read her record (what she received per
molecule, every treatment, open or closed), keep her contact details for a recall's notification list.

Registered on the pages blueprint when inventory.cart loads. No rule lives here: the search and the record
are inventory.clinical's reads (each recorded in the access log: queries.view_patient_*), the history is the one the API's GET /patients/<id>/history answers, and the
contact details go through cart.update_contact, the service of the API's PATCH /patients/<id>.
"""

from __future__ import annotations

from collections import defaultdict

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField

from sqlalchemy.orm import Session

from inventory import dosing, unit_of_work
from inventory.adverse_events import service as adverse_events
from inventory.adverse_events.models import AdverseEvent
from inventory.blueprints.pages.core import bp, page, refused, scope
from inventory.cart import service as cart
from inventory.clinical import queries
from inventory.clinical import service as clinical
from inventory.errors import DomainError
from inventory.extensions import db
from inventory.models import Patient, User, utcnow
from inventory.services.barcodes import parse_scan
from inventory.services.permissions import Permission, can


class ContactForm(FlaskForm):
    # No validators of its own: cart.update_contact checks every field, for this page and the API alike.
    phone = StringField("Phone")
    email = StringField("Email")
    address = TextAreaField("Postal address")


@bp.get("/patients")
@page(Permission.CART)
def patients():
    """Scan a patient's card or type her reference or name: the API's GET /patients needs the same permission."""
    q = request.args.get("q", "").strip()[:160]
    found = queries.view_patient_search(db.session, viewer=current_user, scope=scope(), text=q, now=utcnow())
    return render_template("pages/patients.html", q=q, found=found, limit=queries.SEARCH_LIMIT,
                           stock_code=_stock_code(q) if q and not found.matches else None)


def _stock_code(text: str) -> str | None:
    """What a code scanned here instead of a patient's card is, in words (a vial's label, a box's barcode), or
    None for text that is no code Vialog reads: said as the cart says it, not as "no patient matches"."""
    try:
        code = parse_scan(text)
    except DomainError:
        return None
    if code.kind == "container":
        return f"{code.label_code} is a vial's Vialog label"
    return "That is a box's barcode" if code.kind == "gs1" else None


@bp.get("/patients/<int:patient_id>")
@page(Permission.CART)
def patient(patient_id: int):
    record = queries.view_patient_record(db.session, viewer=current_user, scope=scope(), patient_id=patient_id,
                                         now=utcnow())
    return _render_patient(record, ContactForm(obj=record.patient))


@bp.post("/patients/<int:patient_id>/contact")
@page(Permission.CART)
def patient_contact(patient_id: int):
    clinical.get_patient(db.session, patient_id, scope())  # another clinic's patient: 404, as the API
    form = ContactForm()
    # As the API's PATCH: the fields sent change, an empty one is cleared.
    changes = {name: form[name].data for name in cart.CONTACT_LIMITS if name in request.form}
    try:
        cart.update_contact(db.session, actor=current_user, scope=scope(), patient_id=patient_id, changes=changes,
                            now=utcnow())
    except DomainError as error:
        if error.details.get("field") in cart.CONTACT_LIMITS:
            unit_of_work.mark_refused()  # said beside its field (patient.html), not twice
        else:
            refused(error)
        record = queries.patient_record(db.session, scope=scope(), patient_id=patient_id)
        # The record is shown again: its access is logged although the refused save is rolled back.
        viewer_id, now = current_user.id, utcnow()

        def log_view(session: Session) -> None:
            viewer, patient = session.get(User, viewer_id), session.get(Patient, patient_id)
            if viewer is not None and patient is not None:
                clinical.record_patient_view(session, viewer=viewer, patient=patient, view="patient_record", now=now)

        unit_of_work.record_despite_refusal(log_view)
        return _render_patient(record, form, refusal=error, status=error.status)
    flash("Contact details saved.", "ok")
    return redirect(url_for("pages.patient", patient_id=patient_id))


def _render_patient(record: queries.PatientRecord, form: ContactForm, *, refusal: DomainError | None = None,
                    status: int = 200) -> tuple[str, int]:
    history = clinical.patient_history(db.session, scope=scope(), patient_id=record.patient.id, now=utcnow())
    # The events this user may read (adverse_events.visible), under the treatment each follows.
    events: defaultdict[int, list[AdverseEvent]] = defaultdict(list)
    for event in adverse_events.events_for_patient(db.session, viewer=current_user, scope=scope(),
                                                   patient_id=record.patient.id):
        events[event.treatment_id].append(event)
    return render_template(
        "pages/patient.html", record=record, history=history, form=form, refusal=refusal, events=events,
        kind_labels=adverse_events.KIND_LABELS, severity_labels=adverse_events.SEVERITY_LABELS,
        outcome_labels=adverse_events.OUTCOME_LABELS, area_labels=cart.AREA_LABELS,
        warning_words=dosing.WARNING_WORDS,
        # The trace is the recall feature's page (and a recall permission): linked when both are there.
        can_trace="pages.trace" in current_app.view_functions and can(current_user, Permission.RECALL),
    ), status
