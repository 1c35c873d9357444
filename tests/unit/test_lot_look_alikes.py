"""The rule for suggesting a lot when a typed number is on file nowhere (recall/queries.py ``could_be``): the same
once look-alike characters are folded, or one edit away for a typed number of five characters or more."""

from __future__ import annotations

import pytest

from recall.queries import could_be, look_alike_key, one_edit_apart


@pytest.mark.parametrize("typed", ["VM88B2l", "vm88b21", "VM88-B21", "VM 88 B21", "VM88821", "VM8882I", "ＶＭ88B21",
                                   "VM88\u2013B21"])
def test_a_look_alike_slip_folds_to_the_lots_key(typed):
    assert look_alike_key(typed) == look_alike_key("VM88B21") == "VM88821"


def test_each_look_alike_letter_reads_as_its_digit():
    assert look_alike_key("OoIiLlSsBbZz") == "001111558822"


@pytest.mark.parametrize(("a", "b"), [("VM88B21", "VM88B22"), ("VM88B21", "VM88B2"), ("VM88B21", "XVM88B21"),
                                      ("VM88B21", "VM8B21"), ("VM88B21", "VM88B213")])
def test_one_character_substituted_added_or_dropped_is_one_edit(a, b):
    assert one_edit_apart(a, b) and one_edit_apart(b, a)


@pytest.mark.parametrize(("a", "b"), [("VM88B21", "VM88B21"), ("VM88B21", "VM88B12"), ("VM88B21", "VM88B"),
                                      ("VM88B21", "WN88B21"), ("AB", "")])
def test_the_same_text_two_edits_or_a_swap_are_not_one_edit(a, b):
    assert not one_edit_apart(a, b)


def test_a_lot_could_be_a_look_alike_or_one_edit_away():
    assert could_be("VM88B2l", "VM88B21")
    assert could_be("VM88B2", "VM88B21")  # a character dropped
    assert could_be("VM88B2l7", "VM88B21")  # one added, after folding
    assert not could_be("VM88B", "VM88B21")  # two dropped
    assert not could_be("VX99C33", "VM88B21")


def test_one_edit_counts_only_from_five_characters():
    assert could_be("C3", "CE") is False and could_be("AB12", "AB13") is False
    assert could_be("AB123", "AB124") and could_be("a8i2", "AB12")  # a look-alike counts at any length


def test_nothing_typed_could_be_no_lot():
    assert not could_be(" - ", "-") and not could_be("", "")
