"""Receiving (inventory/receiving/service.py): a pack serial is received once per product whatever the number of
containers in either pack, and is kept where it can be found again; a box is never received into an emergency kit."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from inventory.models import Container, Lot, Movement, Receipt
from inventory.receiving import service as receiving
from inventory.receiving.models import PackSerial
from tests.factories import EVERYWHERE, NOW, World, kit_location, refusal


def box(world: World, *, serial: str, lot: str = "QASER", product: str = "botox") -> str:
    """The human-readable GS1 string of a box, as QA pasted it."""
    return f"(01){world.products[product].gtins[0].gtin}(17)281231(10){lot}(21){serial}"


def receive(world: World, code: str, containers: int, location_id: int | None = None) -> Receipt:
    return receiving.receive(
        world.session, actor=world.users["manager"], scope=EVERYWHERE,
        location_id=location_id or world.location().id, containers=containers, now=NOW, code=code,
        supplier_id=world.supplier.id,
    )


def written(world: World) -> tuple[int, ...]:
    """What a receipt adds to stock. (A refused receipt's own row, made before the refusal, goes with the
    caller's rollback, as a new lot does.)"""
    return tuple(world.session.scalar(select(func.count(model.id))) for model in (Container, Movement, PackSerial))


@pytest.mark.parametrize(("first", "second"), [(2, 2), (2, 1), (1, 2), (1, 1), (3, 500)])
def test_a_pack_serial_is_received_once_whatever_the_number_of_containers(world, session, first, second):
    earlier = receive(world, box(world, serial="X1"), first)
    before = written(world)
    error = refusal(lambda: receive(world, box(world, serial="X1"), second,
                                    location_id=world.location("Fridge", world.other_clinic).id))
    assert (error.code, error.status) == ("duplicate_serial", 409)
    assert error.message == (f"Pack serial X1 of {world.botox.name} was already received (lot QASER). The same box "
                             "scanned twice, or a copied code: set the box aside and tell the safety lead if it is new.")
    assert error.details["serial"] == "X1" and error.details["product_id"] == world.botox.id
    assert error.details["container_id"] == earlier.containers[0].id
    assert written(world) == before  # nothing of the second box is kept


def test_a_copied_serial_on_another_lot_is_still_refused(world, session):
    receive(world, box(world, serial="X2", lot="LOTA"), 2)
    error = refusal(lambda: receive(world, box(world, serial="X2", lot="LOTB"), 4))
    assert error.code == "duplicate_serial" and "(lot LOTA)" in error.message


def test_the_same_serial_of_another_product_is_another_pack(world, session):
    receive(world, box(world, serial="X3"), 2)
    other = receive(world, box(world, serial="X3", product="dysport", lot="DY1"), 2)
    assert receiving.serial_of(session, other.id) == "X3"


def test_the_serial_of_a_pack_of_several_is_kept_with_its_receipt(world, session):
    pack = receive(world, box(world, serial="X4"), 3)
    assert receiving.find_pack(session, world.botox.id, "X4") is pack
    assert receiving.serial_of(session, pack.id) == "X4"
    assert len(pack.containers) == 3
    # A container's serial is unique per product: the pack's containers are found through their receipt.
    assert [c.serial for c in pack.containers] == [None, None, None]


def test_a_pack_of_one_keeps_its_serial_on_its_container_too(world, session):
    pack = receive(world, box(world, serial="X5"), 1)
    assert receiving.find_pack(session, world.botox.id, "X5") is pack
    assert [c.serial for c in pack.containers] == ["X5"]


def test_a_box_without_a_serial_keeps_none(world, session):
    receipt = world.receive("botox", lot="NOSER", containers=2)
    again = world.receive("botox", lot="NOSER", containers=2)
    assert receiving.serial_of(session, receipt.id) is None and receiving.serial_of(session, again.id) is None
    assert session.scalar(select(func.count(PackSerial.id))) == 0


def test_a_box_is_not_received_into_an_emergency_kit(world, session):
    kit = kit_location(world)
    before = written(world)
    error = refusal(lambda: receive(world, box(world, serial="X6"), 2, location_id=kit.id))
    assert (error.code, error.status) == ("location_is_kit", 409)
    assert error.message == (f"{kit.name} is an emergency kit: receive into a fridge or store, then restock the kit "
                             "from there.")
    assert error.details == {"location_id": kit.id}
    assert written(world) == before
    # Typed fields too, and the serial was not taken: the same box goes into the fridge.
    assert refusal(lambda: world.receive("botox", lot="KIT1", location=kit)).code == "location_is_kit"
    assert receive(world, box(world, serial="X6"), 2).location_id == world.location().id


def test_a_typed_lot_number_with_a_space_inside_is_refused_not_made_a_second_lot(world, session):
    """QA: "NEWLOT 7" typed for NEWLOT7 made a lot of its own, which the watch list, the trace and a recall of
    NEWLOT7 all missed. A GS1 lot never holds a space."""
    world.receive("botox", lot="NEWLOT7")
    lots_before = session.scalar(select(func.count(Lot.id)))
    for typed in ("NEWLOT 7", "NEW\tLOT7"):
        error = refusal(lambda: receiving.receive(
            session, actor=world.users["manager"], scope=EVERYWHERE, location_id=world.location().id,
            containers=1, now=NOW, gtin=world.botox.gtins[0].gtin, lot_number=typed, expiry=dt.date(2027, 3, 31)))
        assert error.details["field"] == "lot" and "has no spaces" in error.message
    assert session.scalar(select(func.count(Lot.id))) == lots_before


def test_a_typed_gtin_lot_or_expiry_that_contradicts_the_scanned_code_is_refused(world, session):
    gtin = world.botox.gtins[0].gtin
    code = f"(01){gtin}(17)280331(10)QALOTQ"
    cases = [({"gtin": world.products["dysport"].gtins[0].gtin}, "gtin"), ({"lot_number": "OTHER1"}, "lot"),
             ({"expiry": dt.date(2029, 1, 31)}, "expiry")]
    for typed, field in cases:
        error = refusal(lambda: receiving.receive(
            session, actor=world.users["manager"], scope=EVERYWHERE, location_id=world.location().id,
            containers=1, now=NOW, code=code, **typed))
        assert error.details["field"] == field and "give one of them" in error.message, typed
    agreeing = receiving.receive(session, actor=world.users["manager"], scope=EVERYWHERE,
                                 location_id=world.location().id, containers=1, now=NOW, code=code, gtin=gtin,
                                 lot_number="qalotq", expiry=dt.date(2028, 3, 31))
    assert agreeing.lot.number == "QALOTQ"


def test_a_clinic_that_needs_suppliers_refuses_a_receipt_without_one_and_writes_nothing(world, session):
    """DOMAIN.md: every receipt names its supplier. The API may leave it out (the contract's body predates
    suppliers), so a clinic switches receipts_need_supplier on to have the rule, page and API alike."""
    def stock() -> tuple[int, ...]:
        return written(world) + tuple(session.scalar(select(func.count(model.id))) for model in (Lot, Receipt))

    world.clinic.receipts_need_supplier = True
    session.flush()
    before = stock()
    error = refusal(lambda: world.receive("botox", lot="NOSUP1"))
    assert (error.code, error.status) == ("validation_error", 422)
    assert error.message == ("Name the supplier who delivered this box: Clinic LON receives only from authorised "
                             "suppliers.")
    assert error.details == {"field": "supplier_id", "fields": [{"field": "supplier_id", "problem": error.message}]}
    assert stock() == before  # no lot, receipt, container or movement
    # Naming the supplier receives it; a clinic that keeps the setting off still receives without one.
    named = receiving.receive(session, actor=world.users["manager"], scope=EVERYWHERE,
                              location_id=world.location().id, containers=1, now=NOW,
                              gtin=world.botox.gtins[0].gtin, lot_number="NOSUP1", expiry=dt.date(2027, 3, 31),
                              supplier_id=world.supplier.id)
    assert named.supplier_id == world.supplier.id
    assert not world.other_clinic.receipts_need_supplier
    elsewhere = world.receive("botox", lot="NOSUP1", location=world.location("Fridge", world.other_clinic))
    assert elsewhere.supplier_id is None