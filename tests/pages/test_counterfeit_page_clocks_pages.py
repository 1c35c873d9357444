"""The suppliers page and the watch list say their moments on a clock a reader knows, never UTC (DESIGN.md: times
appear in the clinic's zone): a sign seen at a clinic on that clinic's clock, and what is the chain's (a supplier
authorised, a lot put on the watch list, a sign seen at no clinic) on the chain's (CLINIC_TZ), as the recall pages
say a case's moments. Each names its clock: the pages are read at every clinic, and list several side by side."""

from __future__ import annotations

import re
from html import unescape

import pytest

from inventory.counterfeit import service as counterfeit
from inventory.services import lot_guard
from tests.factories import NOW  # 15 Jun 2026 09:30 UTC: 10:30 BST in London, 05:30 EDT in New York


@pytest.fixture
def chain_in_tokyo(app, monkeypatch):
    """The chain's clock neither UTC nor any test clinic's, so each moment shows whose clock it is on."""
    monkeypatch.setitem(app.config, "CLINIC_TZ", "Asia/Tokyo")


def item(html: str, attribute: str, value: object) -> str:
    match = re.search(rf'<li {attribute}="{value}">(.*?)</li>', html, re.S)
    assert match, f"no item {attribute}={value}"
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", match.group(1))))


def test_a_supplier_authorised_is_said_on_the_chains_clock(browser_client, world, session, chain_in_tokyo):
    supplier = counterfeit.add_supplier(session, actor=world.users["manager"], name="Harbour Pharma",
                                        licence="WDA 7", reason="on the regulator's register", now=NOW)
    session.flush()
    for user in ("manager", "admin"):
        html = browser_client(user).get("/suppliers").get_data(as_text=True)
        said = item(html, "data-supplier-id", supplier.id)
        assert "Authorised by manager 15 Jun 2026 18:30 JST: on the regulator's register" in said, said
        assert "UTC" not in said


def test_the_watch_list_says_a_signs_moment_on_its_clinics_clock_and_the_chains_on_the_chains(
        browser_client, world, session, chain_in_tokyo):
    entry = counterfeit.watch(session, actor=world.users["safety"], lot_number="FAKE1", source="FDA alert",
                              product_id=world.botox.id, now=NOW).entry
    for clinic_id, lot in ((world.clinic.id, "SEEN-LON"), (world.other_clinic.id, "SEEN-NYC"), (None, "SEEN-NONE")):
        lot_guard.record_sign(session, actor_id=world.users["nurse"].id, clinic_id=clinic_id,
                              action="lot.flagged_suspect", details={"lot_number": lot, "product": "Botox"}, now=NOW)
    session.flush()

    html = browser_client("safety").get("/watchlist").get_data(as_text=True)
    assert "added by safety 15 Jun 2026 18:30 JST" in item(html, "data-entry-id", entry.id)
    signs = [re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", s)))
             for s in re.findall(r'<li data-action="lot.flagged_suspect">(.*?)</li>', html, re.S)]
    said = {lot: s for s in signs for lot in ("SEEN-LON", "SEEN-NYC", "SEEN-NONE") if lot in s}
    assert "15 Jun 2026 10:30 BST · Clinic LON" in said["SEEN-LON"], said
    assert "15 Jun 2026 05:30 EDT · Clinic NYC" in said["SEEN-NYC"], said
    assert "15 Jun 2026 18:30 JST · nurse" in said["SEEN-NONE"], said
    assert "UTC" not in html.split("Counterfeit watch list", 1)[1]
