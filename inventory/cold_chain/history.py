"""A container's holds for its page (services/container_history.holds_of): each excursion that held it, in the
words its hold was given, and who ended it, how and why."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from inventory.cold_chain.models import ContainerHold, Excursion, HoldOutcome
from inventory.cold_chain.service import excursion_words
from inventory.models import Location
from inventory.services.container_history import HoldLine

_ENDED = {HoldOutcome.RELEASED: "Released", HoldOutcome.WASTED: "Wasted"}


def holds_of_container(session: Session, container_id: int) -> list[HoldLine]:
    holds = session.scalars(
        select(ContainerHold).where(ContainerHold.container_id == container_id).order_by(ContainerHold.id)
        .options(joinedload(ContainerHold.excursion).joinedload(Excursion.location).joinedload(Location.clinic),
                 joinedload(ContainerHold.resolved_by))
    ).all()
    return [HoldLine(held_at=hold.held_at, why=excursion_words(hold.excursion, hold.excursion.location),
                     ended=_ENDED[hold.outcome] if hold.outcome else None, ended_at=hold.resolved_at,
                     ended_by=hold.resolved_by.label if hold.resolved_by else None, reason=hold.reason)
            for hold in holds]
