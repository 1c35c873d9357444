"""The reconciliation page's totals per product: empty count totals for a product nobody counted, and a
"partly counted" mark when only some of its lines were."""

from __future__ import annotations

import re

import pytest

from tests.factories import NOW
from tests.integration.test_reconciliation_uncounted import BOTOX, DYSPORT, FILLER, HYLENEX, counted_in_part

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.reconciliation.pages.utcnow", lambda: NOW)


def totals_table(html: str) -> tuple[list[str], dict[str, list[str]]]:
    """The totals' headers and, by product, each cell's text (tags and all, whitespace squeezed)."""
    totals = html.split("Totals per product", 1)[1].split("</table>", 1)[0]
    headers = re.findall(r"<th[^>]*>([^<]+)</th>", totals.split("</thead>", 1)[0])
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", totals.split("<tbody>", 1)[1], re.S):
        cells = [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        product = re.sub(r" (U|mL|USP U)$", "", cells[0])
        rows[product] = cells
    return headers, rows


def test_the_totals_leave_counted_and_variance_empty_when_nothing_was_counted(browser_client, world):
    counted_in_part(world)
    html = browser_client("manager").get("/reconciliation?from=2026-06-01&to=2026-06-30").get_data(as_text=True)
    headers, rows = totals_table(html)
    assert headers[-3:] == ["Counted", "Expected at count", "Variance"]
    assert set(rows) == {BOTOX, DYSPORT, FILLER, HYLENEX}
    count_cells = {product: cells[-3:] for product, cells in rows.items()}
    assert count_cells[HYLENEX] == ["", "", ""]  # nobody counted it: never "0"
    assert count_cells[DYSPORT] == ["600", "600", "0"]  # counted, nothing missing
    assert count_cells[FILLER] == ["0.55", "1.1", "-0.55"]  # counted in full, as before
    assert count_cells[BOTOX] == ["200 partly counted: 1 of 2 lines", "300", "-100"]  # the fridge only
    assert "partly counted" not in " ".join(count_cells[FILLER] + count_cells[DYSPORT] + count_cells[HYLENEX])
    # The flows still add up every line, counted or not (botox: 3 vials in the fridge and 2 on the cart).
    opening, received = headers.index("Opening"), headers.index("Received")
    assert (rows[BOTOX][opening], rows[BOTOX][received]) == ("0", "500")
