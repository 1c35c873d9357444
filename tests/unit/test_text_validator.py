"""The one text validator, the safe-redirect check, the JSON body loader and the date bounds: generated
edges (control characters, NUL, surrogates, non-characters, long strings, dates) rather than listed ones."""

from __future__ import annotations

from typing import Annotated

import datetime as dt
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from pydantic import BaseModel, ValidationError as PydanticError

from inventory.blueprints.api.schemas import PlainText, QtyIn, Scanned
from inventory.errors import ValidationError
from inventory.security import MAX_JSON_DEPTH, BodyTooDeep, load_json, safe_redirect_target
from inventory.validators import (
    check_date_of_birth,
    check_text,
    parse_quantity,
    text_problem,
    writable_text,
)

FAST = settings(max_examples=150, deadline=None)

# Every character a person never types and XML cannot hold.
C0 = [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"]
BAD_CHARS = st.sampled_from(
    C0 + ["\x7f", "\x85", "\x9f", "\ud800", "\udbff", "\udc00", "\udfff", "\ufffe", "\uffff", "\U0001fffe",
          "\U0010ffff", "\ufdd0"]
)
# Text people do type: letters of any script, digits, punctuation, symbols, spaces, emoji.
PERSON_TEXT = st.text(
    alphabet=st.characters(categories=["L", "M", "N", "P", "S", "Zs"], exclude_characters="\ufffe\uffff"),
    max_size=60,
)
LINE_BREAKS = st.sampled_from(["\n", "\r\n", "\t"])


def _with(inside: str, text_value: str, at: int) -> str:
    at = at % (len(text_value) + 1)
    return text_value[:at] + inside + text_value[at:]


@FAST
@given(PERSON_TEXT)
def test_what_people_type_is_accepted_on_one_line_and_in_notes(value):
    assert text_problem(value) is None
    assert text_problem(value, multiline=True) is None
    assert writable_text(value) == value


@FAST
@given(PERSON_TEXT, BAD_CHARS, st.integers(min_value=0))
def test_a_control_character_surrogate_or_non_character_anywhere_is_refused(value, bad, at):
    typed = _with(bad, value, at)
    assert text_problem(typed) is not None
    assert text_problem(typed, multiline=True) is not None
    with pytest.raises(ValidationError, match=f"U\\+{ord(bad):04X}"):
        check_text(typed, what="Name")


@FAST
@given(PERSON_TEXT, LINE_BREAKS, st.integers(min_value=0))
def test_line_breaks_and_tabs_only_in_notes(value, brk, at):
    typed = _with(brk, value, at)
    assert text_problem(typed, multiline=True) is None
    assert "one line" in (text_problem(typed) or "")


@FAST
@given(st.integers(min_value=0, max_value=300))
def test_length_is_refused_one_past_the_limit_and_never_cut(extra):
    assert text_problem("a" * 200, max_length=200) is None
    assert text_problem("a" * (201 + extra), max_length=200) == f"at most 200 characters (this has {201 + extra})"


def test_nul_is_named():
    assert "NUL" in text_problem("a\x00b")


@FAST
@given(st.text(max_size=80))
def test_any_stored_text_can_be_written_to_a_workbook(stored):
    safe = writable_text(stored)
    assert text_problem(safe, multiline=True, max_length=10**6) is None
    assert not ILLEGAL_CHARACTERS_RE.search(safe)
    book = Workbook()
    book.active.append([safe])
    out = io.BytesIO()
    book.save(out)  # lxml/openpyxl would raise on anything XML cannot hold
    assert load_workbook(io.BytesIO(out.getvalue())).active["A1"].value in (safe or None, safe.strip() or None,
                                                                           safe)


# --- the pydantic types of the API ------------------------------------------------------


class _Body(BaseModel):
    name: Annotated[str, PlainText(20)]
    note: Annotated[str, PlainText(100, min_length=0, multiline=True)] = ""
    code: Annotated[str, Scanned(40)] = "x"
    quantity: QtyIn = "1"


@FAST
@given(PERSON_TEXT.filter(lambda v: 0 < len(v.strip()) <= 20), BAD_CHARS, st.integers(min_value=0))
def test_the_api_text_type_refuses_what_the_validator_refuses(value, bad, at):
    assert _Body(name=value).name == value.strip()
    with pytest.raises(PydanticError):
        _Body(name=_with(bad, value, at))
    with pytest.raises(PydanticError):
        _Body(name="ok", note=_with(bad, value, at))


def test_a_scan_keeps_its_gs_separators_and_trailing_line_break_but_nothing_else():
    assert _Body(name="x", code="0100301234567896\x1d10LT1\r\n").code == "0100301234567896\x1d10LT1\r\n"
    with pytest.raises(PydanticError):
        _Body(name="x", code="01003\x0012")


@FAST
@given(st.one_of(
    st.sampled_from(["1_0", "١٠", "１２", "sNaN", "NaN", "-Infinity", "1e400", "1e3", "10000", "0.00001", "", "."]),
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda f: not (0 <= f < 10000) or f != f),
    st.booleans(), st.none(), st.lists(st.integers(), max_size=2),
))
def test_the_api_quantity_type_refuses_what_the_pages_refuse(typed):
    with pytest.raises(PydanticError):
        _Body(name="x", quantity=typed)


