"""The watch list page: lot numbers shown in upper case, taking an entry off with a reason before the lot is
released from its trace, and signs that name their product and clinic."""

from __future__ import annotations

import re

from sqlalchemy import select

from inventory.counterfeit.models import WatchedLot
from inventory.errors import DuplicateSerial
from inventory.models import AuditEvent, Lot, LotStatus
from tests.factories import serial_seen_twice
from tests.pages.conftest import csrf_token


def flashes(html: str) -> list[str]:
    return [re.sub(r"\s+", " ", m) for m in re.findall(r'<div class="flash[^"]*"[^>]*>(.*?)</div>', html, re.S)]


def test_a_watched_lot_is_taken_off_the_list_with_a_reason_then_released_from_its_trace(browser_client, world,
                                                                                        session):
    vial = world.container("botox", lot="XE77812")
    client = browser_client("safety")
    token = csrf_token(client, "/watchlist")
    client.post("/watchlist", data={"product_id": str(world.botox.id), "lot_number": " xe77812 ",
                                    "source": "FDA alert", "csrf_token": token})
    html = client.get("/watchlist").get_data(as_text=True)
    assert 'lot <span class="mono">XE77812</span>' in html and 'href="/trace?q=XE77812"' in html
    assert "xe77812" not in html
    entry = session.scalar(select(WatchedLot))

    client.post(f"/trace/lots/{vial.lot_id}/release", data={"reason": "supplier confirmed genuine",
                                                            "csrf_token": token})
    html = client.get(f"/trace/lots/{vial.lot_id}").get_data(as_text=True)
    assert 'data-code="lot_suspect"' in html
    assert ("Lot XE77812 of Botox Cosmetic 100 U is on the counterfeit watch list (FDA alert): it stays "
            "quarantined. Take it off the watch list first, saying why, then release it.") in flashes(html)
    session.expire_all()
    assert session.get(Lot, vial.lot_id).status is LotStatus.QUARANTINED

    html = client.get("/watchlist").get_data(as_text=True)
    assert f'action="/watchlist/{entry.id}/delete"' in html and f'id="reason-{entry.id}"' in html
    client.post(f"/watchlist/{entry.id}/delete", data={"reason": "  ", "csrf_token": token})
    html = client.get("/watchlist").get_data(as_text=True)
    assert 'data-code="validation_error"' in html
    session.expire_all()
    assert session.get(WatchedLot, entry.id) is not None

    client.post(f"/watchlist/{entry.id}/delete", data={"reason": "Allergan confirmed genuine", "csrf_token": token})
    html = client.get("/watchlist").get_data(as_text=True)
    assert "Lot XE77812 of Botox Cosmetic 100 U is taken off the watch list." in flashes(html)
    assert ("Lot XE77812 of Botox Cosmetic 100 U stays quarantined: release it from its trace if it may be used "
            "again.") in flashes(html)
    assert "No lot is watched." in html
    session.expire_all()
    assert session.scalar(select(AuditEvent.details).where(AuditEvent.action == "watchlist.removed"))["reason"] == \
        "Allergan confirmed genuine"

    client.post(f"/trace/lots/{vial.lot_id}/release", data={"reason": "supplier confirmed genuine",
                                                            "csrf_token": token})
    session.expire_all()
    assert session.get(Lot, vial.lot_id).status is LotStatus.ACTIVE
    # The change log tells the lot's story in order: watched (quarantined), taken off with the reason, released.
    log = browser_client("admin").get("/access-log?kind=changes").get_data(as_text=True)
    actions = re.findall(r'<tr data-action="([^"]+)">', log)
    assert actions == ["lot.released", "watchlist.removed", "lot.quarantined"]
    assert "lot XE77812 of Botox Cosmetic 100 U" in log and "Allergan confirmed genuine" in log


def test_the_signs_name_the_product_and_the_clinic_of_a_pack_serial_seen_twice(browser_client, world, session):
    error = serial_seen_twice(world)
    assert isinstance(error, DuplicateSerial)
    session.flush()

    html = browser_client("safety").get("/watchlist").get_data(as_text=True)
    (sign,) = re.findall(r'<li data-action="lot.flagged_duplicate_serial">(.*?)</li>', html, re.S)
    text = re.sub(r"<[^>]+>", "", re.sub(r"\s+", " ", sign)).strip()
    assert text.startswith("Pack serial seen twice Botox Cosmetic 100 U serial SER9, first received at Clinic LON")
