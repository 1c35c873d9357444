"""Importing a watch-list CSV (counterfeit.import_csv): a row that cannot be added is skipped with its line and why,
and the good rows are added all the same (QA: one row naming no product threw the whole file away, and hid the
mistyped GTIN above it); a file that is no CSV of this shape, or none of whose rows can be added, is refused whole."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from inventory.counterfeit import service as counterfeit
from inventory.counterfeit.models import WatchedLot
from inventory.models import AuditEvent
from tests.factories import NOW, World, refusal

NO_PRODUCT = "Name the product: its id or its GTIN."


def import_csv(world: World, text: str, source: str = "FDA alert 2026-11"):
    return counterfeit.import_csv(world.session, actor=world.users["safety"], text=text, source=source, now=NOW)


def mistyped(gtin: str) -> str:
    """The GTIN with another check digit: a typo the check digit catches."""
    return gtin[:-1] + str((int(gtin[-1]) + 5) % 10)


def watched(world: World) -> dict[str, str]:
    world.session.expire_all()
    return {number: source for number, source in world.session.execute(select(WatchedLot.lot_number,
                                                                              WatchedLot.source))}


def test_the_qa_file_adds_the_good_row_and_lists_every_skipped_row_with_its_line(world, session):
    gtin = world.botox.gtins[0].gtin
    text = f"gtin,lot_number\n{gtin},QA-WATCH-1\n{mistyped(gtin)},QA-WATCH-2\n,QA-WATCH-3\n"
    result = import_csv(world, text)
    assert [w.entry.lot_number for w in result.added] == ["QA-WATCH-1"]
    assert [(s.row, s.code) for s in result.skipped] == [(3, "bad_check_digit"), (4, "validation_error")]
    assert str(result.skipped[1]) == f"Row 4: {NO_PRODUCT}"
    assert str(result.skipped[0]).startswith("Row 3: ")
    assert watched(world) == {"QA-WATCH-1": "FDA alert 2026-11"}
    assert session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "watchlist.added")) == 1


def test_any_problem_of_a_row_skips_that_row_only(world, session):
    gtin = world.botox.gtins[0].gtin
    text = ("gtin,product_id,lot_number,source,note\n"
            f"{gtin},,GOOD1,,\n"
            f"{gtin},,,,\n"                      # 3: no lot number
            f",abc,BAD2,,\n"                     # 4: a product id that is no number
            f",999999,BAD3,,\n"                  # 5: no such product
            f"{gtin},,{'X' * 21},,\n"            # 6: a lot number too long
            f"{gtin},,GOOD1,,\n"                 # 7: watched higher up in the file
            ",,,,\n"                             # a line of empty cells: no row
            f"{gtin},,GOOD2,Own alert,{'n' * 2001}\n"  # 9: a note too long
            f",{world.botox.id},GOOD3,Own alert,\n")
    result = import_csv(world, text)
    assert [str(s).split(":")[0] for s in result.skipped] == ["Row 3", "Row 4", "Row 5", "Row 6", "Row 7", "Row 9"]
    assert [s.code for s in result.skipped] == ["validation_error", "validation_error", "not_found",
                                                "validation_error", "lot_already_watched", "validation_error"]
    assert watched(world) == {"GOOD1": "FDA alert 2026-11", "GOOD3": "Own alert"}


def test_a_file_already_imported_is_not_refused_its_rows_are_said_watched(world, session):
    text = f"gtin,lot_number\n{world.botox.gtins[0].gtin},AGAIN1\n"
    import_csv(world, text)
    result = import_csv(world, text)
    assert result.added == [] and [s.code for s in result.skipped] == ["lot_already_watched"]


@pytest.mark.parametrize(("text", "said"), [
    ("name,number\nx,y\n", "The file needs a header with lot_number and gtin (or product_id)."),
    ("gtin,lot_number\n", "The file has no rows under its header: nothing was added."),
    ('gtin,lot_number\n"' + "x" * 200_000 + '",L1\n', "The file cannot be read as a CSV"),
    ("gtin,lot_number\n,L1\n,L2\n", f"No row of the file could be added, so nothing was. Row 2: {NO_PRODUCT} "
                                    f"Row 3: {NO_PRODUCT}"),
])
def test_a_file_of_another_shape_or_with_no_good_row_is_refused_whole(world, session, text, said):
    error = refusal(lambda: import_csv(world, text))
    assert (error.code, error.details["field"]) == ("validation_error", "file")
    assert error.message.startswith(said)
    assert watched(world) == {}


def test_a_refusal_of_the_whole_file_names_five_rows_and_counts_the_rest(world, session):
    text = "gtin,lot_number\n" + "".join(f",L{n}\n" for n in range(8))
    error = refusal(lambda: import_csv(world, text))
    assert "Row 6: " in error.message and "Row 7: " not in error.message
    assert error.message.endswith("3 more rows could not be added either.")


@pytest.mark.parametrize("text", [
    "gtin;lot_number;source\n{gtin};SEMI1;EMA alert 12/2026\n",     # a spreadsheet set to a European locale
    "gtin\tlot_number\tsource\n{gtin}\tSEMI1\tEMA alert 12/2026\n",  # a sheet copied as text
    "GTIN,Lot Number,Source\n{gtin},SEMI1,EMA alert 12/2026\n",     # an alert's own headings
    "\ufeffGtin;Lot-Number;SOURCE\n{gtin};SEMI1;EMA alert 12/2026\n",
])
def test_a_file_saved_with_semicolons_or_headed_in_words_is_read(world, session, text):
    # QA: each of these was refused whole, "The file needs a header with lot_number and gtin", though it has both.
    result = import_csv(world, text.format(gtin=world.botox.gtins[0].gtin), source="")
    assert [w.entry.lot_number for w in result.added] == ["SEMI1"] and result.skipped == []
    assert watched(world) == {"SEMI1": "EMA alert 12/2026"}


def test_a_lot_number_with_a_comma_in_a_semicolon_file_stays_whole(world, session):
    result = import_csv(world, f"gtin;lot_number\n{world.botox.gtins[0].gtin};AB,12\n")
    assert [w.entry.lot_number for w in result.added] == ["AB,12"]
