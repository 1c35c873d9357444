"""What needs attention at the user's clinics, said at the top of the cart's home page.

Read side only. Each rule stays with the service that owns it (kit readiness, beyond-use); this module keeps
what is not well, and finds nothing when all is well. A handful of queries whatever the size of the clinic:
kit readiness (one query when there is no kit, its fixed few otherwise), one for beyond-use, one for holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from inventory import lifecycle
from inventory.cart import service as cart
from inventory.kits import service as kit_service
from inventory.kits.models import KitStatus
from inventory.models import Container
from inventory.services.permissions import Scope


@dataclass(frozen=True)
class Attention:
    """Kits that are not ready or expiring soon (worst first), reconstituted vials past beyond-use with
    something left, and stock on hold after a temperature excursion."""

    kits: list[kit_service.KitReadiness]
    beyond_use: list[Container]
    held: list[Container]

    def __bool__(self) -> bool:
        return bool(self.kits or self.beyond_use or self.held)


def needs_attention(session: Session, *, scope: Scope, now: dt.datetime) -> Attention:
    """What the clinics of ``scope`` must deal with now; empty (false) when all is well."""
    kits = [k for k in kit_service.readiness(session, scope=scope, now=now) if k.status is not KitStatus.READY]
    kits.sort(key=lambda k: k.status is not KitStatus.NOT_READY)  # stable: clinic and name order within each
    return Attention(
        kits=kits,
        beyond_use=cart.beyond_use_containers(session, scope=scope, now=now),
        held=held_stock(session, scope=scope),
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
