"""Administration: users and their sessions, the catalog, locations and clinics.

The same functions serve the pages and the API. They take a session and plain values, flush and never
commit, and raise a DomainError (nothing is changed then: the request rolls back). Every change writes an
audit event (who, when, what changed from what), whose hash chain inventory/services/audit_chain.py fills.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any
from zoneinfo import available_timezones

from argon2 import PasswordHasher
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from inventory.cart.service import AREA_LABELS, AREA_VALUES, MAX_DILUENT_ML, MIN_DILUENT_ML
from inventory.cold_chain import service as cold_chain
from inventory.models.base import plain_quantity
from inventory.errors import (
    DomainError,
    DuplicateGtin,
    Forbidden,
    LastAdmin,
    LocationHoldsStock,
    NameTaken,
    NotFound,
    UserInactive,
    ValidationError,
)
from inventory.models import (
    AuditEvent,
    Clinic,
    Container,
    ContainerState,
    DoseRange,
    GPrimeCategory,
    Location,
    LocationKind,
    Lot,
    Product,
    ProductForm,
    ProductGtin,
    ProductKind,
    Role,
    User,
    user_clinics,
)
from inventory.models.catalog import PRODUCT_NAME_KEY_LENGTH, product_name_key
from inventory.services import auth, catalog
from inventory.services.clock import is_time_zone
from inventory.services.barcodes import normalise_gtin
from inventory.services.permissions import Scope, get_in_scope
from inventory.validators import check_text
from inventory.services.uniqueness import held_once
from inventory.words import counted, listing

MAX_SETTING_DAYS = 365


def _audit(session: Session, *, actor: User, now: dt.datetime, action: str, obj: Any, object_type: str,
           clinic_id: int | None = None, details: dict[str, Any] | None = None) -> None:
    session.add(AuditEvent(at=now, actor_id=actor.id, clinic_id=clinic_id, action=action, object_type=object_type,
                           object_id=str(obj.id), details=details or None))


def _plain(value: Any) -> Any:
    """A value as the audit trail's JSON keeps it."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "value"):  # an enum
        return value.value
    return value


