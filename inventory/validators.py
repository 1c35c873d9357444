"""Validators for what people type: one definition each, for pages, API and command line.

Pure functions: no Flask, no database. Each returns the clean value or raises
:class:`~inventory.errors.ValidationError` with a message a nurse understands.
"""

from __future__ import annotations

import re
from decimal import Decimal

from inventory.errors import ValidationError

__all__ = ["MAX_QUANTITY_DIGITS", "parse_quantity"]

# No dose, count or kit minimum has five integer digits: a longer number is a scanned code.
MAX_QUANTITY_DIGITS = 4
MAX_QUANTITY_DECIMALS = 4

# ASCII digits only (no "1_0", no Arabic-Indic digits), one decimal point or comma.
_QUANTITY = re.compile(r"(?P<whole>[0-9]*)(?:[.,](?P<fraction>[0-9]*))?")
# What a scanner types: our labels (VL...), GS1 symbology prefixes and brackets, substitutes for GS, long digit runs.
_SCAN_SHAPED = re.compile(r"^(?:VL|\]|\()|[|{}<>^\x1d]|[0-9]{6,}", re.IGNORECASE)


def parse_quantity(text: str | None, *, what: str = "Quantity", field: str = "quantity") -> Decimal | None:
    """A typed quantity as a Decimal, or None when nothing was typed.

    Refuses anything shaped like a scanned code (a label or GS1 string typed into a
    quantity field by a keyboard-wedge scanner), exponents, NaN, underscores and
    non-ASCII digits, more than four integer digits or four decimals.
    """
    shown = (text or "").strip()
    if not shown:
        return None
    match = _QUANTITY.fullmatch(shown)
    if match is None or not (match["whole"] or match["fraction"]):
        if _SCAN_SHAPED.search(shown) or len(shown) > 8:
            raise _scan_shaped(shown, what, field)
        raise ValidationError(f"{what}: type a number, such as 4 or 0.1.", field=field, value=shown[:40])
    whole, fraction = match["whole"] or "0", match["fraction"] or ""
    if len(whole.lstrip("0")) > MAX_QUANTITY_DIGITS:
        raise _scan_shaped(shown, what, field)
    if len(fraction) > MAX_QUANTITY_DECIMALS:
        raise ValidationError(f"{what}: at most {MAX_QUANTITY_DECIMALS} decimal places.", field=field)
    return Decimal(f"{whole}.{fraction}" if fraction else whole)


def _scan_shaped(shown: str, what: str, field: str) -> ValidationError:
    return ValidationError(
        f"{what}: {shown[:24]!r} looks like a scanned code, not a quantity. Nothing was recorded: "
        "scan codes into the scan field and type the quantity by hand.",
        field=field,
        value=shown[:40],
    )
