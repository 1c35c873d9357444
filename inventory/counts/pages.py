"""Counts: the list, a blind count sheet filled by scanning, and review and posting by a second manager.

The counter's page never shows what the ledger expects, neither while counting nor
while the sheet waits for review; the reviewer sees the provisional variances, posts,
or sends the sheet back; a posted count shows what was captured and adjusted.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from wtforms import Field, HiddenField, SelectField
from wtforms.validators import Length, NumberRange, Optional, StopValidation

from inventory import unit_of_work
from inventory.blueprints.pages import once
from inventory.blueprints.pages.core import bp, page, refused, scope
from inventory.counterfeit import service as counterfeit
from inventory.blueprints.pages.fields import NotesField, QuantityField, ScanField, WholeNumberField, location_choices
from inventory.errors import DomainError
from inventory.extensions import db
from inventory.models import Location, utcnow
from inventory.counts.models import Count, CountStatus
from inventory.counts import service as count_service
from inventory.counts.service import MAX_CONTAINERS, LineSpec
from inventory.services import scanning
from inventory.services.barcodes import parse_scan
from inventory.services.catalog import product_for_gtin
from inventory.services.permissions import Permission

STATUS_WORDS = {CountStatus.DRAFT: "Counting", CountStatus.SUBMITTED: "Waiting for review",
                CountStatus.POSTED: "Posted"}


class StartCountForm(FlaskForm):
    location_id = SelectField("Where", coerce=int)
    note = NotesField("Note (optional)", validators=[Optional(), Length(max=2000)])
    form_key = once.FormKeyField()


class CountLineForm(FlaskForm):
    code = ScanField("Scan a vial's Vialog label, or a box's code for its sealed containers",
                       validators=[Length(max=200)])
    # The code of a line refused for its quantity (none given, or one that does not fit): kept, so the manager
    # types only what was asked and presses Add without scanning again. A fresh scan in ``code`` replaces it.
    scanned = HiddenField(validators=[Optional(), Length(max=200)])
    counted = QuantityField("Left in an opened one (blank only for a sealed, full one)", validators=[Optional()])
    containers = WholeNumberField("Sealed containers of that lot (box code)",
                              validators=[Optional(), NumberRange(0, MAX_CONTAINERS)])
    form_key = once.FormKeyField()

    def validate_code(self, field: Field) -> None:
        if not self.line_code():
            raise StopValidation("Scan a label or a box code.")

    def line_code(self) -> str:
        """What this line counts: a fresh scan, else the code kept from the refused line before."""
        return (self.code.data or "").strip() or (self.scanned.data or "").strip()


class ActionForm(once.OnceForm):
    """Submit, post, send back, remove: a button, its CSRF token and its one-time key (one per button: the page
    renders each with ``new_form_key()``, so that removing a second line is not taken for a repeat of the first)."""


def _locations() -> list[Location]:
    stmt = scope().filter(select(Location).where(Location.is_active), Location.clinic_id)
    return list(db.session.scalars(stmt.order_by(Location.clinic_id, Location.name)))


@bp.route("/counts", methods=["GET", "POST"])
@page(Permission.RECEIVE)
def counts():
    form = StartCountForm()
    form.location_id.choices = location_choices(_locations())
    status = 200
    if form.validate_on_submit():
        claim = once.claim_form_key(url_for("pages.counts"))
        try:
            count = count_service.start_count(db.session, actor=current_user, scope=scope(),
                                              location_id=form.location_id.data, now=utcnow(), note=form.note.data)
        except DomainError as error:
            refused(error)
            status = error.status
        else:
            flash(f"Count sheet {count.id} started for {count.location.name}. Scan what you find.", "ok")
            return once.answered(claim, redirect(url_for("pages.count", count_id=count.id)))
    elif form.errors:
        status = 422
    listed = count_service.list_counts(db.session, scope=scope())
    return render_template("pages/counts.html", form=form, counts=listed, words=STATUS_WORDS), status


# The line form's field a refusal names (the service's ``field``): the page shows it there.
LINE_FIELDS = {"code": "code", "container": "code", "counted": "counted", "containers": "containers"}
# A refusal of what was typed in one of these was not about the code: the scan is kept, the field asks again.
QUANTITY_FIELDS = ("counted", "containers")


@dataclass(frozen=True)
class KeptScan:
    """A refused line's code, kept for the next press of Add. ``asks`` is the field its line takes a value in (it
    gets the focus): Left for a label, Sealed containers for a box, whichever field the refusal was said under
    (a box's Left that is no whole number of containers is put right in Sealed containers). ``names`` is what
    the code was read as (a product and lot), when it can be read."""

    code: str
    asks: str
    is_label: bool = False
    names: str | None = None


def _kept_scan(code: str, refused_field: str) -> KeptScan:
    """What the page says of a kept code: read again only to be named (add_line reads it once more when Add is
    pressed, and decides); a code that cannot be named is shown as scanned, the refused field asking."""
    try:
        parsed = parse_scan(code)
        if parsed.kind == "container":
            assert parsed.label_code is not None
            container = scanning.container_by_label(db.session, parsed.label_code, scope())
            return KeptScan(code, "counted", is_label=True,
                            names=f"{container.product.name}, lot {container.lot.number}")
        assert parsed.gtin is not None
        product = product_for_gtin(db.session, parsed.gtin)
    except DomainError:
        return KeptScan(code, refused_field)
    return KeptScan(code, "containers", names=f"{product.name}, lot {parsed.lot}" if parsed.lot else product.name)


def _unfilled(form: CountLineForm) -> KeptScan | None:
    """A line not sent to the sheet because a quantity could not be read: its scan is kept, unless the scan
    itself could not be taken either."""
    asks = next((name for name in QUANTITY_FIELDS if form[name].errors), None)
    if asks is None or form.code.errors or form.scanned.errors or not form.line_code():
        return None
    return _kept_scan(form.line_code(), asks)


def _line_sent() -> MultiDict[str, str]:
    """The line as sent, less a refused line's leftovers. The page writes a refused line's quantities back beside
    the refusal (what was typed, to be put right) and sends each back as written (``written_<field>``). A fresh
    scan (not the kept one) is another line: a quantity still as written back is the refused line's, and is
    dropped, never counted for another container or lot (a Left of 50 refused beside a box's 3 sealed). A
    quantity the new line needs is then asked for, its scan kept: never guessed, and never a stale one taken."""
    sent = request.form.copy()
    fresh = sent.get("code", "").strip()
    if fresh and fresh != sent.get("scanned", "").strip():
        for name in QUANTITY_FIELDS:
            written = sent.get(f"written_{name}", "").strip()
            if written and sent.get(name, "").strip() == written:
                sent[name] = ""
    return sent


def _render(count: Count, *, line_form: CountLineForm | None = None,
            line_refusal: tuple[str, DomainError] | None = None, kept: KeptScan | None = None, status: int = 200):
    is_counter = count.counted_by_id == current_user.id
    # Blind: what the ledger expects is shown to a reviewer, never to the counter before posting.
    show_expected = count.is_posted or (count.status is CountStatus.SUBMITTED and not is_counter)
    return render_template(
        "pages/count.html", count=count, words=STATUS_WORDS, is_counter=is_counter,
        results=count_service.results(db.session, count) if show_expected else None,
        uncovered=count_service.not_on_sheet(db.session, count) if show_expected and not count.is_posted else [],
        adjustments=count_service.adjustments_of(db.session, count) if count.is_posted else [],
        line_form=line_form or CountLineForm(formdata=None), action_form=ActionForm(formdata=None),
        line_refusal=line_refusal, kept=kept, tz=count.location.clinic.timezone, new_form_key=once.new_form_key,
    ), status


@bp.get("/counts/<int:count_id>")
@page(Permission.RECEIVE)
def count(count_id: int):
    return _render(count_service.get_count(db.session, count_id, scope()))


@bp.post("/counts/<int:count_id>/lines")
@page(Permission.RECEIVE)
def count_add_line(count_id: int):
    found = count_service.get_count(db.session, count_id, scope())
    form = CountLineForm(formdata=_line_sent())
    if not form.validate():
        return _render(found, line_form=form, kept=_unfilled(form), status=422)
    code = form.line_code()
    spec = LineSpec(code=code, counted=form.counted.data, containers=form.containers.data)
    claim = once.claim_form_key(url_for("pages.count", count_id=found.id))
    try:
        line = count_service.add_line(db.session, actor=current_user, scope=scope(), count_id=found.id, spec=spec,
                                      now=utcnow())
    except DomainError as error:
        if isinstance(error, counterfeit.SCAN_SIGNS):
            # A box whose printed expiry is not its lot's, on a shelf: a sign for the safety lead, kept although
            # the line is refused.
            unit_of_work.record_despite_refusal(counterfeit.sign_of(
                error, actor_id=current_user.id, clinic_id=found.clinic_id, now=utcnow(), where="count"))
        field = LINE_FIELDS.get(str(error.details.get("field", "")))
        if field is None:
            refused(error)
            return _render(count_service.get_count(db.session, count_id, scope()), line_form=form,
                           status=error.status)
        # Said beside what the counter typed ("Left": 0.3 of a sealed syringe), with the API's code.
        unit_of_work.mark_refused()
        kept = _kept_scan(code, field) if field in QUANTITY_FIELDS else None
        return _render(count_service.get_count(db.session, count_id, scope()), line_form=form,
                       line_refusal=(field, error), kept=kept, status=error.status)
    what = line.container.label_code if line.container is not None else f"lot {line.lot.number}, sealed"
    flash(f"Counted {line.lot.product.name} ({what}): {line.counted.normalize():f} {line.lot.product.base_unit}.",
          "ok")
    return once.answered(claim, redirect(url_for("pages.count", count_id=found.id)))


@bp.post("/counts/<int:count_id>/lines/<int:line_id>/remove")
@page(Permission.RECEIVE)
def count_remove_line(count_id: int, line_id: int):
    return _act(count_id, lambda: count_service.remove_line(
        db.session, actor=current_user, scope=scope(), count_id=count_id, line_id=line_id), "Line removed.")


@bp.post("/counts/<int:count_id>/submit")
@page(Permission.RECEIVE)
def count_submit(count_id: int):
    return _act(count_id, lambda: count_service.submit(
        db.session, actor=current_user, scope=scope(), count_id=count_id, now=utcnow()),
        "Submitted. Another manager reviews and posts it.")


@bp.post("/counts/<int:count_id>/post")
@page(Permission.RECEIVE)
def count_post(count_id: int):
    return _act(count_id, lambda: count_service.post(
        db.session, actor=current_user, scope=scope(), count_id=count_id, now=utcnow()),
        "Posted: the differences are adjustments in the ledger now.")


@bp.post("/counts/<int:count_id>/reopen")
@page(Permission.RECEIVE)
def count_reopen(count_id: int):
    return _act(count_id, lambda: count_service.reopen(
        db.session, actor=current_user, scope=scope(), count_id=count_id),
        "Sent back to the counter as a draft.")


def _act(count_id: int, action, done: str):
    found = count_service.get_count(db.session, count_id, scope())
    if not ActionForm().validate():
        flash("The form expired: try again.", "error")
        return _render(found, status=400)
    claim = once.claim_form_key(url_for("pages.count", count_id=count_id))
    try:
        action()
    except DomainError as error:
        refused(error)
        return _render(count_service.get_count(db.session, count_id, scope()), status=error.status)
    flash(done, "ok")
    return once.answered(claim, redirect(url_for("pages.count", count_id=count_id)))
