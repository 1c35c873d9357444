"""A supplier's licence number, when given, looks like one: it has a digit and is not zeros alone. What is typed
while the number is not known ("n/a", "tbc", "000") is not a licence number (the rule, without a database)."""

from __future__ import annotations

import pytest

from inventory.counterfeit.service import is_licence_number, not_a_licence_number

PLACEHOLDERS = ["n/a", "N/A", "na", "none", "None", "-", "--", "unknown", "tbc", "TBD", "pending", "0", "00", "000",
                "0000", "0-000", "xxx", "?", "not known", "Ｎ／Ａ", "０００", "n.a."]
LICENCES = ["WDA(H) 12345", "DEA RB1234563", "3005123456", "wda(h) 0001", "WDA 7", "１２３４", "0001", "10",
            "PL 0042/0017", "WDA 0"]


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
def test_a_placeholder_is_not_a_licence_number(placeholder):
    assert not is_licence_number(placeholder)


@pytest.mark.parametrize("licence", LICENCES)
def test_a_licence_with_its_digits_is_a_licence_number(licence):
    assert is_licence_number(licence)


def test_the_refusal_says_what_was_typed_and_what_to_do():
    assert not_a_licence_number("n/a", authorised=False) == (
        "Type the supplier's licence number as printed on its licence, or leave the field empty until you have it: "
        "“n/a” is not a licence number.")
    # An authorised supplier needs its licence: leaving the field empty is not offered.
    assert not_a_licence_number("tbc", authorised=True) == (
        "Type the supplier's licence number as printed on its licence: “tbc” is not a licence number, and an "
        "authorised supplier needs its licence.")
