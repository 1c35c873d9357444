"""What the dose checks (inventory/dosing.py) need from the database, and the check itself.

The limits come from the product drawn (its label's limits belong to its molecule) and from the
typical ranges per molecule and area, the chain's defaults overridden by the clinic's own. The
history is the patient's unreversed draws of the molecule, whatever the product: Botox 50 U and
100 U vials add up, Dysport and Azzalure add up, Botox and Dysport never do.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from decimal import Decimal

from sqlalchemy import Select, bindparam, exists, or_, select
from sqlalchemy.orm import Session

from inventory import dosing
from inventory.dosing import DoseLimits, DoseWarning, PriorDose
from inventory.models import Container, DoseRange, Draw, Movement, Product
from inventory.services.catalog import area_codes

__all__ = ["DoseAssessment", "assess", "check", "history_for", "limits_for"]


def limits_for(session: Session, product: Product, clinic_id: int) -> DoseLimits | None:
    """The limits for a draw of ``product`` at the clinic; None when the product names no molecule."""
    if product.molecule is None:
        return None
    rows = session.execute(_ranges_statement(), {"molecule": product.molecule, "clinic_id": clinic_id}).all()
    # The chain's defaults first, so that the clinic's row for the same area replaces its default.
    ranges = {r.area: (r.low, r.high) for r in sorted(rows, key=lambda r: r.clinic_id is not None)}
    return DoseLimits(
        molecule=product.molecule,
        unit=product.base_unit,
        typical_ranges=ranges,
        session_max=product.session_max_units,
        session_max_areas=area_codes(product.session_max_areas),
        cumulative_max=product.cumulative_max_units,
        cumulative_days=product.cumulative_window_days,
        retreat_interval_days=product.retreat_interval_days,
    )


def history_for(session: Session, patient_id: int, molecule: str, *, since: dt.datetime,
                treatment_id: int | None = None) -> list[PriorDose]:
    """The patient's unreversed draws of ``molecule`` from ``since`` on, oldest first, in one statement.

    ``treatment_id``: that treatment's draws count however long ago they were, since the session's
    totals need all of them.
    """
    rows = session.execute(_history_statement(treatment_id is not None), {
        "patient_id": patient_id, "molecule": molecule, "since": since, "treatment_id": treatment_id})
    return [PriorDose(treatment_id=r.treatment_id, area=r.area, units=r.quantity, at=r.at) for r in rows]


# Built once per process with bound parameters (SQL only, never data), as the scan's look-ups are: building
# a select costs about as much Python as running it, and these run on every toxin draw.


@cache
def _ranges_statement() -> Select[str, Decimal, Decimal, int | None]:
    return select(DoseRange.area, DoseRange.low, DoseRange.high, DoseRange.clinic_id).where(
        DoseRange.molecule == bindparam("molecule"),
        or_(DoseRange.clinic_id.is_(None), DoseRange.clinic_id == bindparam("clinic_id")))


@cache
def _history_statement(with_treatment: bool) -> Select[int, str, Decimal, dt.datetime]:
    reversed_ = exists().where(Movement.reverses_id == Draw.movement_id)
    since = Draw.at >= bindparam("since")
    when = or_(since, Draw.treatment_id == bindparam("treatment_id")) if with_treatment else since
    return (
        select(Draw.treatment_id, Draw.area, Draw.quantity, Draw.at)
        .join(Container, Container.id == Draw.container_id)
        .join(Product, Product.id == Container.product_id)
        .where(Draw.patient_id == bindparam("patient_id"), Product.molecule == bindparam("molecule"), when,
               ~reversed_)
        .order_by(Draw.at, Draw.id)
    )


@dataclass(frozen=True)
class DoseAssessment:
    warnings: list[DoseWarning]
    history: list[PriorDose]  # what they were judged on: the patient's recent draws of the molecule
    treatment_id: int

    @property
    def seen_earlier_treatment(self) -> bool:
        """The history holds a draw of the molecule in another treatment of the patient's."""
        return any(dose.treatment_id != self.treatment_id for dose in self.history)


def assess(session: Session, *, product: Product, clinic_id: int, patient_id: int, treatment_id: int, area: str,
           units: Decimal, now: dt.datetime, timezone: str, area_name: str | None = None) -> DoseAssessment:
    """The warnings for drawing ``units`` of ``product`` into ``area`` for the patient's treatment, before it is
    drawn, with the history they were judged on.

    Nothing for a product without a molecule or one with no limits at all (fillers, hyaluronidase today).
    """
    limits = limits_for(session, product, clinic_id)
    if limits is None or not _limits_anything(limits):
        return DoseAssessment([], [], treatment_id)
    # The longest look-back any check needs: the cumulative window, the re-treatment interval or the session.
    look_back = max(dt.timedelta(days=max(limits.cumulative_days or 0, limits.retreat_interval_days or 0)),
                    dosing.SESSION_WINDOW)
    history = history_for(session, patient_id, limits.molecule, since=now - look_back, treatment_id=treatment_id)
    warnings = dosing.check_draw(limits=limits, treatment_id=treatment_id, area=area, units=units, now=now,
                                 history=history, timezone=timezone, area_name=area_name)
    return DoseAssessment(warnings, history, treatment_id)


def check(session: Session, *, product: Product, clinic_id: int, patient_id: int, treatment_id: int, area: str,
          units: Decimal, now: dt.datetime, timezone: str) -> list[DoseWarning]:
    """``assess``'s warnings."""
    return assess(session, product=product, clinic_id=clinic_id, patient_id=patient_id, treatment_id=treatment_id,
                  area=area, units=units, now=now, timezone=timezone).warnings


def _limits_anything(limits: DoseLimits) -> bool:
    return bool(limits.typical_ranges) or any(
        value is not None
        for value in (limits.session_max, limits.cumulative_max, limits.retreat_interval_days)
    )
