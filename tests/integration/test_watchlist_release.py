"""A lot on the counterfeit watch list stays quarantined until the safety lead takes it off the list, saying why;
watched lot numbers are shown as lots are (trimmed, upper case); the signs name their product and clinic
(DOMAIN.md "Counterfeits, suppliers and the cold chain")."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from inventory.counterfeit import service as counterfeit
from inventory.counterfeit.models import WatchedLot
from inventory.errors import DuplicateSerial, LotQuarantined, LotSuspect, NotFound, ValidationError
from inventory.models import AuditEvent, LotStatus
from inventory.services import lot_guard, scanning
from recall import services as recall
from tests.factories import EVERYWHERE, NOW, World, reconstitute, refusal, serial_seen_twice

LATER = NOW + dt.timedelta(hours=1)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def box_code(world: World, lot: str) -> str:
    return f"]d201{world.botox.gtins[0].gtin}17270331" f"10{lot}"


def scan(world: World, code: str) -> scanning.ScanResult:
    return scanning.scan(world.session, code, scope=EVERYWHERE, now=LATER, timezone="Europe/London")


def watch_typed_loosely(world: World) -> counterfeit.Watched:
    """The QA report's entry: the lot number typed in lower case between spaces."""
    return counterfeit.watch(world.session, actor=world.users["safety"], lot_number=" xe77812 ",
                             source="FDA alert", now=NOW, product_id=world.botox.id)


def release(world: World, lot_id: int, *, at: dt.datetime = LATER):
    return recall.release(world.session, actor=world.users["safety"], lot_id=lot_id,
                          reason="supplier confirmed genuine", now=at)


def test_a_watched_lot_is_not_released_while_it_is_on_the_watch_list(world, session):
    vial = world.container("botox", lot="XE77812")
    watched = watch_typed_loosely(world)
    assert [lot.id for lot in watched.quarantined] == [vial.lot_id]

    error = refusal(lambda: release(world, vial.lot_id))
    assert isinstance(error, LotSuspect) and error.code == "lot_suspect"
    assert error.message == (
        "Lot XE77812 of Botox Cosmetic 100 U is on the counterfeit watch list (FDA alert): it stays quarantined. "
        "Take it off the watch list first, saying why, then release it.")
    assert error.details["lot_id"] == vial.lot_id and error.details["watched_lot_id"] == watched.entry.id
    session.expire_all()
    assert vial.lot.status is LotStatus.QUARANTINED
    assert session.scalars(select(AuditEvent.id).where(AuditEvent.action == "lot.released")).all() == []
    # Label and box agree: neither is usable.
    assert isinstance(refusal(lambda: scan(world, vial.label_code)), LotQuarantined)
    assert isinstance(refusal(lambda: scan(world, box_code(world, "XE77812"))), LotSuspect)
    assert isinstance(refusal(lambda: reconstitute(world, vial, at=LATER)), LotQuarantined)


def test_taken_off_the_watch_list_with_a_reason_the_lot_is_released_and_label_and_box_agree(world, session):
    vial = world.container("botox", lot="XE77812")
    entry = watch_typed_loosely(world).entry
    lead = world.users["safety"]

    for blank in ("", "   ", None):
        error = refusal(lambda: counterfeit.unwatch(session, actor=lead, entry_id=entry.id, reason=blank,  # type: ignore[arg-type]
                                                    now=LATER))
        assert isinstance(error, ValidationError) and error.details["field"] == "reason"
    assert session.get(WatchedLot, entry.id) is not None

    removed = counterfeit.unwatch(session, actor=lead, entry_id=entry.id, reason=" Allergan confirmed: genuine ",
                                  now=LATER)
    assert removed.reason == "Allergan confirmed: genuine"
    assert [lot.id for lot in removed.quarantined] == [vial.lot_id]  # still quarantined: released next
    session.expire_all()
    assert session.get(WatchedLot, entry.id) is None
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "watchlist.removed"))
    assert (event.actor_id, event.object_id) == (lead.id, str(entry.id))
    assert event.details.items() >= {"reason": "Allergan confirmed: genuine", "lot_number": "XE77812",
                                  "product": "Botox Cosmetic 100 U", "source": "FDA alert",
                                  "quarantined_lot_ids": [vial.lot_id]}.items()
    # Taken off the list, the lot is still quarantined: label and box are both refused until it is released.
    assert isinstance(refusal(lambda: scan(world, vial.label_code)), LotQuarantined)
    assert isinstance(refusal(lambda: scan(world, box_code(world, "XE77812"))), LotQuarantined)

    assert release(world, vial.lot_id).status is LotStatus.ACTIVE
    assert scan(world, vial.label_code).container.id == vial.id
    assert scan(world, box_code(world, "xe77812")).lot.status is LotStatus.ACTIVE
    assert reconstitute(world, vial, at=LATER).concentration_u_per_ml is not None


def test_taking_an_unknown_entry_off_is_not_found_and_a_lot_not_on_file_leaves_nothing_quarantined(world, session):
    lead = world.users["safety"]
    assert isinstance(refusal(lambda: counterfeit.unwatch(session, actor=lead, entry_id=424242, reason="x",
                                                          now=NOW)), NotFound)
    entry = counterfeit.watch(session, actor=lead, lot_number="NOSTOCK1", source="s", now=NOW,
                              product_id=world.botox.id).entry
    assert counterfeit.unwatch(session, actor=lead, entry_id=entry.id, reason="wrong product", now=NOW).quarantined == []


