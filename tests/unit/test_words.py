"""How messages say counts and lists (inventory/words.py): one home for every page and answer."""

from __future__ import annotations

from inventory.words import counted, listing, some_of


def test_a_count_says_its_noun_in_the_singular_for_one_only():
    assert [counted(n, "container") for n in (0, 1, 2)] == ["0 containers", "1 container", "2 containers"]


def test_a_list_joins_its_last_item_with_the_conjunction():
    assert [listing(items) for items in ([], ["A"], ["A", "B"], ["A", "B", "C"])] == ["", "A", "A and B", "A, B and C"]
    assert listing(["A", "B", "C"], "or") == "A, B or C"


def test_some_of_a_long_list_names_the_first_and_counts_the_rest():
    assert some_of(["A", "B"], 2) == "A, B"
    assert some_of(["A", "B", "C", "D", "E"], 2) == "A, B and 3 more"
