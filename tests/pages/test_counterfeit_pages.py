"""The suppliers page, the watch list page, and the supplier on receiving, receipts and the reconciliation."""

from __future__ import annotations

import datetime as dt
import io

from sqlalchemy import func, select

from inventory.counterfeit.models import Supplier, WatchedLot
from inventory.models import Lot, LotStatus, Receipt
from inventory.receiving import service as receiving
from inventory.services.permissions import Scope
from tests.factories import NOW
from tests.pages.conftest import csrf_token


def test_a_manager_adds_and_stops_a_supplier_on_its_page(browser_client, world, session):
    client = browser_client("manager")
    token = csrf_token(client, "/suppliers")
    response = client.post("/suppliers", data={"name": "Harbour Pharma", "licence": "WDA 7", "authorised": "on",
                                               "reason": "licence checked on the register", "csrf_token": token})
    assert response.status_code == 302
    session.expire_all()
    harbour = session.scalar(select(Supplier).where(Supplier.name == "Harbour Pharma"))
    assert harbour.is_authorised and harbour.licence == "WDA 7"
    client.post(f"/suppliers/{harbour.id}", data={"csrf_token": token})  # no "authorised": stop it
    session.expire_all()
    assert not session.get(Supplier, harbour.id).is_authorised
    html = client.get("/suppliers").get_data(as_text=True)
    assert "Harbour Pharma" in html and "not authorised" in html
    assert browser_client("nurse").get("/suppliers").status_code == 403
    assert 'href="/suppliers"' in client.get("/stock").get_data(as_text=True)


def test_the_receiving_page_requires_an_authorised_supplier_and_the_receipt_shows_it(browser_client, world, session):
    client = browser_client("manager")
    token = csrf_token(client, "/receive")
    typed = {"gtin": world.botox.gtins[0].gtin, "lot": "PG1", "expiry": "2028-01-31", "containers": "1",
             "location_id": str(world.location().id), "csrf_token": token}
    missing = client.post("/receive", data=typed)
    assert missing.status_code == 422 and "Choose who delivered this box." in missing.get_data(as_text=True)
    grey = Supplier(name="Grey market", is_authorised=False)
    session.add(grey)
    session.flush()
    refused = client.post("/receive", data=typed | {"supplier_id": str(grey.id)})
    assert refused.status_code == 409  # a supplier stopped while the page was open: said in words
    assert "Grey market is not an authorised supplier: do not take this delivery in" in refused.get_data(as_text=True)
    done = client.post("/receive", data=typed | {"supplier_id": str(world.supplier.id)})
    assert done.status_code == 302
    sheet = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Supplier: Allergan Aesthetics (direct)" in sheet
    session.expire_all()
    assert session.scalar(select(Receipt.supplier_id)) == world.supplier.id
    today = dt.date.today()  # the page receives at the real clock
    report = client.get(f"/reconciliation?from={today - dt.timedelta(days=5)}&to={today + dt.timedelta(days=1)}")
    report = report.get_data(as_text=True)
    assert "Allergan Aesthetics (direct)" in report


def test_a_scanned_box_is_kept_when_only_the_supplier_was_wrong_and_dropped_when_the_box_was(browser_client, world,
                                                                                               session):
    client = browser_client("manager")
    token = csrf_token(client, "/receive")
    code = f"(01){world.botox.gtins[0].gtin}(17)280131(10)KEEP1(21)SER1"
    form = {"code": code, "containers": "1", "location_id": str(world.location().id), "csrf_token": token}
    missing = client.post("/receive", data=form).get_data(as_text=True)
    assert "Choose who delivered this box." in missing and 'name="scanned" value="' in missing
    assert "Box scanned:" in missing and "KEEP1" in missing
    # Receive again with the supplier chosen and the scan field empty: the kept box is received.
    done = client.post("/receive", data={**form, "code": "", "scanned": code, "supplier_id": str(world.supplier.id)})
    assert done.status_code == 302
    session.expire_all()
    assert session.scalar(select(Lot.number).where(Lot.number == "KEEP1")) == "KEEP1"
    unreadable = client.post("/receive", data={**form, "code": "(01)123", "supplier_id": str(world.supplier.id)})
    assert unreadable.status_code == 422 and "Box scanned:" not in unreadable.get_data(as_text=True)


