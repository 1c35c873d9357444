"""A container of a recalled or quarantined lot is refused for sending as recalled or quarantined, with that
code, before anything about the container itself (reconstituted, opened, patient-bound, empty, in transit)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from inventory.models import Container, ContainerState, LotStatus
from inventory.transfers import service as clinic_transfers
from tests.factories import (
    EVERYWHERE,
    NOW,
    World,
    draw,
    patient,
    reconstitute,
    refusal,
    send_transfer,
    start_treatment,
    waste,
)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def _reconstituted(world: World) -> Container:
    return reconstitute(world, world.container("botox", lot="MIX1"))


def _patient_bound(world: World) -> Container:
    container = world.container("filler", lot="PAT1")
    draw(world, start_treatment(world, patient(world, "P-9", name="Sam Lee")), container, "0.1", "mL", area="lip")
    return container


def _opened(world: World) -> Container:
    container = world.container("hylenex", lot="OPEN1")  # a liquid: part of it spilt opens it
    waste(world, container, quantity="10")
    return container


def _empty(world: World) -> Container:
    container = world.container("botox", lot="EMPTY1")
    waste(world, container)
    return container


def _in_transit(world: World) -> Container:
    container = world.container("botox", lot="ROAD1")
    send_transfer(world, [container])
    return container


STATES: list[Callable[[World], Container]] = [_reconstituted, _patient_bound, _opened, _empty, _in_transit]
LOT_STATES = [(LotStatus.RECALLED, "lot_recalled", "is recalled: do not use"),
              (LotStatus.QUARANTINED, "lot_quarantined",
               "is quarantined (manufacturer notice): do not use until a safety lead releases it")]


@pytest.mark.parametrize(("status", "code", "words"), LOT_STATES)
@pytest.mark.parametrize("make", STATES)
def test_a_withdrawn_lot_is_refused_as_such_before_the_containers_state(world, make, status, code, words):
    container = make(world)
    container.lot.status, container.lot.status_reason = status, "manufacturer notice"
    world.session.flush()

    error = refusal(lambda: clinic_transfers.check_sendable(world.session, scope=EVERYWHERE,
                                                          container_ref=container.label_code, now=NOW))

    assert error.code == code
    assert error.message == (f"{container.product.name} ({container.label_code}): Lot {container.lot.number} of "
                             f"{container.product.name} {words}.")
    assert error.details["container_id"] == container.id


@pytest.mark.parametrize(("status", "code", "words"), LOT_STATES)
def test_sending_a_mixed_vial_of_a_withdrawn_lot_is_refused_as_such_and_writes_nothing(world, status, code, words):
    good = world.container("botox", lot="GOOD1")
    mixed = _reconstituted(world)
    mixed.lot.status, mixed.lot.status_reason = status, "manufacturer notice"

    error = refusal(lambda: send_transfer(world, [good, mixed]))

    assert (error.code, error.details["container_id"]) == (code, mixed.id)
    assert words in error.message
    assert good.state is ContainerState.SEALED and mixed.state is ContainerState.IN_USE


def test_an_active_lots_mixed_vial_is_still_refused_as_reconstituted(world):
    error = refusal(lambda: send_transfer(world, [_reconstituted(world)]))
    assert error.code == "container_reconstituted"
