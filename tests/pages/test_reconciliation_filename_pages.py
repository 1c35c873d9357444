"""The Reconciliation page's downloads are named after the period and what they cover (the clinic's code, and the
location when one is chosen), so that downloads of two clinics or places never overwrite each other."""

from __future__ import annotations

import datetime as dt

import pytest

from inventory.models import Clinic, Location
from inventory.reconciliation import export
from inventory.reconciliation.service import Period
from tests.factories import NOW
from tests.reconciliation_factories import build_history

JUNE = "from=2026-06-01&to=2026-06-30"
JUNE_PERIOD = Period(dt.date(2026, 6, 1), dt.date(2026, 6, 30))

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("inventory.reconciliation.pages.utcnow", lambda: NOW)


def _filename(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    disposition = response.headers["Content-Disposition"]
    assert disposition.isascii()
    return disposition.split("filename=", 1)[1].strip('"')


def test_each_download_names_its_clinic_location_and_period(browser_client, world, session):
    build_history(world)
    session.flush()
    client = browser_client("manager")
    lon, nyc = world.clinic, world.other_clinic
    names = {}
    for suffix in ("xlsx", "csv"):
        names[suffix] = [
            _filename(client.get(f"/reconciliation.{suffix}?{JUNE}&clinic_id={lon.id}")),
            _filename(client.get(f"/reconciliation.{suffix}?{JUNE}&clinic_id={nyc.id}")),
            _filename(client.get(f"/reconciliation.{suffix}?{JUNE}&location_id={world.location('Fridge').id}")),
            _filename(client.get(f"/reconciliation.{suffix}?{JUNE}&clinic_id={nyc.id}"
                                 f"&location_id={world.location('Fridge', nyc).id}")),
            _filename(client.get(f"/reconciliation.{suffix}?{JUNE}")),
        ]
    assert names["xlsx"] == [
        "vialog-reconciliation-LON-2026-06-01_2026-06-30.xlsx",
        "vialog-reconciliation-NYC-2026-06-01_2026-06-30.xlsx",
        "vialog-reconciliation-LON-Fridge-2026-06-01_2026-06-30.xlsx",
        "vialog-reconciliation-NYC-Fridge-2026-06-01_2026-06-30.xlsx",
        "vialog-reconciliation-LON-NYC-2026-06-01_2026-06-30.xlsx",  # all the manager's clinics
    ]
    assert names["csv"] == [name.removesuffix(".xlsx") + ".csv" for name in names["xlsx"]]


def test_a_manager_of_one_clinic_downloads_it_by_its_code(browser_client, world, session):
    build_history(world)
    session.flush()
    response = browser_client("clinic_manager").get(f"/reconciliation.csv?{JUNE}")
    assert _filename(response) == "vialog-reconciliation-LON-2026-06-01_2026-06-30.csv"


def test_a_name_is_kept_to_ascii_letters_digits_and_hyphens():
    paris = Clinic(id=3, code="PAR", name="Paris")
    tokyo = Clinic(id=4, code="東京", name="Tokyo")
    assert export.workbook_filename(JUNE_PERIOD, [paris], Location(id=7, name="Salle de réveil / \"B\"",
                                                                  clinic=paris, clinic_id=3)) == \
        "vialog-reconciliation-PAR-Salle-de-reveil-B-2026-06-01_2026-06-30.xlsx"
    # Nothing ASCII in a code or a name: named by its id, never left out.
    assert export.csv_filename(JUNE_PERIOD, [tokyo]) == "vialog-reconciliation-clinic-4-2026-06-01_2026-06-30.csv"
    assert export.csv_filename(JUNE_PERIOD, [tokyo], Location(id=9, name="冷蔵庫", clinic=tokyo, clinic_id=4)) == \
        "vialog-reconciliation-clinic-4-location-9-2026-06-01_2026-06-30.csv"
    many = [Clinic(id=i, code=f"C{i}", name=f"Clinic {i}") for i in range(1, 8)]
    assert export.workbook_filename(JUNE_PERIOD, many) == "vialog-reconciliation-7-clinics-2026-06-01_2026-06-30.xlsx"
