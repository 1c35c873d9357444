"""How messages say counts, lists and concentrations (inventory/words.py): one home for every page and answer."""

from __future__ import annotations

from decimal import Decimal

from inventory.words import concentration, counted, hundredths, listing, per_ml, some_of


def test_a_count_says_its_noun_in_the_singular_for_one_only():
    assert [counted(n, "container") for n in (0, 1, 2)] == ["0 containers", "1 container", "2 containers"]


def test_a_list_joins_its_last_item_with_the_conjunction():
    assert [listing(items) for items in ([], ["A"], ["A", "B"], ["A", "B", "C"])] == ["", "A", "A and B", "A, B and C"]
    assert listing(["A", "B", "C"], "or") == "A, B or C"


def test_some_of_a_long_list_names_the_first_and_counts_the_rest():
    assert some_of(["A", "B"], 2) == "A, B"
    assert some_of(["A", "B", "C", "D", "E"], 2) == "A, B and 3 more"


def test_a_concentration_reads_to_two_decimals_at_most():
    """Daxxify 100 U in 1.2 mL read "8.33333 U per 0.1 mL (83.3333 U/mL)"."""
    assert concentration(Decimal("83.3333"), "U") == "8.33 U per 0.1 mL (83.33 U/mL)"
    assert concentration(Decimal("40.0000"), "U") == "4 U per 0.1 mL (40 U/mL)"
    assert concentration(Decimal("150"), "USP U", "label") == "15 USP U per 0.1 mL (150 USP U/mL, label)"
    assert concentration(Decimal("33.3333"), "U") == "3.33 U per 0.1 mL (33.33 U/mL)"
    assert per_ml(Decimal("198.4127"), "s.U") == "198.41 s.U/mL"
    assert [hundredths(Decimal(v)) for v in ("0.125", "66.6667", "0.0000", "2.5000")] == ["0.13", "66.67", "0", "2.5"]
