"""The reconciliation page's rows: a count that covered one vial of a lot's two is marked on the row itself, and
stock taken in by transfer shows the supplier of the first clinic's receipt."""

from __future__ import annotations

import re

import pytest

from tests.reconciliation_coverage_scene import DAY_QUERY, NORTHFIELD, partly_counted_transferred_lot

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def report_rows(html: str) -> dict[str, str]:
    """The report's rows by lot number, each as its cells' text (tags and all, whitespace squeezed)."""
    table = html.split('<table class="data recon-table">', 1)[1].split("</table>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr class=\"[^\"]*\">(.*?)</tr>", table, re.S):
        lot = re.search(r'<span class="mono">([^<]+)</span>', row).group(1)
        rows[lot] = " ".join(re.sub(r"<[^>]+>", " ", row).split())
    return rows


def test_the_row_of_a_partly_counted_lot_says_so_and_names_the_supplier_via_the_transfer(browser_client, world):
    scene = partly_counted_transferred_lot(world)
    html = browser_client("nyc_manager").get(
        f"/reconciliation?{DAY_QUERY}&location_id={scene.nyc_fridge.id}").get_data(as_text=True)
    assert "style=" not in html and "<script>" not in html  # the CSP forbids inline style and script
    rows = report_rows(html)
    assert set(rows) == {"QA1DYS", "QA2DYS"}
    assert "0 partly counted: 1 of 2 containers 300 -300" in rows["QA1DYS"]  # counted, expected at count, variance
    assert f"QA1DYS {NORTHFIELD} (via transfer from LON)" in rows["QA1DYS"]
    assert "supplier not recorded" not in rows["QA1DYS"]
    # Its only vial counted: nothing to mark; its receipt named no supplier.
    assert "partly counted" not in rows["QA2DYS"] and "QA2DYS supplier not recorded" in rows["QA2DYS"]
