"""What needs attention at the user's clinics, said at the top of the cart's home page.

Read side only. Each rule stays with the service that owns it (kit readiness, beyond-use, which lots may not be
used: lifecycle); this module keeps what is not well, and finds nothing when all is well. A handful of queries
whatever the size of the clinic: kit readiness (one query when there is no kit, its fixed few otherwise), one for
beyond-use, one for holds, one for stock of recalled or quarantined lots.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from inventory import lifecycle
from inventory.cart import service as cart
from inventory.kits import service as kit_service
from inventory.kits.models import KitStatus
from inventory.models import Clinic, Container, ContainerState, Location, Lot, LotStatus, Product
from inventory.services.permissions import Scope


@dataclass(frozen=True)
class SetAsidePlace:
    """Where some of a set-aside lot's containers are: ``where`` is the location's name, after its clinic's code
    when the lines name places at more than one clinic."""

    where: str
    containers: int
    opened: int


@dataclass(frozen=True)
class SetAsideLot:
    """The live containers (sealed, or opened with something left) of one recalled or quarantined lot at the
    user's clinics: no one may use them, and only the safety lead takes them out of stock."""

    lot_id: int
    number: str
    status: LotStatus
    reason: str | None
    product: str
    places: list[SetAsidePlace]

    @property
    def is_recalled(self) -> bool:
        return self.status is LotStatus.RECALLED

    @property
    def containers(self) -> int:
        return sum(place.containers for place in self.places)

    @property
    def opened(self) -> int:
        return sum(place.opened for place in self.places)


@dataclass(frozen=True)
class Attention:
    """Kits that are not ready or expiring soon (worst first), reconstituted vials past beyond-use with
    something left, stock on hold after a temperature excursion, and stock of recalled or quarantined lots
    (recalled first)."""

    kits: list[kit_service.KitReadiness]
    beyond_use: list[Container]
    held: list[Container]
    set_aside: list[SetAsideLot]

    def __bool__(self) -> bool:
        return bool(self.kits or self.beyond_use or self.held or self.set_aside)


def needs_attention(session: Session, *, scope: Scope, now: dt.datetime) -> Attention:
    """What the clinics of ``scope`` must deal with now; empty (false) when all is well."""
    kits = [k for k in kit_service.readiness(session, scope=scope, now=now) if k.status is not KitStatus.READY]
    kits.sort(key=lambda k: k.status is not KitStatus.NOT_READY)  # stable: clinic and name order within each
    return Attention(
        kits=kits,
        beyond_use=cart.beyond_use_containers(session, scope=scope, now=now),
        held=held_stock(session, scope=scope),
        set_aside=set_aside_stock(session, scope=scope),
    )


def held_stock(session: Session, *, scope: Scope) -> list[Container]:
    """Live containers on hold (still stock no one may use until the safety lead decides), oldest hold first.
    One emptied while on hold is left out: nothing of it can be used, and the cold-chain board lists it for the
    safety lead."""
    stmt = (
        select(Container)
        .where(Container.on_hold_since.is_not(None), Container.state.in_(lifecycle.LIVE_STATES))
        .options(joinedload(Container.product), joinedload(Container.location))
        .order_by(Container.on_hold_since, Container.id)
    )
    return list(session.scalars(scope.filter(stmt, Container.clinic_id)))


def set_aside_stock(session: Session, *, scope: Scope) -> list[SetAsideLot]:
    """Live stock in ``scope`` whose lot is recalled or quarantined (``lifecycle.SET_ASIDE_STATUSES``, the rule of
    ``lifecycle.is_set_aside``), counted by lot and place in one statement: recalled lots first, then by product
    and lot number. Stock on its way to another clinic is left out: it is on no shelf here, and the recall case
    settles it where it arrives."""
    opened = func.count(Container.id).filter(Container.state == ContainerState.IN_USE)
    stmt = (
        select(Lot.id, Lot.number, Lot.status, Lot.status_reason, Product.name, Clinic.code, Location.name,
               func.count(Container.id), opened)
        .select_from(Container)
        .join(Lot, Lot.id == Container.lot_id)
        .join(Product, Product.id == Lot.product_id)
        .join(Location, Location.id == Container.location_id)
        .join(Clinic, Clinic.id == Container.clinic_id)
        .where(Lot.status.in_(lifecycle.SET_ASIDE_STATUSES), Container.state.in_(lifecycle.LIVE_STATES))
        .group_by(Lot.id, Lot.number, Lot.status, Lot.status_reason, Product.name, Clinic.code, Location.id,
                  Location.name)
        .order_by(Product.name, Lot.number, Lot.id, Clinic.code, Location.name, Location.id)
    )
    rows = session.execute(scope.filter(stmt, Container.clinic_id)).all()
    several_clinics = len({row[5] for row in rows}) > 1
    lots: dict[int, SetAsideLot] = {}
    for lot_id, number, status, reason, product, clinic_code, location, containers, opened_count in rows:
        lot = lots.setdefault(lot_id, SetAsideLot(lot_id, number, status, reason, product, []))
        where = f"{clinic_code} · {location}" if several_clinics else location
        lot.places.append(SetAsidePlace(where, containers, opened_count))
    return sorted(lots.values(), key=lambda lot: not lot.is_recalled)  # stable: product and lot order within each
