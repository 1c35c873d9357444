"""The pages of a watched lot matched per brand (QA: the watched Botox 100 U lot C3709C3 scanned at the cart as
Botox 50 U was offered for a draw): the cart refuses the other size in words naming both products, the receiving
page refuses it, and the watch-list page says a lot is watched on every product of its brand."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import select

from inventory.counterfeit import service as counterfeit
from inventory.models import AuditEvent, Lot, LotStatus, utcnow
from tests import factories
from tests.factories import NOW, start_treatment
from tests.pages.conftest import csrf_token

SOURCE = "FDA counterfeit Botox alert, 2024"
REFUSAL = ("Lot C3709C3 of Botox Cosmetic 50 U: lot C3709C3 of Botox Cosmetic 100 U is on the counterfeit watch list "
           f"({SOURCE}): do not receive or use it.")


def test_the_cart_refuses_the_watched_lot_on_the_brands_other_size(browser_client, world, session):
    fifty = factories.make_product(session, "Botox Cosmetic 50 U")
    counterfeit.watch(session, actor=world.users["safety"], product_id=world.botox.id, lot_number="C3709C3",
                      source=SOURCE, now=NOW)
    treatment = start_treatment(world, "P-50", at=utcnow())
    code = f"]d201{fifty.gtins[0].gtin}17270331" "10C3709C3"
    html = browser_client("nurse").get(f"/cart/treatments/{treatment.id}?scan={quote(code)}").get_data(as_text=True)
    assert 'data-code="lot_suspect"' in html and REFUSAL in html
    assert "Record draw" not in html
    session.expire_all()
    (sign,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "lot.flagged_suspect")).all()
    assert (sign.details["where"], sign.details["product_id"], sign.details["watched_product_id"]) == (
        "cart", fifty.id, world.botox.id)


def test_the_watch_list_page_watches_the_lot_on_every_product_of_its_brand(browser_client, world, session):
    fifty = factories.make_product(session, "Botox Cosmetic 50 U")
    vial = world.container(fifty, lot="C3709C3")
    client = browser_client("safety")
    page = client.get("/watchlist").get_data(as_text=True)
    assert "a lot watched on one product is watched on every product of its brand" in page
    response = client.post("/watchlist", data={"product_id": str(world.botox.id), "lot_number": "C3709C3",
                                               "source": SOURCE, "csrf_token": csrf_token(client, "/watchlist")})
    assert response.status_code == 302
    html = client.get("/watchlist").get_data(as_text=True)
    assert "It is watched on every Botox Cosmetic product." in html
    assert "Lot C3709C3 of Botox Cosmetic 50 U is in stock: it is quarantined at every location." in html
    assert "(every Botox Cosmetic product)" in html
    # The signs say which product the lot is watched on.
    assert "Botox Cosmetic 50 U lot <span class=\"mono\">C3709C3</span>, watched on Botox Cosmetic 100 U (same brand)" in html
    session.expire_all()
    assert session.get(Lot, vial.lot_id).status is LotStatus.QUARANTINED