def _apply(obj: Any, changes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Sets each attribute; returns {name: {"from", "to"}} for those that changed."""
    changed = {}
    for name, value in changes.items():
        before = getattr(obj, name)
        if before != value:
            setattr(obj, name, value)
            changed[name] = {"from": _plain(before), "to": _plain(value)}
    return changed


# --- users ------------------------------------------------------------------------------------------


def _manages(scope: Scope, user: User) -> bool:
    """A chain-level admin manages everyone; a clinic-level admin only users of their own clinics."""
    if scope.clinic_ids is None:
        return True
    return not user.is_chain_level and bool(user.clinics) and {c.id for c in user.clinics} <= scope.clinic_ids


def list_users(session: Session, scope: Scope) -> list[User]:
    users = session.scalars(select(User).options(selectinload(User.clinics)).order_by(User.username))
    return [u for u in users if _manages(scope, u)]


def get_user(session: Session, user_id: int, scope: Scope) -> User:
    """Raises NotFound, also for a user outside a clinic-level admin's clinics."""
    user = session.get(User, user_id)
    if user is None or not _manages(scope, user):
        raise NotFound(f"No user with id {user_id}.", id=user_id)
    return user


def _clinics(session: Session, clinic_ids: Iterable[int], scope: Scope, chain_level: bool | None) -> list[Clinic]:
    """The clinics named. Chain level (``chain_level`` True, or None with no clinics: see auth.check_placement)
    only a chain-level admin may give."""
    ids = sorted(set(clinic_ids))
    wants_chain_level = chain_level if chain_level is not None else not ids
    if wants_chain_level and scope.clinic_ids is not None:
        raise Forbidden("Only a chain-level admin may make a chain-level user: choose the user's clinics.")
    if not ids and not wants_chain_level and scope.clinic_ids is not None:
        # A clinic-level admin is never offered every clinic: said in what they may do.
        raise auth.ClinicsRequired("Choose the clinics this user works at: at least one of yours.",
                                   field="clinic_ids")
    return [_clinic_in_scope(session, clinic_id, scope) for clinic_id in ids]


class CannotDeactivateSelf(DomainError):
    """An admin deactivating their own account would sign themselves out for good: another admin does it."""

    code = "cannot_deactivate_self"
    status = 409


def _other_active_admins(session: Session, user: User) -> tuple[int, int]:
    """How many active admins other than ``user`` there are: (all of them, those at chain level).

    The active admins' rows are locked, in one order, until the request ends: two admins demoting or
    deactivating each other at the same moment are taken one after the other, so the second sees that the
    first is gone and the chain never ends up with no admin (PostgreSQL; SQLite takes writes one at a time)."""
    admins = session.execute(
        select(User.id, User.is_chain_level).where(User.role == Role.ADMIN, User.is_active)
        .order_by(User.id).with_for_update()
    ).all()
    others = [chain_level for admin_id, chain_level in admins if admin_id != user.id]
    return len(others), sum(1 for chain_level in others if chain_level)


def _stays_chain_level(user: User, clinic_ids: Iterable[int] | None, chain_level: bool | None) -> bool:
    """Whether ``user`` would still work at chain level after a change of clinics or chain level, as _placement
    reads them (which refuses what does not fit, e.g. named clinics with chain level ticked)."""
    if chain_level is not None:
        return chain_level
    if clinic_ids is not None:
        return not set(clinic_ids)  # no clinics: chain level, the API's contract
    return user.is_chain_level


def _refuse_losing_the_last_admin(session: Session, user: User, *, role: Role, active: bool,
                                  chain_level: bool) -> None:
    """The chain keeps at least one active admin, and one of them at chain level: only a chain-level admin opens
    clinics and manages chain-level users, so without one recovery needs the server's command line."""
    if user.role is not Role.ADMIN or not user.is_active:
        return
    stays_admin = role is Role.ADMIN and active
    if stays_admin and (chain_level or not user.is_chain_level):
        return
    others, chain_level_others = _other_active_admins(session, user)
    if user.is_chain_level and chain_level_others == 0:
        raise LastAdmin(
            f"{user.username} is the last active admin at chain level, and a chain-level admin must remain: "
            "only they open clinics and manage chain-level users. Make another user a chain-level admin first.",
            id=user.id,
        )
    if not stays_admin and others == 0:
        raise LastAdmin(f"{user.username} is the last active admin: make another admin first.", id=user.id)


def create_user(
    session: Session, hasher: PasswordHasher, *, actor: User, scope: Scope, username: str, password: str,
    role: Role, clinic_ids: Iterable[int] = (), chain_level: bool | None = None, display_name: str = "",
    now: dt.datetime,
) -> User:
    """A new active user at ``clinic_ids``, or at every clinic: ``chain_level`` True, or None with no clinics (the
    API's contract); False with no clinics is refused, so a forgotten tick never means every clinic. A nurse is
    never chain level. The user chooses a password of their own at first sign-in. Raises ValidationError, UsernameTaken (also for the name in another case), ClinicsRequired,
    NotFound (a clinic) or Forbidden (a clinic-level admin making a chain-level user)."""
    auth.refuse_taken_username(session, auth.check_username(username))  # the name first, as the form reads
    clinics = _clinics(session, clinic_ids, scope, chain_level)
    user = auth.create_user(session, hasher, username=username, password=password, role=role, clinics=clinics,
                            chain_level=chain_level, display_name=display_name.strip())
    # The admin chose this password and knows it, as after a reset: the user sets their own at first sign-in.
    user.must_change_password = True
    _audit(session, actor=actor, now=now, action="user.created", obj=user, object_type="user", details={
        "username": user.username, "role": role.value, "clinic_ids": [c.id for c in clinics],
        "chain_level": user.is_chain_level,
    })
    session.flush()
    return user


def _placement(session: Session, scope: Scope, user: User, role: Role, clinic_ids: Iterable[int] | None,
               chain_level: bool | None) -> tuple[list[Clinic], bool]:
    """The clinics and chain level ``user`` has after a change of any of role, clinics or chain level; what is
    not given stays. Raises Forbidden, NotFound, ValidationError or ClinicsRequired (auth.check_placement)."""
    if clinic_ids is not None:
        clinics = _clinics(session, clinic_ids, scope, chain_level)
    elif chain_level:
        clinics = _clinics(session, (), scope, True)
    else:  # the clinics stay; so does the chain level, unless it is ended (then clinics are needed)
        clinics = [] if user.is_chain_level else list(user.clinics)
        chain_level = user.is_chain_level if chain_level is None else chain_level
    return clinics, auth.check_placement(role, clinics, chain_level)


def update_user(
    session: Session, *, actor: User, scope: Scope, user_id: int, now: dt.datetime, role: Role | None = None,
    clinic_ids: Iterable[int] | None = None, chain_level: bool | None = None, active: bool | None = None,
    display_name: str | None = None, username: str | None = None,
) -> User:
    """Changes what is given. ``clinic_ids`` and ``chain_level`` as in create_user; a new role must suit the
    clinics the user keeps (a chain-level manager made a nurse needs clinics). Deactivating ends the user's page
    sessions and API tokens at once. Nothing is changed when any of it is refused.

    Raises NotFound, Forbidden, ValidationError, ClinicsRequired, UsernameTaken (a rename to a name another user
    holds in any case), LastAdmin when the last active admin would be deactivated or demoted, or the last active
    chain-level admin deactivated, demoted or made clinic-level, or CannotDeactivateSelf (an admin deactivating
    their own account).
    """
    user = get_user(session, user_id, scope)
    changes: dict[str, Any] = {}
    if username is not None:
        username = auth.check_username(username)
        if username == user.username:  # a change of case only is a rename too
            username = None
        else:
            auth.refuse_taken_username(session, username, user_id=user.id)
    if role is not None:
        changes["role"] = role
    if display_name is not None:
        changes["display_name"] = display_name.strip()
    if active is not None:
        changes["is_active"] = active
    _refuse_losing_the_last_admin(session, user, role=changes.get("role", user.role),
                                  active=changes.get("is_active", user.is_active),
                                  chain_level=_stays_chain_level(user, clinic_ids, chain_level))
    if user.id == actor.id and user.is_active and changes.get("is_active") is False:
        raise CannotDeactivateSelf(
            "You cannot deactivate your own account: it would sign you out for good. Another admin may do it.",
            id=user.id,
        )
    placed = clinic_ids is not None or chain_level is not None or changes.get("role", user.role) is not user.role
    if placed:
        clinics, is_chain_level = _placement(session, scope, user, changes.get("role", user.role), clinic_ids,
                                             chain_level)
    changed: dict[str, dict[str, Any]] = {}
    if username is not None:  # first: a name taken meanwhile is refused before anything else changes
        with auth.username_held_once(session, username, user_id=user.id):
            changed["username"] = {"from": user.username, "to": username}
            user.username = username
    changed |= _apply(user, changes)
    if placed:
        before = sorted(c.id for c in user.clinics) if not user.is_chain_level else []
        after = sorted(c.id for c in clinics)
        if before != after or user.is_chain_level != is_chain_level:
            if user.is_chain_level != is_chain_level:
                changed["chain_level"] = {"from": user.is_chain_level, "to": is_chain_level}
            user.clinics = clinics
            user.is_chain_level = is_chain_level
            changed["clinic_ids"] = {"from": before, "to": after}
    if not changed:
        return user
    if "is_active" in changed and not user.is_active:
        auth.end_all_sessions(session, user, now=now)
    action = "user.changed"
    if set(changed) == {"is_active"}:
        action = "user.reactivated" if user.is_active else "user.deactivated"
    _audit(session, actor=actor, now=now, object_type="user", obj=user, details=changed, action=action)
    session.flush()
    return user


def change_password(
    session: Session, hasher: PasswordHasher, *, actor: User, scope: Scope, user_id: int, password: str,
    current_password: str | None = None, now: dt.datetime, keep_token: str | None = None,
) -> User:
    """The user's own change (``current_password`` needed) or an admin's reset of another user's password.

    Either ends the user's other page sessions and API tokens (``keep_token``: the token of the request
    itself, for a change through the API; the page keeps its own session by remembering the new version).
    A reset makes the user choose a new password at next sign-in.
    Raises NotFound, Forbidden, ValidationError (policy, wrong current password) or UserInactive.
    """
    if actor.id == user_id:
        auth.change_own_password(session, hasher, actor, current_password=current_password, password=password,
                                 now=now, keep_token=keep_token)
        session.flush()
        return actor
    if actor.role is not Role.ADMIN:
        raise Forbidden("Only an admin may set another user's password.")
    user = get_user(session, user_id, scope)
    if not user.is_active:
        raise UserInactive(f"{user.username} is deactivated: reactivate the account first.", id=user.id)
    auth.set_password(hasher, user, password, must_change=True)
    auth.end_all_sessions(session, user, now=now)
    _audit(session, actor=actor, now=now, action="user.password_reset", obj=user, object_type="user")
    session.flush()
    return user


# --- catalog ----------------------------------------------------------------------------------------

# The label's dose limits belong to the molecule (DOMAIN.md "Dose and interval checks"), and the draw reads
# them from the product drawn, at no cost of its own: so they are kept equal across the molecule's products
# here, where they are written. A limit a request gives for a product is its molecule's from then on: it is
# set on every product of the molecule in the same transaction, each product's change audited. A product
# that joins a molecule (a new product, or a product whose molecule changes) takes the molecule's limits; a
# value given with it that differs is refused (molecule_limits_conflict): joining never changes the limits of
# the products already there, a deliberate edit of one of them does. A molecule the catalog does not hold
# yet has the limits its first product is given.
LIMIT_FIELDS = catalog.LIMIT_FIELDS
LIMIT_PAIRS = (frozenset({"session_max_units", "session_max_areas"}),
               frozenset({"cumulative_max_units", "cumulative_window_days"}))
# What only an admin may change: the sharing policy and the label's limits (DOMAIN.md).
ADMIN_ONLY_PRODUCT_FIELDS = frozenset({"is_multi_patient", *LIMIT_FIELDS})
PRODUCT_FIELDS = frozenset({
    "name", "brand", "generic_name", "manufacturer", "kind", "base_unit", "quantity_per_container", "storage",
    "molecule", "form", "strength_per_ml", "volume_ml", "is_single_dose", "is_multi_patient",
    "session_max_units", "session_max_areas", "cumulative_max_units", "cumulative_window_days",
    "retreat_interval_days", "beyond_use_hours", "labelled_diluent", "labelled_diluent_ml",
    "gprime_category", "gprime_pa", "has_lidocaine", "material", "hyaluronidase_source", "usual_max_units_per_session",
    "follow_up_days", "label_source", "is_active",
})


class MoleculeLimitsConflict(DomainError):
    """A product joining a molecule was given a dose limit other than the molecule's, or the molecule's products
    disagree on one (a database from before limits were kept per molecule): nothing was changed."""

    code = "molecule_limits_conflict"
    status = 409


@dataclass(frozen=True)
class ProductSaved:
    """A product as saved, with what the save did to the other products of its molecule."""

    product: Product
    also_set_on: list[Product]  # the molecule's other products whose dose limits this save set
    limits_from: Product | None = None  # a product that joined a molecule: one holding the limits it took

    @property
    def note(self) -> str | None:
        """What happened beyond the product itself, in words for the page and the API."""
        molecule = self.product.molecule
        if self.also_set_on:
            names = ", ".join(p.name for p in self.also_set_on)
            return f"Dose limits also set on {names}: same molecule ({molecule})."
        if self.limits_from is not None:
            return f"Dose limits taken from its molecule ({molecule}), as on {self.limits_from.name}."
        return None


# DOMAIN.md: a clinic may set stricter limits, "never looser ones without an admin recording why". A change that
# loosens a label limit on any product it reaches (the molecule's, too) therefore needs a reason, kept in each
# product's audit event with the words of what it loosened; tightening needs none (one given is kept anyway).
# The product's own label facts follow the same rule: a longer beyond-use time (a vial drawn from for longer after
# reconstitution or first puncture) or the single-dose mark taken off loosen what the label allows. Those two are
# no admin's alone to tighten: a manager may shorten the beyond-use time or mark a product single-dose, never the
# reverse (the limits and the sharing policy are the admin's whichever way, ADMIN_ONLY_PRODUCT_FIELDS).
MAX_LIMIT_REASON = 300
LABEL_FACT_FIELDS: tuple[str, ...] = ("beyond_use_hours", "is_single_dose")
LOOSENABLE_FIELDS: tuple[str, ...] = (*LIMIT_FIELDS, *LABEL_FACT_FIELDS)
# A loosening as the API and the audit trail name it (the request's field: single_dose, not is_single_dose).
_LOOSENED_NAMES = {"is_single_dose": "single_dose"}
# What was loosened, in words, as an audit event's ``loosened`` names it (the trail and the latest loosening say it).
LOOSENED_LABELS = {**catalog.LIMIT_LABELS, "beyond_use_hours": "beyond-use time", "single_dose": "single-dose",
                   "sharing": "sharing", "filler_hold_days": "days an opened filler is held",
                   "receipts_need_supplier": "every receipt names its supplier"}


def loosened_name(field: str) -> str:
    """The name a loosened field has in ``details.loosened`` and in the audit event's ``loosened``."""
    return _LOOSENED_NAMES.get(field, field)


@dataclass(frozen=True)
class Loosening:
    """One label limit a change makes looser on one product."""

    product: Product
    field: str
    before: Any
    after: Any

    def change_words(self) -> str:
        """ "64 U to 500 U", "90 days to none", "every area to Glabella (frown lines)" """
        return f"{_limit_words(self.field, self.before, self.product.base_unit)} to " \
               f"{_limit_words(self.field, self.after, self.product.base_unit)}"

    def as_detail(self) -> dict[str, Any]:
        """One item of a refusal's ``details.loosened``."""
        return {"product_id": self.product.id, "name": self.product.name, "field": loosened_name(self.field),
                "from": _limit_value(self.before), "to": _limit_value(self.after)}


def loosened_limits(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The fields (of LOOSENABLE_FIELDS, in its order) that a change of one product from ``before`` to ``after``
    loosens; a field absent from either is left out. A limit set where there was none tightens. A maximum raised or
    cleared, a window or interval shortened (fewer days: fewer doses counted, a sooner re-treatment) or cleared
    loosen. The session maximum counts the draws in its areas (none listed: every area), so a session maximum that
    stays but covers fewer areas loosens: a dose in an area left out no longer counts towards it. The beyond-use
    time is a limit too, compared with the value it had (as every limit is, not with a label on file): lengthened
    or cleared (no time at all) it loosens; set where there was none, or shortened, it tightens. The single-dose
    mark taken off loosens the label's one patient, one session; put on, it tightens. Pure."""
    def raised(name: str) -> bool:
        was, now = before.get(name), after.get(name)
        return was is not None and (now is None or now > was)

    def shortened(name: str) -> bool:
        was, now = before.get(name), after.get(name)
        return was is not None and (now is None or now < was)

    def covered(value: Any) -> frozenset[str]:
        return catalog.area_codes(value) or frozenset(AREA_VALUES)

    found = {name for name in ("session_max_units", "cumulative_max_units") if raised(name)}
    found |= {name for name in ("cumulative_window_days", "retreat_interval_days") if shortened(name)}
    if before.get("session_max_units") is not None and after.get("session_max_units") is not None \
            and covered(before.get("session_max_areas")) - covered(after.get("session_max_areas")):
        found.add("session_max_areas")
    facts = {name for name in LABEL_FACT_FIELDS if name in before and name in after}  # a fact given on both sides
    if "beyond_use_hours" in facts and raised("beyond_use_hours"):
        found.add("beyond_use_hours")
    if "is_single_dose" in facts and before["is_single_dose"] and not after["is_single_dose"]:
        found.add("is_single_dose")
    return [name for name in LOOSENABLE_FIELDS if name in found]


def _limit_value(value: Any) -> Any:
    """A limit as the API answers it: quantities as decimal strings without trailing zeros ("64")."""
    return plain_quantity(value) if isinstance(value, Decimal) else value


def _limits_of(product: Product) -> dict[str, Any]:
    """What a change of the product may loosen: its molecule's limits and its own label facts."""
    return {name: getattr(product, name) for name in LOOSENABLE_FIELDS}


def _limit_words(field: str, value: Any, unit: str) -> str:
    if field == "beyond_use_hours":
        return "none" if value is None else f"{value} h"
    if field == "is_single_dose":
        return "yes" if value else "no"
    if field == "session_max_areas":
        codes = catalog.area_codes(value)
        return ", ".join(AREA_LABELS.get(a, a) for a in AREA_VALUES if a in codes) or "every area"
    return catalog.describe_limit(field, value, unit)


_LOOSENING_VERBS = {  # (the limit raised or shortened, the limit cleared), each followed by the products' names
    "session_max_units": ("raising the session maximum of", "removing the session maximum of"),
    "cumulative_max_units": ("raising the cumulative maximum of", "removing the cumulative maximum of"),
    "cumulative_window_days": ("shortening the cumulative window of", "removing the cumulative window of"),
    "retreat_interval_days": ("shortening the re-treatment interval of", "removing the re-treatment interval of"),
    "session_max_areas": ("narrowing the areas the session maximum counts of", ""),
    "beyond_use_hours": ("lengthening the beyond-use time of", "removing the beyond-use time of"),
    "is_single_dose": ("taking the single-dose mark off", ""),
}


def _loosening_message(product: Product, loosenings: list[Loosening]) -> str:
    """What a change loosens, product by product, and what to do: "Raising the session maximum of Botox Cosmetic
    100 U (64 U to 500 U) loosens a safety limit: say why (e.g. the new label, a clinical protocol)." The same
    change on several products of the molecule is said once, naming them all."""
    loosens = "loosens a safety limit" if len({(i.field, i.change_words()) for i in loosenings}) == 1 \
        else "loosen safety limits"
    return f"{_loosening_said(product, loosenings)} {loosens}: say why (e.g. the new label, a clinical protocol)."


def _loosening_said(product: Product, loosenings: list[Loosening]) -> str:
    """ "Raising the session maximum of Botox Cosmetic 100 U (64 U to 500 U)": what a change loosens, the same
    change on several products of the molecule said once."""
    grouped: dict[tuple[str, str], list[Loosening]] = {}
    for loosening in loosenings:
        grouped.setdefault((loosening.field, loosening.change_words()), []).append(loosening)
    phrases = []
    for (field, words), same in grouped.items():
        raised, cleared = _LOOSENING_VERBS[field]
        verb = cleared if same[0].after is None and cleared else raised
        names = [item.product.name for item in same]
        listed = listing(names)
        if field == "session_max_areas":
            dropped = catalog.area_codes(same[0].before) or frozenset(AREA_VALUES)
            dropped -= catalog.area_codes(same[0].after) or frozenset(AREA_VALUES)
            words += f": {', '.join(AREA_LABELS.get(a, a) for a in AREA_VALUES if a in dropped)} no longer counted"
        elif field == "is_single_dose":
            words = "its label's one patient, one session"
        if any(item.product.id != product.id for item in same):
            words += f"; same molecule, {product.molecule}"
        phrases.append(f"{verb} {listed} ({words})")
    said = "; ".join(phrases)
    return f"{said[0].upper()}{said[1:]}"


def _limit_reason(reason: str | None) -> str | None:
    """The reason trimmed, or None when nothing was typed; raises ValidationError (field ``reason``)."""
    reason = check_text(reason, what="The reason", field="reason", max_length=MAX_LIMIT_REASON)
    return reason or None


@dataclass(frozen=True)
class LimitLoosening:
    """The latest change that loosened a product's label limits, from the audit trail."""

    at: dt.datetime
    by: str | None  # the admin's username (None: no actor recorded)
    reason: str | None
    loosened: dict[str, str]  # field -> "64 U to 500 U"

    @property
    def what(self) -> str:
        """ "session maximum 64 U to 500 U; re-treatment interval 90 days to 14 days" """
        return "; ".join(f"{LOOSENED_LABELS.get(f, f)} {words}" for f, words in self.loosened.items())


def latest_loosening(session: Session, product_id: int) -> LimitLoosening | None:
    """The product's latest audited change that loosened a label limit or made it multi-patient, with who, when and
    why; one statement."""
    row = session.execute(
        select(AuditEvent.at, AuditEvent.details, User.username)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(AuditEvent.object_type == "product", AuditEvent.object_id == str(product_id),
               AuditEvent.action.in_(("product.changed", "product.sharing_changed")),
               AuditEvent.details["loosened"].as_string().is_not(None))
        .order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    if row is None:
        return None
    details = row.details or {}
    return LimitLoosening(at=row.at, by=row.username, reason=details.get("reason"),
                          loosened=dict(details.get("loosened") or {}))


# The catalog is the chain's: a product added, changed or retired is so at every clinic (a retired Botox is refused
# at every clinic's receiving, a dose limit is checked at every cart). Only a chain-level user changes it.
PRODUCTS_ARE_THE_CHAINS = ("Products are the chain's: a change applies at every clinic, so only a chain-level manager "
                           "or chain-level admin adds, changes or retires one.")
# Sharing an opened vial between patients loosens the label's one patient, one session (DOMAIN.md): an admin says why.
SHARING_LOOSENED = "single patient to multi-patient within beyond-use time"


def _sharing_refusal(name: str) -> str:
    return (f"Letting patients share an opened {name} ({SHARING_LOOSENED}) loosens a safety rule: "
            "say why (e.g. the clinic's protocol for sharing vials).")


class AlwaysSinglePatient(ValidationError):
    """A product whose kind is single-patient by nature (DOMAIN.md: a filler syringe; hyaluronidase, whose every vial
    is single-dose) made shareable between patients: refused for everyone, an admin with a reason too."""

    code = "always_single_patient"
    status = 422


def _refuse_sharing_by_kind(product: Product, changed: Iterable[str] | None) -> None:
    """Raises AlwaysSinglePatient for a filler or a hyaluronidase made multi-patient, or a hyaluronidase whose
    single-dose mark is taken off (``changed``: the fields a change set; None: a new product). A row from before this
    rule, hyaluronidase not marked single-dose, may still be saved as it is: the cart reads it as single-patient all
    the same (Product.is_single_patient)."""
    if not product.is_always_single_patient:
        return
    name = product.name or "This product"
    if product.kind is ProductKind.FILLER:
        nature, holder = "a filler: an opened syringe belongs to one patient", "syringe"
    else:
        nature = ("hyaluronidase: every vial of it is single-dose, and an opened vial belongs to one patient (hourly "
                  "pulses for that patient draw from it again; what is left is wasted when that treatment closes)")
        holder = "vial"
    if product.is_multi_patient:
        raise AlwaysSinglePatient(
            f"{name} is {nature}. It cannot be shared between patients, whoever asks: untick multi-patient.",
            field="multi_patient", kind=product.kind.value,
            fields=[{"field": "multi_patient", "problem": f"a {product.kind.value} {holder} is never shared"}])
    unmarked = changed is None or "is_single_dose" in changed or "kind" in changed
    if product.kind is ProductKind.HYALURONIDASE and not product.is_single_dose and unmarked:
        raise AlwaysSinglePatient(
            f"{name} is {nature}. It stays single-dose, whoever asks: tick single-dose.",
            field="is_single_dose", kind=product.kind.value,
            fields=[{"field": "is_single_dose", "problem": "hyaluronidase is always single-dose"}])


def may_change_catalog(user: User) -> bool:
    """Whether ``user`` may add, change or retire products: a chain-level manager or admin (the role's permission
    is checked by the route)."""
    return bool(user.is_chain_level)


def _refuse_clinic_level(actor: User) -> None:
    if not may_change_catalog(actor):
        raise Forbidden(PRODUCTS_ARE_THE_CHAINS, permission="catalog")


class GtinInUse(DomainError):
    """A GTIN taken off a product that has lots on file: their boxes carry its GTINs, and would no longer be found."""

    code = "gtin_in_use"
    status = 409


def _refuse_removing_gtins(session: Session, product: Product, removed: list[str]) -> None:
    """A lot does not record the GTIN its boxes carry, so while any lot of the product is on file, each of its
    GTINs may be on boxes on a shelf, in a kit or on the road, or be what a recall notice names: taken off, they
    would scan as an unknown product and a look-up by GTIN would miss them. Raises GtinInUse."""
    lots = session.scalar(select(func.count(Lot.id)).where(Lot.product_id == product.id)) or 0
    if lots:
        held = session.scalar(select(func.count(Container.id)).where(
            Container.product_id == product.id, Container.state.in_(HOLDING_STATES), Container.remaining > 0)) or 0
        stock = f" and {counted(held, 'container')} in stock" if held else ""
        raise GtinInUse(
            f"GTIN {removed[0]} cannot be taken off {product.name}: {lots} lot(s) of it are on file{stock}, and "
            "their boxes may carry it, so they would scan as an unknown product and a recall look-up by GTIN would "
            "miss them. Add a new GTIN instead: adding one is always allowed.",
            gtin=removed[0], gtins=removed, product_id=product.id, lots=lots, containers=held,
        )


# What a product's recorded quantities mean (DOMAIN.md: units are never converted): every container's remaining,
# every movement and dose is a number in its base unit; a sealed container holds quantity_per_container of it; a
# liquid's mL drawn are turned into units with its strength per mL and volume (a powder's with its vial's own
# concentration, set at reconstitution, which the form decides). Changed once a container is on file, they would
# silently re-read its stock and history (100 U vials become 100 mL on a 50 mL product): a new presentation is a
# new product. The names: the attribute, the API's field, the words the message uses.
PRESENTATION_FIELDS = (
    ("base_unit", "base_unit", "base unit"),
    ("quantity_per_container", "units_per_container", "units or mL per container"),
    ("form", "form", "form (powder, liquid or gel)"),
    ("strength_per_ml", "concentration_per_ml", "concentration per mL"),
    ("volume_ml", "volume_ml", "volume per container"),
)


class ProductInUse(DomainError):
    """A product's base unit, quantity per container, form, concentration or volume changed while containers of it
    are on file: their stock and history are recorded in what it is now. A new presentation is a new product."""

    code = "product_in_use"
    status = 409


def containers_on_file(session: Session, product_id: int) -> int:
    """How many containers of the product were ever received, in stock or used up (every movement names one)."""
    return session.scalar(select(func.count(Container.id)).where(Container.product_id == product_id)) or 0


def _fact(value: Any) -> Any:
    """A presentation fact as details and messages give it: "100", not "100.0000"."""
    return plain_quantity(value) if isinstance(value, Decimal) else _plain(value)


def _fact_words(value: Any) -> str:
    return "none" if value is None else str(_fact(value))


def _refuse_changing_presentation(session: Session, product: Product, changes: Mapping[str, Any]) -> None:
    """Raises ProductInUse when ``changes`` would change what the product's recorded quantities mean (its
    PRESENTATION_FIELDS) while any container of it is on file; a product never received may still be corrected."""
    changed = [(attribute, field, words) for attribute, field, words in PRESENTATION_FIELDS
               if attribute in changes and changes[attribute] != getattr(product, attribute)]
    if not changed:
        return
    containers = containers_on_file(session, product.id)
    if not containers:
        return
    what = " or ".join(f"its {words} ({_fact_words(getattr(product, attribute))} to "
                       f"{_fact_words(changes[attribute])})" for attribute, _, words in changed)
    raise ProductInUse(
        f"{product.name} cannot change {what}: {counted(containers, 'container')} of it {'is' if containers == 1 else 'are'} on file, and their stock and every "
        f"dose recorded from them are counted in {product.base_unit}, "
        f"{plain_quantity(product.quantity_per_container)} per container. Changed, all of it would be read in the new "
        "unit or size. A new presentation (another unit, size or form) is a new product: add it to the catalog as a "
        "new entry and receive its boxes under it.",
        product_id=product.id, containers=containers, field=changed[0][1],
        fields=[{"field": field, "from": _fact(getattr(product, attribute)), "to": _fact(changes[attribute])}
                for attribute, field, _ in changed],
    )


def list_products(session: Session) -> list[Product]:
    return list(session.scalars(
        select(Product).options(selectinload(Product.gtins)).order_by(Product.is_active.desc(), Product.kind, Product.name)
    ))


def same_molecule(session: Session, product: Product) -> list[Product]:
    """The other products of the product's molecule, by name (none without a molecule)."""
    if product.molecule is None:
        return []
    return list(session.scalars(select(Product).where(
        Product.molecule == product.molecule, Product.id != product.id).order_by(Product.name)))


def _gtins(session: Session, gtins: Iterable[str], product_id: int | None) -> list[str]:
    """Normalised to 14 digits, check digits verified; raises UnreadableCode, BadCheckDigit or DuplicateGtin."""
    normalised: list[str] = []
    for gtin in gtins:
        value = normalise_gtin(gtin)
        if value not in normalised:
            normalised.append(value)
    if normalised:
        taken = session.execute(
            select(ProductGtin.gtin, Product.name).join(Product).where(ProductGtin.gtin.in_(normalised))
            .where(Product.id != (product_id or 0))
        ).first()
        if taken is not None:
            raise DuplicateGtin(f"GTIN {taken.gtin} is already on {taken.name}: a GTIN names one product only.",
                                gtin=taken.gtin)
    return normalised


# What each kind is counted in (DOMAIN.md "The three families of stock"): a toxin in its brand's units (U; s.U,
# Speywood units, for Azzalure and Alluzience), a filler in mL, hyaluronidase in USP units or IU; a supply in pieces
# (each) or, bought by volume, mL. Never a unit of another kind: a filler in U would join a toxin's totals and
# limits, a toxin in mL would be counted as a volume.
KIND_UNITS: dict[ProductKind, tuple[str, ...]] = {
    ProductKind.NEUROMODULATOR: ("U", "s.U"),
    ProductKind.FILLER: ("mL",),
    ProductKind.HYALURONIDASE: ("USP U", "IU"),
    ProductKind.SUPPLY: ("each", "mL"),
}
_KIND_SUBJECTS = {ProductKind.NEUROMODULATOR: "A toxin", ProductKind.FILLER: "A filler",
                  ProductKind.HYALURONIDASE: "Hyaluronidase", ProductKind.SUPPLY: "A supply"}
_UNIT_WORDS = {"U": "U (the brand's units)", "s.U": "s.U (Speywood units)", "USP U": "USP U", "IU": "IU",
               "mL": "mL", "each": "each (pieces)"}
_SPELT = {" ".join(unit.split()).casefold(): unit for units in KIND_UNITS.values() for unit in units}


def unit_spelt(unit: str) -> str:
    """A base unit as the catalog spells it ("ml" -> "mL", "usp  u" -> "USP U"); any other text as typed, trimmed."""
    squeezed = " ".join(unit.split())
    return _SPELT.get(squeezed.casefold(), squeezed)


def check_unit(kind: ProductKind, unit: str) -> None:
    """Raises ValidationError (field ``base_unit``) for a unit the kind is never counted in (KIND_UNITS)."""
    allowed = KIND_UNITS[kind]
    if unit not in allowed:
        raise ValidationError(
            f"{_KIND_SUBJECTS[kind]} is counted in {listing([_UNIT_WORDS[u] for u in allowed], 'or')}, not "
            f"“{unit}”.", field="base_unit", units=list(allowed))


def adds_up_with(kind: ProductKind, unit: str) -> str:
    """What a product's quantities add up with in its molecule's totals and limits: a toxin's U and s.U are both
    its molecule's own units (DOMAIN.md: Dysport's U and Azzalure's s.U are abobotulinumtoxinA's Speywood units,
    and add up); any other unit only with itself."""
    return "toxin units" if kind is ProductKind.NEUROMODULATOR and unit in KIND_UNITS[kind] else unit


def _refuse_other_units(name: str, molecule: str, others: list[Product], kind: ProductKind, unit: str,
                        limits: Mapping[str, Any], field: str = "base_unit") -> None:
    """A product is in a molecule only in units that add up with its other products': doses are totalled and
    limited per molecule (DOMAIN.md "Dose and interval checks"). Hyaluronidase is the one molecule kept in pools
    (USP U with USP U, IU with IU: the patient's history and the stock total each apart), so USP U and IU share it
    while it has no dose limit (``limits``: the molecule's, and any given), which would add them up. Raises
    ValidationError (``field``: the base unit, or the limit given)."""
    measure = adds_up_with(kind, unit)
    apart = [p for p in others if adds_up_with(p.kind, p.base_unit) != measure]
    if not apart:
        return
    pooled = kind is ProductKind.HYALURONIDASE and all(p.kind is ProductKind.HYALURONIDASE for p in apart)
    if pooled and all(value is None for value in limits.values()):
        return
    holder = apart[0]
    details = {"molecule": molecule, "units": sorted({unit, *(p.base_unit for p in apart)}),
               "product_ids": [p.id for p in apart]}
    if pooled:
        raise ValidationError(
            f"The molecule {molecule} is counted in {unit} and in {holder.base_unit} (as {holder.name}), which never "
            "add up: a dose limit on it would add them. Leave its dose limits empty.", field=field, **details)
    raise ValidationError(
        f"{name} would be counted in {unit}, but {molecule} is counted in {holder.base_unit} (as {holder.name}): "
        f"doses add up and are limited per molecule, so one molecule keeps one unit. Use {holder.base_unit}, or "
        "name the product's own molecule.", field=field, **details)


# The label's facts a product may carry only where they mean something: lidocaine and a material are a filler's, a
# source is hyaluronidase's, a labelled diluent a powder's (it is what reconstitution offers). Text facts: the
# column's length, one line (inventory/validators.check_text).
LABEL_TEXT_FIELDS = {"storage": 120, "labelled_diluent": 120, "material": 40, "hyaluronidase_source": 40,
                     "label_source": 500}
_TEXT_WORDS = {"storage": "Storage", "labelled_diluent": "The labelled diluent", "material": "The material",
               "hyaluronidase_source": "The source", "label_source": "The label source"}
_NEVER_NULL = frozenset({"storage", "label_source"})  # every product has them: nothing typed is empty text


def _label_fact_refusal(product: Product, changed: Iterable[str] | None) -> tuple[str, str] | None:
    """(message, field) for a label fact the product's kind or form does not have, among those ``changed`` (None:
    every one, a new product); a change of kind or form looks at them all."""
    names = set() if changed is None else set(changed)
    every = changed is None or bool({"kind", "form"} & names)

    def judged(field: str) -> bool:
        return every or field in names

    def set_now(field: str) -> bool:
        return getattr(product, field) is not None and judged(field)

    if product.kind is not ProductKind.FILLER:
        for field in ("material", "has_lidocaine"):
            if set_now(field):
                return ("Only a filler has a material (HA, CaHA, PLLA) or lidocaine: leave it empty for "
                        f"{product.name or 'this product'}.", field)
    if product.kind is not ProductKind.HYALURONIDASE and set_now("hyaluronidase_source"):
        return "Only hyaluronidase has a source (human recombinant, bovine, ovine): leave it empty.", \
            "hyaluronidase_source"
    if product.form is not ProductForm.POWDER:
        for field in ("labelled_diluent", "labelled_diluent_ml"):
            if set_now(field):
                return ("Only a powder is reconstituted: a labelled diluent and its volume belong to a powder. Leave "
                        "them empty, or say it is a powder.", field)
    volume = product.labelled_diluent_ml
    if volume is not None and judged("labelled_diluent_ml") and not MIN_DILUENT_ML <= volume <= MAX_DILUENT_ML:
        return (f"{plain_quantity(volume)} mL of diluent is outside {plain_quantity(MIN_DILUENT_ML)} to "
                f"{plain_quantity(MAX_DILUENT_ML)} mL, the volumes a vial is reconstituted with: check the label.",
                "labelled_diluent_ml")
    return None


def _check_product(product: Product, changed: Iterable[str] | None = None) -> None:
    """The catalog's rules across fields, after the changes; raises ValidationError. ``changed``: the attributes a
    change set (None: a new product): the base unit and the label facts are judged when they, or the kind or form,
    change, so that a product saved before these rules may still be changed in anything else."""
    def refuse(message: str, field: str) -> None:
        raise ValidationError(message, field=field)

    names = None if changed is None else set(changed)
    if not (product.name or "").strip():
        refuse("A product needs a name.", "name")
    if not (product.base_unit or "").strip():
        refuse("A product needs its base unit (U, mL, USP U, IU or each).", "base_unit")
    if names is None or {"base_unit", "kind"} & names:
        check_unit(product.kind, product.base_unit)
    fact = _label_fact_refusal(product, names)
    if fact is not None:
        refuse(*fact)
    if product.form is ProductForm.LIQUID and product.kind in (ProductKind.NEUROMODULATOR, ProductKind.HYALURONIDASE):
        if product.strength_per_ml is None:
            refuse("A ready-to-use liquid needs its concentration per mL from the label.", "concentration_per_ml")
    if product.quantity_per_container is None and product.volume_ml is not None:
        if product.base_unit == "mL":
            product.quantity_per_container = product.volume_ml
        elif product.strength_per_ml is not None:
            product.quantity_per_container = product.strength_per_ml * product.volume_ml
    if product.quantity_per_container is None or product.quantity_per_container <= 0:
        refuse("Give the units or volume in one container.", "units_per_container")
    if product.kind is ProductKind.NEUROMODULATOR and product.beyond_use_hours is None:
        refuse("A toxin needs its beyond-use hours after reconstitution or first puncture.", "beyond_use_hours")
    if product.kind is ProductKind.SUPPLY and product.form is not None:
        refuse("A supply has no form.", "form")
    if product.kind is not ProductKind.SUPPLY and product.form is None:
        refuse("Say whether it is a powder, a liquid or a gel.", "form")
    if product.gprime_category is not None and product.kind is not ProductKind.FILLER:
        refuse("Only a filler has a G′ category.", "gprime_category")
    if product.is_multi_patient and product.is_single_dose:
        # DOMAIN.md: a single-dose vial is one patient, one session; sharing it would carry it to the next patient.
        what_next = ("Untick multi-patient: hyaluronidase is always single-dose."
                     if product.kind is ProductKind.HYALURONIDASE
                     else "Untick multi-patient, or untick single-dose if the label says otherwise.")
        refuse(f"{product.name or 'This product'} is single-dose: an opened vial is used for one patient only, so it "
               f"cannot be shared between patients. {what_next}", "multi_patient")
    for name in ("beyond_use_hours", "retreat_interval_days", "cumulative_window_days", "follow_up_days", "gprime_pa"):
        value = getattr(product, name)
        if value is not None and value <= 0:
            refuse(f"{name.replace('_', ' ')} must be positive.", name)
    for name in ("session_max_units", "cumulative_max_units", "strength_per_ml", "volume_ml", "labelled_diluent_ml",
                 "usual_max_units_per_session"):
        value = getattr(product, name)
        if value is not None and value <= 0:
            refuse(f"{name.replace('_', ' ')} must be positive.", name)
    if (product.cumulative_max_units is None) != (product.cumulative_window_days is None):
        refuse("A cumulative limit needs both its maximum and its window in days (Botox: 400 U in 90 days).",
               "cumulative_window_days" if product.cumulative_window_days is None else "cumulative_max_units")
    if product.session_max_areas and product.session_max_units is None:
        refuse("The areas a session maximum covers need the session maximum: give it, or clear the areas.",
               "session_max_units")
    product.requires_reconstitution = product.form is ProductForm.POWDER


def _enum_value(enum_type: type, value: Any, field: str) -> Any:
    if value is None or isinstance(value, enum_type):
        return value
    try:
        return enum_type(value)
    except ValueError:
        choices = ", ".join(m.value for m in enum_type)  # type: ignore[attr-defined]
        raise ValidationError(f"{field}: choose one of {choices}.", field=field) from None


def _areas(value: Any) -> str | None:
    """The areas a session maximum covers as stored: the cart's area codes, comma-separated in the cart's order;
    none (every area): None. Raises ValidationError for anything else."""
    if value is not None and not isinstance(value, (str, list, tuple, set, frozenset)):
        raise ValidationError("Give the areas as a list of the cart's area codes.", field="session_max_areas")
    codes = catalog.area_codes(value)
    unknown = sorted(codes - set(AREA_VALUES))
    if unknown:
        raise ValidationError(f"Not a treatment area of the cart: {', '.join(unknown)}. Choose from "
                              f"{', '.join(AREA_VALUES)}.", field="session_max_areas")
    return ",".join(area for area in AREA_VALUES if area in codes) or None


def _molecule(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else value


def _product_changes(actor: User, fields: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The fields as Product attributes. ``current``: the admin-only values a manager may restate; restated they are
    left out, so that only an admin's request ever sets a limit (on the product or its molecule)."""
    unknown = set(fields) - PRODUCT_FIELDS
    if unknown:
        raise ValidationError(f"Unknown product fields: {', '.join(sorted(unknown))}.")
    changes = dict(fields)
    for name, enum_type in (("kind", ProductKind), ("form", ProductForm), ("gprime_category", GPrimeCategory)):
        if name in changes:
            changes[name] = _enum_value(enum_type, changes[name], name)
    for name in ("name", "brand", "base_unit"):
        if name in changes and isinstance(changes[name], str):
            changes[name] = changes[name].strip()
    if isinstance(changes.get("base_unit"), str):
        changes["base_unit"] = unit_spelt(changes["base_unit"])
    for name, length in LABEL_TEXT_FIELDS.items():
        if name in changes and (changes[name] is None or isinstance(changes[name], str)):
            text = check_text(changes[name], what=_TEXT_WORDS[name], field=name, max_length=length)
            changes[name] = text or ("" if name in _NEVER_NULL else None)
    if "molecule" in changes:
        changes["molecule"] = _molecule(changes["molecule"])
    if "session_max_areas" in changes:
        changes["session_max_areas"] = _areas(changes["session_max_areas"])
    if actor.role is not Role.ADMIN:
        for name in ADMIN_ONLY_PRODUCT_FIELDS & set(changes):
            # A new product starts with no sharing and its molecule's limits; a manager may restate, never change,
            # them.
            if catalog.limit_key(name, changes[name]) != catalog.limit_key(name, current.get(name)):
                raise Forbidden("Only an admin may change a product's sharing policy or dose limits.", field=name)
            del changes[name]
    return changes


def _refuse_taken_name(session: Session, name: str, product_id: int | None) -> None:
    """Raises NameTaken when another product's name reads the same, case and spaces aside (``product_name_key``:
    one indexed look-up; the unique key refuses a second admin racing this one, ``_name_held_once``)."""
    key = product_name_key(name)
    if len(key) > PRODUCT_NAME_KEY_LENGTH:
        raise ValidationError("Shorten the product's name.", field="name")
    with session.no_autoflush:  # a renamed product is not written before its new name is checked
        other = session.execute(select(Product.id, Product.name).where(
            Product.name_key == key, Product.id != (product_id or 0))).first()
    if other is not None:
        same = "" if other.name == name else f" (“{name}” reads the same: case and spaces are not told apart)"
        raise NameTaken(f"A product named “{other.name}” is already in the catalog{same}.", field="name",
                        product_id=other.id)


def _name_held_once(session: Session, name: str, product_id: int | None) -> AbstractContextManager[None]:
    """Around writing a product's new or changed name: another admin may have given the same one since it was
    checked, answered as NameTaken (uniqueness.held_once)."""
    return held_once(session, lambda: _refuse_taken_name(session, name, product_id))


def _refuse_other_spelling(session: Session, molecule: str) -> None:
    """A molecule is told apart by its exact name (a draw's history and limits are looked up by it): one spelt
    like another but for case would count its doses apart. Raises ValidationError."""
    spelt = session.scalar(select(Product.molecule).where(
        func.lower(Product.molecule) == molecule.lower(), Product.molecule != molecule).limit(1))
    if spelt is not None:
        raise ValidationError(f"The catalog spells this molecule {spelt!r}: use the same spelling, or its doses "
                              "and limits are counted apart.", field="molecule")


def _molecule_products(session: Session, molecule: str | None, product_id: int | None = None) -> list[Product]:
    """The products of ``molecule``, and the product ``product_id``, locked in id order (PostgreSQL) so that two
    admins setting the molecule's limits at once leave them equal, one after the other."""
    wanted = [Product.id == product_id] if product_id is not None else []
    if molecule is not None:
        wanted.append(Product.molecule == molecule)
    if not wanted:
        return []
    return list(session.scalars(
        select(Product).where(or_(*wanted)).order_by(Product.id).with_for_update()
        .execution_options(populate_existing=True)
    ))


def _molecule_limits(others: list[Product]) -> dict[str, Any]:
    """The limits the products of ``molecule`` agree on (a disagreement: the field is left out)."""
    split = {d.field for d in catalog.limit_disagreements(others)}
    return {name: getattr(others[0], name) for name in LIMIT_FIELDS if name not in split} if others else {}


def _joining_limits(name: str, molecule: str, others: list[Product], given: Mapping[str, Any],
                    unit: str, kind: ProductKind) -> dict[str, Any]:
    """The limits a product joining ``molecule`` takes: the molecule's, which its products (``others``, at least
    one) hold. Raises ValidationError (field ``base_unit``) for a unit that does not add up with theirs
    (_refuse_other_units), MoleculeLimitsConflict for a value ``given`` other than the molecule's, or a limit the
    molecule's products disagree on."""
    check_unit(kind, unit)  # a unit no product of its kind has is said as such first
    _refuse_other_units(name, molecule, others, kind, unit, {**_molecule_limits(others), **given})
    split = {d.field: d for d in catalog.limit_disagreements(others)}
    taken = {}
    for field in LIMIT_FIELDS:
        label = catalog.LIMIT_LABELS[field]
        if field in split:
            raise MoleculeLimitsConflict(
                f"The products of {molecule} disagree on the {label} ({split[field].summary()}): set it on one of "
                "them first, which sets it on all of them.",
                molecule=molecule, field=field, product_ids=[p.id for p in split[field].products])
        value = getattr(others[0], field)
        if field in given and catalog.limit_key(field, given[field]) != catalog.limit_key(field, value):
            holder = others[0]
            raise MoleculeLimitsConflict(
                f"{name} would have {catalog.describe_limit(field, given[field], unit)} as its {label}, but its "
                f"molecule {molecule} has {catalog.describe_limit(field, value, holder.base_unit)} (as on "
                f"{holder.name}): dose limits belong to the molecule. Leave it out to take the molecule's, or change "
                f"it on {holder.name}, which sets it on every product of {molecule}.",
                molecule=molecule, field=field, product_ids=[p.id for p in others])
        taken[field] = value
    return taken


def _refuse_limits_without_molecule(product: Product, given: Mapping[str, Any]) -> None:
    if product.molecule is None and any(value is not None for value in given.values()):
        raise ValidationError("Dose limits belong to a molecule: name the product's molecule first.",
                              field="molecule")


def create_product(session: Session, *, actor: User, fields: Mapping[str, Any], gtins: Iterable[str],
                   now: dt.datetime, reason: str | None = None) -> Product:
    """``add_product``'s product."""
    return add_product(session, actor=actor, fields=fields, gtins=gtins, now=now, reason=reason).product


def add_product(session: Session, *, actor: User, fields: Mapping[str, Any], gtins: Iterable[str],
                now: dt.datetime, reason: str | None = None) -> ProductSaved:
    """A new product. It takes its molecule's dose limits; a limit given (not null) must be the molecule's, unless
    the catalog holds no product of the molecule yet. A product added multi-patient loosens the label's one
    patient, one session as a change to it does (change_product): it needs ``reason``, kept in its
    ``product.created`` event. Raises ValidationError, Forbidden (policy fields by a
    manager; any change by a clinic-level user: PRODUCTS_ARE_THE_CHAINS), NameTaken (case and spaces aside),
    DuplicateGtin, BadCheckDigit, UnreadableCode or MoleculeLimitsConflict; ValidationError (field ``multi_patient``)
    for a single-dose product made multi-patient, (field ``reason``) for one added multi-patient without why;
    AlwaysSinglePatient for a filler or hyaluronidase added multi-patient, or a hyaluronidase added not single-dose (a
    new hyaluronidase is single-dose unless the request says otherwise)."""
    _refuse_clinic_level(actor)
    molecule = _molecule(fields.get("molecule"))
    others = _molecule_products(session, molecule) if molecule is not None else []
    current = {"is_multi_patient": False, **{name: None for name in LIMIT_FIELDS}, **_molecule_limits(others)}
    changes = _product_changes(actor, fields, current)
    given = {name: changes.pop(name) for name in LIMIT_FIELDS if name in changes}
    given = {name: value for name, value in given.items() if value is not None}  # null: nothing given
    for required in ("name", "kind", "base_unit"):
        if changes.get(required) in (None, ""):
            raise ValidationError(f"A product needs its {required.replace('_', ' ')}.", field=required)
    if molecule is not None:
        _refuse_other_spelling(session, molecule)
    limits_from = None
    if others and molecule is not None:
        changes |= _joining_limits(changes["name"], molecule, others, given, changes["base_unit"], changes["kind"])
        if any(changes[name] is not None for name in LIMIT_FIELDS):
            limits_from = others[0]
    else:
        changes |= given
    changes.setdefault("brand", changes["name"].split(" ")[0])
    if changes.get("kind") is ProductKind.HYALURONIDASE:
        changes.setdefault("is_single_dose", True)  # every vial of it is, by nature (DOMAIN.md)
    product = Product(**changes)
    _check_product(product)
    _refuse_sharing_by_kind(product, None)
    if product.is_multi_patient and reason is None:
        raise ValidationError(_sharing_refusal(product.name), field="reason", loosened=[
            {"product_id": None, "name": product.name, "field": "multi_patient", "from": False, "to": True}])
    _refuse_limits_without_molecule(product, given)
    _refuse_taken_name(session, product.name, None)
    product.gtins = [ProductGtin(gtin=g) for g in _gtins(session, gtins, None)]
    with _name_held_once(session, product.name, None):
        session.add(product)
    details = {"name": product.name, "gtins": [g.gtin for g in product.gtins],
               **{k: _plain(v) for k, v in changes.items() if k in ADMIN_ONLY_PRODUCT_FIELDS}}
    if limits_from is not None:
        details["limits_from"] = {"product_id": limits_from.id, "name": limits_from.name, "molecule": molecule}
    if product.is_multi_patient:
        details["loosened"] = {"sharing": SHARING_LOOSENED}
    if reason:
        details["reason"] = reason
    _audit(session, actor=actor, now=now, action="product.created", obj=product, object_type="product",
           details=details)
    session.flush()
    return ProductSaved(product, [], limits_from)


def update_product(session: Session, *, actor: User, product_id: int, fields: Mapping[str, Any],
                   gtins: Iterable[str] | None = None, now: dt.datetime, reason: str | None = None) -> Product:
    """``change_product``'s product."""
    return change_product(session, actor=actor, product_id=product_id, fields=fields, gtins=gtins, now=now,
                          reason=reason).product


def change_product(session: Session, *, actor: User, product_id: int, fields: Mapping[str, Any],
                   gtins: Iterable[str] | None = None, now: dt.datetime, reason: str | None = None) -> ProductSaved:
    """Changes what is given; ``gtins`` (when given) replaces the product's GTINs. ``is_active`` False retires
    it: receiving refuses it from then on, and its lots, containers and history stay.

    A dose limit given (null clears it) is set on every product of the molecule, each audited. A product whose
    molecule changes takes its new molecule's limits, as a new product does (add_product); a manager may move a
    product only where that leaves its limits as they are. A change that loosens a limit on any product it
    reaches (``loosened_limits``) needs ``reason``; a reason given is kept in every audit event the change writes,
    with the words of what it loosened on that product (``latest_loosening`` reads them back). So does a change that
    lengthens (or clears) the product's beyond-use time or takes its single-dose mark off, which only an admin may
    make (Forbidden for a manager, who may shorten the one and set the other).
    Making it multi-patient (sharing an opened vial between patients) loosens the label's one patient, one session
    as much: it needs ``reason`` too, kept in its ``product.sharing_changed`` event. A GTIN is taken off only while
    no lot of the product is on file (GtinInUse); adding one is free. Its base unit, quantity per container, form,
    concentration and volume change only while no container of it is on file (ProductInUse): a new presentation is
    a new product.
    A filler or a hyaluronidase is never made shareable, nor a hyaluronidase unmarked single-dose (AlwaysSinglePatient).
    A base unit fits the kind (check_unit) and adds up with the molecule's products' (_refuse_other_units); a label
    fact belongs to its kind or form (_label_fact_refusal).
    Raises NotFound, ValidationError (field ``reason``: a loosening without one), GtinInUse, ProductInUse and what
    add_product raises (Forbidden for a clinic-level user first: the catalog is the chain's)."""
    _refuse_clinic_level(actor)
    reason = _limit_reason(reason)
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound(f"No product with id {product_id}.", id=product_id)
    molecule = _molecule(fields["molecule"]) if "molecule" in fields else product.molecule
    if not set(fields).isdisjoint({"molecule", "kind", "base_unit", *LIMIT_FIELDS}):
        others = [p for p in _molecule_products(session, molecule, product.id) if p.id != product.id]
    else:
        others = []  # nothing of the molecule's, nor what its doses are counted in, changes: no other product is read
    changes = _product_changes(actor, fields, {name: getattr(product, name) for name in ADMIN_ONLY_PRODUCT_FIELDS})
    _refuse_changing_presentation(session, product, changes)  # before anything is written
    given = {name: changes[name] for name in LIMIT_FIELDS if name in changes}
    joins = "molecule" in changes and changes["molecule"] != product.molecule
    kind, unit = changes.get("kind", product.kind), changes.get("base_unit", product.base_unit)
    if molecule is not None and others and not joins:
        # Its unit or kind changed (a product never received), or a limit given: still one unit in the molecule.
        regrouped = kind != product.kind or unit != product.base_unit
        limited = {name: value for name, value in given.items() if value is not None}
        if regrouped:
            check_unit(kind, unit)
        if regrouped or limited:
            _refuse_other_units(changes.get("name", product.name), molecule, others, kind, unit,
                                {**_molecule_limits(others), **given},
                                field="base_unit" if regrouped else next(iter(limited)))
    limits_from = None
    if joins and molecule is not None:
        _refuse_other_spelling(session, molecule)
        if others:
            taken = _joining_limits(changes.get("name", product.name), molecule, others, given, unit, kind)
            moved = {n for n, v in taken.items() if catalog.limit_key(n, v) != catalog.limit_key(n, getattr(product, n))}
            if moved and actor.role is not Role.ADMIN:
                raise Forbidden(f"Moving {product.name} to {molecule} changes its dose limits to the molecule's: "
                                "only an admin may do that.", field="molecule")
            changes |= taken
            limits_from = others[0] if moved else None
            given = {}  # the molecule's own values: nothing to set on its products
    limits_before = {p.id: (p, _limits_of(p)) for p in (product, *others)}
    renamed = "name" in changes and changes["name"] != product.name
    if renamed:
        _refuse_taken_name(session, changes["name"], product.id)
    # The change is written inside (a rename with it), so a name taken meanwhile is answered as NameTaken.
    with _name_held_once(session, changes.get("name", product.name), product.id) if renamed else nullcontext():
        changed: dict[str, Any] = _apply(product, changes)
        _check_product(product, changed)
        _refuse_sharing_by_kind(product, changed)
        _refuse_limits_without_molecule(product, {n: v for n, v in given.items() if n in changed})
    if gtins is not None:
        wanted = _gtins(session, gtins, product.id)
        before = [g.gtin for g in product.gtins]
        removed = [g for g in before if g not in wanted]
        if removed:
            _refuse_removing_gtins(session, product, removed)
        if sorted(wanted) != sorted(before):
            keep = [g for g in product.gtins if g.gtin in wanted]
            product.gtins = keep + [ProductGtin(gtin=g) for g in wanted if g not in before]
            changed["gtins"] = {"from": before, "to": wanted}
    # A limit and what it is measured over are one limit (64 U over these areas, 400 U in 90 days): set together.
    names = set(given)
    for pair in LIMIT_PAIRS:
        if names & pair:
            names |= pair
    set_on = sorted(_set_on_molecule(product, others, {name: getattr(product, name) for name in names}),
                    key=lambda item: item[0].name)
    also_set_on = [other for other, _ in set_on]
    loosenings = [Loosening(p, name, before[name], getattr(p, name))
                  for p, before in limits_before.values() for name in loosened_limits(before, _limits_of(p))]
    _refuse_managers_loosening(actor, product, loosenings)
    shared = changed.get("is_multi_patient", {}).get("to") is True
    if shared and reason is None:
        raise ValidationError(
            " ".join([_sharing_refusal(product.name),
                      *([_loosening_message(product, loosenings)] if loosenings else [])]), field="reason",
            loosened=[{"product_id": product.id, "name": product.name, "field": "multi_patient", "from": False,
                       "to": True}] + [item.as_detail() for item in loosenings])
    if loosenings and reason is None:
        raise ValidationError(_loosening_message(product, loosenings), field="reason",
                              loosened=[item.as_detail() for item in loosenings])

    def why(details: dict[str, Any], of: Product | None) -> dict[str, Any]:
        loosened = {loosened_name(item.field): item.change_words() for item in loosenings if item.product is of}
        return details | ({"loosened": loosened} if loosened else {}) | ({"reason": reason} if reason else {})

    session.flush()
    if "is_multi_patient" in changed:
        sharing_details = {"is_multi_patient": changed.pop("is_multi_patient")}
        if shared:  # a loosening, read back with the limits' (latest_loosening)
            sharing_details["loosened"] = {"sharing": SHARING_LOOSENED}
        _audit(session, actor=actor, now=now, action="product.sharing_changed", obj=product, object_type="product",
               details=why(sharing_details, None))
    if "is_active" in changed and set(changed) == {"is_active"}:
        action = "product.retired" if not product.is_active else "product.restored"
    else:
        action = "product.changed"
    if changed:
        if also_set_on:
            changed["also_set_on"] = [{"product_id": p.id, "name": p.name} for p in also_set_on]
        if limits_from is not None:
            changed["limits_from"] = {"product_id": limits_from.id, "name": limits_from.name, "molecule": molecule}
        _audit(session, actor=actor, now=now, action=action, obj=product, object_type="product",
               details=why(changed, product))
    through = {"product_id": product.id, "name": product.name, "molecule": product.molecule}
    for other, other_changed in set_on:
        _audit(session, actor=actor, now=now, action="product.changed", obj=other, object_type="product",
               details=why(other_changed | {"set_through": through}, other))
    session.flush()
    return ProductSaved(product, also_set_on, limits_from)


_MANAGERS_MAY = {"beyond_use_hours": "shorten it", "is_single_dose": "mark a product single-dose"}


def _refuse_managers_loosening(actor: User, product: Product, loosenings: list[Loosening]) -> None:
    """Raises Forbidden when a manager's change loosens one of the product's label facts (a longer beyond-use time,
    the single-dose mark taken off): only an admin loosens, saying why. Tightening them is a manager's too."""
    if actor.role is Role.ADMIN:
        return
    for item in loosenings:
        if item.field in LABEL_FACT_FIELDS:
            raise Forbidden(
                f"{_loosening_said(product, [item])} loosens a safety limit: only an admin may, saying why. A manager "
                f"may {_MANAGERS_MAY[item.field]}.", field=item.field, loosened=[item.as_detail()])


def _set_on_molecule(product: Product, others: list[Product],
                     limits: Mapping[str, Any]) -> list[tuple[Product, dict[str, dict[str, Any]]]]:
    """Sets ``limits``, as ``product`` now holds them, on the other products of its molecule. Returns each product
    changed with its changes."""
    if not limits or product.molecule is None:
        return []
    set_on = []
    for other in others:
        if other.molecule != product.molecule:
            continue
        changed = _apply(other, limits)
        if changed:
            _check_product(other, changed)
            set_on.append((other, changed))
    return set_on


# --- locations --------------------------------------------------------------------------------------

HOLDING_STATES = (ContainerState.SEALED, ContainerState.IN_USE)


def list_locations(session: Session, scope: Scope) -> list[Location]:
    stmt = scope.filter(select(Location).join(Location.clinic), Location.clinic_id)
    return list(session.scalars(stmt.order_by(Clinic.code, Location.is_active.desc(), Location.name)))


@dataclass(frozen=True)
class ClinicLocations:
    clinic: Clinic
    active: int
    retired: int


def locations_per_clinic(session: Session, scope: Scope) -> list[ClinicLocations]:
    """How many locations each of the caller's clinics has, in use and retired, by clinic code: one statement."""
    stmt = scope.filter(
        select(Clinic, func.count(Location.id).filter(Location.is_active),
               func.count(Location.id).filter(~Location.is_active))
        .outerjoin(Location, Location.clinic_id == Clinic.id).group_by(Clinic.id).order_by(Clinic.code),
        Clinic.id)
    return [ClinicLocations(clinic, active, retired) for clinic, active, retired in session.execute(stmt)]


def _refuse_taken_location_name(session: Session, clinic_id: int, name: str, location_id: int | None) -> None:
    # Whatever the case or spacing: "medicines FRIDGE" beside "Medicines fridge" is one place named twice, and a
    # nurse choosing from the list could not tell which holds the stock. A clinic has a handful: compared here.
    wanted = " ".join(name.split()).casefold()
    for other_id, other in session.execute(select(Location.id, Location.name).where(Location.clinic_id == clinic_id)):
        if other_id != location_id and " ".join(other.split()).casefold() == wanted:
            raise NameTaken(f"This clinic already has a location named {other!r}.", field="name")


def _location_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 120:
        raise ValidationError("A location needs a name of at most 120 characters.", field="name")
    return name


def create_location(session: Session, *, actor: User, scope: Scope, clinic_id: int, name: str,
                    kind: LocationKind | str, temperature_sensitive: bool | None = None, now: dt.datetime) -> Location:
    """Raises NotFound (a clinic outside the caller's), ValidationError or NameTaken."""
    clinic = _clinic_in_scope(session, clinic_id, scope)
    location_kind: LocationKind = _enum_value(LocationKind, kind, "kind")
    name = _location_name(name)
    _refuse_taken_location_name(session, clinic.id, name, None)
    location = Location(clinic_id=clinic.id, name=name, kind=location_kind,
                        temperature_sensitive=location_kind is LocationKind.FRIDGE if temperature_sensitive is None
                        else temperature_sensitive)
    session.add(location)
    session.flush()
    _audit(session, actor=actor, now=now, action="location.created", obj=location, object_type="location",
           clinic_id=clinic.id, details={"name": name, "kind": location_kind.value,
                                         "temperature_sensitive": location.temperature_sensitive})
    session.flush()
    return location


def stock_held(session: Session, location_id: int) -> int:
    """How many containers still hold stock at the location."""
    return session.scalar(select(func.count(Container.id)).where(
        Container.location_id == location_id, Container.state.in_(HOLDING_STATES))) or 0


class LocationHoldsColdStock(DomainError):
    """A place that holds stock kept at 2-8 °C stays temperature-sensitive: unmarked, an excursion there would
    hold nothing, and the cold chain of what it keeps would go unwatched."""

    code = "location_holds_cold_stock"
    status = 409


def cold_stock_held(session: Session, location_id: int) -> int:
    """How many containers holding stock at the location must be kept in a fridge (as receiving decides it:
    cold_chain.needs_fridge)."""
    products = session.execute(
        select(Product, func.count(Container.id)).join(Container, Container.product_id == Product.id)
        .where(Container.location_id == location_id, Container.state.in_(HOLDING_STATES))
        .group_by(Product.id)
    ).all()
    return sum(count for product, count in products if cold_chain.needs_fridge(product))


def _refuse_unwatching_cold_stock(session: Session, location: Location) -> None:
    held = cold_stock_held(session, location.id)
    if held:
        raise LocationHoldsColdStock(
            f"{location.name} holds {counted(held, 'container')} that must be kept at 2-8 °C: while they are there it "
            "stays temperature-sensitive, so that an excursion puts them on hold. Move them to another fridge "
            "first, then unmark it.",
            id=location.id, containers=held,
        )


def update_location(session: Session, *, actor: User, scope: Scope, location_id: int, now: dt.datetime,
                    name: str | None = None, kind: LocationKind | str | None = None,
                    temperature_sensitive: bool | None = None, active: bool | None = None) -> Location:
    """Raises NotFound, ValidationError, NameTaken, LocationHoldsStock when retiring a location that
    still holds stock (move or use it first), or LocationHoldsColdStock when unmarking as temperature-sensitive a
    place that holds stock kept at 2-8 °C (move it to another fridge first). The kind alone (a fridge made a
    room) changes nothing of the cold chain: only ``temperature_sensitive`` decides what an excursion holds."""
    location = get_in_scope(session, Location, location_id, scope, "location")
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = _location_name(name)
        _refuse_taken_location_name(session, location.clinic_id, changes["name"], location.id)
    if kind is not None:
        kind = _enum_value(LocationKind, kind, "kind")
        if kind != location.kind and LocationKind.KIT in (kind, location.kind):
            raise ValidationError("A kit location stays a kit location, and no other becomes one: "
                                  "make a new location instead.", field="kind")
        changes["kind"] = kind
    if temperature_sensitive is not None:
        if not temperature_sensitive and location.temperature_sensitive:
            _refuse_unwatching_cold_stock(session, location)
        changes["temperature_sensitive"] = temperature_sensitive
    if active is not None:
        if not active and location.is_active:
            held = stock_held(session, location.id)
            if held:
                raise LocationHoldsStock(
                    f"{location.name} still holds {counted(held, 'container')}: move them elsewhere, use or waste them, "
                    "then retire it.", id=location.id, containers=held)
        changes["is_active"] = active
    changed = _apply(location, changes)
    if changed:
        action = "location.changed"
        if set(changed) == {"is_active"}:
            action = "location.retired" if not location.is_active else "location.restored"
        _audit(session, actor=actor, now=now, action=action, obj=location, object_type="location",
               clinic_id=location.clinic_id, details=changed)
        session.flush()
    return location


# --- clinics ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClinicSettings:
    filler_hold_days: int | None = None
    kit_warning_days: int | None = None
    # On: a receipt at the clinic without its supplier is refused (inventory/receiving/service.py). Off by
    # default, as the contract's receipt body has no supplier and integrations send none.
    receipts_need_supplier: bool | None = None


def _clinic_in_scope(session: Session, clinic_id: int, scope: Scope) -> Clinic:
    clinic = session.get(Clinic, clinic_id)
    if clinic is None or not scope.allows(clinic.id):
        raise NotFound(f"No clinic with id {clinic_id}.", id=clinic_id)
    return clinic


def get_clinic(session: Session, clinic_id: int, scope: Scope) -> Clinic:
    """Raises NotFound, also for a clinic outside the caller's."""
    return _clinic_in_scope(session, clinic_id, scope)


def list_clinics(session: Session, scope: Scope) -> list[Clinic]:
    return scope.clinics(session)


@cache
def time_zones() -> tuple[str, ...]:
    """The IANA names a clinic's time zone may be (zoneinfo's), as a form suggests them: region/city and UTC,
    without the legacy aliases (posixrules, EST5EDT ...), which check_timezone still takes."""
    return tuple(sorted(z for z in available_timezones()
                        if z == "UTC" or ("/" in z and not z.startswith(("Etc/", "SystemV/", "posix/", "right/")))))


@dataclass(frozen=True)
class ClinicSetup:
    """What a clinic has to work with, for its page's next steps: its locations and the people who work there."""

    locations: int  # in use
    cold_places: int  # in use and temperature-sensitive
    people: int  # active users who work at the clinic by name (chain-level users work at every clinic besides)


def clinic_setup(session: Session, clinic: Clinic) -> ClinicSetup:
    """Two statements."""
    locations, cold = session.execute(
        select(func.count(Location.id), func.count(Location.id).filter(Location.temperature_sensitive))
        .where(Location.clinic_id == clinic.id, Location.is_active)).one()
    people = session.scalar(
        select(func.count(User.id)).join(user_clinics, user_clinics.c.user_id == User.id)
        .where(user_clinics.c.clinic_id == clinic.id, User.is_active, ~User.is_chain_level)) or 0
    return ClinicSetup(locations=locations, cold_places=cold, people=people)


def check_timezone(name: str) -> str:
    name = (name or "").strip()
    if not is_time_zone(name):
        raise ValidationError(f"{name!r} is not a time zone: use an IANA name such as Europe/London.",
                              field="timezone")
    return name


def _settings_changes(settings: ClinicSettings) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in ("filler_hold_days", "kit_warning_days"):
        value = getattr(settings, name)
        if value is None:
            continue
        if not 0 <= value <= MAX_SETTING_DAYS:
            raise ValidationError(f"{name.replace('_', ' ')}: between 0 and {MAX_SETTING_DAYS} days.", field=name)
        changes[name] = value
    if settings.receipts_need_supplier is not None:
        changes["receipts_need_supplier"] = bool(settings.receipts_need_supplier)
    return changes


# DOMAIN.md: what is left of an opened filler syringe is wasted when its treatment closes, "unless the clinic's
# policy lets an opened syringe be held for the same patient for a set number of days (default 0)". More days keep
# an opened syringe longer: a looser setting, which an admin saves only saying why, as a looser dose limit (the
# reason and the words of what it loosened are kept in the clinic's audit event). Fewer days need none.
# DOMAIN.md "Counterfeits": "every receipt names its supplier". A clinic that has switched the rule on and turns it
# off lets boxes in again with no supplier to check against the authorised list: a looser setting too. Off is its
# default (the contract's receipt body has no supplier), so a clinic opened with it off loosens nothing.
# The kit warning horizon is no safety rule to loosen: it says how soon a kit turns amber, never what counts towards
# it (expired stock never counts, and a kit template's own minimum shelf life still applies), so it needs no reason.
SETTING_DEFAULTS: dict[str, Any] = {"filler_hold_days": 0, "receipts_need_supplier": False}
_SETTING_WORDS = {"filler_hold_days": ("lengthening the days an opened filler syringe is held for the same patient at",
                                       "the clinic's protocol for keeping opened syringes"),
                  "receipts_need_supplier": ("letting boxes be received without their supplier at",
                                             "an integration that does not send the supplier yet")}


_SETTING_NAMED = {"receipts_need_supplier": "every receipt names its supplier: "}


def _looser(field: str, before: Any, after: Any) -> bool:
    if field == "receipts_need_supplier":
        return bool(before) and not after  # the rule switched off
    return bool(after > before)  # a filler held more days


def loosened_settings(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The clinic settings a change from ``before`` to ``after`` loosens (a setting absent from ``after`` is not
    changed; absent from ``before``, it is at its default): a filler held more days, receipts no longer needing
    their supplier. Pure."""
    return [name for name in _SETTING_WORDS
            if after.get(name) is not None and _looser(name, before.get(name, SETTING_DEFAULTS[name]), after[name])]


def _setting_words(field: str, value: Any) -> str:
    if field == "receipts_need_supplier":
        return "on" if value else "off"
    return f"{value} days"


def _refuse_loosening_settings(name: str, clinic_id: int | None, before: Mapping[str, Any],
                               after: Mapping[str, Any], reason: str | None) -> dict[str, str]:
    """What the change loosens, in words for the audit event ({"filler_hold_days": "0 days to 5 days"}); raises
    ValidationError (field ``reason``, ``details.loosened`` as a product's) when it loosens any without a reason."""
    loosened = loosened_settings(before, after)
    if not loosened:
        return {}

    def was(field: str) -> Any:
        return before.get(field, SETTING_DEFAULTS[field])
    words = {field: f"{_setting_words(field, was(field))} to {_setting_words(field, after[field])}"
             for field in loosened}
    if reason is None:
        said = "; ".join(f"{_SETTING_WORDS[field][0]} {name} ({_SETTING_NAMED.get(field, '')}{words[field]})"
                         for field in loosened)
        examples = ", ".join(_SETTING_WORDS[field][1] for field in loosened)
        raise ValidationError(
            f"{said[0].upper()}{said[1:]} loosens a safety rule: say why (e.g. {examples}).", field="reason",
            loosened=[{"clinic_id": clinic_id, "name": name, "field": field, "from": was(field), "to": after[field]}
                      for field in loosened])
    return words


def clinic_code(code: str) -> str:
    """A clinic code as it is kept (upper case, trimmed); ValidationError for one that cannot be a code."""
    code = code.strip().upper()
    if not code or len(code) > 20 or not code.replace("-", "").isalnum():
        raise ValidationError("A clinic code is 1 to 20 letters or digits, e.g. LON.", field="code")
    return code


def _refuse_taken_code(session: Session, code: str, clinic_id: int | None) -> None:
    if session.scalar(select(Clinic.id).where(Clinic.code == code, Clinic.id != (clinic_id or 0))) is not None:
        raise NameTaken(f"The clinic code {code} is taken.", field="code")


def create_clinic(session: Session, *, actor: User, scope: Scope, code: str, name: str, timezone: str,
                  settings: ClinicSettings = ClinicSettings(), now: dt.datetime, reason: str | None = None) -> Clinic:
    """Only a chain-level admin opens a clinic. A setting looser than its default (``loosened_settings``) needs
    ``reason``, kept in the ``clinic.created`` event. Raises Forbidden, ValidationError or NameTaken."""
    if scope.clinic_ids is not None:
        raise Forbidden("Only a chain-level admin may open a clinic.")
    reason = _limit_reason(reason)
    code, name = clinic_code(code), name.strip()
    if not name:
        raise ValidationError("A clinic needs a name.", field="name")
    settings_given = _settings_changes(settings)
    _refuse_taken_code(session, code, None)
    timezone = check_timezone(timezone)
    loosened = _refuse_loosening_settings(name, None, {}, settings_given, reason)  # asked once the rest is right
    clinic = Clinic(code=code, name=name, timezone=timezone, **settings_given)
    session.add(clinic)
    session.flush()
    details = {"code": code, "name": name, "timezone": clinic.timezone, "filler_hold_days": clinic.filler_hold_days,
               "kit_warning_days": clinic.kit_warning_days, "receipts_need_supplier": clinic.receipts_need_supplier}
    _audit(session, actor=actor, now=now, action="clinic.created", obj=clinic, object_type="clinic",
           clinic_id=clinic.id, details=details | ({"loosened": loosened} if loosened else {})
           | ({"reason": reason} if reason else {}))
    session.flush()
    return clinic


def update_clinic(session: Session, *, actor: User, scope: Scope, clinic_id: int, now: dt.datetime,
                  code: str | None = None, name: str | None = None, timezone: str | None = None,
                  settings: ClinicSettings = ClinicSettings(), reason: str | None = None) -> Clinic:
    """A change that loosens a setting (``loosened_settings``: a filler held more days, receipts no longer needing
    their supplier) needs ``reason``; a reason
    given is kept in the ``clinic.settings_changed`` event, with the words of what it loosened. Raises NotFound
    (outside the caller's clinics), ValidationError (field ``reason``: a loosening without one) or NameTaken."""
    clinic = _clinic_in_scope(session, clinic_id, scope)
    reason = _limit_reason(reason)
    changes: dict[str, Any] = _settings_changes(settings)
    if code is not None:
        changes["code"] = clinic_code(code)
        _refuse_taken_code(session, changes["code"], clinic.id)
    if name is not None:
        if not name.strip():
            raise ValidationError("A clinic needs a name.", field="name")
        changes["name"] = name.strip()
    if timezone is not None:
        changes["timezone"] = check_timezone(timezone)
    loosened = _refuse_loosening_settings(  # asked once the rest is right
        clinic.name, clinic.id, {field: getattr(clinic, field) for field in SETTING_DEFAULTS}, changes, reason)
    changed = _apply(clinic, changes)
    if changed:
        _audit(session, actor=actor, now=now, action="clinic.settings_changed", obj=clinic, object_type="clinic",
               clinic_id=clinic.id, details=changed | ({"loosened": loosened} if loosened else {})
               | ({"reason": reason} if reason else {}))
        session.flush()
    return clinic


# --- typical dose ranges (a clinic's own, over the chain's defaults) --------------------------------------


@dataclass(frozen=True)
class EffectiveRange:
    molecule: str
    area: str
    low: Decimal
    high: Decimal
    is_clinics_own: bool


def dose_ranges(session: Session, clinic_id: int) -> list[EffectiveRange]:
    """The ranges the cart applies at the clinic: its own rows, and the chain's defaults it does not override."""
    rows = session.scalars(select(DoseRange).where(
        (DoseRange.clinic_id == clinic_id) | DoseRange.clinic_id.is_(None)))
    chosen: dict[tuple[str, str], DoseRange] = {}
    for row in rows:
        key = (row.molecule, row.area)
        if key not in chosen or row.clinic_id is not None:
            chosen[key] = row
    return [EffectiveRange(r.molecule, r.area, r.low, r.high, r.clinic_id is not None)
            for _, r in sorted(chosen.items())]


MAX_RANGE_REASON = 300


def set_dose_range(session: Session, *, actor: User, scope: Scope, clinic_id: int, molecule: str, area: str,
                   low: Decimal | None, high: Decimal | None, now: dt.datetime, reason: str | None = None) -> None:
    """Sets the clinic's own typical range for a molecule in an area; no low and high removes it (the chain's
    default applies again). The molecule is one of the catalog's, spelt as the catalog spells it: the cart looks
    ranges up by that name, so another spelling would be saved and never applied. A range looser than the chain's
    default (a higher high) needs ``reason``, kept in the audit trail (DOMAIN.md: never looser without an admin
    recording why); a high above the label's maximum a session is refused. Raises NotFound or ValidationError."""
    clinic = _clinic_in_scope(session, clinic_id, scope)
    molecule = molecule.strip()
    if not molecule or len(molecule) > 60:
        raise ValidationError("Name the molecule, e.g. onabotulinumtoxinA.", field="molecule")
    if area not in AREA_LABELS:
        raise ValidationError(f"{area!r} is not a treatment area of the cart.", field="area")
    own = session.scalar(select(DoseRange).where(
        DoseRange.clinic_id == clinic.id, DoseRange.molecule == molecule, DoseRange.area == area))
    before = {"low": _plain(own.low), "high": _plain(own.high)} if own is not None else None
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_RANGE_REASON:
        raise ValidationError(f"The reason: at most {MAX_RANGE_REASON} characters.", field="reason")
    if low is None and high is None:
        if own is None:
            return
        session.delete(own)  # a range saved under another spelling before this check may still be removed
        after = None
    else:
        products = _catalog_molecule(session, molecule)
        if low is None or high is None or not Decimal(0) < low <= high:
            raise ValidationError("A typical range needs a low above 0 and a high at least as large.", field="low")
        label_max = min((p.session_max_units for p in products if p.session_max_units is not None), default=None)
        if label_max is not None and high > label_max:
            raise ValidationError(
                f"{plain_quantity(high)} is above the label's maximum of {plain_quantity(label_max)} "
                f"{products[0].base_unit} of {molecule} a session: a typical range stays within it.", field="high")
        chain = session.scalar(select(DoseRange).where(
            DoseRange.clinic_id.is_(None), DoseRange.molecule == molecule, DoseRange.area == area))
        if chain is not None and high > chain.high and reason is None:
            raise ValidationError(
                f"{plain_quantity(low)}-{plain_quantity(high)} is looser than the chain's "
                f"{plain_quantity(chain.low)}-{plain_quantity(chain.high)} for {molecule} in "
                f"{AREA_LABELS[area].lower()}: say why this clinic's usual dose is higher.", field="reason")
        if own is None:
            own = DoseRange(clinic_id=clinic.id, molecule=molecule, area=area, low=low, high=high)
            session.add(own)
        else:
            own.low, own.high = low, high
        after = {"low": _plain(low), "high": _plain(high)}
    if before == after:
        return
    session.flush()
    details: dict[str, Any] = {"molecule": molecule, "area": area, "from": before, "to": after}
    if reason is not None:
        details["reason"] = reason
    session.add(AuditEvent(at=now, actor_id=actor.id, clinic_id=clinic.id, action="clinic.dose_range_changed",
                           object_type="clinic", object_id=str(clinic.id), details=details))
    session.flush()


def _catalog_molecule(session: Session, molecule: str) -> list[Product]:
    """The catalog's products of ``molecule``, spelt exactly; ValidationError naming the catalog's spelling, or
    the molecules it knows, when there are none."""
    products = list(session.scalars(select(Product).where(Product.molecule == molecule)))
    if products:
        return products
    known = sorted({m for m in session.scalars(select(Product.molecule)) if m is not None})
    squeezed = "".join(molecule.split()).casefold()
    spelt = next((m for m in known if "".join(m.split()).casefold() == squeezed), None)
    if spelt is not None:
        raise ValidationError(f"The catalog spells this molecule {spelt!r}: use that spelling, or the cart never "
                              "applies this range.", field="molecule")
    raise ValidationError(f"No product in the catalog is {molecule!r}: choose one of {', '.join(known)}.",
                          field="molecule")


def password_was_reset(session: Session, user_id: int) -> bool:
    """Whether an admin ever reset this user's password (else a password an admin set is their first)."""
    return session.scalar(select(AuditEvent.id).where(
        AuditEvent.object_type == "user", AuditEvent.object_id == str(user_id),
        AuditEvent.action == "user.password_reset").limit(1)) is not None


def audit_trail(session: Session, object_type: str, object_id: int, limit: int = 50) -> list[AuditEvent]:
    return list(session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == object_type, AuditEvent.object_id == str(object_id))
        .order_by(AuditEvent.id.desc()).limit(limit)
    ))
