"""Validators for what people type: one definition each, for pages, API and command line.

Pure functions: no Flask, no database. Each returns the clean value or raises
:class:`~inventory.errors.ValidationError` with a message a nurse understands.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from email_validator import EmailNotValidError, validate_email

from inventory.errors import ValidationError

__all__ = [
    "MAX_QUANTITY_DIGITS", "QUANTITY_PATTERN", "check_date_of_birth", "check_email", "check_phone", "check_text",
    "parse_quantity", "text_problem", "writable_text",
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
        raise ValidationError(f"{what}: {problem}.", field=field, fields=[{"field": field, "problem": problem}])
    return value.strip()


def writable_text(value: str) -> str:
    """Stored text made safe to write out (xlsx, CSV): every character text_problem refuses (which XML,
    so openpyxl, cannot write) becomes U+FFFD. Rows stored before the text validator existed can then
    never make an export fail."""
    return _FORBIDDEN_MULTILINE.sub("\ufffd", value)


# --- contact details ---------------------------------------------------------------------
# What a recall relies on to reach a patient (the notification list, the letters): an address a mail can be
# sent to, a number a person can dial. Both are kept as typed (trimmed); only their shape is checked here.

EMAIL_EXAMPLE = "jane@example.com"
PHONE_EXAMPLE = "+44 20 7946 0000"
# ITU-T E.164: at most 15 digits, country code included; no number anyone dials is shorter than 6.
PHONE_DIGITS = (6, 15)
# What people write between the digits of a number ("+44 (0)20 7946-0000", "020/7946.0000"), any dash included.
_PHONE_SEPARATORS = re.compile(r"[\s.()/\-\u2010-\u2015\u2212]+")
# Then an optional leading +, the digits (ASCII only), an optional extension ("ext 12", "ext. 12", "x12").
_PHONE = re.compile(r"(?P<plus>\+?)(?P<digits>[0-9]+)(?:(?:extension|ext|x)(?P<extension>[0-9]{1,6}))?",
                    re.IGNORECASE)


def check_email(value: str, *, what: str = "Email", field: str = "email") -> str:
    """``value`` (one line, already trimmed) if it is an email address a mail can be sent to, as typed; raises
    ValidationError otherwise, with the library's reason ("The part after the @-sign contains invalid
    characters: '@'.").

    The one well-kept validator (email-validator, as pydantic's EmailStr and WTForms' Email use), never its
    DNS look-up: a treatment cart may be offline, and a domain that does not answer today is still the
    patient's. Its normalized form is not stored: it differs from what was typed only by the domain's case
    (which mail ignores) and the Unicode form of accented letters, it never lower-cases the part before the @,
    and the nurse should find the address as she, or the patient, wrote it."""
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationError(
            f"{what}: type an email address the clinic can write to, such as {EMAIL_EXAMPLE}. {error}", field=field
        ) from None
    return value


def check_phone(value: str, *, what: str = "Phone", field: str = "phone") -> str:
    """``value`` (one line, already trimmed) if it is a number a person can dial, as typed; raises
    ValidationError otherwise. Spaces, dots, dashes, slashes and brackets are set aside; what is left is an
    optional leading +, 6 to 15 digits and an optional extension ("ext 12", "x12"). Letters ("call me maybe")
    and any other character are refused."""
    match = _PHONE.fullmatch(_PHONE_SEPARATORS.sub("", value))
    if match is None:
        raise ValidationError(
            f"{what}: type a phone number the clinic can dial, such as {PHONE_EXAMPLE} (an extension as ext 12).",
            field=field)
    low, high = PHONE_DIGITS
    digits = len(match["digits"])
    if not low <= digits <= high:
        raise ValidationError(
            f"{what}: a phone number has {low} to {high} digits; this one has {digits}. Type a phone number the clinic "
            f"can dial, such as {PHONE_EXAMPLE}.", field=field)
    return value


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
