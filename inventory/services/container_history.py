"""A container's history as a viewer may read it (the container page), and where a written-off one really went.

A container sent between clinics keeps its whole ledger, but what another clinic did with it (a dose for one of
its patients, a correction whose note may name her, who did it) is that clinic's record: a clinic-level viewer
reads their own clinics' movements in full and each run of another clinic's as one line.

A container lost in transit is written off at the shelf it left from (inventory/transfers/service.py), so its row
names that shelf: ``lost_in_transit`` says it never came back there, for every page and answer that shows where a
container is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import groupby

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.models import Clinic, Container, ContainerState, Movement, MovementKind
from inventory.services.clock import format_date, to_clinic_time
from inventory.services.permissions import Scope

__all__ = ["HoldLine", "LostInTransit", "OtherClinicStretch", "for_viewer", "holds_of", "lost_in_transit",
           "on_holds", "on_lost_in_transit"]


@dataclass(frozen=True)
class LostInTransit:
    """A container that never arrived where it was sent: declared missing from a box that was received, or lost
    with the whole box. It was written off at the clinic and location it left from, which its row still names
    (``clinic_id``, ``location_id``), but it is on no shelf there: these are the transfer and its two ends."""

    transfer_id: int
    from_clinic: str  # the sending clinic's code
    to_clinic: str  # the code of the clinic it never reached

    @property
    def words(self) -> str:
        """ "Lost in transit (transfer #12, LON → NYC)": said where the shelf would be."""
        return f"Lost in transit (transfer #{self.transfer_id}, {self.from_clinic} → {self.to_clinic})"


# Asked with the ids of discarded containers; answers those of them lost in transit, in one statement. Registered
# by the feature that knows (transfers, in its init_app), so that this module imports no feature.
LostInTransitLookup = Callable[[Session, Collection[int]], dict[int, LostInTransit]]
_LOST_IN_TRANSIT: list[LostInTransitLookup] = []


def on_lost_in_transit(lookup: LostInTransitLookup) -> LostInTransitLookup:
    """Registers ``lookup(session, container_ids)`` (a feature's ``init_app``); again changes nothing."""
    if lookup not in _LOST_IN_TRANSIT:
        _LOST_IN_TRANSIT.append(lookup)
    return lookup


def lost_in_transit(session: Session, containers: Iterable[Container]) -> dict[int, LostInTransit]:
    """Of these containers, those lost in transit, by id. Only a discarded container can be (the loss wasted it),
    so live stock costs no statement; the discarded ones cost one."""
    discarded = [c.id for c in containers if c.state is ContainerState.DISCARDED]
    found: dict[int, LostInTransit] = {}
    for lookup in _LOST_IN_TRANSIT if discarded else ():
        found |= lookup(session, discarded)
    return found


@dataclass(frozen=True)
class HoldLine:
    """A hold the container was put on (a cold-chain excursion), and how it ended: its page shows each, for the
    hold is no movement and the ledger alone would never say the container was ever held, or why it was let go."""

    held_at: dt.datetime
    why: str  # "LON · Medicines fridge was at 4 to 12.5 °C from ... to ... (GMT)"
    ended: str | None  # "Released", "Wasted"; None: still on hold
    ended_at: dt.datetime | None
    ended_by: str | None
    reason: str | None  # why it was released or wasted


# Asked with a container's id; answers its holds, oldest first. Registered by the feature that holds stock (the cold
# chain, in its init_app), as the lost-in-transit look-up is.
HoldsLookup = Callable[[Session, int], list[HoldLine]]
_HOLDS: list[HoldsLookup] = []


def on_holds(lookup: HoldsLookup) -> HoldsLookup:
    """Registers ``lookup(session, container_id)`` (a feature's ``init_app``); again changes nothing."""
    if lookup not in _HOLDS:
        _HOLDS.append(lookup)
    return lookup


def holds_of(session: Session, container: Container) -> list[HoldLine]:
    """Every hold ``container`` was put on, oldest first (none without a feature that holds stock)."""
    return sorted((line for lookup in _HOLDS for line in lookup(session, container.id)), key=lambda h: h.held_at)


@dataclass(frozen=True)
class OtherClinicStretch:
    """Consecutive movements of a container recorded at a clinic the caller does not work at, as one line.

    A container sent between clinics keeps its whole ledger, but what the other clinic did with it (a dose
    for one of its patients, a correction whose note may name her, who did it) is that clinic's record. The
    line says only where it was, when it came and went, and what it changed, so the balances still add up.
    """

    clinic: Clinic
    count: int
    first: Movement
    last: Movement
    change: Decimal

    @property
    def balance_after(self) -> Decimal:
        return self.last.balance_after

    @property
    def summary(self) -> str:
        came = "received there" if self.first.kind is MovementKind.RECEIVE else "arrived there"
        went = "sent away" if self.last.kind is MovementKind.TRANSFER_OUT else "last movement"
        return (f"{came} {format_date(to_clinic_time(self.first.at, self.clinic.timezone).date())}, "
                f"{went} {format_date(to_clinic_time(self.last.at, self.clinic.timezone).date())}")


def for_viewer(session: Session, movements: Sequence[Movement], scope: Scope) -> list[Movement | OtherClinicStretch]:
    """A container's movements as the caller may read them: each one recorded at the caller's clinics in
    full, each run of movements recorded at another clinic as one OtherClinicStretch. Chain-level roles
    read every movement."""
    hidden = {m.clinic_id for m in movements if not scope.allows(m.clinic_id)}
    if not hidden:
        return list(movements)
    clinics = {c.id: c for c in session.scalars(select(Clinic).where(Clinic.id.in_(hidden)))}
    history: list[Movement | OtherClinicStretch] = []
    for clinic_id, run in groupby(movements, key=lambda m: m.clinic_id if m.clinic_id in hidden else None):
        if clinic_id is None:
            history.extend(run)
            continue
        stretch = list(run)
        history.append(OtherClinicStretch(clinic=clinics[clinic_id], count=len(stretch), first=stretch[0],
                                          last=stretch[-1], change=sum((m.quantity for m in stretch), Decimal(0))))
    return history
