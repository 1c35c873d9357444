"""The counterfeit watch list catches lots that differ from a watched one only by punctuation (QA: a watched
Xeomin lot `xe 77812` was received as `Xe-77812`, a new active lot, and no sign reached the safety lead).

Only the watch list compares loosely: ordinary lots are still told apart by a dash."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from inventory.counterfeit import service as counterfeit
from inventory.errors import LotSuspect
from inventory.models import AuditEvent, Lot, LotStatus
from inventory.services import scanning
from inventory.services.permissions import Scope
from tests import factories
from tests.api.conftest import error_code
from tests.factories import NOW
from tests.statements import recorded

XEOMIN_GTIN = "03612340000045"


@pytest.fixture
def xeomin(world, session):
    product = factories.make_product(session, "Xeomin 100 U")
    world.products["xeomin"] = product
    return product


def receipt(world, lot: str, expiry: str = "2028-08-28", **extra):
    return {"gtin": XEOMIN_GTIN, "lot": lot, "expiry": expiry, "containers": 1,
            "location_id": world.location().id, "supplier_id": world.supplier.id} | extra


def signs(session, action: str = "lot.flagged_suspect") -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def lots(session, number: str) -> list[Lot]:
    session.expire_all()
    return list(session.scalars(select(Lot).where(Lot.number == number)))


def test_the_qa_case_a_dashed_lot_of_a_watched_number_is_refused_at_receiving_with_a_sign(api, world, session,
                                                                                         xeomin):
    lead, manager = api("safety"), api("manager")
    world.receive(xeomin, lot="XE77812", expiry=dt.date(2028, 8, 28))
    entry = lead.post("/watchlist", {"gtin": XEOMIN_GTIN, "lot_number": "xe 77812", "source": "MHRA alert 24/07"})
    assert entry.status_code == 201
    assert [lot["number"] for lot in entry.get_json()["quarantined_lots"]] == ["XE77812"]

    refused = manager.post("/receipts", receipt(world, "Xe-77812"))
    assert (refused.status_code, error_code(refused)) == (409, "lot_suspect")
    error = refused.get_json()["error"]
    assert error["message"] == (
        "Lot XE-77812 of Xeomin 100 U looks like watched lot XE77812 on the counterfeit watch list (MHRA alert "
        "24/07): the same letters and digits, other punctuation. Do not receive or use it. Set the box aside and "
        "tell the safety lead. The safety lead is told (Signs on the watch list).")
    assert error["details"] == {
        "product_id": xeomin.id, "lot_number": "XE-77812", "watched_lot_number": "XE77812", "near_match": True,
        "watched_product_id": xeomin.id, "watched_lot_id": entry.get_json()["id"], "source": "MHRA alert 24/07"}
    assert lots(session, "Xe-77812") == []  # no new lot, no container
    (sign,) = signs(session)
    assert (sign.details["where"], sign.details["lot_number"], sign.details["watched_lot_number"]) == (
        "receiving", "XE-77812", "XE77812")
    assert sign.details["message"] == error["message"]
    # The signs the safety lead reads name it.
    (shown,) = [s for s in counterfeit.signs(session) if s.event.action == "lot.flagged_suspect"]
    assert (shown.product, shown.lot_number) == ("Xeomin 100 U", "XE-77812")


@pytest.mark.parametrize("typed", [
    "XE-77812", "xe.77812", "XE/77812", "XE_77812", "X-E-7781-2", "XE\u201177812", "XE\u201377812", "XE\u221277812",
    "XE\uff0d77812", "\uff38\uff25\uff17\uff17\uff18\uff11\uff12", "xe77812",
], ids=["dash", "dot", "slash", "underscore", "many dashes", "non-breaking hyphen", "en dash", "minus sign",
        "full-width hyphen", "full-width", "lower case"])
def test_every_punctuation_variant_is_refused_at_receiving(api, world, session, xeomin, typed):
    api("safety").post("/watchlist", {"product_id": xeomin.id, "lot_number": "XE77812", "source": "alert"})
    refused = api("manager").post("/receipts", receipt(world, typed))
    assert (refused.status_code, error_code(refused)) == (409, "lot_suspect"), refused.get_json()
    assert "XE77812" in refused.get_json()["error"]["message"]
    session.expire_all()
    assert session.scalar(select(func.count(Lot.id))) == 0


@pytest.mark.parametrize("typed", ["XE778120", "XE7781", "XE77821", "EX77812", "XF77812", "XE-77813"])
def test_other_letters_or_digits_are_another_lot(api, world, session, xeomin, typed):
    api("safety").post("/watchlist", {"product_id": xeomin.id, "lot_number": "XE77812", "source": "alert"})
    assert api("manager").post("/receipts", receipt(world, typed)).status_code == 201
    assert signs(session) == []


def test_the_near_match_is_for_the_watch_list_only_ordinary_lots_keep_their_dash(api, world, session, xeomin):
    manager = api("manager")
    assert manager.post("/receipts", receipt(world, "AB-12")).status_code == 201
    assert manager.post("/receipts", receipt(world, "AB12")).status_code == 201  # two genuine lots
    assert sorted(lot.number for lot in session.scalars(select(Lot))) == ["AB-12", "AB12"]
    # Another product's watched lot says nothing of this one's.
    api("safety").post("/watchlist", {"product_id": world.botox.id, "lot_number": "CD34", "source": "alert"})
    assert manager.post("/receipts", receipt(world, "C-D34")).status_code == 201


def test_scanning_a_near_match_is_refused_with_a_sign(api, world, session, xeomin):
    api("safety").post("/watchlist", {"product_id": xeomin.id, "lot_number": "xe 77812", "source": "alert 9"})
    scanned = api("nurse").post("/scans", {"code": f"]d201{XEOMIN_GTIN}17280828" "10XE-77812"})
    assert (scanned.status_code, error_code(scanned)) == (409, "lot_suspect")
    assert scanned.get_json()["error"]["message"].startswith(
        "Lot XE-77812 of Xeomin 100 U looks like watched lot XE77812 on the counterfeit watch list (alert 9)")
    (sign,) = signs(session)
    assert (sign.details["where"], sign.details["near_match"], sign.clinic_id) == ("scanning", True, world.clinic.id)
    # A near-match lot already on file (received before the alert) is refused too when its box is scanned.
    exact = api("nurse").post("/scans", {"code": f"]d201{XEOMIN_GTIN}17280828" "10XE77812"})
    assert (exact.status_code, error_code(exact)) == (409, "lot_suspect")
    assert "is on the counterfeit watch list" in exact.get_json()["error"]["message"]


def test_watching_a_lot_quarantines_the_lots_on_file_that_look_like_it(api, world, session, xeomin):
    dashed = world.container(xeomin, lot="XE-77812", expiry=dt.date(2028, 8, 28))
    dotted = world.container(xeomin, lot="XE.77812", expiry=dt.date(2028, 8, 28))
    other = world.container(xeomin, lot="XE77813", expiry=dt.date(2028, 8, 28))
    botox = world.container("botox", lot="XE77812")  # another product: not this entry's
    lead = api("safety")
    created = lead.post("/watchlist", {"gtin": XEOMIN_GTIN, "lot_number": "XE77812", "source": "alert 3"})
    assert created.status_code == 201
    quarantined = created.get_json()["quarantined_lots"]
    assert [(lot["id"], lot["status"]) for lot in quarantined] == [(dashed.lot_id, "quarantined"),
                                                                   (dotted.lot_id, "quarantined")]
    session.expire_all()
    assert session.get(Lot, dashed.lot_id).status_reason == (
        "Looks like watched lot XE77812 on the counterfeit watch list: alert 3")
    assert session.get(Lot, other.lot_id).status is LotStatus.ACTIVE
    assert session.get(Lot, botox.lot_id).status is LotStatus.ACTIVE
    marks = signs(session, "lot.watch_quarantined")
    assert [(m.details["lot_number"], m.details["watched_lot_number"], m.details["near_match"]) for m in marks] == [
        ("XE-77812", "XE77812", True), ("XE.77812", "XE77812", True)]
    # Its vials are refused at the cart by their own label (the lot is quarantined), and a release waits for
    # the entry to come off the list.
    label = api("nurse").post("/scans", {"code": dashed.label_code})
    assert (label.status_code, error_code(label)) == (409, "lot_quarantined")
    release = lead.post(f"/lots/{dashed.lot_id}/release", {"reason": "checked with the maker"})
    assert (release.status_code, error_code(release)) == (409, "lot_suspect")
    # Taking the entry off lists the near-matches as staying quarantined.
    removed = lead.post(f"/watchlist/{created.get_json()['id']}/remove", {"reason": "maker confirmed genuine"})
    assert removed.status_code == 200
    assert sorted(lot["id"] for lot in removed.get_json()["quarantined_lots"]) == sorted([dashed.lot_id,
                                                                                           dotted.lot_id])


def test_a_lot_number_without_a_letter_or_digit_is_not_watched(api, world, xeomin):
    refused = api("safety").post("/watchlist", {"product_id": xeomin.id, "lot_number": "--", "source": "alert"})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error")


def test_a_scan_of_a_product_with_no_watched_lot_stays_one_statement(world, session, xeomin):
    world.receive(xeomin, lot="XE77812", expiry=dt.date(2028, 8, 28))
    counterfeit.watch(session, actor=world.users["safety"], product_id=world.botox.id, lot_number="C3709C3",
                      source="alert", now=NOW)
    code = f"]d201{XEOMIN_GTIN}17280828" "10XE77812"

    def statements() -> int:
        session.expire_all()
        with recorded(session) as sent:
            scanning.scan(session, code, scope=Scope.everything(), now=NOW, timezone="Europe/London")
        return len(sent)

    assert statements() == 1  # Xeomin has no watched lot: the scan's one statement, as before
    counterfeit.watch(session, actor=world.users["safety"], product_id=xeomin.id, lot_number="XE77899",
                      source="alert", now=NOW)
    assert statements() == 2  # a watched product: one look-up of its entries
    with pytest.raises(LotSuspect):
        scanning.scan(session, f"]d201{XEOMIN_GTIN}17280828" "10XE7789-9", scope=Scope.everything(), now=NOW,
                      timezone="Europe/London")
