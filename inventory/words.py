"""How Vialog says counts, lists and concentrations in its messages: one home, so every page and answer reads alike."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

_HUNDREDTH = Decimal("0.01")


def counted(count: int, noun: str) -> str:
    """ "1 container", "2 containers". """
    return f"{count} {noun}{'' if count == 1 else 's'}"


def listing(items: Sequence[str], conjunction: str = "and") -> str:
    """ "A", "A and B", "A, B and C" (or "A, B or C")."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def some_of(items: Sequence[str], shown: int) -> str:
    """The first ``shown`` of ``items`` and how many more: "VL-1, VL-2 and 3 more", without flooding the page."""
    named = ", ".join(items[:shown])
    return f"{named} and {len(items) - shown} more" if len(items) > shown else named


def hundredths(value: Decimal) -> str:
    """A figure read off a division (a concentration) to at most 2 decimals: 83.3333 -> "83.33", 40.0000 -> "40".
    Display only: what is stored, and the arithmetic of a draw, keep every decimal."""
    rounded = value.quantize(_HUNDREDTH, rounding=ROUND_HALF_UP)
    return "0" if rounded == 0 else f"{rounded.normalize():f}"


def per_ml(units_per_ml: Decimal, unit: str) -> str:
    """ "83.33 U/mL". """
    return f"{hundredths(units_per_ml)} {unit}/mL"


def concentration(units_per_ml: Decimal, unit: str, source: str | None = None) -> str:
    """ "8.33 U per 0.1 mL (83.33 U/mL)", as the cart shows a vial's; ``source`` is said beside the per-mL figure
    ("label": a ready-to-use liquid's printed strength)."""
    said = f"{per_ml(units_per_ml, unit)}, {source}" if source else per_ml(units_per_ml, unit)
    return f"{hundredths(units_per_ml / 10)} {unit} per 0.1 mL ({said})"
