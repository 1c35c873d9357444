"""The watch list page's CSV import (QA: a row naming no product threw the whole file away, and the page said only
"Row 4: Name the product: its id or its GTIN.", never the mistyped GTIN of row 3): the good rows are added, and
every skipped row is listed with its line and why."""

from __future__ import annotations

import html
import io
import re

from sqlalchemy import select

from inventory.counterfeit.models import WatchedLot
from tests.pages.conftest import csrf_token

_FLASH = re.compile(r'<div class="flash flash-(\w+)"[^>]*>(.*?)</div>', re.DOTALL)


def import_file(client, text: str, source: str = "FDA alert 2026-11") -> list[tuple[str, str]]:
    """Sends the file as the page's form does; the messages the page shows next, by kind."""
    token = csrf_token(client, "/watchlist")
    response = client.post("/watchlist/import", data={"file": (io.BytesIO(text.encode()), "alert.csv"),
                                                      "source": source, "csrf_token": token},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    page = client.get("/watchlist").get_data(as_text=True)
    return [(kind, " ".join(html.unescape(message).split())) for kind, message in _FLASH.findall(page)]


def watched(session) -> list[str]:
    session.expire_all()
    return sorted(session.scalars(select(WatchedLot.lot_number)))


def test_the_qa_file_adds_the_good_row_and_lists_both_skipped_rows(browser_client, world, session):
    gtin = world.botox.gtins[0].gtin
    bad = gtin[:-1] + str((int(gtin[-1]) + 5) % 10)
    shown = import_file(browser_client("safety"), f"gtin,lot_number\n{gtin},QA-WATCH-1\n{bad},QA-WATCH-2\n,QA-WATCH-3\n")
    assert shown[0] == ("ok", "1 lot number added to the watch list. 2 rows skipped: see why below.")
    warnings = [message for kind, message in shown if kind == "warning"]
    assert len(warnings) == 2
    assert warnings[0].startswith("Row 3: ") and bad in warnings[0]
    assert warnings[1] == "Row 4: Name the product: its id or its GTIN."
    assert watched(session) == ["QA-WATCH-1"]


def test_more_skipped_rows_than_the_page_says_one_by_one_are_listed_by_line(browser_client, world, session):
    gtin = world.botox.gtins[0].gtin
    text = f"gtin,lot_number\n{gtin},GOOD1\n" + "".join(f",L{n}\n" for n in range(23))
    shown = import_file(browser_client("safety"), text)
    warnings = [message for kind, message in shown if kind == "warning"]
    assert len(warnings) == 21 and warnings[19].startswith("Row 22: ")
    assert warnings[20] == ("Also skipped: rows 23, 24 and 25. Correct them and import them again: rows already on "
                            "the watch list are skipped.")
    assert watched(session) == ["GOOD1"]


def test_a_file_with_no_good_row_is_refused_whole_with_each_rows_problem(browser_client, world, session):
    gtin = world.botox.gtins[0].gtin
    bad = gtin[:-1] + str((int(gtin[-1]) + 5) % 10)
    shown = import_file(browser_client("safety"), f"gtin,lot_number\n{bad},QA-WATCH-2\n,QA-WATCH-3\n")
    ((kind, message),) = shown
    assert kind == "error"
    assert message.startswith("No row of the file could be added, so nothing was. Row 2: ")
    assert message.endswith("Row 3: Name the product: its id or its GTIN.")
    assert watched(session) == []


def test_a_file_whose_rows_name_their_source_needs_no_source_typed(browser_client, world, session):
    # QA: the form's "Source for rows without one" was required by the browser, so a file whose every row names its
    # source could not be sent without typing one that no row would take.
    client = browser_client("safety")
    form = client.get("/watchlist").get_data(as_text=True)
    field = re.search(r'<input id="import-source"[^>]*>', form)
    assert field is not None and "required" not in field.group(0)
    shown = import_file(client, f"gtin;lot_number;source\n{world.botox.gtins[0].gtin};OWN1;EMA alert\n", source="")
    assert shown[0] == ("ok", "1 lot number added to the watch list.")
    assert watched(session) == ["OWN1"]
