"""Turn whatever a scanner typed into a typed :class:`ScannedCode`.

This is the pure half of scanning: no database, no Flask. It recognises

* GS1 element strings (DataMatrix, GS1-128, GS1 QR, GS1 DataBar), with or
  without a symbology identifier, with GS separators or a scanner's substitute;
* the human-readable form ``(01)...(17)...(10)...``;
* GS1 Digital Link URIs;
* bare GTIN-8, UPC-A, EAN-13 and GTIN-14 codes;
* Vialog's own container labels (``VL`` + 8 Crockford base32 characters).

GS1 syntax (Application Identifiers, their patterns, dates, check digits) is
left to the ``biip`` package; this module only adds what Vialog needs on top:
scanner quirks, lost-separator detection and nurse-readable errors.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Literal

from biip import ParseError
from biip.checksums import gs1_standard_check_digit
from biip.gs1_application_identifiers import GS1ApplicationIdentifier
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementString
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin
from biip.symbology import GS1Symbology, SymbologyIdentifier

from inventory.errors import BadCheckDigit, SeparatorLost, UnreadableCode

__all__ = [
    "LABEL_ALPHABET",
    "LABEL_PREFIX",
    "ScannedCode",
    "new_label_code",
    "normalise_gtin",
    "normalise_lot_number",
    "parse_scan",
    "refuse_lost_separator",
]

GS = "\x1d"

# Multi-character substitutes first, so that none is half-replaced by a shorter one.
_GS_SUBSTITUTES = re.compile(r"\{GS\}|<GS>|\^\]|\|", re.IGNORECASE)

LABEL_PREFIX = "VL"
LABEL_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32
_LABEL_BODY_LENGTH = 8
_CROCKFORD_FOLD = str.maketrans({"I": "1", "L": "1", "O": "0"})

_GTIN_LENGTHS = (8, 12, 13, 14)
_MAX_LOT_LENGTH = 20  # GS1 AI (10) is X..20

_DATE_FIELDS = {"17": "expiry date", "11": "production date"}
# Elements a lost separator typically glues onto the end of a lot on a medicine pack.
_SWALLOWABLE_FIELDS = {"21": "serial number", **_DATE_FIELDS}

_RESCAN = "Scan it again or type the GTIN, lot and expiry."


@dataclass(frozen=True)
class ScannedCode:
    """What one scan (or one typed code) identified."""

    kind: Literal["gs1", "gtin", "container"]
    raw: str  # exactly what was typed
    gtin: str | None = None  # GTIN-14, check digit verified
    lot: str | None = None  # AI 10, as printed
    expiry: date | None = None  # AI 17; day 00 is the last day of that month
    expiry_raw: str | None = None  # the 6 digits as printed (EU FMD compares them literally)
    serial: str | None = None  # AI 21
    production_date: date | None = None  # AI 11
    label_code: str | None = None  # kind "container": the canonical Vialog label code
    warnings: tuple[str, ...] = ()  # messages for a human to confirm
    # The lot as it would read had a separator not been lost, when the lot ends in something shaped
    # like another element: nothing may be written with such a lot until a person says which it is.
    lot_if_separated: str | None = None


# --- public API ---------------------------------------------------------------


def parse_scan(raw: str) -> ScannedCode:
    """Interpret one scanned or typed code.

    Surrounding whitespace and the scanner's trailing Enter are ignored, as is a
    symbology identifier such as ``]d2`` or ``]C1``.

    Raises:
        UnreadableCode: empty input, junk, an element string biip cannot parse,
            a GS1 code without a GTIN (AI 01), an impossible date, a lot longer
            than 20 characters, or a malformed Vialog label code.
        BadCheckDigit: the GTIN's check digit is wrong.
    """
    text = raw.strip()
    if not text:
        raise UnreadableCode("Nothing was scanned. Scan the code again.", raw=raw)

    symbology, text = _split_symbology_identifier(text, raw)

    if text[: len(LABEL_PREFIX)].upper() == LABEL_PREFIX:
        return ScannedCode(kind="container", raw=raw, label_code=_parse_label_code(text, raw))
    # A Digital Link's path segments delimit the lot explicitly, so nothing can run
    # into it; element strings and hand-typed HRI (brackets get dropped) can.
    if text[:7].lower() == "http://" or text[:8].lower() == "https://":
        return _from_elements(_parse_digital_link(text, raw), raw, check_swallowed_lot=False)
    if text.startswith("("):
        return _from_elements(_parse_hri(text, raw), raw, check_swallowed_lot=True)
    gs1_symbology = symbology is not None and symbology.gs1_symbology in GS1Symbology.with_gs1_messages()
    if not gs1_symbology and text.isdecimal() and len(text) in _GTIN_LENGTHS:
        # A bare product code: identifies the product, not its lot.
        return ScannedCode(kind="gtin", raw=raw, gtin=normalise_gtin(text))
    return _from_elements(_parse_element_string(text, raw), raw, check_swallowed_lot=True)


def normalise_gtin(digits: str) -> str:
    """Return a GTIN-8, UPC-A (12), EAN-13 or GTIN-14 as 14 digits.

    Raises:
        UnreadableCode: not only digits, or not 8, 12, 13 or 14 of them.
        BadCheckDigit: the check digit is wrong (never corrected or guessed).
    """
    value = digits.strip()
    if not (value.isascii() and value.isdecimal()) or len(value) not in _GTIN_LENGTHS:
        raise UnreadableCode(
            f"{value!r} is not a product number (GTIN): it must be 8, 12, 13 or 14 digits. {_RESCAN}",
            gtin=value,
        )
    expected = gs1_standard_check_digit(value[:-1])
    if int(value[-1]) != expected:
        raise BadCheckDigit(
            f"The check digit of {value} is wrong: it should end in {expected}. "
            "Scan again or check the digits.",
            gtin=value,
        )
    try:
        return Gtin.parse(value).as_gtin_14()
    except ParseError as exc:  # pragma: no cover - digits and check digit were verified above
        raise UnreadableCode(f"{value} is not a valid product number (GTIN). {_RESCAN}", gtin=value) from exc


def new_label_code() -> str:
    """Return a fresh random Vialog label code, e.g. ``VL7K2M9QXA``."""
    body = "".join(secrets.choice(LABEL_ALPHABET) for _ in range(_LABEL_BODY_LENGTH))
    return f"{LABEL_PREFIX}{body}"


def normalise_lot_number(text: str) -> str:
    """Return a lot number in the form used to MATCH lots (never to store them).

    Drops every space and upper-cases: a GS1 lot (AI 10) never holds a space, so ``"xe 77812"`` typed from an
    alert that spaces its digits is lot ``XE77812``. A typed lot number is never parsed as GS1: ``"10D9T"`` is
    lot ``10D9T``, not AI 10. Raises nothing.
    """
    return "".join(text.split()).upper()


# --- dispatch helpers -----------------------------------------------------------


def _split_symbology_identifier(text: str, raw: str) -> tuple[SymbologyIdentifier | None, str]:
    """Strip a leading symbology identifier (``]d2``, ``]C1``, ``]Q3``, ``]e0`` ...)."""
    if not text.startswith("]"):
        return None, text
    try:
        symbology = SymbologyIdentifier.extract(text)
    except (ParseError, IndexError, ValueError) as exc:  # biip indexes past a bare "]"
        raise UnreadableCode(f"This code could not be read. {_RESCAN}", raw=raw) from exc
    rest = text[len(symbology) :].strip()
    if not rest:
        raise UnreadableCode(f"This code could not be read: it holds no data. {_RESCAN}", raw=raw)
    return symbology, rest


def _parse_label_code(text: str, raw: str) -> str:
    body = text[len(LABEL_PREFIX) :].upper().translate(_CROCKFORD_FOLD)
    if len(body) != _LABEL_BODY_LENGTH or any(char not in LABEL_ALPHABET for char in body):
        raise UnreadableCode(
            "This Vialog label could not be read: a label code is VL followed by 8 letters "
            "and digits. Scan the label again or type the code printed under it.",
            raw=raw,
        )
    return f"{LABEL_PREFIX}{body}"


# --- GS1 forms --------------------------------------------------------------------


def _parse_element_string(text: str, raw: str) -> list[GS1ElementString]:
    """Parse a GS1 element string element by element.

    Each element is parsed by biip; the loop is ours (rather than
    ``GS1Message.parse``) because we need each element's position to notice a
    variable-length field that ran on past its end, which biip silently splits.
    """
    data = _GS_SUBSTITUTES.sub(GS, text).strip(GS)
    elements: list[GS1ElementString] = []
    pos = 0
    while pos < len(data):
        rest = data[pos:]
        try:
            element = GS1ElementString.extract(rest)
        except ParseError as exc:
            raise _explain_bad_element(rest, raw) from exc
        _check_field_terminated(data, pos, element, raw)
        elements.append(element)
        pos += len(element)
        while data.startswith(GS, pos):
            pos += 1
    return elements


def _check_field_terminated(data: str, start: int, element: GS1ElementString, raw: str) -> None:
    """Refuse a variable-length field that is followed by more data without a separator.

    GS1 requires a separator after every variable-length field that is not last.
    biip reads such a field up to its maximum length and then carries on parsing
    the rest as new elements, so a lot of 20 characters followed by more data
    means the separator was lost and the real lot, as read, is longer than 20.
    """
    end = start + len(element)
    if not element.ai.separator_required or end >= len(data) or data[end] == GS:
        return
    if not _allowed_in_field(element.ai.ai, data[end]):
        return  # biip stopped at a character the field cannot hold: junk, reported next
    value_start = start + len(element.ai.ai)
    run_end = data.find(GS, value_start)
    run = data[value_start : run_end if run_end != -1 else len(data)]
    if element.ai.ai == "10" and len(run) > _MAX_LOT_LENGTH:
        raise UnreadableCode(
            f"The lot number read from this code ({run}) is longer than 20 characters: the "
            "separator after the lot was probably lost. Scan again, or type the lot and expiry "
            "from the box.",
            raw=raw,
            lot=run,
        )
    raise UnreadableCode(
        f"This code could not be read: the {element.ai.data_title.lower()} field runs into the "
        f"next one (a separator was probably lost). {_RESCAN}",
        raw=raw,
    )


def _allowed_in_field(ai: str, char: str) -> bool:
    """Whether biip accepts ``char`` as the value of ``ai`` (its character set)."""
    try:
        GS1ElementString.parse(ai + char)
    except ParseError:
        return False
    return True


def _parse_hri(text: str, raw: str) -> list[GS1ElementString]:
    """Parse ``(01)...(17)...(10)...``; biip ignores whitespace between elements."""
    try:
        return list(GS1Message.parse_hri(text).element_strings)
    except ParseError as exc:
        raise _explain_bad_hri(text, raw) from exc


def _explain_bad_hri(text: str, raw: str) -> UnreadableCode:
    # Only to word the error: find the first bracketed element biip rejects.
    for match in re.finditer(r"\((\d+)\)([^(]*)", "".join(text.split())):
        ai, field = match.groups()
        try:
            GS1ElementString.parse(ai + field)
        except ParseError:
            return _explain_field(ai, field, raw)
    return UnreadableCode(f"This code could not be read. {_RESCAN}", raw=raw)


def _explain_bad_element(rest: str, raw: str) -> UnreadableCode:
    """Word the error for an element string biip could not parse at ``rest``."""
    try:
        ai = GS1ApplicationIdentifier.extract(rest).ai
    except ParseError:
        return UnreadableCode(f"This code could not be read. {_RESCAN}", raw=raw)
    return _explain_field(ai, rest[len(ai) :].split(GS, 1)[0], raw)


def _explain_field(ai: str, field: str, raw: str) -> UnreadableCode:
    if ai in _DATE_FIELDS:
        printed = field[:6]
        return UnreadableCode(
            f"The {_DATE_FIELDS[ai]} in this code ({printed}, YYMMDD) is not a real date. "
            "Check the date printed on the box and type it.",
            raw=raw,
            ai=ai,
            value=printed,
        )
    if ai == "10" and len(field) > _MAX_LOT_LENGTH:
        return UnreadableCode(
            f"The lot number in this code ({field}) is longer than 20 characters. "
            "Type the lot and expiry from the box.",
            raw=raw,
            lot=field,
        )
    return UnreadableCode(f"This code could not be read. {_RESCAN}", raw=raw)


def _parse_digital_link(text: str, raw: str) -> list[GS1ElementString]:
    try:
        return list(GS1DigitalLinkURI.parse(text).element_strings)
    except ParseError as exc:
        raise UnreadableCode(
            f"This web link could not be read as a GS1 Digital Link. {_RESCAN}", raw=raw
        ) from exc


# --- building the result --------------------------------------------------------


def _from_elements(
    elements: list[GS1ElementString], raw: str, *, check_swallowed_lot: bool
) -> ScannedCode:
    by_ai = _index_by_ai(elements, raw)
    gtin_element = by_ai.get("01")
    if gtin_element is None:
        raise UnreadableCode(
            f"This code has no product number (GTIN, AI 01), so the product is not known. {_RESCAN}",
            raw=raw,
        )
    lot = _value(by_ai, "10")
    expiry = by_ai.get("17")
    production = by_ai.get("11")
    swallowed = _swallowed_lot(lot) if check_swallowed_lot and lot else None
    return ScannedCode(
        kind="gs1",
        raw=raw,
        gtin=normalise_gtin(gtin_element.value),
        lot=lot,
        expiry=expiry.date if expiry else None,
        expiry_raw=expiry.value if expiry else None,
        serial=_value(by_ai, "21"),
        production_date=production.date if production else None,
        warnings=(swallowed[1],) if swallowed else (),
        lot_if_separated=swallowed[0] if swallowed else None,
    )


def refuse_lost_separator(code: ScannedCode) -> None:
    """Refuse a code whose lot swallowed a following element (DOMAIN.md "Barcodes").

    Every path that writes something for a scanned lot (receiving, counting) calls this;
    a read-only scan shows the same finding as a warning. Raises SeparatorLost.
    """
    if code.lot_if_separated is None:
        return
    raise SeparatorLost(
        f"{code.warnings[0]} Nothing was saved: scan the box again, or type the lot and expiry as printed.",
        lot_as_read=code.lot,
        lot_if_separated=code.lot_if_separated,
    )


def _index_by_ai(elements: list[GS1ElementString], raw: str) -> dict[str, GS1ElementString]:
    """Map AI -> element; other AIs (240, 30, ...) are kept but never used."""
    by_ai: dict[str, GS1ElementString] = {}
    for element in elements:
        seen = by_ai.setdefault(element.ai.ai, element)
        if seen.value != element.value:
            # Two different lots (or expiries) in one code: refuse rather than pick one.
            raise UnreadableCode(
                f"This code holds two different values for {element.ai}. {_RESCAN}", raw=raw
            )
    return by_ai


def _value(by_ai: dict[str, GS1ElementString], ai: str) -> str | None:
    element = by_ai.get(ai)
    return element.value if element else None


def _swallowed_lot(lot: str) -> tuple[str, str] | None:
    """The lot before the tail and a warning, when the lot ends in what looks like another
    element (a lost separator).

    Never split it ourselves: ``ABC1221SN99`` may really be the lot. The nurse
    compares it with the box. biip decides what is "shaped like" an element.
    """
    candidates = []
    for start in range(1, len(lot) - 2):
        tail = lot[start:]
        if not tail.startswith(tuple(_SWALLOWABLE_FIELDS)):
            continue
        try:
            element = GS1ElementString.parse(tail)
        except ParseError:
            continue
        candidates.append((start, tail, element))
    if not candidates:
        return None
    # A date that is the whole tail is the likelier reading: "QA772117280131" is lot QA7721 with expiry 31 Jan
    # 2028 (a pack always carries its expiry), though "21" further left could start a serial "17280131".
    start, tail, element = next(
        (c for c in candidates if c[2].ai.ai in _DATE_FIELDS and len(c[2].ai.ai) + len(c[2].value) == len(c[1])),
        candidates[0])
    return lot[:start], (
        f"Check the lot number: {lot} ends in {tail}, which looks like the "
        f"{_SWALLOWABLE_FIELDS[element.ai.ai]} {element.ai}{element.value} run into the lot "
        f"(a separator may have been lost). Is the lot {lot} or {lot[:start]}? "
        "Compare with the box before going on."
    )
