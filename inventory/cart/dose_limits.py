"""What the dose checks (inventory/dosing.py) need from the database, and the check itself.

The limits come from the product drawn (its label's limits belong to its molecule) and from the
typical ranges per molecule and area, the chain's defaults overridden by the clinic's own. The
history is the patient's unreversed draws of the molecule, whatever the product: Botox 50 U and
100 U vials add up, Dysport and Azzalure add up, Botox and Dysport never do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import (CompoundSelect, Integer, cast, Row, Select, String, bindparam, exists, literal_column, null, or_,
                        select, union_all)
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
    rows = session.execute(_range_rows(), {"molecule": product.molecule, "clinic_id": clinic_id}).all()
    return _limits(product, rows)


def history_for(session: Session, patient_id: int, molecule: str, *, since: dt.datetime) -> list[PriorDose]:
    """The patient's unreversed draws of ``molecule`` from ``since`` on, whatever treatment recorded them, oldest
    first, in one statement. A session is counted by the draws' times (dosing.SESSION_WINDOW), so a treatment's
    own draws older than ``since`` count for nothing."""
    rows = session.execute(_history_statement(), {"patient_id": patient_id, "molecule": molecule, "since": since})
    return [_prior(r) for r in rows]


def _limits(product: Product, range_rows: Iterable[Row[Any]]) -> DoseLimits:
    assert product.molecule is not None
    # The chain's defaults first, so that the clinic's row for the same area replaces its default.
    ranges = {r.area: (r.amount, r.high) for r in sorted(range_rows, key=lambda r: r.clinic_id is not None)}
    return DoseLimits(
        molecule=product.molecule,
        unit=product.base_unit,
        typical_ranges=ranges,
        usual_session_max=product.usual_max_units_per_session,
        session_max=product.session_max_units,
        session_max_areas=area_codes(product.session_max_areas),
        cumulative_max=product.cumulative_max_units,
        cumulative_days=product.cumulative_window_days,
        retreat_interval_days=product.retreat_interval_days,
    )


def _prior(row: Row[Any]) -> PriorDose:
    return PriorDose(treatment_id=row.treatment_id, area=row.area, units=row.amount, at=row.at)


def _look_back(product: Product) -> dt.timedelta:
    """The longest look-back any check needs: the cumulative window, the re-treatment interval or the session."""
    days = max(product.cumulative_window_days or 0, product.retreat_interval_days or 0)
    return max(dt.timedelta(days=days), dosing.SESSION_WINDOW)


# Built once per process with bound parameters (SQL only, never data), as the scan's look-ups are: building
# a select costs about as much Python as running it, and these run on every toxin draw. Both kinds of row
# share one shape, so that a draw reads its ranges and its history in one round trip (``_dose_facts``).

_HISTORY, _RANGE = "history", "range"


@cache
def _range_rows() -> Select[Any]:
    return select(
        literal_column(f"'{_RANGE}'", String()).label("kind"), DoseRange.area, DoseRange.low.label("amount"), DoseRange.high,
        DoseRange.clinic_id, cast(null(), Integer()).label("treatment_id"),
        cast(null(), Draw.at.type).label("at"), cast(null(), Integer()).label("draw_id"),
    ).where(
        DoseRange.molecule == bindparam("molecule"),
        or_(DoseRange.clinic_id.is_(None), DoseRange.clinic_id == bindparam("clinic_id")))


@cache
def _history_rows() -> Select[Any]:
    reversed_ = exists().where(Movement.reverses_id == Draw.movement_id)
    return (
        select(
            literal_column(f"'{_HISTORY}'", String()).label("kind"), Draw.area, Draw.quantity.label("amount"),
            cast(null(), DoseRange.high.type).label("high"), cast(null(), Integer()).label("clinic_id"),
            Draw.treatment_id, Draw.at, Draw.id.label("draw_id"),
        )
        .join(Container, Container.id == Draw.container_id)
        .join(Product, Product.id == Container.product_id)
        .where(Draw.patient_id == bindparam("patient_id"), Product.molecule == bindparam("molecule"),
               Draw.at >= bindparam("since"), ~reversed_)
    )


@cache
def _history_statement() -> Select[Any]:
    return _history_rows().order_by(Draw.at, Draw.id)


@cache
def _dose_facts() -> CompoundSelect[Any]:
    """The molecule's typical ranges at the clinic and the patient's history of it, oldest draw first."""
    both = union_all(_history_rows(), _range_rows())
    return both.order_by(both.selected_columns.at, both.selected_columns.draw_id)


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
    if product.molecule is None:
        return DoseAssessment([], [], treatment_id)
    rows = session.execute(_dose_facts(), {
        "molecule": product.molecule, "clinic_id": clinic_id, "patient_id": patient_id,
        "since": now - _look_back(product)}).all()
    limits = _limits(product, (r for r in rows if r.kind == _RANGE))
    if not _limits_anything(limits):
        return DoseAssessment([], [], treatment_id)
    history = [_prior(r) for r in rows if r.kind == _HISTORY]
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
        for value in (limits.session_max, limits.usual_session_max, limits.cumulative_max, limits.retreat_interval_days)
    )