@FAST
@given(st.decimals(min_value=0, max_value="9999.9999", places=4, allow_nan=False))
def test_the_api_quantity_type_reads_what_the_pages_read(value):
    typed = f"{value:f}"
    assert _Body(name="x", quantity=typed).quantity == parse_quantity(typed)


# --- dates ---------------------------------------------------------------------------------------

TODAY = dt.date(2026, 12, 3)


@FAST
@given(st.dates(min_value=TODAY + dt.timedelta(days=1)))
def test_a_date_of_birth_in_the_future_is_refused(day):
    with pytest.raises(ValidationError, match="future"):
        check_date_of_birth(day, today=TODAY)


@FAST
@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=TODAY))
def test_a_date_of_birth_in_the_past_is_kept(day):
    assert check_date_of_birth(day, today=TODAY) == day


def test_a_date_of_birth_before_1900_is_refused():
    with pytest.raises(ValidationError, match="before 1900"):
        check_date_of_birth(dt.date(1899, 12, 31), today=TODAY)


# --- JSON bodies ---------------------------------------------------------------------------------


@FAST
@given(st.integers(min_value=MAX_JSON_DEPTH + 1, max_value=200_000), st.sampled_from(["[", '{"a":']))
def test_a_body_nested_too_deep_is_refused_before_the_parser_recurses(depth, opener):
    with pytest.raises(BodyTooDeep):
        load_json(opener * depth)


def test_brackets_inside_strings_do_not_count_as_nesting():
    body = json.dumps({"note": "[[[[{{{{" * 100, "quote": '\\"[', "x": [[1]]})
    assert load_json(body)["x"] == [[1]]


@FAST
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=20))
def test_ordinary_json_loads_as_json_loads_it(value):
    raw = json.dumps(value)
    assert load_json(raw) == json.loads(raw)


# --- redirects ------------------------------------------------------------------------------------

OFF_SITE = [
    "//evil.example/", "/\t/evil.example/", "/%09/evil.example/", "/\\evil.example", "\\\\evil.example",
    "/%5Cevil.example", "/%2F/evil.example", "https://evil.example/", "javascript:alert(1)",
    "/\n/evil.example", "/\r\n/evil.example", "/\x00/evil.example", " //evil.example", "/ /evil.example",
    "/\u3000/evil.example", "//evil.example%2F", "http:evil.example", "%2F%2Fevil.example",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_off_site_and_ambiguous_targets_are_never_followed(target):
    assert safe_redirect_target(target) is None


@pytest.mark.parametrize("target", ["/cart", "/cart/treatments/12?container=VL123#draw", "/recalls?q=LT%204821"])
def test_same_site_paths_are_followed(target):
    assert safe_redirect_target(target) == target


@FAST
@given(st.text(max_size=40))
def test_any_target_followed_is_a_single_slash_printable_path(target):
    followed = safe_redirect_target(target)
    if followed is not None:
        assert followed.startswith("/") and not followed.startswith("//")
        assert followed.isascii() and followed.isprintable() and " " not in followed and "\\" not in followed
