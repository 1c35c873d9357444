"""Transfers between clinics: the lists, the send form (scan labels one after another), receiving or
refusing at the destination, calling back or recording a refused consignment's return at the source, and
declaring a whole box lost in transit at either end.

The send form's list is kept on the server, in the page session (drafts.py): each scan (Enter in the scan
field) posts the form, the server checks that container with the rules ``send`` applies to the box
(``check_sendable``), keeps it on the list or says why not, and redirects to the page, which shows the list
again; a reload or Back shows it too. Nothing is written until Send, and the page needs no script of its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, HiddenField, SelectChoice, SelectField
from wtforms.validators import DataRequired, Length, Optional
from inventory.blueprints.pages.fields import NotesField, ScanField, TextField, choices_of, location_choices

from inventory.blueprints.pages import once
from inventory.blueprints.pages.core import bp, page, refused, scope
from inventory.cold_chain import service as cold_chain
from inventory.errors import DomainError, ValidationError
from inventory.extensions import db
from inventory.models import Location, LocationKind, utcnow
from inventory.transfers.models import RefusalCategory, Transfer, TransferStatus
from inventory.services import container_history
from inventory.transfers import drafts
from inventory.transfers import service as clinic_transfers
from inventory.services.permissions import Permission
from inventory.words import counted

STATUS_WORDS = {"in_transit": "In transit", "received": "Received", "cancelled": "Called back",
                "refused": "Refused, on its way back", "returned": "Refused and returned", "lost": "Lost in transit"}
CATEGORY_WORDS = {
    RefusalCategory.DAMAGED: "Damaged",
    RefusalCategory.TEMPERATURE: "Too warm or too cold (cold chain broken)",
    RefusalCategory.INCOMPLETE: "Incomplete",
    RefusalCategory.WRONG_ITEMS: "Not what was ordered",
    RefusalCategory.OTHER: "Other",
}


PAGE_SIZE = 50  # settled transfers a page; those on the road are all listed first


class SendForm(FlaskForm):
    code = ScanField("Scan each container's Vialog label", validators=[Optional(), Length(max=100)])
    to_location_id = SelectField("Send to", coerce=int, validate_choice=False)
    note = NotesField("Note for the receiving clinic (courier, box, reason)",
                         validators=[Optional(), Length(max=clinic_transfers.MAX_NOTE)])
    # Claimed by Send alone; a fresh one each time the page shows the list.
    form_key = once.FormKeyField()


class ReceiveForm(FlaskForm):
    location_id = SelectField("Put it away in", coerce=int)
    # Offered once a box kept at 2-8 °C was refused for a place that is not temperature-sensitive.
    keep_here = BooleanField("Keep it here all the same: it goes into a fridge Vialog does not watch yet, or its "
                             "label allows this place")
    # The page lists every container with an "arrived" checkbox, all ticked; this says the list was sent (a post
    # without it, as before the list existed, receives everything).
    itemized = HiddenField()
    missing_reason = TextField("If something is missing: what you found (the sending clinic reads this)",
                               validators=[Optional(), Length(max=clinic_transfers.MAX_MISSING_REASON)])
    # Offered once containers were unticked: declaring them missing writes them off at the sending clinic.
    confirm_missing = BooleanField("Yes: they did not arrive. Write them off as missing in transit")
    form_key = once.FormKeyField()


class RefuseForm(FlaskForm):
    category = SelectField("What is wrong", choices=choices_of((c.value, words) for c, words in CATEGORY_WORDS.items()),
                           default=RefusalCategory.OTHER.value)
    reason = TextField("Why it is refused (the sending clinic reads this)",
                       validators=[DataRequired("Say why the transfer is refused."),
                                   Length(max=clinic_transfers.MAX_REFUSAL_REASON)])
    form_key = once.FormKeyField()


class CancelForm(once.OnceForm):
    pass


class LostForm(FlaskForm):
    # Named apart from the refusal's reason: both forms may be on the destination's page.
    lost_reason = TextField("What is known of the loss (both clinics read this)",
                            validators=[DataRequired("Say why the box is declared lost."),
                                        Length(max=clinic_transfers.MAX_LOST_REASON)])
    # Declaring writes every container off at the sending clinic, for good: ticked on purpose, checked here.
    confirm_lost = BooleanField("Yes: the whole box is lost. Write off every container in it")
    form_key = once.FormKeyField()


@bp.app_template_filter("transfer_status")
def _transfer_status(transfer: Transfer) -> str:
    missing = len(transfer.missing_items)
    if missing and not transfer.is_lost:  # lost: every container is missing, which its status says
        return f"{STATUS_WORDS[transfer.status.value]}, {missing} missing in transit"
    return STATUS_WORDS[transfer.status.value]


@bp.app_template_filter("refusal_category")
def _refusal_category(transfer: Transfer) -> str:
    return CATEGORY_WORDS[transfer.refusal_category] if transfer.refusal_category else ""


@bp.app_template_filter("transfer_contents")
def _transfer_contents(transfer: Transfer) -> str:
    """'2 × Xeomin 100 U, 1 × Dysport 300 U': what is in the box, product by product."""
    counts = Counter(item.container.product.name for item in transfer.items)
    return ", ".join(f"{n} × {name}" for name, n in sorted(counts.items()))


# --- lists ---------------------------------------------------------------------------------


@bp.get("/transfers")
@page(Permission.RECEIVE)
def transfers():
    caller = scope()
    status = _status_filter(request.args.get("status"))
    before_id = request.args.get("before", type=int)
    direction = request.args.get("direction") if caller.clinic_ids is not None else None
    if direction not in ("incoming", "outgoing"):
        direction = None
    if caller.clinic_ids is None:
        # Chain level: every transfer is both someone's outgoing and someone's incoming; list it once.
        wanted = [(None, "All transfers between clinics")]
    else:
        wanted = [(d, title) for d, title in (("incoming", "Incoming"), ("outgoing", "Outgoing"))
                  if direction in (None, d)]
    lists = [
        (d, title, clinic_transfers.list_transfers(db.session, scope=caller, direction=d, status=status,
                                                   before_id=before_id if d == direction else None, limit=PAGE_SIZE))
        for d, title in wanted
    ]
    return render_template("pages/transfers.html", lists=lists, caller=caller, status=status,
                           direction=direction, paged=before_id is not None, status_words=STATUS_WORDS)


def _status_filter(value: str | None) -> TransferStatus | None:
    try:
        return TransferStatus(value) if value else None
    except ValueError:
        return None  # an old or mistyped link lists everything rather than failing


# --- sending ---------------------------------------------------------------------------------


@bp.route("/transfers/new", methods=["GET", "POST"])
@page(Permission.RECEIVE)
def transfer_new():
    if request.method == "GET":
        key = request.args.get("box")
        box = drafts.load(key if drafts.is_box_key(key) else drafts.new_box_key())
        return _render_send(SendForm(formdata=None, to_location_id=box.to_location_id, note=box.note), box)
    form = SendForm()
    key = request.form.get("box")
    box = drafts.load(key if drafts.is_box_key(key) else drafts.new_box_key())
    # Where it goes and the note, as chosen so far: the page shown after this post keeps them.
    box.to_location_id = form.to_location_id.data if isinstance(form.to_location_id.data, int) else 0
    box.note = (form.note.data or "")[: clinic_transfers.MAX_NOTE + 1]  # one more: Send says it is too long
    if request.form.get("action") == "send":
        return _send(form, box)
    if request.form.get("remove"):
        box.container_ids = [cid for cid in box.container_ids if str(cid) != request.form["remove"]]
    else:
        _add(form, box)
    return _back_to_list(box)


def _add(form: SendForm, box: drafts.Box) -> None:
    """One scan: the container joins the box if ``send`` would take it with those listed, else the page says
    why (the service's rules, asked per scan)."""
    code = (form.code.data or "").strip()
    if not code:
        flash("Scan a container's Vialog label to add it to the list.", "error")
        return
    try:
        container = clinic_transfers.check_sendable(db.session, scope=scope(), container_ref=code, now=utcnow(),
                                                    listed=box.container_ids)
    except DomainError as error:
        refused(error)
        return
    box.container_ids.append(container.id)


def _send(form: SendForm, box: drafts.Box):
    if not form.validate():
        for name, errors in form.errors.items():
            flash(f"{form[name].label.text.split(' (')[0]}: {errors[0]}", "error")
        return _back_to_list(box)
    if not form.to_location_id.data:
        flash("Choose where the stock is going.", "error")
        return _back_to_list(box)
    # Claimed before the list is read: a second press, sent before the first one emptied the list, lands on the
    # transfer the first one sent.
    claim = once.claim_form_key(url_for("pages.transfers"))
    try:
        _ensure_list_as_shown(box)
        transfer = clinic_transfers.send(db.session, actor=current_user, scope=scope(),
                                         container_ids=box.container_ids, to_location_id=form.to_location_id.data,
                                         now=utcnow(), note=form.note.data)
    except DomainError as error:
        refused(error)
        return _back_to_list(box)
    drafts.drop(box.key)
    flash(f"Sent {counted(len(transfer.items), 'container')} to {transfer.to_clinic.name}, {transfer.to_location.name}. "
          "Pack them with this page's list.", "ok")
    return once.answered(claim, redirect(url_for("pages.transfer", transfer_id=transfer.id)))


def _ensure_list_as_shown(box: drafts.Box) -> None:
    """Send sends the list the page showed: the same box open in two tabs may have changed since in the other."""
    shown = request.form.getlist("containers")
    if shown and shown != [str(cid) for cid in box.container_ids]:
        raise ValidationError("The list changed in another window since this page was shown: check it below and "
                              "press Send again.", field="containers")


def _back_to_list(box: drafts.Box):
    """Post/Redirect/Get: the list is kept, and the page that shows it is a GET (a reload or Back shows it
    again, and never sends the form anew)."""
    drafts.save(box)
    return redirect(url_for("pages.transfer_new", box=box.key), 303)


def _render_send(form: SendForm, box: drafts.Box):
    listed = clinic_transfers.listed_containers(db.session, box.container_ids, scope())
    if len(listed) != len(box.container_ids):  # one now out of the caller's clinics: it leaves the list
        box.container_ids = [c.id for c in listed]
        drafts.save(box)
    sources = {c.clinic_id for c in listed}
    caller = scope()
    if len(sources) == 1:
        exclude = next(iter(sources))
    elif caller.clinic_ids is not None and len(caller.clinic_ids) == 1:
        exclude = next(iter(caller.clinic_ids))
    else:
        exclude = None
    places = clinic_transfers.destinations(db.session, exclude_clinic_id=exclude)
    form.to_location_id.choices = [SelectChoice(0, "Choose where it goes"), *location_choices(places)]
    form.code.data = ""  # the scan field is empty for the next scan
    return render_template("pages/transfers_new.html", form=form, listed=listed, box=box.key)


# --- one transfer: receiving and calling back -------------------------------------------------------


def _receiving_places(transfer: Transfer) -> list[Location]:
    stmt = select(Location).where(
        Location.clinic_id == transfer.to_clinic_id, Location.is_active, Location.kind != LocationKind.KIT
    ).order_by(Location.name)
    places = list(db.session.scalars(stmt))
    # The planned place first: receiving is one press when nothing changed.
    return sorted(places, key=lambda place: place.id != transfer.to_location_id)


def _render_transfer(transfer: Transfer, *, receive_form: ReceiveForm | None = None,
                     refuse_form: RefuseForm | None = None, lost_form: LostForm | None = None, status: int = 200,
                     ask_keep_here: bool = False, unticked: Collection[int] = (), ask_missing: bool = False):
    caller = scope()
    receive_form = receive_form or ReceiveForm(formdata=None, location_id=transfer.to_location_id)
    receive_form.location_id.choices = [SelectChoice(place.id, place.name) for place in _receiving_places(transfer)]
    at_destination, at_source = caller.allows(transfer.to_clinic_id), caller.allows(transfer.from_clinic_id)
    # Containers now at a clinic the caller does not work at show only what was sent, not their later use.
    as_sent = {item.id for item in transfer.items if not clinic_transfers.shows_container_now(item, caller)}
    # A container that arrived and was later lost on another transfer reads discarded on the shelf it left from.
    lost = container_history.lost_in_transit(
        db.session, [item.container for item in transfer.items if item.id not in as_sent and not item.is_missing])
    return render_template(
        "pages/transfers_detail.html", transfer=transfer, as_sent=as_sent, lost=lost, receive_form=receive_form,
        refuse_form=refuse_form or RefuseForm(formdata=None), cancel_form=CancelForm(formdata=None),
        lost_form=lost_form or LostForm(formdata=None),
        may_receive=transfer.is_in_transit and at_destination,
        may_cancel=transfer.is_in_transit and at_source,
        may_record_return=transfer.is_refused and at_source, ask_keep_here=ask_keep_here,
        # As declare_lost allows it: either end while in transit; once refused, the source that awaits it.
        may_declare_lost=(transfer.is_in_transit and (at_source or at_destination))
        or (transfer.is_refused and at_source),
        unticked=set(unticked), ask_missing=ask_missing,
    ), status


@bp.get("/transfers/<int:transfer_id>")
@page(Permission.RECEIVE)
def transfer(transfer_id: int):
    return _render_transfer(clinic_transfers.get_transfer(db.session, transfer_id, scope()))


@bp.post("/transfers/<int:transfer_id>/receive")
@page(Permission.RECEIVE)
def transfer_receive(transfer_id: int):
    found = clinic_transfers.get_transfer(db.session, transfer_id, scope())
    form = ReceiveForm()
    form.location_id.choices = [SelectChoice(place.id, place.name) for place in _receiving_places(found)]
    arrived = _ticked() if form.itemized.data else None
    unticked = [i.container_id for i in found.items if arrived is not None and i.container_id not in arrived]
    if not form.validate():
        return _render_transfer(found, receive_form=form, status=422, unticked=unticked, ask_missing=bool(unticked))
    if unticked and not form.confirm_missing.data:
        # Unticking writes containers off at the sender: say why, and confirm, before anything is written.
        try:
            clinic_transfers.check_missing_reason(form.missing_reason.data)
            labels = ", ".join(i.container.label_code for i in found.items if i.container_id in unticked)
            flash(f"Not ticked: {labels}. Confirm that they did not arrive: they are written off as missing in "
                  f"transit at {found.from_clinic.name}, and the rest is received.", "warning")
        except DomainError as error:
            refused(error)
        return _render_transfer(found, receive_form=form, status=422, unticked=unticked, ask_missing=True)
    claim = once.claim_form_key(url_for("pages.transfer", transfer_id=found.id))
    try:
        received = clinic_transfers.receive(
            db.session, actor=current_user, scope=scope(), transfer_id=found.id, now=utcnow(),
            location_id=form.location_id.data,
            confirm=[cold_chain.LocationNotRefrigerated.code] if form.keep_here.data else [],
            arrived=arrived, missing_reason=form.missing_reason.data if unticked else None)
    except DomainError as error:
        refused(error)
        return _render_transfer(clinic_transfers.get_transfer(db.session, transfer_id, scope()),
                                receive_form=form, status=error.status,
                                ask_keep_here=isinstance(error, cold_chain.LocationNotRefrigerated),
                                unticked=unticked, ask_missing=bool(unticked))
    assert received.received_location is not None
    missing = received.missing_items
    written_off = (f" {len(missing)} declared missing in transit ({', '.join(i.container.label_code for i in missing)}):"
                   f" written off at {received.from_clinic.name}." if missing else "")
    flash(f"Received {counted(len(received.items) - len(missing), 'container')} into {received.received_location.name}."
          f"{written_off}", "ok")
    return once.answered(claim, redirect(url_for("pages.transfer", transfer_id=received.id)))


def _ticked() -> list[int | str]:
    """The containers ticked as arrived on the receive form: ids (a label or anything else is passed on as
    sent, for the service to refuse as not on the transfer)."""
    ticked: list[int | str] = []
    for value in request.form.getlist("arrived")[: clinic_transfers.MAX_CONTAINERS + 1]:
        value = value.strip()[:100]
        ticked.append(int(value) if value.isdigit() and len(value) < 10 else value)
    return ticked


@bp.post("/transfers/<int:transfer_id>/refuse")
@page(Permission.RECEIVE)
def transfer_refuse(transfer_id: int):
    found = clinic_transfers.get_transfer(db.session, transfer_id, scope())
    form = RefuseForm()
    if not form.validate():
        return _render_transfer(found, refuse_form=form, status=422)
    claim = once.claim_form_key(url_for("pages.transfer", transfer_id=found.id))
    try:
        refused_transfer = clinic_transfers.refuse(
            db.session, actor=current_user, scope=scope(), transfer_id=found.id, now=utcnow(),
            reason=form.reason.data, category=RefusalCategory(form.category.data),
        )
    except DomainError as error:
        refused(error)
        return _render_transfer(clinic_transfers.get_transfer(db.session, transfer_id, scope()),
                                refuse_form=form, status=error.status)
    flash(f"Transfer {refused_transfer.id} refused: nothing entered {refused_transfer.to_clinic.name}'s stock. "
          f"Send the box back; {refused_transfer.from_clinic.name} records its return.", "ok")
    return once.answered(claim, redirect(url_for("pages.transfer", transfer_id=refused_transfer.id)))


@bp.post("/transfers/<int:transfer_id>/cancel")
@page(Permission.RECEIVE)
def transfer_cancel(transfer_id: int):
    """Calls back a transfer in transit, or records the return of a refused one: the same press at the source."""
    found = clinic_transfers.get_transfer(db.session, transfer_id, scope())
    if not CancelForm().validate():
        return _render_transfer(found, status=422)
    claim = once.claim_form_key(url_for("pages.transfer", transfer_id=found.id))
    try:
        back = clinic_transfers.cancel(db.session, actor=current_user, scope=scope(), transfer_id=found.id,
                                       now=utcnow())
    except DomainError as error:
        refused(error)
        return _render_transfer(clinic_transfers.get_transfer(db.session, transfer_id, scope()), status=error.status)
    if back.returned_at is None:
        flash(f"Transfer {back.id} called back: its stock is in {back.from_clinic.name} again.", "ok")
    else:
        held = sum(1 for item in back.items if item.container.on_hold_since is not None)
        on_hold = f" {counted(held, 'container')} {'is' if held == 1 else 'are'} on hold until a safety lead releases or wastes them." if held else ""
        flash(f"Return of transfer {back.id} recorded: {counted(len(back.items), 'container')} "
              f"{'is' if len(back.items) == 1 else 'are'} in "
              f"{back.from_clinic.name}'s stock again.{on_hold}", "ok")
    return once.answered(claim, redirect(url_for("pages.transfer", transfer_id=back.id)))


def _all_of(count: int) -> str:
    """ "the one container", "all 3 containers". """
    return "the one container" if count == 1 else f"all {count} containers"


@bp.post("/transfers/<int:transfer_id>/lost")
@page(Permission.RECEIVE)
def transfer_lost(transfer_id: int):
    """Declares the whole box lost in transit, at either end: every container is written off at the source."""
    found = clinic_transfers.get_transfer(db.session, transfer_id, scope())
    form = LostForm()
    if not form.validate():
        return _render_transfer(found, lost_form=form, status=422)
    if not form.confirm_lost.data:
        flash(f"Tick the confirmation: declaring transfer {found.id} lost writes off {_all_of(len(found.items))} "
              f"at {found.from_clinic.name}, for good.", "error")
        return _render_transfer(found, lost_form=form, status=422)
    claim = once.claim_form_key(url_for("pages.transfer", transfer_id=found.id))
    try:
        lost = clinic_transfers.declare_lost(db.session, actor=current_user, scope=scope(), transfer_id=found.id,
                                             reason=form.lost_reason.data, now=utcnow())
    except DomainError as error:
        refused(error)
        return _render_transfer(clinic_transfers.get_transfer(db.session, transfer_id, scope()),
                                lost_form=form, status=error.status)
    flash(f"Transfer {lost.id} declared lost in transit: {counted(len(lost.items), 'container')} written off at "
          f"{lost.from_clinic.name}.", "ok")
    return once.answered(claim, redirect(url_for("pages.transfer", transfer_id=lost.id)))
