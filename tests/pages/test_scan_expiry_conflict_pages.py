"""The pages say what the API refuses: at the cart a box whose printed expiry contradicts its lot, or a lot that
looks like a watched one, is refused in words with no vial offered, and the safety lead's signs list it; the
receiving page's manual entry keeps refusing a typed mismatch as before, without a sign."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from sqlalchemy import select

from inventory.counterfeit import service as counterfeit
from inventory.models import AuditEvent, Lot, utcnow
from tests import factories
from tests.factories import NOW, start_treatment
from tests.pages.conftest import csrf_token

VOLUMA_GTIN = "03612340000229"  # Juvederm Voluma XC 1.0 mL
BOX_2029 = f"]d201{VOLUMA_GTIN}17290328|10VM88B21"
MESSAGE = ("This box says expiry 28 Mar 2029 but lot VM88B21 is on file with 28 Mar 2028: do not use it; set it "
           "aside for the safety lead.")


def signs(session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def cart_scan(client, treatment, code: str) -> str:
    return client.get(f"/cart/treatments/{treatment.id}?scan={quote(code)}").get_data(as_text=True)


def test_the_cart_refuses_a_box_whose_expiry_is_not_its_lots_and_offers_no_vial(browser_client, world, session):
    world.receive("firm_filler", lot="VM88B21", expiry=dt.date(2028, 3, 28), containers=2)
    treatment = start_treatment(world, "P-EXP", at=utcnow())
    client = browser_client("nurse")
    html = cart_scan(client, treatment, BOX_2029)
    assert 'data-code="lot_expiry_conflict"' in html and MESSAGE in html
    assert "Record draw" not in html and "Check the box before use" not in html
    (sign,) = signs(session, "lot.flagged_expiry_conflict")
    assert (sign.details["where"], sign.clinic_id, sign.actor_id) == ("cart", world.clinic.id,
                                                                      world.users["nurse"].id)
    # The box as its lot is on file: a sealed syringe of the lot is offered, as before.
    same = cart_scan(client, treatment, f"]d201{VOLUMA_GTIN}17280328|10VM88B21")
    assert "Record draw" in same and "lot_expiry_conflict" not in same
    # The safety lead reads the sign on the watch-list page.
    page = browser_client("safety").get("/watchlist").get_data(as_text=True)
    assert "Box expiry contradicts its lot" in page and "box says 2029-03-28, on file 2028-03-28" in page


def test_the_cart_refuses_a_lot_that_looks_like_a_watched_one_and_keeps_a_sign(browser_client, world, session):
    xeomin = factories.make_product(session, "Xeomin 100 U")
    counterfeit.watch(session, actor=world.users["safety"], product_id=xeomin.id, lot_number="xe 77812",
                      source="MHRA alert 24/07", now=NOW)
    treatment = start_treatment(world, "P-XE", at=utcnow())
    html = cart_scan(browser_client("nurse"), treatment, f"]d201{xeomin.gtins[0].gtin}17280828" "10XE-77812")
    assert 'data-code="lot_suspect"' in html
    assert "Lot XE-77812 of Xeomin 100 U looks like watched lot XE77812 on the counterfeit watch list" in html
    (sign,) = signs(session, "lot.flagged_suspect")
    assert (sign.details["where"], sign.details["watched_lot_number"]) == ("cart", "XE77812")
    page = browser_client("safety").get("/watchlist").get_data(as_text=True)
    assert "Watched lot refused" in page and "looks like watched lot" in page


def test_a_refused_scan_reloaded_at_the_same_treatment_is_one_sign(browser_client, world, session):
    # The refused scan's address reloaded (or the box scanned again there) is the same sighting; another
    # treatment's scan of it is another one, as is another nurse's.
    world.receive("firm_filler", lot="VM88B21", expiry=dt.date(2028, 3, 28), containers=2)
    first, second = start_treatment(world, "P-EXP", at=utcnow()), start_treatment(world, "P-EXP2", at=utcnow())
    nurse = browser_client("nurse")
    for _ in range(3):
        assert 'data-code="lot_expiry_conflict"' in cart_scan(nurse, first, BOX_2029)
    assert [s.details["treatment_id"] for s in signs(session, "lot.flagged_expiry_conflict")] == [first.id]
    assert 'data-code="lot_expiry_conflict"' in cart_scan(nurse, second, BOX_2029)
    assert 'data-code="lot_expiry_conflict"' in cart_scan(browser_client("admin"), first, BOX_2029)
    kept = signs(session, "lot.flagged_expiry_conflict")
    assert sorted((s.details["treatment_id"], s.actor_id) for s in kept) == sorted(
        [(first.id, world.users["nurse"].id), (second.id, world.users["nurse"].id),
         (first.id, world.users["admin"].id)])


def test_watching_a_lot_flashes_the_lots_that_look_like_it(browser_client, world, session):
    xeomin = factories.make_product(session, "Xeomin 100 U")
    world.receive(xeomin, lot="XE-77812", expiry=dt.date(2028, 8, 28))
    client = browser_client("safety")
    done = client.post("/watchlist", data={"product_id": str(xeomin.id), "lot_number": "XE77812",
                                           "source": "alert", "csrf_token": csrf_token(client, "/watchlist")},
                       follow_redirects=True)
    assert "Lot XE-77812 of Xeomin 100 U is in stock (it looks like XE77812): it is quarantined" in done.get_data(
        as_text=True)


def test_the_receiving_pages_manual_entry_refuses_a_typed_mismatch_as_before(browser_client, world, session):
    world.receive("firm_filler", lot="VM88B21", expiry=dt.date(2028, 3, 28))
    client = browser_client("manager")
    typed = {"gtin": VOLUMA_GTIN, "lot": "VM88B21", "expiry": "2029-03-28", "containers": "1",
             "location_id": str(world.location().id), "supplier_id": str(world.supplier.id),
             "csrf_token": csrf_token(client, "/receive")}
    refused = client.post("/receive", data=typed)
    assert refused.status_code == 409
    assert "is on file with expiry 28 Mar 2028, not 28 Mar 2029" in refused.get_data(as_text=True)
    assert signs(session, "lot.flagged_expiry_conflict") == []
    assert client.post("/receive", data=typed | {"expiry": "2028-03-28"}).status_code == 302
    session.expire_all()
    assert len(session.scalars(select(Lot).where(Lot.number == "VM88B21")).all()) == 1
