"""Auth, catalog, scans, containers and lots."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from typing import Annotated, Literal

from flask import Response, current_app, request
from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from inventory import unit_of_work
from inventory.blueprints.api.core import current_scope, current_user, operation
from inventory.blueprints.api.schemas import (
    ClinicList,
    ClinicOut,
    ClinicQuery,
    ContainerOut,
    LocationList,
    LocationOut,
    LotList,
    LotOut,
    LotQuery,
    Model,
    ProductList,
    ProductOut,
    ScanIn,
    ScanOut,
    TokenIn,
    TokenOut,
)
from inventory.blueprints.errors import json_error
from inventory.errors import LotExpiryConflict, LotSuspect, PasswordChangeRequired, Unauthorized, ValidationError
from inventory.extensions import db
from inventory.models import Clinic, GPrimeCategory, Location, Lot, ProductGtin, User, utcnow
from inventory.services import auth, catalog, labels, lot_guard, scanning, throttle
from inventory.services.barcodes import normalise_gtin, normalise_lot_number
from inventory.services.clock import clinic_today
from inventory.services.permissions import Permission
from inventory.services.throttle import TooManyAttempts

security_log = logging.getLogger("vialog.security")


@operation("POST", "/auth/tokens", summary="Sign in and get a bearer token", permission=None,
           body=TokenIn, response=TokenOut, status=201, errors=(401, 403, 429))
def create_token(body: TokenIn) -> TokenOut | Response:
    now = utcnow()
    try:
        user = throttle.sign_in(
            db.session, current_app.extensions["password_hasher"], username=body.username, password=body.password,
            address=request.remote_addr or "unknown", now=now, via="api",
        )
    except TooManyAttempts as error:
        response = json_error(error.status, error.code, error.message, error.details)
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    except Unauthorized as error:
        # Answered, not raised (an exception rolls the request back): the failure must count
        # although the sign-in did not happen.
        unit_of_work.keep_despite_refusal()
        return json_error(error.status, error.code, error.message, error.details)
    if user.must_change_password:
        user = _replace_password_an_admin_set(user, body, now)
    elif body.new_password is not None:
        raise ValidationError("Your password is your own already: change it with POST /api/v1/users/<id>/password.",
                              field="new_password")
    token, record = auth.issue_token(db.session, user, hours=current_app.config["API_TOKEN_HOURS"], now=now)
    return TokenOut(token=token, expires_at=record.expires_at, role=user.role.value)


def _replace_password_an_admin_set(user: User, body: TokenIn, now: dt.datetime) -> User:
    if body.new_password is None:
        raise PasswordChangeRequired(
            "An admin set your password: choose a new one of your own. Send it as new_password with this sign-in, "
            "or sign in on the login page.")
    try:
        auth.change_own_password(db.session, current_app.extensions["password_hasher"], user,
                                 current_password=body.password, password=body.new_password, now=now)
    except ValidationError as error:  # the policy speaks of "password": here it is the new one
        raise ValidationError(error.message, field="new_password") from error
    return user


# Every role holds CART: this is "any signed-in caller".
@operation("DELETE", "/auth/tokens/current", summary="Sign out: revoke the token this request carries",
           permission=Permission.CART, status=204)
def revoke_current_token() -> Response:
    _, _, token = request.headers.get("Authorization", "").partition(" ")
    auth.revoke_token(db.session, token.strip(), now=utcnow())
    security_log.info("token revoked by %r from %s", current_user().username, request.remote_addr)
    response = Response(status=204)
    response.headers.remove("Content-Type")  # no body, so no type
    return response


def _clinics_in_scope() -> list[Clinic]:
    user = current_user()
    if not user.is_chain_level:
        return list(user.clinics)  # loaded with the token (core.py), ordered by name as below: no round trip
    return list(db.session.scalars(select(Clinic).order_by(Clinic.name)))


@operation("GET", "/clinics", summary="The clinics the caller works at", permission=Permission.CART,
           response=ClinicList)
def list_clinics() -> ClinicList:
    return ClinicList(clinics=[ClinicOut.of(c) for c in _clinics_in_scope()])


@operation("GET", "/locations", summary="The caller's locations (?clinic_id=)", permission=Permission.CART,
           query=ClinicQuery, response=LocationList, errors=(404, 422))
def list_locations(query: ClinicQuery) -> LocationList:
    scope = current_scope().narrowed_to(db.session, query.clinic_id)
    stmt = scope.filter(select(Location).where(Location.is_active), Location.clinic_id)
    return LocationList(
        locations=[LocationOut.of(loc) for loc in db.session.scalars(stmt.order_by(Location.clinic_id, Location.name))]
    )


class ProductQuery(Model):
    """The catalog's filters. Like every query of the API, a parameter it does not know is refused (422), never
    ignored: a client filtering by one would otherwise read the whole catalog as its answer."""

    gprime_category: Literal["low", "medium", "high"] | None = Field(
        default=None, description="only fillers of this G' (firmness) category; left out: every product")


@operation("GET", "/products", summary="The catalog", permission=Permission.CART, query=ProductQuery,
           response=ProductList, errors=(422,))
def list_products(query: ProductQuery) -> ProductList:
    products = catalog.list_products(db.session)
    if query.gprime_category is not None:
        products = [p for p in products if p.gprime_category is GPrimeCategory(query.gprime_category)]
    return ProductList(products=[ProductOut.of(p) for p in products])


@operation("POST", "/scans", summary="Read a scanned code (changes nothing)", permission=Permission.CART,
           body=ScanIn, response=ScanOut, errors=(404, 409, 422))
def create_scan(body: ScanIn) -> ScanOut:
    clinics = _clinics_in_scope()
    now = utcnow()
    zones = {clinic.timezone for clinic in clinics}
    # A Vialog label is judged on its container's clinic's clock, a box of a lot on file on the clock of the clinic
    # that holds it (scanning.box_clock). The request names no clinic, so a box that cannot be placed (a lot not on
    # file, or held at clinics on different clocks) is judged on the caller's clock that is furthest ahead: said
    # expired as soon as it has expired at any of their clinics. A scan is a look-up that changes nothing, and errs
    # toward "do not use"; receiving and the cart judge again on their own clinic's clock.
    timezone = (max(clinics, key=lambda clinic: clinic_today(now, clinic.timezone)).timezone if clinics
                else current_app.config["CLINIC_TZ"])
    try:
        result = scanning.scan(db.session, body.code, scope=current_scope(), now=now, timezone=timezone,
                               find_box_clock=len(zones) > 1)
    except (LotSuspect, LotExpiryConflict) as error:
        # A watched lot, or a box whose printed expiry is not its lot's, in someone's hands: the safety lead sees it
        # although the scan is refused.
        details = dict(error.details) | {"message": error.message, "where": "scanning"}
        action = "lot.flagged_expiry_conflict" if isinstance(error, LotExpiryConflict) else "lot.flagged_suspect"
        unit_of_work.record_despite_refusal(functools.partial(
            lot_guard.record_sign, actor_id=current_user().id, clinic_id=clinics[0].id if len(clinics) == 1 else None,
            action=action, details=details, now=now))
        raise
    code = result.code
    return ScanOut(
        kind=code.kind, gtin=code.gtin, lot=code.lot, expiry=code.expiry, expiry_raw=code.expiry_raw,
        serial=code.serial, product=ProductOut.of(result.product) if result.product else None,
        lot_record=LotOut.of(result.lot) if result.lot else None,
        container=ContainerOut.of(result.container) if result.container else None, warnings=result.warnings,
    )


@operation("GET", "/containers/<container_ref>", summary="One container by id or label code",
           permission=Permission.CART, response=ContainerOut, errors=(404,))
def get_container(container_ref: str) -> ContainerOut:
    return ContainerOut.of(scanning.container_by_ref(db.session, container_ref, current_scope()))


@operation("GET", "/containers/<container_ref>/label.svg", summary="The printable label as SVG",
           permission=Permission.CART, errors=(404,), media_type="image/svg+xml")
def container_label_svg(container_ref: str) -> Response:
    container = scanning.container_by_ref(db.session, container_ref, current_scope())
    return Response(labels.render_svg(labels.label_text(container)), mimetype="image/svg+xml")


def _printer_dpi(value: object) -> int:
    try:
        return labels.parse_dpi(value)
    except ValueError as error:  # a custom error keeps pydantic's "Value error, " prefix out of the message
        raise PydanticCustomError("printer_dpi", str(error)) from None


class LabelQuery(Model):
    dpi: Annotated[int, BeforeValidator(_printer_dpi)] = labels.DEFAULT_DPI


@operation("GET", "/containers/<container_ref>/label.png",
           summary="The printable label as PNG for 50 x 25 mm stock at the printer's dpi (203, 300 or 600)",
           permission=Permission.CART, query=LabelQuery, errors=(404, 422), media_type="image/png")
def container_label_png(container_ref: str, query: LabelQuery) -> Response:
    container = scanning.container_by_ref(db.session, container_ref, current_scope())
    return Response(labels.render_png(labels.label_text(container), dpi=query.dpi), mimetype="image/png")


@operation("GET", "/lots", summary="Lots by number and/or GTIN", permission=Permission.CART,
           query=LotQuery, response=LotList, errors=(422,))
def list_lots(query: LotQuery) -> LotList:
    stmt = current_scope().filter_lots(
        select(Lot).options(selectinload(Lot.product)).order_by(Lot.expiry, Lot.id).limit(200), Lot.id
    )
    if query.number:
        stmt = stmt.where(Lot.number_key == normalise_lot_number(query.number))
    if query.gtin:
        stmt = stmt.where(Lot.product_id.in_(
            select(ProductGtin.product_id).where(ProductGtin.gtin == normalise_gtin(query.gtin))
        ))
    return LotList(lots=[LotOut.of(lot) for lot in db.session.scalars(stmt)])
