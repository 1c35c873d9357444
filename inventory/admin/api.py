"""The administration's API operations (API.md "Administration (v1 additions)")."""

from __future__ import annotations

from flask import Response, current_app, request
from flask_login import current_user as page_user
from flask_login import logout_user

from inventory.admin import service
from inventory.admin.schemas import (
    ClinicAdminOut,
    ClinicIn,
    ClinicPatch,
    LocationAdminOut,
    LocationIn,
    LocationPatch,
    PasswordIn,
    ProductAdminOut,
    ProductChange,
    ProductCreate,
    UserIn,
    UserList,
    fields_named_as_sent,
    UserOut,
    UserPatch,
)
from inventory.blueprints.api.core import current_scope, current_user, operation
from inventory.errors import Unauthorized
from inventory.extensions import db
from inventory.models import Role, utcnow
from inventory.services import auth
from inventory.services.permissions import SIGNED_IN, Permission


def _no_content() -> Response:
    response = Response(status=204)
    response.headers.remove("Content-Type")  # no body, so no type
    return response


def _bearer() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


# --- sign out ---------------------------------------------------------------------------------------


@operation("POST", "/auth/logout", summary="Sign out on the server: this bearer token, or this page session",
           permission=None, access=SIGNED_IN, status=204, errors=(401,))
def sign_out() -> Response:
    """With a bearer token, revokes it; from a signed-in page session, ends that user's page sessions."""
    token = _bearer()
    if token is not None:
        if not auth.revoke_token(db.session, token, now=utcnow()):
            raise Unauthorized("This token is unknown or already revoked.")
        return _no_content()
    if page_user.is_authenticated:
        auth.end_page_sessions(page_user._get_current_object())
        logout_user()
        return _no_content()
    raise Unauthorized("Sign in first: send 'Authorization: Bearer <token>'.")


# --- users ------------------------------------------------------------------------------------------


@operation("GET", "/users", summary="Every user the admin manages", permission=Permission.USERS, response=UserList)
def list_users() -> UserList:
    return UserList(users=[UserOut.of(u) for u in service.list_users(db.session, current_scope())])


@operation("POST", "/users", summary="Create a user (no clinic_ids: chain level)", permission=Permission.USERS,
           body=UserIn, response=UserOut, status=201, errors=(403, 404, 409, 422))
def create_user(body: UserIn) -> UserOut:
    user = service.create_user(
        db.session, current_app.extensions["password_hasher"], actor=current_user(), scope=current_scope(),
        username=body.username, password=body.password, role=Role(body.role), clinic_ids=body.clinic_ids,
        chain_level=body.chain_level, display_name=body.display_name, now=utcnow(),
    )
    return UserOut.of(user)


@operation("GET", "/users/<int:user_id>", summary="One user", permission=Permission.USERS, response=UserOut,
           errors=(404,))
def get_user(user_id: int) -> UserOut:
    return UserOut.of(service.get_user(db.session, user_id, current_scope()))


@operation("PATCH", "/users/<int:user_id>", summary="Change a user's name, role, clinics or active state",
           permission=Permission.USERS, body=UserPatch, response=UserOut, errors=(403, 404, 409, 422))
def update_user(user_id: int, body: UserPatch) -> UserOut:
    user = service.update_user(
        db.session, actor=current_user(), scope=current_scope(), user_id=user_id, now=utcnow(),
        role=Role(body.role) if body.role else None, clinic_ids=body.clinic_ids, chain_level=body.chain_level,
        active=body.active, display_name=body.display_name, username=body.username,
    )
    return UserOut.of(user)


# Every role holds CART: any signed-in user may change their own password; the service lets only an
# admin set another user's.
@operation("POST", "/users/<int:user_id>/password",
           summary="Change one's own password (with current_password) or, as an admin, reset a user's",
           permission=Permission.CART, body=PasswordIn, status=204, errors=(403, 404, 409, 422))
def set_password(user_id: int, body: PasswordIn) -> Response:
    service.change_password(
        db.session, current_app.extensions["password_hasher"], actor=current_user(), scope=current_scope(),
        user_id=user_id, password=body.password, current_password=body.current_password, now=utcnow(),
        keep_token=_bearer(),
    )
    return _no_content()


# --- catalog ----------------------------------------------------------------------------------------


@operation("POST", "/products", summary="Add a product with its GTINs; it takes its molecule's dose limits",
           permission=Permission.CATALOG, body=ProductCreate, response=ProductAdminOut, status=201,
           errors=(403, 409, 422))
