"""Quarantine stops every stock-taking path at every location at once; release and recall rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from inventory.errors import LotQuarantined, LotRecalled, ValidationError
from inventory.models import AuditEvent, Container, LotStatus
from inventory.services import scanning
from inventory.cart import service as cart
from inventory.transfers import moves as transfers
from recall import services
from tests import recall_helpers as rh
from tests.factories import EVERYWHERE, NOW, World, kit_location, patient, reconstitute, refusal

LATER = NOW + dt.timedelta(hours=1)


pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


class Stock:
    """One lot held at London (sealed and opened vials, one in a kit) and at New York."""

    def __init__(self, world: World):
        rh.share_toxins(world)
        self.world = world
        self.london = world.receive("botox", lot="Q1", containers=3).containers
        self.new_york = world.receive("botox", lot="Q1", containers=2,
                                      location=world.location("Fridge", world.other_clinic)).containers
        self.lot = self.london[0].lot
        self.opened = reconstitute(world, self.london[0])
        self.opened_ny = reconstitute(world, self.new_york[0])
        self.kit = kit_location(world)
        self.treatment = rh.treat(world, patient(world, "P-Q"))
        self.treatment_ny = rh.treat(world, patient(world, "P-QNY", clinic=world.other_clinic))
        rh.give(world, self.treatment, self.opened, "4")

    def gs1(self) -> str:
        return f"]d201{self.world.botox.gtins[0].gtin}17270331" "10q1"

    def paths(self) -> dict:
        """Every way stock of the lot is taken or put to use, at both clinics."""
        w, s = self.world, self.world.session
        sealed_lon, sealed_ny = self.london[1], self.new_york[1]
        return {
            "scan a box at London": lambda: scanning.scan(s, self.gs1(), scope=EVERYWHERE, now=LATER,
                                                          timezone="Europe/London"),
            "scan a box at New York": lambda: scanning.scan(s, self.gs1(), scope=EVERYWHERE, now=LATER,
                                                            timezone="America/New_York"),
            "scan a label": lambda: scanning.scan(s, sealed_ny.label_code, scope=EVERYWHERE, now=LATER,
                                                  timezone="America/New_York"),
            "reconstitute at London": lambda: reconstitute(w, sealed_lon, at=LATER),
            "reconstitute at New York": lambda: reconstitute(w, sealed_ny, at=LATER),
            "draw at London": lambda: rh.give(w, self.treatment, self.opened, "4", at=LATER),
            "draw at New York": lambda: rh.give(w, self.treatment_ny, self.opened_ny, "4", at=LATER),
            "receive more of the lot": lambda: w.receive("botox", lot="q1 ", now=LATER),
            "move into a kit": lambda: transfers.move_container(
                s, actor=w.users["nurse"], scope=EVERYWHERE, container_id=self.london[2].id,
                to_location_id=self.kit.id, now=LATER, reason="kit restock"),
        }


def test_quarantine_refuses_every_stock_taking_path_at_every_location(world, session):
    stock = Stock(world)
    services.quarantine(session, actor=world.users["safety"], lot_id=stock.lot.id, reason="supplier alert 12",
                        now=NOW)
    for name, path in stock.paths().items():
        error = refusal(path)
        assert isinstance(error, LotQuarantined), name
        assert (error.code, error.status) == ("lot_quarantined", 409), name
        assert "quarantined" in error.message and "Q1" in error.message, name


def test_nothing_is_taken_while_quarantined(world, session):
    stock = Stock(world)
    services.quarantine(session, actor=world.users["safety"], lot_id=stock.lot.id, reason="alert", now=NOW)
    before = {c.id: c.remaining for c in session.scalars(select(Container).where(Container.lot_id == stock.lot.id))}
    for path in stock.paths().values():
        refusal(path)
    session.expire_all()
    after = {c.id: c.remaining for c in session.scalars(select(Container).where(Container.lot_id == stock.lot.id))}
    assert after == before


def test_quarantined_stock_is_taken_out_of_a_kit_by_anyone_and_wasted_by_the_safety_lead_only(world, session):
    # Quarantined stock is evidence: a nurse sets it aside (out of the kit), the safety lead decides its fate.
    stock = Stock(world)
    moved = transfers.move_container(session, actor=world.users["nurse"], scope=EVERYWHERE,
                                     container_id=stock.london[2].id, to_location_id=stock.kit.id, now=NOW,
                                     reason="kit restock")
    services.quarantine(session, actor=world.users["safety"], lot_id=stock.lot.id, reason="alert", now=NOW)
    transfers.move_container(session, actor=world.users["nurse"], scope=EVERYWHERE, container_id=moved.id,
                             to_location_id=world.location("Fridge").id, now=LATER, reason="quarantined lot")
    with pytest.raises(LotQuarantined):
        cart.waste(session, actor=world.users["nurse"], scope=EVERYWHERE, container_id=stock.opened.id,
                   reason="other", note="lot quarantined", now=LATER)
    assert stock.opened.remaining > 0
    cart.waste(session, actor=world.users["safety"], scope=EVERYWHERE, container_id=stock.opened.id,
               reason="other", note="lot quarantined", now=LATER)
    assert stock.opened.remaining == 0


def test_release_lets_the_lot_be_used_again_and_is_recorded(world, session):
    stock = Stock(world)
    safety = world.users["safety"]
    services.quarantine(session, actor=safety, lot_id=stock.lot.id, reason="fridge alarm", now=NOW)
    lot = services.release(session, actor=safety, lot_id=stock.lot.id, reason="temperature log checked: in range",
                           now=LATER)
    assert (lot.status, lot.status_reason, lot.status_changed_at) == (
        LotStatus.ACTIVE, "temperature log checked: in range", LATER)
    rh.give(world, stock.treatment, stock.opened, "4", at=LATER)  # usable again
    events = session.scalars(select(AuditEvent).where(AuditEvent.object_type == "lot").order_by(AuditEvent.id)).all()
    assert [(e.action, e.actor_id, e.at, e.details["reason"]) for e in events] == [
        ("lot.quarantined", safety.id, NOW, "fridge alarm"),
        ("lot.released", safety.id, LATER, "temperature log checked: in range"),
    ]
    assert events[1].details["from"] == "quarantined" and events[1].details["to"] == "active"


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_quarantine_and_release_need_a_reason(world, session, reason):
    lot = world.container("botox", lot="Q2").lot
    with pytest.raises(ValidationError) as caught:
        services.quarantine(session, actor=world.users["safety"], lot_id=lot.id, reason=reason, now=NOW)
    assert caught.value.details["field"] == "reason" and lot.status is LotStatus.ACTIVE
    services.quarantine(session, actor=world.users["safety"], lot_id=lot.id, reason="alert", now=NOW)
    with pytest.raises(ValidationError):
        services.release(session, actor=world.users["safety"], lot_id=lot.id, reason=reason, now=NOW)
    assert lot.status is LotStatus.QUARANTINED


def test_quarantining_twice_or_releasing_an_active_lot_is_refused(world, session):
    lot = world.container("botox", lot="Q3").lot
    safety = world.users["safety"]
    assert refusal(lambda: services.release(session, actor=safety, lot_id=lot.id, reason="x", now=NOW)).code \
        == "lot_not_quarantined"
    services.quarantine(session, actor=safety, lot_id=lot.id, reason="first", now=NOW)
    error = refusal(lambda: services.quarantine(session, actor=safety, lot_id=lot.id, reason="second", now=NOW))
    assert error.code == "lot_quarantined" and lot.status_reason == "first"


def test_a_recalled_lot_is_never_released_nor_quarantined(world, session):
    stock = Stock(world)
    safety = world.users["safety"]
    services.quarantine(session, actor=safety, lot_id=stock.lot.id, reason="alert", now=NOW)
    services.open_recall(session, actor=safety, lot_ids=[stock.lot.id], reason="counterfeit", recall_class="I",
                         source="regulator", now=NOW)
    for change in (services.release, services.quarantine):
        error = refusal(lambda: change(session, actor=safety, lot_id=stock.lot.id, reason="please", now=LATER))
        assert isinstance(error, LotRecalled) and (error.code, error.status) == ("lot_recalled", 409)
        assert "recalled" in error.message
    assert stock.lot.status is LotStatus.RECALLED
    for name, path in stock.paths().items():
        assert refusal(path).code == "lot_recalled", name


def test_unknown_lot_is_not_found(world, session):
    for lot_id in (999999, 0, 2**40):
        assert refusal(lambda: services.quarantine(session, actor=world.users["safety"], lot_id=lot_id,
                                                   reason="x", now=NOW)).code == "not_found"


def test_quarantine_does_not_touch_other_lots_or_products(world, session):
    stock = Stock(world)
    same_number = world.container("dysport", lot="Q1")
    services.quarantine(session, actor=world.users["safety"], lot_id=stock.lot.id, reason="alert", now=NOW)
    assert same_number.lot.status is LotStatus.ACTIVE
    reconstitute(world, same_number, at=LATER)
    assert same_number.concentration_u_per_ml == Decimal("120")
