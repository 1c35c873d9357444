"""A counterfeit watch-list entry names a brand's lot, not one pack size's (QA: the watched Botox 100 U lot C3709C3
scanned or received as Botox 50 U was accepted). A public alert names a brand and a lot number, and a counterfeiter
copies a real lot number onto any pack: the entry refuses that lot on every product of the brand (case and
surrounding spaces aside; the same manufacturer when both name one), at receiving, at the scan, and quarantines the
brand's lots on file when it is added."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from inventory.counterfeit import service as counterfeit
from inventory.demo import demo_gtin
from inventory.errors import LotSuspect
from inventory.models import AuditEvent, Lot, LotStatus, Product, ProductGtin
from inventory.services import scanning
from inventory.services.permissions import Scope
from tests import factories
from tests.api.conftest import error_code
from tests.factories import NOW
from tests.statements import recorded

SOURCE = "FDA counterfeit Botox alert, 2024"


@pytest.fixture
def botox_50(world, session):
    product = factories.make_product(session, "Botox Cosmetic 50 U")
    world.products["botox_50"] = product
    return product


def variant(session, name: str, **overrides) -> Product:
    """A product like Botox Cosmetic 50 U under another name, brand, manufacturer and GTIN."""
    spec = factories.product_spec("Botox Cosmetic 50 U") | {"name": name} | overrides
    product = Product(**{k: v for k, v in spec.items() if k != "gtin"}, gtins=[ProductGtin(gtin=spec["gtin"])])
    session.add(product)
    session.flush()
    return product


def gtin(product) -> str:
    return product.gtins[0].gtin


def receipt(world, product, lot: str = "C3709C3", expiry: str = "2027-03-31") -> dict:
    return {"gtin": gtin(product), "lot": lot, "expiry": expiry, "containers": 1,
            "location_id": world.location().id, "supplier_id": world.supplier.id}


def box(product, lot: str = "C3709C3") -> str:
    return f"]d201{gtin(product)}17270331" f"10{lot}"


def watch_botox_100(api, world):
    created = api("safety").post("/watchlist", {"product_id": world.botox.id, "lot_number": "C3709C3",
                                                "source": SOURCE})
    assert created.status_code == 201, created.get_json()
    return created.get_json()


def test_the_qa_case_a_watched_lot_received_as_another_size_of_the_brand_is_refused(api, world, session, botox_50):
    entry = watch_botox_100(api, world)
    refused = api("manager").post("/receipts", receipt(world, botox_50))
    assert (refused.status_code, error_code(refused)) == (409, "lot_suspect")
    error = refused.get_json()["error"]
    assert error["message"].startswith(
        f"Lot C3709C3 of Botox Cosmetic 50 U: lot C3709C3 of Botox Cosmetic 100 U is on the counterfeit watch list "
        f"({SOURCE}): do not receive or use it.")
    assert error["details"]["product_id"] == botox_50.id
    assert error["details"]["watched_product_id"] == world.botox.id
    assert error["details"]["watched_lot_id"] == entry["id"]
    session.expire_all()
    assert session.scalars(select(Lot).where(Lot.product_id == botox_50.id)).all() == []
    (sign,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "lot.flagged_suspect")).all()
    assert sign.details["watched_product_id"] == world.botox.id


def test_scanning_a_watched_lot_on_another_size_of_the_brand_is_refused(api, world, botox_50):
    watch_botox_100(api, world)
    scanned = api("nurse").post("/scans", {"code": box(botox_50)})
    assert (scanned.status_code, error_code(scanned)) == (409, "lot_suspect")
    assert scanned.get_json()["error"]["message"].startswith(
        "Lot C3709C3 of Botox Cosmetic 50 U: lot C3709C3 of Botox Cosmetic 100 U is on the counterfeit watch list")
    # A near-match on the other size is refused too, and named as such.
    near = api("nurse").post("/scans", {"code": box(botox_50, "C3709-C3")})
    assert (near.status_code, error_code(near)) == (409, "lot_suspect")
    assert near.get_json()["error"]["message"].startswith(
        "Lot C3709-C3 of Botox Cosmetic 50 U looks like watched lot C3709C3 of Botox Cosmetic 100 U on the "
        "counterfeit watch list")
    # The watched product's own box still reads as before.
    own = api("nurse").post("/scans", {"code": box(world.botox)})
    assert own.get_json()["error"]["message"].startswith(
        f"Lot C3709C3 of Botox Cosmetic 100 U is on the counterfeit watch list ({SOURCE})")
    # Another brand's lot of the same number is another lot.
    assert api("nurse").post("/scans", {"code": box(world.products["dysport"])}).status_code == 200


def test_watching_quarantines_the_brands_lots_on_file_and_keeps_them_while_watched(api, world, session, botox_50):
    fifty = world.container(botox_50, lot="C3709C3")
    dysport = world.container("dysport", lot="C3709C3")
    entry = watch_botox_100(api, world)
    assert [(lot["id"], lot["status"]) for lot in entry["quarantined_lots"]] == [(fifty.lot_id, "quarantined")]
    session.expire_all()
    lot = session.get(Lot, fifty.lot_id)
    assert lot.status is LotStatus.QUARANTINED
    assert "Botox Cosmetic 100 U" in lot.status_reason and SOURCE in lot.status_reason
    assert session.get(Lot, dysport.lot_id).status is LotStatus.ACTIVE
    lead = api("safety")
    release = lead.post(f"/lots/{fifty.lot_id}/release", {"reason": "checked with the maker"})
    assert (release.status_code, error_code(release)) == (409, "lot_suspect")
    removed = lead.post(f"/watchlist/{entry['id']}/remove", {"reason": "maker confirmed genuine"})
    assert [lot["id"] for lot in removed.get_json()["quarantined_lots"]] == [fifty.lot_id]
    assert lead.post(f"/lots/{fifty.lot_id}/release", {"reason": "checked with the maker"}).status_code == 200


def test_the_brand_is_read_without_case_or_surrounding_spaces_and_the_same_maker(api, world, session):
    spaced = variant(session, "BOTOX cosmetic 20 U", brand="  botox COSMETIC ", manufacturer="", gtin=demo_gtin(901))
    other_maker = variant(session, "Botox Cosmetic 200 U (other maker)", brand="Botox Cosmetic",
                          manufacturer="Someone Else Ltd", gtin=demo_gtin(902))
    watch_botox_100(api, world)
    assert error_code(api("nurse").post("/scans", {"code": box(spaced)})) == "lot_suspect"
    assert api("nurse").post("/scans", {"code": box(other_maker)}).status_code == 200


def test_a_scan_of_a_brand_with_no_watched_lot_stays_one_statement(world, session, botox_50):
    code = box(botox_50, "AB1234")

    def statements() -> int:
        session.expire_all()
        with recorded(session) as sent:
            scanning.scan(session, code, scope=Scope.everything(), now=NOW, timezone="Europe/London")
        return len(sent)

    counterfeit.watch(session, actor=world.users["safety"], product_id=world.products["dysport"].id,
                      lot_number="C3709C3", source="alert", now=NOW)
    assert statements() == 1  # no watched lot of the Botox brand: the scan's one statement
    counterfeit.watch(session, actor=world.users["safety"], product_id=world.botox.id, lot_number="ZZ9999",
                      source="alert", now=NOW)
    assert statements() == 2  # a watched lot of its brand (on the other size): one look-up of the entries
    with pytest.raises(LotSuspect):
        scanning.scan(session, box(botox_50, "ZZ9999"), scope=Scope.everything(), now=NOW, timezone="Europe/London")


def test_an_entry_stays_one_per_product_and_number(api, world, botox_50):
    watch_botox_100(api, world)
    again = api("safety").post("/watchlist", {"product_id": world.botox.id, "lot_number": "c3709c3",
                                              "source": SOURCE})
    assert (again.status_code, error_code(again)) == (409, "lot_already_watched")
    # The other size may carry its own entry (its own alert), as before.
    assert api("safety").post("/watchlist", {"product_id": botox_50.id, "lot_number": "C3709C3",
                                             "source": SOURCE}).status_code == 201


def test_receiving_the_brands_other_size_of_another_lot_goes_through(api, world, botox_50):
    watch_botox_100(api, world)
    assert api("manager").post("/receipts", receipt(world, botox_50, lot="C4120A1")).status_code == 201