def create_product(body: ProductCreate) -> ProductAdminOut:
    with fields_named_as_sent():
        saved = service.add_product(db.session, actor=current_user(), fields=body.changes(), gtins=body.gtins or [],
                                    now=utcnow(), reason=body.reason or None)
    return ProductAdminOut.saved(saved)


@operation("PATCH", "/products/<int:product_id>",
           summary="Change a product, its GTINs, or retire it; a dose limit is set on every product of the molecule",
           permission=Permission.CATALOG, body=ProductChange, response=ProductAdminOut, errors=(403, 404, 409, 422))
def update_product(product_id: int, body: ProductChange) -> ProductAdminOut:
    with fields_named_as_sent():
        saved = service.change_product(db.session, actor=current_user(), product_id=product_id,
                                       fields=body.changes(), gtins=body.gtins, now=utcnow(), reason=body.reason)
    return ProductAdminOut.saved(saved)


# --- locations --------------------------------------------------------------------------------------


@operation("POST", "/locations", summary="Add a location to a clinic", permission=Permission.CATALOG,
           body=LocationIn, response=LocationAdminOut, status=201, errors=(404, 409, 422))
def create_location(body: LocationIn) -> LocationAdminOut:
    location = service.create_location(
        db.session, actor=current_user(), scope=current_scope(), clinic_id=body.clinic_id, name=body.name,
        kind=body.kind, temperature_sensitive=body.temperature_sensitive, now=utcnow(),
    )
    return LocationAdminOut.of(location)


@operation("PATCH", "/locations/<int:location_id>", summary="Rename, re-kind or retire a location",
           permission=Permission.CATALOG, body=LocationPatch, response=LocationAdminOut, errors=(404, 409, 422))
def update_location(location_id: int, body: LocationPatch) -> LocationAdminOut:
    location = service.update_location(
        db.session, actor=current_user(), scope=current_scope(), location_id=location_id, now=utcnow(),
        name=body.name, kind=body.kind, temperature_sensitive=body.temperature_sensitive, active=body.active,
    )
    return LocationAdminOut.of(location)


# --- clinics ----------------------------------------------------------------------------------------


def _settings(body: ClinicPatch) -> service.ClinicSettings:
    return service.ClinicSettings(filler_hold_days=body.filler_hold_days, kit_warning_days=body.kit_warning_days,
                                  receipts_need_supplier=body.receipts_need_supplier)


def _set_ranges(clinic_id: int, body: ClinicPatch) -> None:
    for item in body.dose_ranges or []:
        service.set_dose_range(db.session, actor=current_user(), scope=current_scope(), clinic_id=clinic_id,
                               molecule=item.molecule, area=item.area, low=item.low, high=item.high,
                               reason=item.reason, now=utcnow())


def _clinic_out(clinic_id: int) -> ClinicAdminOut:
    clinic = service.get_clinic(db.session, clinic_id, current_scope())
    return ClinicAdminOut.of(clinic, service.dose_ranges(db.session, clinic.id))


@operation("POST", "/clinics", summary="Open a clinic (chain-level admins)", permission=Permission.USERS,
           body=ClinicIn, response=ClinicAdminOut, status=201, errors=(403, 409, 422))
def create_clinic(body: ClinicIn) -> ClinicAdminOut:
    clinic = service.create_clinic(
        db.session, actor=current_user(), scope=current_scope(), code=body.code, name=body.name,
        timezone=body.timezone, settings=_settings(body), now=utcnow(), reason=body.reason,
    )
    _set_ranges(clinic.id, body)
    return _clinic_out(clinic.id)


@operation("GET", "/clinics/<int:clinic_id>", summary="A clinic with its settings", permission=Permission.USERS,
           response=ClinicAdminOut, errors=(404,))
def get_clinic(clinic_id: int) -> ClinicAdminOut:
    return _clinic_out(clinic_id)


@operation("PATCH", "/clinics/<int:clinic_id>", summary="Change a clinic's code, name, time zone or settings",
           permission=Permission.USERS, body=ClinicPatch, response=ClinicAdminOut, errors=(404, 409, 422))
def update_clinic(clinic_id: int, body: ClinicPatch) -> ClinicAdminOut:
    clinic = service.update_clinic(
        db.session, actor=current_user(), scope=current_scope(), clinic_id=clinic_id, now=utcnow(),
        code=body.code, name=body.name, timezone=body.timezone, settings=_settings(body), reason=body.reason,
    )
    _set_ranges(clinic.id, body)
    return _clinic_out(clinic.id)
