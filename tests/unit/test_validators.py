"""The one quantity validator: what a person types is a number; what a scanner types is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inventory.errors import ValidationError
from inventory.services.barcodes import new_label_code
from inventory.validators import parse_quantity


@pytest.mark.parametrize(("typed", "value"), [
    ("4", Decimal("4")), ("0.1", Decimal("0.1")), (".25", Decimal("0.25")), ("0,5", Decimal("0.5")),
    (" 12 ", Decimal("12")), ("9999.9999", Decimal("9999.9999")), ("0", Decimal("0")),
])
def test_plain_numbers_are_read_as_typed(typed, value):
    assert parse_quantity(typed) == value


@pytest.mark.parametrize("typed", ["", "   ", None])
def test_nothing_typed_is_none(typed):
    assert parse_quantity(typed) is None


@pytest.mark.parametrize("typed", [
    # A random code under a fixed id: pytest-xdist's workers must collect the same test names.
    pytest.param(new_label_code(), id="a-new-label-code"),
    "]d201003012345678961727033110LT4821A", "(01)00301234567896(17)270331", "0100301234567896",
    "10000", "01|21SN", "73051",
])
def test_what_a_scanner_types_is_refused_as_a_scanned_code(typed):
    with pytest.raises(ValidationError, match="looks like a scanned code"):
        parse_quantity(typed)


@pytest.mark.parametrize("typed", ["1_0", "١٢", "１２", "1e3", "sNaN", "NaN", "Infinity", "-1", "+1", "1.2.3", "4 U"])
def test_anything_but_ascii_digits_and_one_point_is_refused(typed):
    with pytest.raises(ValidationError):
        parse_quantity(typed)


@pytest.mark.parametrize("typed", ["1,000", "1,500", "12,250", " 2,000 "])
def test_a_comma_before_three_digits_is_refused_as_ambiguous(typed):
    # 1,500 is one and a half in Paris and fifteen hundred in London: a dose is never guessed.
    with pytest.raises(ValidationError, match="could mean"):
        parse_quantity(typed)


@pytest.mark.parametrize(("typed", "value"), [("0,125", Decimal("0.125")), ("1,5", Decimal("1.5")),
                                              ("1,25", Decimal("1.25")), ("1.500", Decimal("1.5"))])
def test_a_decimal_comma_that_cannot_be_a_thousands_separator_is_read(typed, value):
    assert parse_quantity(typed) == value


def test_more_than_four_decimals_is_refused():
    with pytest.raises(ValidationError, match="at most 4 decimal places"):
        parse_quantity("0.12345")


@given(st.text(max_size=40))
def test_any_text_is_a_bounded_decimal_or_a_validation_error(typed):
    try:
        value = parse_quantity(typed)
    except ValidationError as error:
        assert error.details.get("field") == "quantity"
        return
    if value is not None:
        assert Decimal(0) <= value < Decimal(10_000)
        assert -value.as_tuple().exponent <= 4
