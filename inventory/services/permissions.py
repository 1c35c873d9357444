"""What each role may do (DESIGN.md "Roles") and which clinics a user may see.

Every view declares one permission; the server checks it on every request.
Clinic scoping lives here too, so no view has to remember a filter.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, TypeVar, Unpack

from collections.abc import Iterable

from sqlalchemy import ColumnElement, Select, exists, or_, select, true
from sqlalchemy.orm import Session

from inventory.errors import Forbidden, NotFound
from inventory.models import Clinic, Container, Lot, Movement, Role, User


class Permission(enum.StrEnum):
    CART = "cart"  # scan, reconstitute, draw, waste at the cart
    KIT_CHECK = "kit_check"
    RECEIVE = "receive"  # receiving, counts, adjustments
    CATALOG = "catalog"  # catalog, locations, kit templates
    RECONCILE = "reconcile"
    RECALL = "recall"  # recalls, quarantine, patient trace, releasing holds, adverse-event signals
    COLD_CHAIN = "cold_chain"  # record a temperature excursion (puts stock on hold)
    USERS = "users"


# What a view needs besides a permission: nothing at all, or only to be signed in.
PUBLIC = "public"
SIGNED_IN = "signed_in"
Access = Permission | str  # a Permission, PUBLIC or SIGNED_IN; every view declares one as ``view.access``

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.NURSE: frozenset({Permission.CART, Permission.KIT_CHECK}),
    Role.MANAGER: frozenset(
        {Permission.CART, Permission.KIT_CHECK, Permission.RECEIVE, Permission.CATALOG, Permission.RECONCILE,
         Permission.COLD_CHAIN}
    ),
    Role.SAFETY_LEAD: frozenset({Permission.CART, Permission.KIT_CHECK, Permission.RECALL, Permission.COLD_CHAIN}),
    Role.ADMIN: frozenset(Permission),
}

# The roles that may work at every clinic of the chain (User.is_chain_level): a manager or safety lead over
# all clinics, and an admin. Everyone else works at named clinics only (DESIGN.md "Main entities").
CHAIN_LEVEL_ROLES: frozenset[Role] = frozenset({Role.MANAGER, Role.SAFETY_LEAD, Role.ADMIN})

ROLE_LABELS = {
    Role.NURSE: "Nurse / injector",
    Role.MANAGER: "Manager",
    Role.SAFETY_LEAD: "Safety lead",
    Role.ADMIN: "Admin",
}


# What each permission covers, in the words a refusal uses to say what is missing.
PERMISSION_WORDS: dict[Permission, str] = {
    Permission.CART: "Work at the cart (scans, draws, waste, patients)",
    Permission.KIT_CHECK: "Emergency kits and their checks",
    Permission.RECEIVE: "Receiving, counts, adjustments and transfers",
    Permission.CATALOG: "The catalog, locations, suppliers and kit templates",
    Permission.RECONCILE: "Reconciliation reports and their exports",
    Permission.RECALL: "Recalls, quarantine, patient traces, holds and lot signals",
    Permission.COLD_CHAIN: "Temperature excursions and the cold chain",
    Permission.USERS: "Users, clinics, their settings and the access log",
}

_ARTICLES = {Role.NURSE: "a nurse", Role.MANAGER: "a manager", Role.SAFETY_LEAD: "a safety lead", Role.ADMIN: "an admin"}


def can(user: User, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[user.role]


def refusal(role: Role, permission: Permission, *, what: str = "do this") -> str:
    """Why ``role`` is refused ``permission``, in words: the role, what the permission covers and which roles
    hold it ("Your role (Nurse / injector) may not open this page: recalls, ... are for a safety lead or an
    admin.")."""
    holders = [_ARTICLES[r] for r in Role if permission in ROLE_PERMISSIONS[r]]
    who = holders[0] if len(holders) == 1 else f"{', '.join(holders[:-1])} or {holders[-1]}"
    return (f"Your role ({ROLE_LABELS[role]}) may not {what}: {PERMISSION_WORDS[permission].lower()} are for "
            f"{who}. Ask an admin if your work needs it.")


def require(user: User, permission: Permission) -> None:
    """Raises Forbidden unless the user's role carries ``permission``."""
    if not can(user, permission):
        raise Forbidden(refusal(user.role, permission), permission=permission.value)


@dataclass(frozen=True)
class Scope:
    """The clinics a user works at; ``None`` means every clinic (chain level)."""

    clinic_ids: frozenset[int] | None

    @classmethod
    def for_user(cls, user: User) -> Scope:
        if user.is_chain_level:
            return cls(None)
        return cls(frozenset(c.id for c in user.clinics))

    @classmethod
    def everything(cls) -> Scope:
        return cls(None)

    def allows(self, clinic_id: int) -> bool:
        return self.clinic_ids is None or clinic_id in self.clinic_ids

    def filter(self, stmt: S, clinic_column: Any) -> S:
        if self.clinic_ids is None:
            return stmt
        return stmt.where(clinic_column.in_(self.clinic_ids))

    def clinics(self, session: Session) -> list[Clinic]:
        """The clinics of this scope, by code: what a Clinic choice offers."""
        return list(session.scalars(self.filter(select(Clinic), Clinic.id).order_by(Clinic.code)))

    def narrowed_to(self, session: Session, clinic_id: int | None) -> Scope:
        """This scope kept to one of its clinics (None: as it is), for a page or a report a chain-level user
        asks of one clinic. Raises NotFound for a clinic outside it, as for a missing one."""
        if clinic_id is None:
            return self
        if not (1 <= clinic_id <= 2**31 - 1 and self.allows(clinic_id)
                and session.get(Clinic, clinic_id) is not None):
            raise NotFound(f"No clinic with id {clinic_id}.", id=clinic_id)
        return Scope(frozenset({clinic_id}))

    # --- lots: a lot is no clinic's, so it is seen through what the clinics hold or used ---------------

    def lot_visible(self, lot_id: Any) -> ColumnElement[bool]:
        """True for a lot one of these clinics holds a container of, or ever moved stock of (received,
        drew, wasted, sent or took in): the one rule of every lot path (look-up, trace, quarantine,
        release, recall). Chain-level roles see every lot."""
        if self.clinic_ids is None:
            return true()
        clinics = list(self.clinic_ids)
        return or_(
            exists().where(Container.lot_id == lot_id, Container.clinic_id.in_(clinics)),
            exists().where(Movement.lot_id == lot_id, Movement.clinic_id.in_(clinics)),
        )

    def filter_lots(self, stmt: Select[Any], lot_id: Any) -> Select[Any]:
        return stmt if self.clinic_ids is None else stmt.where(self.lot_visible(lot_id))

    def ensure_lots(self, session: Session, lot_ids: Iterable[int]) -> None:
        """Raises NotFound for the first of these lots the clinics neither hold nor used: another clinic's
        lot answers exactly like a missing one."""
        if self.clinic_ids is None:
            return
        ids = list(dict.fromkeys(lot_ids))
        seen = set(session.scalars(select(Lot.id).where(Lot.id.in_(ids), self.lot_visible(Lot.id))))
        for lot_id in ids:
            if lot_id not in seen:
                raise NotFound(f"No lot with id {lot_id}.", id=lot_id)


T = TypeVar("T")
# Any select, whatever its columns: Scope.filter answers the same Select type it was given.
S = TypeVar("S", bound=Select[Unpack[tuple[Any, ...]]])


def get_in_scope(session: Session, model: type[T], object_id: int, scope: Scope, what: str) -> T:
    """Load ``model`` by id; another clinic's object answers exactly like a missing one."""
    obj = session.get(model, object_id)
    if obj is None or not scope.allows(obj.clinic_id):  # type: ignore[attr-defined]
        raise NotFound(f"No {what} with id {object_id}.", id=object_id)
    return obj
