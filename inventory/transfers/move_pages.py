"""Moving stock between locations of its own clinic from the pages: "Move to" on a container's page, and "Move
everything from <place>" on the stock page of one place (a fridge that failed).

Both forms post here, call ``moves.move`` or ``moves.move_all`` (the rule is ``moves.move_container``) and land
on a page that says in words what moved; a refusal is said there instead, and nothing moves. The choices the
forms offer come from the template globals below, so the core pages need not know this feature.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from inventory.blueprints.pages import once
from inventory.blueprints.pages.core import bp, page, refused, scope
from inventory.errors import DomainError, ValidationError
from inventory.extensions import db
from inventory.lifecycle import LIVE_STATES
from inventory.models import Container, Location, LocationKind, utcnow
from inventory.services import scanning
from inventory.services.permissions import get_in_scope
from inventory.transfers import moves
from inventory.transfers.move_api import MOVES_STOCK

KIND_WORDS = {LocationKind.KIT: "emergency kit"}


@dataclass(frozen=True)
class MoveAllOffer:
    location: Location
    live: int  # sealed or opened containers with something left: what would move
    held: int
    destinations: list[tuple[int, str]]


@bp.app_template_global("move_destinations")
def _move_destinations(container: Container) -> list[tuple[int, str]]:
    """Where a container may be moved, as (id, words), for its page's "Move to" select: the other active places
    of its clinic. Empty for one with nothing to move (used up, discarded, on its way to another clinic)."""
    if container.state not in LIVE_STATES or container.remaining <= 0:
        return []
    return _destinations(container.clinic_id, container.location_id)


@bp.app_template_global("move_all_offer")
def _move_all_offer(location_id: int | None) -> MoveAllOffer | None:
    """The stock page's "Move everything from <place>": offered for a place of the caller's clinics that holds
    live stock, with somewhere to move it to."""
    if location_id is None:
        return None
    location = db.session.get(Location, location_id)
    if location is None or not scope().allows(location.clinic_id):
        return None
    live, held = db.session.execute(
        select(func.count(Container.id), func.count(Container.on_hold_since))
        .where(Container.location_id == location.id, Container.state.in_(LIVE_STATES), Container.remaining > 0)
    ).one()
    destinations = _destinations(location.clinic_id, location.id)
    if not live or not destinations:
        return None
    return MoveAllOffer(location, live, held, destinations)


def _destinations(clinic_id: int, here: int) -> list[tuple[int, str]]:
    places = db.session.scalars(
        select(Location).where(Location.clinic_id == clinic_id, Location.is_active, Location.id != here)
        .order_by(Location.name, Location.id)
    )
    return [(p.id, f"{p.name} ({KIND_WORDS.get(p.kind, p.kind.value)})") for p in places]


@bp.post("/containers/<container_ref>/move")
@page(MOVES_STOCK)
def container_move(container_ref: str):
    # An unknown or another clinic's container is the page's 404, like its page itself.
    container = scanning.container_by_ref(db.session, container_ref, scope())
    back = url_for("pages.container", container_ref=container.label_code)
    try:
        claim = once.claim_form_key(back)
        moved = moves.move(db.session, actor=current_user, scope=scope(), container_id=container.id,
                           to_location_id=_location_id(), now=utcnow(), reason=request.form.get("reason", ""),
                           note=request.form.get("note") or None)
    except DomainError as error:
        refused(error)
        return redirect(back)
    flash(moved.words, "ok")
    return once.answered(claim, redirect(back))


@bp.post("/locations/<int:location_id>/move-all")
@page(MOVES_STOCK)
def location_move_all(location_id: int):
    origin = get_in_scope(db.session, Location, location_id, scope(), "location")
    back = url_for("pages.stock", location_id=origin.id)
    try:
        claim = once.claim_form_key(back)
        moved = moves.move_all(db.session, actor=current_user, scope=scope(), from_location_id=origin.id,
                               to_location_id=_location_id(), now=utcnow(), reason=request.form.get("reason", ""),
                               note=request.form.get("note") or None)
    except DomainError as error:
        refused(error)
        return redirect(back)
    flash(moved.words, "ok")
    # Where the stock is now: the destination's stock, which lists what came.
    return once.answered(claim, redirect(url_for("pages.stock", location_id=moved.destination.id)))


def _location_id() -> int:
    text = request.form.get("to_location_id", "").strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise ValidationError("Choose where to move it from the list.", field="to_location_id")
    return int(text)
