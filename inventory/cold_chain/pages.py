"""The cold-chain page: open holds (release or waste each), record an excursion, import a logger's readings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from flask import flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from inventory.blueprints.pages import once
from inventory.blueprints.pages.core import bp, page, refused, scope
from inventory.cold_chain import service as cold_chain
from inventory.cold_chain.models import HoldOutcome
from inventory.errors import DomainError, ValidationError
from inventory.extensions import db
from inventory.models import Container, Location, utcnow
from inventory.services import scanning
from inventory.services.clock import typed_moment_utc
from inventory.services.permissions import Permission, get_in_scope
from inventory.words import counted, some_of

MAX_UPLOAD = 2_000_000  # characters of logger CSV


@bp.get("/cold-chain")
@page(Permission.COLD_CHAIN)
def cold_chain_home():
    return _render()


def _render(imported: cold_chain.LoggerImport | None = None, status: int = 200, import_form: bool = False):
    """``import_form``: a refused import, whose place and pasted readings are shown again to correct. The hold
    board shows one clinic (?clinic_id=, for a user of several) and one place (?location_id=) when asked."""
    clinic_id = request.args.get("clinic_id", type=int)
    location_id = request.args.get("location_id", type=int)
    try:
        shown = scope().narrowed_to(db.session, clinic_id)
    except DomainError as error:
        refused(error)
        shown, clinic_id, status = scope(), None, error.status
    holds = cold_chain.open_holds(db.session, scope=shown)
    places = sorted({h.container.location for h in holds}, key=lambda loc: (loc.clinic.code, loc.name, loc.id))
    board = [h for h in holds if location_id is None or h.container.location_id == location_id]
    return render_template(
        "pages/cold_chain.html", holds=board, held_in_all=len(holds), groups=cold_chain.holds_by_excursion(board),
        clinics=scope().clinics(db.session), clinic_id=clinic_id, places=places, location_id=location_id,
        excursions=cold_chain.recent_excursions(db.session, scope=scope()),
        locations=cold_chain.sensitive_locations(db.session, scope=scope()), imported=imported, form=request.form,
        import_form=request.form if import_form else {}, storage_rule=cold_chain.storage_rule(),
        readings_example=cold_chain.READINGS_EXAMPLE,
    ), status


@bp.post("/cold-chain/excursions")
@page(Permission.COLD_CHAIN)
def cold_chain_excursion():
    try:
        location = _location(request.form.get("location_id", ""))
        zone = location.clinic.timezone
        started_at = _local_time(request.form.get("started_at", ""), zone, "started_at")
        ended_at = _local_time(request.form.get("ended_at", ""), zone, "ended_at")
        min_c, max_c = _celsius(request.form.get("min_c", ""), "min_c"), _celsius(request.form.get("max_c", ""), "max_c")
        claim = once.claim_form_key(url_for("pages.cold_chain_home"))
        result = cold_chain.record_excursion(
            db.session, actor=current_user, scope=scope(), location_id=location.id, started_at=started_at,
            ended_at=ended_at, min_c=min_c, max_c=max_c, note=request.form.get("note") or None, now=utcnow(),
        )
    except DomainError as error:
        refused(error)
        return _render(status=error.status)
    if result.widened:
        flash(f"Recorded already, and widened to what you gave: "
              f"{cold_chain.excursion_words(result.excursion, location)}. "
              f"{counted(len(result.held), 'more container')} on hold, {len(result.not_held)} not held.", "ok")
    else:
        flash(f"Excursion recorded at {location.name}: {counted(len(result.held), 'container')} on hold, "
              f"{len(result.not_held)} not held.", "ok")
    for decision, containers in result.by_product():  # which were held and which were not, and why
        flash(f"{decision.container.product.name} ({_labels(containers)}): {decision.why}.", "info")
    return once.answered(claim, redirect(url_for("pages.cold_chain_home")))


@bp.post("/cold-chain/import")
@page(Permission.COLD_CHAIN)
def cold_chain_import():
    upload = request.files.get("file")
    text = upload.read(MAX_UPLOAD).decode("utf-8", "replace") if upload and upload.filename else ""
    text = text or request.form.get("readings", "")[:MAX_UPLOAD]
    try:
        location = _location(request.form.get("location_id", ""))
        claim = once.claim_form_key(url_for("pages.cold_chain_home"))
        imported = cold_chain.import_logger(db.session, actor=current_user, scope=scope(), location_id=location.id,
                                            text=text, now=utcnow())
    except DomainError as error:
        refused(error)
        return _render(status=error.status, import_form=True)  # what was pasted stays, to be corrected
    held = sum(len(e.held) for e in imported.excursions)
    done = [f"{counted(len(imported.recorded), 'excursion')} recorded"]
    if imported.widened:
        done.append(f"{len(imported.widened)} recorded before and widened")
    if imported.already_recorded:
        done.append(f"{len(imported.already_recorded)} already recorded")
    flash(f"{counted(len(imported.readings), 'reading')} read, {len(imported.flagged)} outside 2-8 °C: "
          f"{', '.join(done)}; {counted(held, 'container hold')}.", "ok")
    for already in imported.already_recorded:  # which, in words: where, when, the range
        flash(already.message, "info")
    # Answered with the readings themselves, not a redirect: a repeat lands on the cold-chain page.
    return once.answered(claim, make_response(_render(imported)), repeat_lands=url_for("pages.cold_chain_home"))


@bp.post("/cold-chain/holds/<container_ref>/release")
@page(cold_chain.DECIDES_HOLDS)
def cold_chain_release(container_ref: str):
    return _end_hold(container_ref, cold_chain.release_hold, "{label} is released: it may be used again.")


@bp.post("/cold-chain/holds/<container_ref>/waste")
@page(cold_chain.DECIDES_HOLDS)
def cold_chain_waste(container_ref: str):
    return _end_hold(container_ref, cold_chain.waste_held, "{label} is wasted.")


@bp.post("/cold-chain/holds/release")
@page(cold_chain.DECIDES_HOLDS)
def cold_chain_release_all():
    return _end_holds(HoldOutcome.RELEASED)


@bp.post("/cold-chain/holds/waste")
@page(cold_chain.DECIDES_HOLDS)
def cold_chain_waste_all():
    return _end_holds(HoldOutcome.WASTED)


def _end_holds(outcome: HoldOutcome):
    """The ticked containers of one group of the board, released or wasted with one reason, all or none."""
    back = url_for("pages.cold_chain_home", clinic_id=request.form.get("clinic_id", type=int),
                   location_id=request.form.get("location_id", type=int))
    ticked = request.form.getlist("container_id")
    try:
        if not all(value.isdigit() and len(value) <= 10 for value in ticked):
            raise ValidationError("Tick the containers on the board.", field="container_id")
        claim = once.claim_form_key(back)
        containers = cold_chain.end_holds(
            db.session, actor=current_user, scope=scope(), container_ids=[int(value) for value in ticked],
            outcome=outcome, reason=request.form.get("reason", ""), now=utcnow())
    except DomainError as error:
        refused(error)
        return redirect(back)
    count, labels = len(containers), _labels(containers)
    if outcome is HoldOutcome.RELEASED:
        flash(f"Released {counted(count, 'container')} ({labels}): "
              f"{'it' if count == 1 else 'they'} may be used again.", "ok")
    else:
        flash(f"Wasted {counted(count, 'container')} ({labels}).", "ok")
    return once.answered(claim, redirect(back))


def _end_hold(container_ref: str, end, done: str):
    # An unknown code is the page's 404, like any other unknown container (never echoed back in a message).
    container = scanning.container_by_ref(db.session, container_ref, scope())
    claim = once.claim_form_key(url_for("pages.cold_chain_home"))
    try:
        end(db.session, actor=current_user, scope=scope(), container_id=container.id,
            reason=request.form.get("reason", ""), now=utcnow())
    except DomainError as error:
        refused(error)
        return redirect(url_for("pages.cold_chain_home"))
    flash(done.format(label=container.label_code), "ok")
    return once.answered(claim, redirect(url_for("pages.cold_chain_home")))


def _labels(containers: list[Container], shown: int = 10) -> str:
    """Which containers, e.g. "VL-1, VL-2 and 3 more", without flooding the page."""
    return some_of([c.label_code for c in containers], shown)


def _location(raw: str) -> Location:
    if not raw.isdigit() or len(raw) > 10:
        raise ValidationError("Choose the fridge.", field="location_id")
    return get_in_scope(db.session, Location, int(raw), scope(), "location")


def _local_time(raw: str, timezone: str, name: str) -> dt.datetime:
    """A datetime-local field, read as the clinic's wall clock."""
    try:
        moment = dt.datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationError(f"{cold_chain.FIELD_WORDS[name]}: give a date and time.", field=name) from None
    return typed_moment_utc(moment, timezone)


def _celsius(raw: str, name: str) -> Decimal:
    try:
        return Decimal(raw.strip().replace(",", "."))
    except InvalidOperation:
        raise ValidationError(f"{cold_chain.FIELD_WORDS[name]}: give a temperature in °C, such as 11.5.",
                              field=name) from None
