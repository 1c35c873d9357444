"""Validators for what people type: one definition each, for pages, API and command line.

Pure functions: no Flask, no database. Each returns the clean value or raises
:class:`~inventory.errors.ValidationError` with a message a nurse understands.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from inventory.errors import ValidationError

__all__ = [
    "MAX_QUANTITY_DIGITS", "QUANTITY_PATTERN", "check_date_of_birth", "check_text", "parse_quantity",
    "text_problem", "writable_text",
]

# No dose, count or kit minimum has five integer digits: a longer number is a scanned code.
MAX_QUANTITY_DIGITS = 4
MAX_QUANTITY_DECIMALS = 4

# The same shape for the OpenAPI document: what parse_quantity accepts, written as a JSON Schema pattern.
QUANTITY_PATTERN = r"^\s*0*([0-9]{1,%d}([.,][0-9]{0,%d})?|[.,][0-9]{1,%d})\s*$" % (
    MAX_QUANTITY_DIGITS, MAX_QUANTITY_DECIMALS, MAX_QUANTITY_DECIMALS
)
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
    if shown.startswith("-") and _QUANTITY.fullmatch(shown[1:].strip()) and shown[1:].strip() not in ("", ".", ","):
        raise ValidationError(f"{what}: {shown} is below zero. Type the quantity itself, such as "
                              f"{shown[1:].strip()}.", field=field, value=shown[:40])
    if match is None or not (match["whole"] or match["fraction"]):
        if _SCAN_SHAPED.search(shown) or len(shown) > 8:
            raise _scan_shaped(shown, what, field)
        raise ValidationError(f"{what}: type a number, such as 4 or 0.1.", field=field, value=shown[:40])
    whole, fraction = match["whole"] or "0", match["fraction"] or ""
    if len(whole.lstrip("0")) > MAX_QUANTITY_DIGITS:
        raise _scan_shaped(shown, what, field)
    if len(fraction) > MAX_QUANTITY_DECIMALS:
        raise ValidationError(f"{what}: at most {MAX_QUANTITY_DECIMALS} decimal places.", field=field)
    if "," in shown and len(fraction) == 3 and whole.lstrip("0"):
        # A decimal comma or a thousands separator? "1,500" is 1.5 in Paris and 1500 in London: never guessed.
        raise ValidationError(
            f"{what}: {shown} could mean {whole}.{fraction} or {whole}{fraction}. Type it with a point for decimals "
            f"({whole}.{fraction}) or without a separator ({whole}{fraction}).", field=field, value=shown[:40])
    return Decimal(f"{whole}.{fraction}" if fraction else whole)


def _scan_shaped(shown: str, what: str, field: str) -> ValidationError:
    return ValidationError(
        f"{what}: {shown[:24]!r} looks like a scanned code, not a quantity. Nothing was recorded: "
        "scan codes into the scan field and type the quantity by hand.",
        field=field,
        value=shown[:40],
    )


# --- text -----------------------------------------------------------------------------

# Control characters (C0, DEL, C1), lone surrogates and the non-characters U+FFFE/U+FFFF (and their
# twins at the end of every plane): never typed by a person, refused by XML (so by every xlsx export)
# and, for NUL, by PostgreSQL. Tab, line feed and carriage return are allowed only in multi-line notes.
_FORBIDDEN_CHARS = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
    + "".join(f"\\U{plane:04x}fffe\\U{plane:04x}ffff" for plane in range(1, 17))
)
_FORBIDDEN_MULTILINE = re.compile(f"[{_FORBIDDEN_CHARS}]")
_FORBIDDEN_SINGLE_LINE = re.compile(f"[{_FORBIDDEN_CHARS}\t\n\r]")
# A person's longest free text: a recall notice or a count note. Fields set their own lower limits.
MAX_TEXT_LENGTH = 2000


def text_problem(value: str, *, multiline: bool = False, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    """Why ``value`` may not be stored as text, or None. Pure; used by pydantic, WTForms and the
    request guard (inventory/security.py)."""
    if len(value) > max_length:
        return f"at most {max_length} characters (this has {len(value)})"
    found = (_FORBIDDEN_MULTILINE if multiline else _FORBIDDEN_SINGLE_LINE).search(value)
    if found is not None:
        char = found.group()
        where = "" if multiline or char not in "\t\n\r" else " (this field takes one line)"
        name = " (NUL)" if char == "\x00" else ""
        return f"contains the invisible character U+{ord(char):04X}{name}{where}: retype it rather than paste it"
    return None


def check_text(
    value: str | None, *, what: str = "Text", field: str = "text", multiline: bool = False,
    max_length: int = MAX_TEXT_LENGTH,
) -> str | None:
    """``value`` trimmed, or None when nothing was typed; raises ValidationError (422) for control
    characters, lone surrogates, non-characters or more than ``max_length`` characters."""
    if value is None:
        return None
    problem = text_problem(value, multiline=multiline, max_length=max_length)
    if problem is not None:
        raise ValidationError(f"{what}: {problem}.", field=field)
    return value.strip()


def writable_text(value: str) -> str:
    """Stored text made safe to write out (xlsx, CSV): every character text_problem refuses (which XML,
    so openpyxl, cannot write) becomes U+FFFD. Rows stored before the text validator existed can then
    never make an export fail."""
    return _FORBIDDEN_MULTILINE.sub("\ufffd", value)


# --- dates -----------------------------------------------------------------------------

EARLIEST_BIRTH_YEAR = 1900


def check_date_of_birth(value: dt.date | None, *, today: dt.date, field: str = "date_of_birth") -> dt.date | None:
    """A date of birth in the past (not before 1900); raises ValidationError otherwise."""
    if value is None:
        return None
    if value > today:
        raise ValidationError(f"Date of birth {value.isoformat()} is in the future.", field=field)
    if value.year < EARLIEST_BIRTH_YEAR:
        raise ValidationError(f"Date of birth {value.isoformat()} is before {EARLIEST_BIRTH_YEAR}.", field=field)
    return value
