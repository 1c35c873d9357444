"""Count and reconciliation pages: a blind sheet filled by scanning, review by another manager, the report."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from inventory.models import Movement, MovementKind
from inventory.counts.models import Count, CountStatus
from tests.factories import NOW, opened_vial
from tests.pages.conftest import csrf_token
from tests.reconciliation_factories import build_history, consignments


pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.counts.pages.utcnow", lambda: NOW)
    monkeypatch.setattr("inventory.reconciliation.pages.utcnow", lambda: NOW)


def test_a_blind_count_scanned_by_one_manager_and_posted_by_another(browser_client, world, session):
    vial = opened_vial(world)
    sealed = world.receive("botox", lot="S1", containers=2)
    session.flush()
    counter = browser_client("clinic_manager")
    token = csrf_token(counter, "/counts")
    started = counter.post("/counts", data={"location_id": world.location().id, "csrf_token": token})
    assert started.status_code == 302
    count_url = started.headers["Location"]
    sheet = counter.get(count_url).get_data(as_text=True)
    assert 'class="scan"' in sheet and "autofocus" in sheet

    added = counter.post(f"{count_url}/lines", data={"code": vial.label_code, "counted": "70", "csrf_token": token})
    assert added.status_code == 302
    box = f"(01){world.botox.gtins[0].gtin}(17)270331(10)S1"
    assert counter.post(f"{count_url}/lines", data={"code": box, "containers": "1", "csrf_token": token}).status_code \
        == 302
    sheet = counter.get(count_url).get_data(as_text=True)
    assert "70 U" in sheet and "sealed, by lot" in sheet
    assert "86.5" not in sheet and "200 U" not in sheet  # blind: the ledger's figures are nowhere on the sheet

    submitted = counter.post(f"{count_url}/submit", data={"csrf_token": token})
    assert submitted.status_code == 302
    waiting = counter.get(count_url).get_data(as_text=True)
    assert "you cannot post it yourself" in waiting and "86.5" not in waiting
    refused = counter.post(f"{count_url}/post", data={"csrf_token": token})
    assert refused.status_code == 409 and "another manager must review and post it" in refused.get_data(as_text=True)

    reviewer = browser_client("manager")
    review = reviewer.get(count_url).get_data(as_text=True)
    assert "86.5 U" in review and "-16.5 U" in review and 'class="variance"' in review
    assert "Post the count" in review and "Send back to" in review
    posted = reviewer.post(f"{count_url}/post", data={"csrf_token": csrf_token(reviewer, count_url)})
    assert posted.status_code == 302
    done = reviewer.get(count_url).get_data(as_text=True)
    assert "Adjustments written" in done and "never changed" in done
    assert re.search(r"-16\.5 U, now \d+(\.\d+)? U", done)  # each adjustment in its product's unit
    assert "style=" not in done and "<script>" not in done

    session.expire_all()
    count = session.scalar(select(Count))
    assert count.status is CountStatus.POSTED and count.approved_by_id == world.users["manager"].id
    moves = session.scalars(select(Movement).where(Movement.kind == MovementKind.ADJUST).order_by(Movement.id))
    assert [m.quantity for m in moves] == [Decimal("-16.5"), Decimal(-100)]
    assert sealed.containers[0].id < sealed.containers[1].id


def test_a_scan_the_sheet_cannot_take_is_explained(browser_client, world, session):
    elsewhere = world.container("botox", location=world.location("Cart"))
    session.flush()
    client = browser_client("clinic_manager")
    token = csrf_token(client, "/counts")
    started = client.post("/counts", data={"location_id": world.location().id, "csrf_token": token})
    count_url = started.headers["Location"]
    refused = client.post(f"{count_url}/lines", data={"code": elsewhere.label_code, "csrf_token": token})
    assert refused.status_code == 409 and "recorded at Cart" in refused.get_data(as_text=True)
    empty = client.post(f"{count_url}/lines", data={"code": "", "csrf_token": token})
    assert empty.status_code == 422 and "Scan a label or a box code." in empty.get_data(as_text=True)


def test_counts_and_reconciliation_are_in_a_managers_navigation_only(browser_client, world):
    manager = browser_client("manager").get("/stock").get_data(as_text=True)
    assert 'href="/counts"' in manager and 'href="/reconciliation"' in manager
    nurse = browser_client("nurse")
    assert 'href="/counts"' not in nurse.get("/stock").get_data(as_text=True)
    assert nurse.get("/counts").status_code == 403 and nurse.get("/reconciliation").status_code == 403


def test_the_reconciliation_page_highlights_variances_and_offers_downloads(browser_client, world, session):
    build_history(world)
    session.flush()
    client = browser_client("manager")
    html = client.get("/reconciliation?from=2026-06-01&to=2026-06-30").get_data(as_text=True)
    assert "Totals per product" in html and 'class="variance"' in html and "with a variance" in html
    assert "/reconciliation.xlsx?from=2026-06-01&amp;to=2026-06-30" in html
    assert "style=" not in html and "<script>" not in html
    workbook = client.get("/reconciliation.xlsx?from=2026-06-01&to=2026-06-30")
    assert workbook.status_code == 200
    assert openpyxl.load_workbook(io.BytesIO(workbook.data)).sheetnames[0] == "Summary"
    csv_response = client.get(f"/reconciliation.csv?from=2026-06-01&to=2026-06-30&location_id={world.location().id}")
    assert csv_response.status_code == 200 and csv_response.mimetype == "text/csv"


def test_the_reconciliation_page_defaults_to_this_month_and_explains_bad_input(browser_client, world):
    client = browser_client("clinic_manager")
    html = client.get("/reconciliation").get_data(as_text=True)
    assert 'value="2026-06-01"' in html and 'value="2026-06-15"' in html  # this month so far, in London
    bad = client.get("/reconciliation?from=2026-06-30&to=2026-06-01")
    assert bad.status_code == 422 and "ends before it starts" in bad.get_data(as_text=True)
    other = world.location("Fridge", world.other_clinic).id
    assert client.get(f"/reconciliation?from=2026-06-01&to=2026-06-30&location_id={other}").status_code == 404
    assert client.get(f"/reconciliation.xlsx?from=2026-06-01&to=2026-06-30&location_id={other}").status_code == 404


def test_a_field_that_cannot_be_read_is_explained_once(browser_client, world, session):
    world.receive("botox", lot="S1", containers=2)
    session.flush()
    client = browser_client("clinic_manager")
    token = csrf_token(client, "/counts")
    count_url = client.post("/counts", data={"location_id": world.location().id, "csrf_token": token}).headers["Location"]
    box = f"(01){world.botox.gtins[0].gtin}(17)270331(10)S1"
    html = client.post(f"{count_url}/lines", data={"code": box, "containers": "-1", "csrf_token": token}) \
        .get_data(as_text=True)
    errors = re.findall(r'<p class="field-error">([^<]*)</p>', html)
    assert len(errors) == 1 and "type a whole number" in errors[0], errors


def test_the_reconciliation_page_shows_what_was_in_transit_at_the_end(browser_client, world, session):
    consignments(world)
    client = browser_client("manager")
    html = client.get("/reconciliation?from=2026-06-01&to=2026-06-30").get_data(as_text=True)
    assert '<th class="num">In transit at end</th>' in html
    assert "3 with stock in transit to another clinic at the end" in html and 'href="/transfers"' in html
    rows = {re.search(r'<span class="mono">([^<]+)</span>', row).group(1) + " " + re.search(
        r"<td>(LON|NYC) · ", row).group(1): row
        for row in re.findall(r"<tr class=\"[^\"]*\">(.*?)</tr>", html, re.S) if 'class="mono"' in row}
    cell = re.compile(r'<td class="num recon-in-transit">([^<]*)')
    assert {key: cell.search(row).group(1).strip() for key, row in rows.items()} == {
        "R1 LON": "200", "R2 LON": "600", "R3 LON": "0", "N1 NYC": "100", "R1 NYC": "0"}
    # Per product too, each in its own unit.
    totals = html.split("Totals per product", 1)[1]
    assert '<th class="num">In transit at end</th>' in totals

    # Before anything was sent, the same stock has no such column.
    quiet = client.get("/reconciliation?from=2026-05-20&to=2026-05-24").get_data(as_text=True)
    assert "R1" in quiet and "R2" in quiet
    assert '<th class="num">In transit at end</th>' not in quiet and "with stock in transit" not in quiet


def test_the_totals_per_product_show_every_column_their_expected_closing_adds_up_from(browser_client, world):
    consignments(world)
    html = browser_client("manager").get("/reconciliation?from=2026-06-01&to=2026-06-30").get_data(as_text=True)
    totals = html.split("Totals per product", 1)[1]
    headers = re.findall(r"<th[^>]*>([^<]+)</th>", totals.split("</thead>", 1)[0])
    rows = [re.findall(r'<td class="num">([^<]*)</td>', row)
            for row in re.findall(r"<tr>(.*?)</tr>", totals.split("<tbody>", 1)[1], re.S)]
    assert rows and {"In", "Out"} <= set(headers)
    for cells in rows:
        value = dict(zip(headers[1:], (Decimal(c.strip()) for c in cells), strict=False))
        inflow = value["Opening"] + value["Received"] + value["Adjusted"] + value["In"] + value.get("Returned", 0)
        assert inflow - value["Drawn"] - value["Wasted"] - value["Out"] == value["Expected closing"], value
