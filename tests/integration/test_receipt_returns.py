"""Returning a delivery to its supplier from its receipt (QA: a new clinic's first day, one manager, the wrong box):
the containers still as they arrived leave stock as RETURN movements, in one transaction, through the ledger as a
recall's returned container does; anything used, changed, held or set aside since stays, and says why."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from inventory.cold_chain import service as cold_chain
from inventory.errors import DomainError, NotFound
from inventory.models import AuditEvent, ContainerState, Movement, MovementKind
from inventory.receiving import returns
from inventory.receiving import service as receiving
from inventory.reconciliation import service as reconciliation
from inventory.reconciliation.service import Period
from inventory.services.permissions import Scope
from inventory.transfers import moves
from recall import services as recalls
from tests.factories import (
    EVERYWHERE,
    NOW,
    draw,
    kit_location,
    reconstitute,
    refusal,
    reverse,
    send_transfer,
    start_treatment,
)

pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")

LATER = NOW + dt.timedelta(hours=2)
SUPPLIER = "Allergan Aesthetics (direct)"


def delivered(world, containers: int = 3, *, lot: str = "WRONGBOX1", product: str = "botox"):
    """A box from the chain's authorised supplier, received by the London clinic's only manager."""
    return receiving.receive(
        world.session, actor=world.users["clinic_manager"], scope=Scope.for_user(world.users["clinic_manager"]),
        location_id=world.location().id, containers=containers, now=NOW,
        gtin=world.products[product].gtins[0].gtin, lot_number=lot, expiry=dt.date(2027, 3, 31),
        supplier_id=world.supplier.id,
    )


def send_back(world, receipt, ids=None, *, reason="wrong_product", note=None, user="clinic_manager", at=LATER):
    actor = world.users[user]
    return returns.return_to_supplier(
        world.session, actor=actor, scope=Scope.for_user(actor), receipt_id=receipt.id, reason=reason, note=note,
        now=at, container_ids=ids,
    )


def movements_of(session, container) -> list[Movement]:
    return list(session.scalars(select(Movement).where(Movement.container_id == container.id).order_by(Movement.id)))


def test_a_clinic_manager_returns_chosen_sealed_containers_as_return_movements(world, session):
    receipt = delivered(world)
    first, second, kept = receipt.containers

    done = send_back(world, receipt, [second.id, first.id], note="label says 50 U")

    assert done.words == (f"Returned 2 × Botox Cosmetic 100 U ({second.label_code}, {first.label_code}) to "
                          f"{SUPPLIER}: wrong product (label says 50 U).")
    for container in (first, second):
        assert (container.state, container.remaining) == (ContainerState.EMPTY, Decimal(0))
        *_, last = movements_of(session, container)
        assert (last.kind, last.quantity, last.balance_after, last.reason, last.note, last.at) == (
            MovementKind.RETURN, Decimal(-100), Decimal(0), "wrong_product",
            f"returned to {SUPPLIER}: wrong product (label says 50 U)", LATER)
        assert last.actor_id == world.users["clinic_manager"].id
    assert (kept.state, kept.remaining, len(movements_of(session, kept))) == (ContainerState.SEALED, Decimal(100), 1)
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "receipt.returned"))
    assert event.object_id == str(receipt.id) and event.clinic_id == world.clinic.id
    assert event.details == {"container_ids": [second.id, first.id],
                             "label_codes": [second.label_code, first.label_code], "reason": "wrong_product",
                             "note": "label says 50 U", "supplier_id": world.supplier.id}


def test_the_reconciliation_counts_them_as_returned(world, session):
    receipt = delivered(world)
    send_back(world, receipt, [receipt.containers[0].id], reason="damaged")

    (row,) = reconciliation.reconcile(session, scope=EVERYWHERE, period=Period(NOW.date(), NOW.date())).rows

    assert (row.received, row.returned, row.closing) == (Decimal(300), Decimal(100), Decimal(200))


def test_without_a_choice_every_container_still_as_it_arrived_goes_back_and_the_others_stay(world, session):
    receipt = delivered(world, 3)
    opened, drawn_and_corrected, sealed = receipt.containers
    reconstitute(world, opened)
    treatment = start_treatment(world)
    reconstitute(world, drawn_and_corrected)
    reverse(world, draw(world, treatment, drawn_and_corrected, "4").draw)

    done = send_back(world, receipt)

    assert [c.id for c, _ in done.returned] == [sealed.id]
    assert opened.state is ContainerState.IN_USE and opened.remaining == 100


def test_a_container_opened_since_it_arrived_is_refused_and_told_to_correct_it_with_a_count(world, session):
    receipt = delivered(world, 2)
    opened, sealed = receipt.containers
    reconstitute(world, opened)

    error = refusal(lambda: send_back(world, receipt, [sealed.id, opened.id]))

    assert error.code == "container_opened"
    assert error.message == (
        f"Botox Cosmetic 100 U ({opened.label_code}) was reconstituted since it arrived: only sealed containers go "
        "back to the supplier. If it should not be in stock, correct it with a count of Fridge (Counts: another "
        "manager or an admin posts it).")
    assert error.details == {"container_id": opened.id}
    session.expire_all()
    assert sealed.state is ContainerState.SEALED  # one transaction: nothing was returned


@pytest.mark.parametrize("how", ["drawn and corrected", "in a kit and back", "moved to the cart"])
def test_only_a_container_untouched_since_it_arrived_goes_back(world, session, how):
    receipt = delivered(world, 1, product="filler")
    (container,) = receipt.containers
    if how == "drawn and corrected":
        treatment = start_treatment(world)
        reverse(world, draw(world, treatment, container, "0.1", unit="mL").draw)
        session.flush()
        assert container.state is ContainerState.SEALED  # sealed again: it looks as it arrived, but was drawn
    elif how == "in a kit and back":
        kit = kit_location(world)
        for to in (kit.id, world.location().id):
            moves.move_container(session, actor=world.users["manager"], scope=EVERYWHERE, container_id=container.id,
                                 to_location_id=to, now=NOW, reason="restock")
    else:
        moves.move_container(session, actor=world.users["manager"], scope=EVERYWHERE, container_id=container.id,
                             to_location_id=world.location("Cart").id, now=NOW, reason="restock")

    if how == "moved to the cart":  # a move between the clinic's own shelves leaves it as it arrived
        assert [c.id for c, _ in send_back(world, receipt, [container.id]).returned] == [container.id]
        return
    error = refusal(lambda: send_back(world, receipt, [container.id]))
    expected = {"drawn and corrected": "container_changed", "in a kit and back": "container_in_kit"}[how]
    assert error.code == expected
    assert "correct it with a count of Fridge" in error.message


def test_a_container_already_returned_goes_back_once(world, session):
    receipt = delivered(world, 2)
    first, _ = receipt.containers
    send_back(world, receipt, [first.id], reason="not_ordered")

    error = refusal(lambda: send_back(world, receipt, [first.id], reason="damaged"))

    assert error.code == "already_returned"
    assert error.message.startswith(f"Botox Cosmetic 100 U ({first.label_code}) was returned already (returned to "
                                    f"{SUPPLIER}: not ordered, ")
    assert len([m for m in movements_of(session, first) if m.kind is MovementKind.RETURN]) == 1


def test_a_container_sent_to_another_clinic_stays(world, session):
    receipt = delivered(world, 1)
    (container,) = receipt.containers
    send_transfer(world, [container])

    error = refusal(lambda: send_back(world, receipt, [container.id]))

    assert error.code == "container_in_transit"


def test_a_held_container_is_the_safety_leads_first(world, session):
    receipt = delivered(world, 1)
    (container,) = receipt.containers
    cold_chain.record_excursion(
        session, actor=world.users["manager"], scope=EVERYWHERE, location_id=world.location().id,
        started_at=NOW + dt.timedelta(minutes=10), ended_at=NOW + dt.timedelta(hours=1), min_c=Decimal(9),
        max_c=Decimal(14), now=LATER)
    session.flush()
    assert container.on_hold_since is not None

    error = refusal(lambda: send_back(world, receipt, [container.id], reason="cold_chain_broken"))

    assert error.code == "container_on_hold"
    assert "The safety lead releases or wastes it first" in error.message
    assert error.details["on_hold_since"].endswith("Z")  # as the API writes every moment


def test_a_quarantined_lot_is_kept_as_evidence_and_a_recalled_one_goes_back_on_its_case(world, session):
    quarantined = delivered(world, 1, lot="QLOT1")
    recalled = delivered(world, 1, lot="RLOT1")
    recalls.quarantine(session, actor=world.users["safety"], lot_id=quarantined.lot_id, reason="Suspect",
                       now=NOW)
    recalls.open_recall(session, actor=world.users["safety"], lot_ids=[recalled.lot_id], reason="Sterility",
                        recall_class="I", source="manufacturer", now=NOW)

    kept = refusal(lambda: send_back(world, quarantined))
    assert kept.code == "nothing_to_return"
    assert [c["code"] for c in kept.details["containers"]] == ["lot_quarantined"]
    assert refusal(lambda: send_back(world, quarantined, [quarantined.containers[0].id])).code == "lot_quarantined"
    on_case = refusal(lambda: send_back(world, recalled, [recalled.containers[0].id]))
    assert on_case.code == "lot_recalled"
    assert on_case.message.endswith("goes back to the supplier on its recall case, where the safety lead marks it "
                                    "returned.")


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"reason": "changed_mind"}, "reason"),
    ({"reason": "other"}, "note"),
    ({"reason": "other", "note": "   "}, "note"),
    ({"ids": []}, "container_ids"),
])
def test_a_reason_from_the_list_and_a_note_for_other(world, session, kwargs, field):
    receipt = delivered(world, 1)
    kwargs = dict(kwargs)
    ids = kwargs.pop("ids", None)

    error = refusal(lambda: send_back(world, receipt, ids, **kwargs))

    assert (error.code, error.details["field"]) == ("validation_error", field)


def test_only_the_receipts_own_containers_once_each(world, session):
    receipt = delivered(world, 2)
    other = delivered(world, 1, lot="OTHERLOT")
    first = receipt.containers[0]

    stranger = refusal(lambda: send_back(world, receipt, [first.id, other.containers[0].id]))
    twice = refusal(lambda: send_back(world, receipt, [first.id, first.id]))

    assert (stranger.code, stranger.details["container_ids"]) == ("validation_error", [other.containers[0].id])
    assert (twice.code, twice.details["container_ids"]) == ("validation_error", [first.id])


def test_another_clinics_manager_finds_no_such_receipt(world, session):
    receipt = delivered(world, 1)
    world.nyc_manager()

    with pytest.raises(NotFound):
        send_back(world, receipt, user="nyc_manager")
    assert session.scalar(select(func.count(Movement.id)).where(Movement.kind == MovementKind.RETURN)) == 0


def test_the_receipt_page_standings_say_each_containers_case(world, session):
    receipt = delivered(world, 3)
    returned, opened, sealed = receipt.containers
    send_back(world, receipt, [returned.id], reason="damaged")
    reconstitute(world, opened)

    found = {s.container.id: s for s in returns.standings(session, receipt)}

    assert found[returned.id].returned_said.startswith(f"Returned to {SUPPLIER}: damaged, ")
    assert found[returned.id].returned_said.endswith(" by lon-manager")
    assert isinstance(found[opened.id].refusal, DomainError) and found[opened.id].refusal.code == "container_opened"
    assert found[sealed.id].returnable
