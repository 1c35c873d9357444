"""Dose and interval checks per patient and molecule (DOMAIN.md "Dose and interval checks").

Units belong to the molecule: Botox 50 U and 100 U vials add up, Dysport and Azzalure are both
abobotulinumtoxinA (Speywood units), Botox and Dysport never add up. Every total, limit and
interval here is per patient and per molecule.

- Above the typical range for an area in one session, or a session total (every area) above the
  product's usual maximum a session: a warning, recorded with the draw.
- Above the label's session maximum, above a cumulative limit over a window, or a
  re-treatment sooner than the label's interval: the draw needs an explicit confirmation
  with a reason. Never silently allowed, never a dead end.

Pure: the limits are catalog and clinic data, the history is what the ledger holds; the
service that draws gathers both and records what this module answers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from inventory.models.base import plain_quantity
from inventory.services.clock import clinic_today

__all__ = [
    "ABOVE_CUMULATIVE_LIMIT",
    "ABOVE_LABEL_MAX",
    "ABOVE_TYPICAL_RANGE",
    "ABOVE_USUAL_SESSION_TOTAL",
    "CONFIRMABLE",
    "DoseLimits",
    "DoseWarning",
    "RETREATMENT_TOO_SOON",
    "SESSION_WINDOW",
    "PriorDose",
    "check_draw",
]

ABOVE_TYPICAL_RANGE = "above_typical_range"
ABOVE_USUAL_SESSION_TOTAL = "above_usual_session_total"
ABOVE_LABEL_MAX = "above_label_max"
ABOVE_CUMULATIVE_LIMIT = "above_cumulative_limit"
RETREATMENT_TOO_SOON = "retreatment_too_soon"
# Draws of the same patient and molecule this close together are one injection session, whichever
# treatment recorded them (two treatments opened for one visit are still one visit), and draws further apart
# are not, even in one treatment (one left open for days is several visits, each a session of its own).
SESSION_WINDOW_HOURS = 24
SESSION_WINDOW = dt.timedelta(hours=SESSION_WINDOW_HOURS)
# The warnings a draw may pass only with a confirmation and a reason.
CONFIRMABLE = frozenset({ABOVE_LABEL_MAX, ABOVE_CUMULATIVE_LIMIT, RETREATMENT_TOO_SOON})
# Each warning in a few words, for a draw's line once it is recorded (the draw keeps the codes).
WARNING_WORDS = {
    ABOVE_TYPICAL_RANGE: "above the usual range",
    ABOVE_USUAL_SESSION_TOTAL: "above the usual session total",
    ABOVE_LABEL_MAX: "above the label's maximum",
    ABOVE_CUMULATIVE_LIMIT: "above the cumulative limit",
    RETREATMENT_TOO_SOON: "re-treated sooner than the label's interval",
}


@dataclass(frozen=True)
class PriorDose:
    """One earlier, unreversed draw of the molecule for this patient."""

    treatment_id: int
    area: str
    units: Decimal
    at: dt.datetime


@dataclass(frozen=True)
class DoseLimits:
    """What the label and the clinic set for one molecule; None means no such limit."""

    molecule: str
    unit: str  # how the molecule's units are written: "U", "s.U"
    typical_ranges: Mapping[str, tuple[Decimal, Decimal]]  # area -> (low, high) per session
    usual_session_max: Decimal | None = None  # the product's usual patient total a session, every area
    session_max: Decimal | None = None
    session_max_areas: frozenset[str] = frozenset()  # the areas the label maximum covers; empty: all
    cumulative_max: Decimal | None = None
    cumulative_days: int | None = None
    retreat_interval_days: int | None = None


@dataclass(frozen=True)
class DoseWarning:
    code: str
    message: str

    @property
    def needs_confirmation(self) -> bool:
        return self.code in CONFIRMABLE


def check_draw(
    *, limits: DoseLimits, treatment_id: int, area: str, units: Decimal, now: dt.datetime,
    history: Iterable[PriorDose], timezone: str, area_name: str | None = None,
) -> list[DoseWarning]:
    """The warnings for drawing ``units`` of ``limits.molecule`` into ``area`` in this treatment.

    ``history`` is the patient's earlier unreversed draws of the same molecule, in any of her treatments,
    reaching back at least :data:`SESSION_WINDOW`. The session is the draws of the last
    :data:`SESSION_WINDOW`, whichever treatment recorded them: an earlier draw of this treatment is
    another session, and a re-treatment, once it is older (a treatment left open since an earlier visit).
    ``treatment_id`` only words the session. The re-treatment interval counts calendar days in the clinic's
    ``timezone``, as the patient's history and the checklist do: "last given 29 days ago" there would
    contradict their "30 days". ``area_name`` is the area as the cart names it ("crow's feet, left"); by
    default its code.
    """
    history = list(history)

    def in_session(dose: PriorDose) -> bool:
        return now - dose.at < SESSION_WINDOW

    this_session = [d for d in history if in_session(d)]
    session_name = "this session" if all(d.treatment_id == treatment_id for d in this_session) else (
        f"this session (with the patient's other treatments of the last {SESSION_WINDOW_HOURS} hours)")
    unit = limits.unit
    warnings: list[DoseWarning] = []

    typical = limits.typical_ranges.get(area)
    area_total = sum((d.units for d in this_session if d.area == area), units)
    if typical is not None and area_total > typical[1]:
        warnings.append(DoseWarning(
            ABOVE_TYPICAL_RANGE,
            f"{_q(area_total)} {unit} of {limits.molecule} into {area_name or area.replace('_', ' ')} {session_name} is above "
            f"the usual {_q(typical[0])}-{_q(typical[1])} {unit}.",
        ))

    label_total = None
    if limits.session_max is not None and (not limits.session_max_areas or area in limits.session_max_areas):
        covered = [d for d in this_session if not limits.session_max_areas or d.area in limits.session_max_areas]
        session_total = sum((d.units for d in covered), units)
        if session_total > limits.session_max:
            label_total = session_total
            warnings.append(DoseWarning(
                ABOVE_LABEL_MAX,
                f"{_q(session_total)} {unit} of {limits.molecule} {session_name} is above the label's maximum of "
                f"{_q(limits.session_max)} {unit}.",
            ))

    if limits.usual_session_max is not None:
        patient_total = sum((d.units for d in this_session), units)
        # Said once: when the label's maximum already named this very total, the usual one adds nothing.
        if patient_total > limits.usual_session_max and patient_total != label_total:
            warnings.append(DoseWarning(
                ABOVE_USUAL_SESSION_TOTAL,
                f"{_q(patient_total)} {unit} of {limits.molecule} {session_name}, every area together, is above "
                f"the usual maximum of {_q(limits.usual_session_max)} {unit} a session.",
            ))

    if limits.cumulative_max is not None and limits.cumulative_days:
        since = now - dt.timedelta(days=limits.cumulative_days)
        window_total = sum((d.units for d in history if d.at > since), units)
        if window_total > limits.cumulative_max:
            warnings.append(DoseWarning(
                ABOVE_CUMULATIVE_LIMIT,
                f"{_q(window_total)} {unit} of {limits.molecule} in the last {limits.cumulative_days} days is above "
                f"the limit of {_q(limits.cumulative_max)} {unit}.",
            ))

    if limits.retreat_interval_days:
        earlier = [d.at for d in history if not in_session(d)]
        if earlier:
            days = (clinic_today(now, timezone) - clinic_today(max(earlier), timezone)).days
            if days < limits.retreat_interval_days:
                ago = "today" if days == 0 else "1 day ago" if days == 1 else f"{days} days ago"
                warnings.append(DoseWarning(
                    RETREATMENT_TOO_SOON,
                    f"{limits.molecule} was last given {ago}; the label says not more often than "
                    f"every {limits.retreat_interval_days} days.",
                ))
    return warnings


def _q(value: Decimal) -> str:
    return plain_quantity(value)
