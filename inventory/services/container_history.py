"""A container's history as a viewer may read it (the container page).

A container sent between clinics keeps its whole ledger, but what another clinic did with it (a dose for one of
its patients, a correction whose note may name her, who did it) is that clinic's record: a clinic-level viewer
reads their own clinics' movements in full and each run of another clinic's as one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import groupby

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.models import Clinic, Movement, MovementKind
from inventory.services.clock import format_date, to_clinic_time
from inventory.services.permissions import Scope

__all__ = ["OtherClinicStretch", "for_viewer"]


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