def test_a_lot_quarantined_for_another_reason_is_released_once_its_watch_entry_is_gone(world, session):
    """A lot quarantined before it was watched (an adverse-event signal) is held by both: the entry goes first."""
    vial = world.container("botox", lot="QW1")
    recall.quarantine(session, actor=world.users["safety"], lot_id=vial.lot_id, reason="nodules reported", now=NOW)
    entry = counterfeit.watch(session, actor=world.users["safety"], lot_number="qw1", source="alert", now=NOW,
                              product_id=world.botox.id).entry
    assert isinstance(refusal(lambda: release(world, vial.lot_id)), LotSuspect)
    counterfeit.unwatch(session, actor=world.users["safety"], entry_id=entry.id, reason="lab test genuine", now=NOW)
    assert release(world, vial.lot_id).status is LotStatus.ACTIVE


def test_another_products_entry_of_the_same_number_does_not_hold_the_lot(world, session):
    vial = world.container("botox", lot="SAME1")
    recall.quarantine(session, actor=world.users["safety"], lot_id=vial.lot_id, reason="check", now=NOW)
    counterfeit.watch(session, actor=world.users["safety"], lot_number="SAME1", source="alert", now=NOW,
                      product_id=world.products["dysport"].id)
    assert release(world, vial.lot_id).status is LotStatus.ACTIVE


# --- how watched lot numbers are shown ---------------------------------------------------------------------


def test_a_watched_lot_number_is_shown_trimmed_and_upper_case_and_matched_on_its_key(world, session):
    entry = watch_typed_loosely(world).entry
    assert (entry.lot_number, entry.number_key, entry.display_number) == ("xe77812", "XE77812", "XE77812")
    error = refusal(lambda: scan(world, box_code(world, "Xe77812")))
    assert isinstance(error, LotSuspect)
    assert error.message.startswith("Lot XE77812 of Botox Cosmetic 100 U is on the counterfeit watch list (FDA alert)")
    assert error.details["lot_number"] == "XE77812"
    again = refusal(lambda: counterfeit.watch(session, actor=world.users["safety"], lot_number="xE77812 ",
                                              source="x", now=NOW, product_id=world.botox.id))
    assert again.message == "Lot XE77812 of Botox Cosmetic 100 U is on the watch list already."
    (added,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "watchlist.added"))
    assert (added.details["lot_number"], added.details["typed"]) == ("XE77812", "xe77812")


def test_a_lot_number_typed_with_spaces_as_an_alert_prints_it_quarantines_the_lot_and_counts_stock_on_the_road(
        world, session):
    from tests.factories import send_transfer

    vials = world.receive(lot="XE77812", containers=3).containers
    send_transfer(world, vials[:1])  # on the road to New York: it reads 0 until received
    watched = counterfeit.watch(session, actor=world.users["safety"], lot_number="xe 77 812", source="EMA alert",
                                now=NOW, product_id=world.botox.id)
    assert (watched.entry.number_key, watched.entry.display_number) == ("XE77812", "XE77812")
    assert [lot.id for lot in watched.quarantined] == [vials[0].lot_id]
    assert vials[0].lot.status is LotStatus.QUARANTINED
    sign = session.scalars(select(AuditEvent).where(AuditEvent.action == "lot.watch_quarantined")).one()
    assert (sign.details["containers_holding_stock"], sign.details["containers_in_transit"]) == (3, 1)
    assert isinstance(refusal(lambda: scan(world, box_code(world, "XE77812"))), LotSuspect)


def test_signs_show_watched_lot_numbers_upper_case_even_when_recorded_in_lower_case(world, session):
    """A sign written before this fix carries the lot number as it was typed."""
    lot_guard.record_sign(session, actor_id=world.users["nurse"].id, clinic_id=world.clinic.id,
                          action="lot.flagged_suspect", now=NOW,
                          details={"product_id": world.botox.id, "lot_number": "xe77812", "where": "scanning"})
    (sign,) = counterfeit.signs(session)
    assert (sign.product, sign.lot_number, sign.clinic) == ("Botox Cosmetic 100 U", "XE77812", "Clinic LON")


# --- a pack serial seen twice names its product and clinic -----------------------------------------------------


def test_a_pack_serial_seen_twice_names_the_product_and_the_clinic_that_received_it_first(world, session):
    manager = world.users["manager"]
    error = serial_seen_twice(world)
    assert isinstance(error, DuplicateSerial)
    # A sign as the chain-wide look-up on containers words it: the first container's id, no receipt's.
    lot_guard.record_sign(session, actor_id=manager.id, clinic_id=world.other_clinic.id,
                          action="lot.flagged_duplicate_serial", now=LATER,
                          details={"serial": "SER9", "product_id": world.botox.id,
                                   "container_id": error.details["container_id"]})

    older, newer = reversed(counterfeit.signs(session))
    for sign in (older, newer):
        assert sign.product == "Botox Cosmetic 100 U"
        assert sign.first_clinic == "Clinic LON"
    assert (older.clinic, newer.clinic) == (None, "Clinic NYC")  # where it was refused, when the sign says