def test_the_reconciliation_says_when_the_supplier_is_not_recorded(browser_client, world):
    world.receive("botox", lot="OLD1", now=NOW)
    report = browser_client("manager").get("/reconciliation?from=2026-06-01&to=2026-06-30").get_data(as_text=True)
    assert "supplier not recorded" in report


def test_a_safety_lead_watches_a_lot_in_stock_and_is_one_click_from_its_trace(browser_client, world, session):
    vial = world.container("botox", lot="WL1")
    client = browser_client("safety")
    token = csrf_token(client, "/watchlist")
    response = client.post("/watchlist", data={"product_id": str(world.botox.id), "lot_number": "WL1",
                                               "source": "Regulator alert 12", "csrf_token": token})
    assert response.status_code == 302
    html = client.get("/watchlist").get_data(as_text=True)
    assert "is quarantined at every location" in html  # the flash
    assert 'href="/trace?q=WL1"' in html and "Watched lot in stock: quarantined" in html
    session.expire_all()
    assert session.get(Lot, vial.lot_id).status is LotStatus.QUARANTINED
    assert browser_client("manager").get("/watchlist").status_code == 403


def test_adding_a_lot_with_no_stock_says_so_and_a_spaced_number_is_shown_as_lots_are(browser_client, world):
    client = browser_client("safety")
    token = csrf_token(client, "/watchlist")
    response = client.post("/watchlist", data={"product_id": str(world.botox.id), "lot_number": "nb 404",
                                               "source": "Regulator alert 13", "csrf_token": token})
    assert response.status_code == 302
    html = client.get("/watchlist").get_data(as_text=True)
    assert ("Lot NB404 of Botox Cosmetic 100 U is on the watch list: receiving or scanning it is refused from now "
            "on. No usable lot of that number is on file.") in html
    assert "NB 404" not in html


def test_a_csv_import_adds_rows_and_says_which_it_skipped(browser_client, world, session):
    client = browser_client("safety")
    token = csrf_token(client, "/watchlist")
    gtin = world.botox.gtins[0].gtin
    text = f"gtin,lot_number,source\n{gtin},CSV1,\n{gtin},CSV2,Other alert\n00000000000000,CSV3,\n{gtin},CSV1,\n"
    response = client.post("/watchlist/import", data={"file": (io.BytesIO(text.encode()), "alerts.csv"),
                                                      "source": "FDA list 2026-05", "csrf_token": token},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    html = client.get("/watchlist").get_data(as_text=True)
    assert "2 lot numbers added" in html and "Row 4" in html and "Row 5" in html
    session.expire_all()
    rows = {number: source for number, source in session.execute(select(WatchedLot.lot_number, WatchedLot.source))}
    assert rows == {"CSV1": "FDA list 2026-05", "CSV2": "Other alert"}
    entry = session.scalar(select(WatchedLot).where(WatchedLot.lot_number == "CSV1"))
    client.post(f"/watchlist/{entry.id}/delete", data={"reason": "entered by mistake", "csrf_token": token})
    session.expire_all()
    assert session.scalar(select(func.count(WatchedLot.id))) == 1


def test_a_bad_csv_is_refused_whole(browser_client, world, session):
    client = browser_client("safety")
    token = csrf_token(client, "/watchlist")
    response = client.post("/watchlist/import", data={"file": (io.BytesIO(b"name,number\nx,y\n"), "a.csv"),
                                                      "source": "s", "csrf_token": token},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    assert "needs a header" in client.get("/watchlist").get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count(WatchedLot.id))) == 0


def test_a_receipt_through_the_service_from_an_unknown_supplier_is_not_found(world, session):
    from tests.factories import refusal

    error = refusal(lambda: receiving.receive(
        session, actor=world.users["manager"], scope=Scope.everything(), location_id=world.location().id,
        containers=1, now=NOW, gtin=world.botox.gtins[0].gtin, lot_number="X", expiry=NOW.date(),
        supplier_id=424242))
    assert error.code == "not_found"
