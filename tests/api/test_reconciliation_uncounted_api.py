"""The JSON reconciliation's per-product count totals: null when nothing was counted, over the counted rows
(and how many) when only some were, as before when all were."""

from __future__ import annotations

import pytest

from tests.integration.test_reconciliation_uncounted import BOTOX, DYSPORT, EXPECTED, FILLER, HYLENEX, counted_in_part

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

JUNE_QUERY = "from=2026-06-01&to=2026-06-30"


def quantity(value) -> str | None:
    return None if value is None else f"{value.normalize():f}"


def test_the_totals_of_counted_and_variance_are_null_when_nothing_was_counted(api, world, session):
    counted_in_part(world)
    body = api("manager").get(f"/reports/reconciliation?{JUNE_QUERY}").get_json()
    totals = {total["product"]: total for total in body["totals"]}
    assert set(totals) == set(EXPECTED)
    for name, (counted, expected_at_count, variance, rows_counted, rows) in EXPECTED.items():
        total = totals[name]
        assert (total["counted"], total["expected_at_count"], total["variance"], total["rows_counted"],
                total["rows"]) == (quantity(counted), quantity(expected_at_count), quantity(variance),
                                   rows_counted, rows), name
    assert (totals[HYLENEX]["counted"], totals[HYLENEX]["variance"]) == (None, None)  # not "0"
    assert (totals[DYSPORT]["counted"], totals[DYSPORT]["variance"]) == ("600", "0")  # counted, nothing missing
    assert (totals[BOTOX]["rows_counted"], totals[BOTOX]["rows"]) == (1, 2)  # partly counted
    assert (totals[FILLER]["rows_counted"], totals[FILLER]["rows"]) == (1, 1)
    # Each total still adds up its rows: the flows over every row, the count's figures over the counted ones.
    for total in body["totals"]:
        rows = [row for row in body["rows"] if row["product_id"] == total["product_id"]]
        assert total["rows"] == len(rows)
        assert total["rows_counted"] == sum(1 for row in rows if row["counted"] is not None)


def test_the_openapi_document_says_what_the_count_totals_add_up(api, world):
    schemas = api().get("/openapi.json").get_json()["components"]["schemas"]
    totals = [schema for name, schema in schemas.items() if name.startswith("ProductTotalsOut")]
    assert totals
    for schema in totals:
        properties = schema["properties"]
        assert {"rows", "rows_counted", "counted", "expected_at_count", "variance"} <= set(properties)
        assert "null when none of the product's rows was counted" in str(properties["variance"])
        assert properties["rows_counted"]["type"] == "integer"
