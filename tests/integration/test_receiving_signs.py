"""receiving.receive checks the box before its supplier, and writes nothing when either is refused;
receiving.refusal_sign says which refusals are counterfeit signs for the safety lead."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from inventory.counterfeit import service as counterfeit
from inventory.counterfeit.models import Supplier
from inventory.errors import LotExpiryConflict, LotSuspect, SupplierNotAuthorised, ValidationError
from inventory.models import AuditEvent, Container, Lot, Receipt
from inventory.receiving import service as receiving
from tests.factories import EVERYWHERE, NOW, World, refusal


def scanned(world: World, lot: str, **extra):
    code = f"]d201{world.botox.gtins[0].gtin}17280528" f"10{lot}\x1d21PKX9001"
    return receiving.receive(world.session, actor=world.users["manager"], scope=EVERYWHERE,
                             location_id=world.location().id, containers=1, now=NOW, code=code, **extra)


def written(world: World) -> tuple[int, ...]:
    return tuple(world.session.scalar(select(func.count(model.id))) for model in (Lot, Receipt, Container))


def test_the_box_is_refused_for_itself_before_its_supplier_is_asked_for(world):
    counterfeit.watch(world.session, actor=world.users["safety"], product_id=world.botox.id, lot_number="FAKE1",
                      source="alert", now=NOW)
    world.receive("botox", lot="DEMOBTX01", expiry=dt.date(2028, 4, 28))
    grey = Supplier(name="Grey market", is_authorised=False)
    world.session.add(grey)
    world.session.flush()
    for supplier in ({"supplier_required": True}, {"supplier_id": grey.id}):
        assert isinstance(refusal(lambda: scanned(world, "FAKE1", **supplier)), LotSuspect)
        assert isinstance(refusal(lambda: scanned(world, "DEMOBTX01", **supplier)), LotExpiryConflict)
    before = written(world)
    missing = refusal(lambda: scanned(world, "NEW1", supplier_required=True))
    assert isinstance(missing, ValidationError) and missing.details["field"] == "supplier_id"
    assert missing.message == "Choose who delivered this box."
    assert isinstance(refusal(lambda: scanned(world, "NEW1", supplier_id=grey.id)), SupplierNotAuthorised)
    assert written(world) == before  # not even the new lot is flushed


@pytest.mark.parametrize(("error", "sign"), [
    (LotSuspect("watched", lot_number="X1"), True),
    (SupplierNotAuthorised("stopped", supplier_id=1), True),
    (LotExpiryConflict("printed", lot_id=1), True),
    (ValidationError("Choose who delivered this box.", field="supplier_id"), False),
])
def test_refusal_sign_is_kept_for_counterfeit_signs_only(world, error, sign):
    code = f"]d201{world.botox.gtins[0].gtin}17280528" "10X1"
    write = receiving.refusal_sign(world.session, error, actor_id=world.users["manager"].id,
                                   location_id=world.location().id, now=NOW, code=code)
    assert (write is not None) == sign
    # An expiry typed beside a bare GTIN is no sign: more often a typo than a counterfeit.
    typed = receiving.refusal_sign(world.session, LotExpiryConflict("typed", lot_id=1), actor_id=1,
                                   location_id=world.location().id, now=NOW, code=f"]d201{world.botox.gtins[0].gtin}",
                                   lot_number="X1", expiry=dt.date(2028, 5, 28))
    assert typed is None
    if write is not None:
        write(world.session)
        (event,) = world.session.scalars(select(AuditEvent).where(AuditEvent.action.like("lot.flagged_%")))
        assert event.details["message"].endswith(receiving.SAFETY_LEAD_TOLD)
        assert (event.clinic_id, event.details["where"], event.details["lot_number"]) == (
            world.clinic.id, "receiving", "X1")
