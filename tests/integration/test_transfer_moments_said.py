"""A transfer's moments in its messages: said as every page says a moment ("5 Dec 2026 07:46", no leading zero),
on the clock of the clinic where each thing happened. A loss is said on the clock of the clinic that declared it,
as a refusal is said on the destination's: New York declaring a London box lost is 07:46 New York time, not
12:46 London time."""

from __future__ import annotations

import datetime as dt

from inventory.models import User
from inventory.services.permissions import Scope
from inventory.transfers import service as clinic_transfers
from tests.factories import refusal, send_transfer

SENT = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)
AT = dt.datetime(2026, 12, 5, 12, 46, tzinfo=dt.UTC)  # 12:46 in London (GMT), 07:46 in New York (EST)
LATER = AT + dt.timedelta(hours=1)


def _box(world):
    return send_transfer(world, world.receive(lot="SAIDBOX", containers=1).containers, user="clinic_manager",
                         at=SENT)


def _declare_lost(world, transfer, who: User) -> None:
    clinic_transfers.declare_lost(world.session, actor=who, scope=Scope.for_user(who), transfer_id=transfer.id,
                                  reason="courier lost it", now=AT)


def _receiving_again(world, transfer) -> str:
    nyc = world.nyc_manager()
    return str(refusal(lambda: clinic_transfers.receive(world.session, actor=nyc, scope=Scope.for_user(nyc),
                                                         transfer_id=transfer.id, now=LATER)))


def test_a_received_transfer_says_when_on_the_destinations_clock_without_a_leading_zero(world, session):
    transfer = _box(world)
    nyc = world.nyc_manager()
    clinic_transfers.receive(session, actor=nyc, scope=Scope.for_user(nyc), transfer_id=transfer.id, now=AT)
    message = _receiving_again(world, transfer)
    assert "was received by nyc-manager on 5 Dec 2026 07:46 (NYC time)" in message, message


def test_a_refused_transfer_says_when_on_the_destinations_clock_without_a_leading_zero(world, session):
    transfer = _box(world)
    nyc = world.nyc_manager()
    clinic_transfers.refuse(session, actor=nyc, scope=Scope.for_user(nyc), transfer_id=transfer.id, now=AT,
                            reason="box crushed")
    message = _receiving_again(world, transfer)
    assert "(nyc-manager, 5 Dec 2026 07:46 NYC time)" in message, message


def test_a_loss_declared_by_the_destination_is_said_on_the_destinations_clock(world, session):
    transfer = _box(world)
    _declare_lost(world, transfer, world.nyc_manager())
    assert transfer.lost_declaring_clinic is world.other_clinic
    message = _receiving_again(world, transfer)
    assert "declared lost in transit by nyc-manager on 5 Dec 2026 07:46 (NYC time)" in message, message


def test_a_loss_declared_by_the_source_or_at_chain_level_is_said_on_the_sources_clock(world, session):
    for who in ("clinic_manager", "manager"):  # London's manager; a chain-level one speaks for the source
        transfer = _box(world)
        _declare_lost(world, transfer, world.user(who))
        assert transfer.lost_declaring_clinic is world.clinic, who
        message = _receiving_again(world, transfer)
        assert f"by {world.user(who).label} on 5 Dec 2026 12:46 (LON time)" in message, (who, message)


def test_a_refused_box_lost_on_its_way_back_was_declared_by_the_source(world, session):
    transfer = _box(world)
    nyc = world.nyc_manager()
    clinic_transfers.refuse(session, actor=nyc, scope=Scope.for_user(nyc), transfer_id=transfer.id, now=SENT,
                            reason="box crushed")
    _declare_lost(world, transfer, world.users["clinic_manager"])
    assert transfer.lost_declaring_clinic is world.clinic
    assert "on 5 Dec 2026 12:46 (LON time)" in _receiving_again(world, transfer)
