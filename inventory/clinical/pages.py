"""The checklist page of a treatment, the follow-up form on the cart, and the follow-ups due."""

from __future__ import annotations

import datetime as dt

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, TextAreaField
from wtforms.validators import Length, Optional

from inventory.blueprints.pages.core import bp, page, refused, scope
from inventory.clinical import service as clinical
from inventory.errors import DomainError, ValidationError
from inventory.extensions import db
from inventory.models import utcnow
from inventory.services.clock import clinic_today
from inventory.services.permissions import Permission


class ChecklistForm(FlaskForm):
    blood_thinners = BooleanField(dict(clinical.CHECKLIST_QUESTIONS)["blood_thinners"])
    pregnant = BooleanField(dict(clinical.CHECKLIST_QUESTIONS)["pregnant"])
    autoimmune = BooleanField(dict(clinical.CHECKLIST_QUESTIONS)["autoimmune"])
    recent_vaccine_or_infection = BooleanField(dict(clinical.CHECKLIST_QUESTIONS)["recent_vaccine_or_infection"])
    dental_work_planned = BooleanField(dict(clinical.CHECKLIST_QUESTIONS)["dental_work_planned"])
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=clinical.MAX_NOTES)])


class FollowUpForm(FlaskForm):
    follow_up_on = DateField("Follow-up on", validators=[Optional()])


@bp.route("/cart/treatments/<int:treatment_id>/checklist", methods=["GET", "POST"])
@page(Permission.CART)
def treatment_checklist(treatment_id: int):
    treatment = clinical.get_treatment(db.session, treatment_id, scope())
    stored = (treatment.checklist or {}).get("answers") or {}
    form = ChecklistForm(data=stored if request.method == "GET" else None)
    status = 200
    if form.validate_on_submit():
        answers: dict[str, bool | str] = {key: bool(getattr(form, key).data) for key, _ in clinical.CHECKLIST_QUESTIONS}
        answers["notes"] = form.notes.data or ""
        try:
            clinical.save_checklist(db.session, actor=current_user, scope=scope(), treatment_id=treatment.id,
                                    answers=answers, now=utcnow())
        except DomainError as error:
            refused(error)
            status = error.status
        else:
            flash("Checklist saved.", "ok")
            return redirect(url_for("pages.cart_treatment", treatment_id=treatment.id))
    elif form.errors:
        status = 422
    history = clinical.patient_history(db.session, scope=scope(), patient_id=treatment.patient_id, now=utcnow(),
                                       before_treatment_id=treatment.id)
    return render_template("pages/checklist.html", treatment=treatment, form=form, history=history,
                           questions=clinical.CHECKLIST_QUESTIONS), status


@bp.post("/cart/treatments/<int:treatment_id>/follow-up")
@page(Permission.CART)
def treatment_follow_up(treatment_id: int):
    form = FollowUpForm()
    try:
        if not form.validate():
            raise ValidationError("Give the follow-up as a date, or leave it empty to clear it.",
                                  field="follow_up_on")
        treatment = clinical.set_follow_up(db.session, actor=current_user, scope=scope(), treatment_id=treatment_id,
                                           follow_up_on=form.follow_up_on.data, now=utcnow())
    except DomainError as error:
        refused(error)
    else:
        day = treatment.follow_up_on
        flash(f"Follow-up set for {day.isoformat()}." if day else "Follow-up cleared.", "ok")
    return redirect(url_for("pages.cart_treatment", treatment_id=treatment_id))


@bp.get("/follow-ups")
@page(Permission.CART)
def follow_ups():
    now = utcnow()
    try:
        due_before = dt.date.fromisoformat(request.args.get("due_before", ""))
    except ValueError:
        due_before = clinical.follow_ups_due_before(db.session, scope=scope(), now=now)
    found = clinical.due_follow_ups(db.session, scope=scope(), due_before=due_before)
    todays = {t.id: clinic_today(now, t.location.clinic.timezone) for t in found}
    return render_template("pages/follow_ups.html", follow_ups=found, due_before=due_before, todays=todays)


@bp.post("/follow-ups/<int:treatment_id>/done")
@page(Permission.CART)
def follow_up_done(treatment_id: int):
    try:
        treatment = clinical.complete_follow_up(db.session, actor=current_user, scope=scope(),
                                                treatment_id=treatment_id, now=utcnow())
    except DomainError as error:
        refused(error)
    else:
        flash(f"Follow-up of {treatment.patient.name} marked done.", "ok")
    return redirect(url_for("pages.follow_ups"))


@bp.post("/follow-ups/<int:treatment_id>/reopen")
@page(Permission.CART)
def follow_up_reopen(treatment_id: int):
    """Undoes a "done" mark (PATCH /api/v1/treatments/<id> {"follow_up_done": false} does the same)."""
    try:
        treatment = clinical.reopen_follow_up(db.session, actor=current_user, scope=scope(),
                                              treatment_id=treatment_id, now=utcnow())
    except DomainError as error:
        refused(error)
    else:
        day = treatment.follow_up_on
        assert day is not None  # reopen_follow_up refuses a treatment without one
        flash(f"Follow-up of {treatment.patient.name} is not done: due again on {day.isoformat()}.", "ok")
    return redirect(url_for("pages.cart_treatment", treatment_id=treatment_id))
