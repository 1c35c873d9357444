"""Counts through the service: a blind sheet, two people, one transaction, never edited once posted."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from inventory.errors import DomainError, NotFound
from inventory.models import ContainerState, Movement, User
from inventory.counts.models import Count, CountStatus
from inventory.services import ledger
from inventory.counts import service as counts
from inventory.counts.service import LineSpec
from inventory.services.permissions import Scope
from tests.factories import NOW, World, adjustments, draw, opened_vial, reconstitute, refusal, reverse, start_treatment

HOUR = dt.timedelta(hours=1)
LOT = "C3709C3"


pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


def counter(world: World) -> User:
    return world.users["clinic_manager"]


def reviewer(world: World) -> User:
    return world.users["manager"]


def start(world: World, user: User | None = None, location: str = "Fridge") -> Count:
    user = user or counter(world)
    return counts.start_count(world.session, actor=user, scope=Scope.for_user(user),
                              location_id=world.location(location).id, now=NOW)


def add(world: World, count: Count, user: User | None = None, at: dt.datetime = NOW + HOUR, **spec: Any) -> Any:
    user = user or counter(world)
    if "counted" in spec and spec["counted"] is not None:
        spec["counted"] = Decimal(spec["counted"])
    return counts.add_line(world.session, actor=user, scope=Scope.for_user(user), count_id=count.id,
                           spec=LineSpec(**spec), now=at)


def submit(world: World, count: Count, user: User | None = None) -> Count:
    user = user or counter(world)
    return counts.submit(world.session, actor=user, scope=Scope.for_user(user), count_id=count.id, now=NOW + HOUR)


def post(world: World, count: Count, user: User | None = None, at: dt.datetime = NOW + 2 * HOUR) -> Count:
    user = user or reviewer(world)
    return counts.post(world.session, actor=user, scope=Scope.for_user(user), count_id=count.id, now=at)


# --- the sheet --------------------------------------------------------------------------------


def test_a_count_sheet_line_says_nothing_about_what_the_ledger_expects(world, session):
    vial = opened_vial(world, used="20")
    count = start(world)
    line = add(world, count, container=vial.label_code, counted="70")
    assert (line.counted, line.expected, line.variance) == (Decimal(70), None, None)
    assert line.containers_counted == 0  # an opened vial is counted by what is left, not as a container
    assert count.status is CountStatus.DRAFT and count.counted_by_id == counter(world).id


def test_a_scanned_label_without_a_quantity_is_a_sealed_full_container(world, session):
    sealed = world.container("botox", lot=LOT)
    count = start(world)
    line = add(world, count, code=sealed.label_code)
    assert (line.counted, line.containers_counted, line.scanned_code) == (Decimal(100), 1, sealed.label_code)


def test_scanning_a_box_code_counts_the_lots_sealed_containers(world, session):
    world.receive("botox", lot=LOT, containers=3)
    count = start(world)
    line = add(world, count, code=f"(01){world.botox.gtins[0].gtin}(17)270331(10){LOT}", containers=2)
    assert line.is_lot_line and line.lot.number == LOT
    assert (line.counted, line.containers_counted) == (Decimal(200), 2)


def test_a_lot_line_in_base_units_must_be_whole_containers(world, session):
    receipt = world.receive("botox", lot=LOT, containers=2)
    count = start(world)
    assert refusal(lambda: add(world, count, lot_id=receipt.lot.id, counted="150")).code == "validation_error"
    assert add(world, count, lot_id=receipt.lot.id, counted="200").containers_counted == 2


def test_scanning_the_same_container_again_replaces_its_line(world, session):
    vial = opened_vial(world, used="20")
    count = start(world)
    add(world, count, container=vial.label_code, counted="70")
    add(world, count, container=vial.label_code, counted="75")
    assert [line.counted for line in count.lines] == [Decimal(75)]


def test_a_container_recorded_elsewhere_is_refused(world, session):
    vial = world.container("botox", location=world.location("Cart"))
    count = start(world)
    error = refusal(lambda: add(world, count, container=vial.label_code, counted="100"))
    assert error.code == "container_elsewhere" and "Cart" in error.message


def test_more_than_a_container_holds_is_refused(world, session):
    vial = world.container("botox")
    count = start(world)
    assert refusal(lambda: add(world, count, container=vial.label_code, counted="101")).code == "validation_error"


def test_only_the_counter_fills_in_a_draft(world, session):
    vial = world.container("botox")
    count = start(world)
    assert refusal(lambda: add(world, count, user=reviewer(world), container=vial.label_code)).code == \
        "count_other_counter"


def test_an_empty_sheet_cannot_be_submitted(world, session):
    assert refusal(lambda: submit(world, start(world))).code == "count_empty"


def test_another_clinics_count_answers_as_missing(world, session):
    count = start(world)
    nyc_manager = world.nyc_manager()
    with pytest.raises(NotFound):
        counts.get_count(session, count.id, Scope.for_user(nyc_manager))


# --- posting --------------------------------------------------------------------------------------


def test_posting_writes_one_adjustment_per_differing_container(world, session):
    vial = opened_vial(world, used="20")  # 80 U left
    sealed = world.receive("botox", lot="BOX1", containers=3).containers  # counted by its box code
    scanned_full = world.container("botox", lot=LOT)  # lot LOT is counted by each label
    count = start(world)
    add(world, count, container=vial.label_code, counted="76")  # 4 U missing
    add(world, count, lot_id=sealed[0].lot_id, containers=2)  # one of three sealed vials missing
    add(world, count, code=scanned_full.label_code)  # as expected
    submit(world, count)

    posted = post(world, count)

    assert posted.status is CountStatus.POSTED
    assert (posted.counted_by_id, posted.approved_by_id) == (counter(world).id, reviewer(world).id)
    assert posted.posted_at == NOW + 2 * HOUR and posted.counted_at == NOW + HOUR
    moves = adjustments(session)
    assert [(m.container_id, m.quantity) for m in moves] == [(vial.id, Decimal(-4)), (sealed[2].id, Decimal(-100))]
    assert all(m.reason == "count" and m.note == f"count {count.id}" for m in moves)
    assert all(m.actor_id == reviewer(world).id for m in moves)
    by_line = {(line.container_id, line.lot_id): line for line in posted.lines}
    opened_line = by_line[(vial.id, vial.lot_id)]
    assert (opened_line.expected, opened_line.variance) == (Decimal(80), Decimal(-4))
    lot_line = by_line[(None, sealed[0].lot_id)]
    assert (lot_line.counted, lot_line.expected, lot_line.variance) == (Decimal(200), Decimal(300), Decimal(-100))
    assert (lot_line.containers_counted, lot_line.expected_containers) == (2, 3)
    assert by_line[(scanned_full.id, scanned_full.lot_id)].variance == 0
    session.refresh(sealed[2])
    assert (sealed[2].remaining, sealed[2].state) == (Decimal(0), ContainerState.EMPTY)
    assert vial.remaining == Decimal(76)
    assert sum(line.variance for line in posted.lines) == sum(m.quantity for m in moves)


def test_the_counter_may_not_post_their_own_count(world, session):
    vial = opened_vial(world)  # 86.5 U left
    count = start(world)
    add(world, count, container=vial.label_code, counted="90")
    submit(world, count)
    error = refusal(lambda: post(world, count, user=counter(world)))
    assert error.code == "counter_may_not_post" and "another manager" in error.message
    assert count.status is CountStatus.SUBMITTED and adjustments(session) == []


def test_an_admin_who_counted_may_not_post_either(world, session):
    admin = world.users["admin"]
    vial = opened_vial(world)
    count = start(world, user=admin)
    add(world, count, user=admin, container=vial.label_code, counted="90")
    submit(world, count, user=admin)
    assert refusal(lambda: post(world, count, user=admin)).code == "counter_may_not_post"
    assert post(world, count, user=reviewer(world)).approved_by_id == reviewer(world).id


def test_the_database_refuses_an_approver_who_counted(world, session):
    count = start(world)
    sneaky = update(Count).where(Count.id == count.id).values(
        status=CountStatus.POSTED, counted_at=NOW, approved_by_id=count.counted_by_id, posted_at=NOW)
    with pytest.raises(IntegrityError) as refused, session.begin_nested():
        session.execute(sneaky)
    assert "approver_is_not_counter" in str(refused.value)


def test_a_draft_cannot_be_posted(world, session):
    count = start(world)
    add(world, count, container=opened_vial(world).label_code, counted="80")
    assert refusal(lambda: post(world, count)).code == "count_not_submitted"


def test_a_posted_count_is_never_edited(world, session):
    vial = opened_vial(world)
    count = start(world)
    line = add(world, count, container=vial.label_code, counted="90")
    submit(world, count)
    post(world, count)
    scope = Scope.for_user(counter(world))
    attempts = {
        "add": lambda: add(world, count, container=vial.label_code, counted="80"),
        "remove": lambda: counts.remove_line(session, actor=counter(world), scope=scope, count_id=count.id,
                                             line_id=line.id),
        "submit": lambda: submit(world, count),
        "post again": lambda: post(world, count, user=world.users["admin"]),
        "reopen": lambda: counts.reopen(session, actor=reviewer(world), scope=Scope.for_user(reviewer(world)),
                                        count_id=count.id),
    }
    for name, attempt in attempts.items():
        assert refusal(attempt).code == "count_not_editable", name
    assert len(adjustments(session)) == 1 and vial.remaining == Decimal(90)


def test_a_later_count_follows_a_posted_one(world, session):
    vial = world.container("botox")
    first = start(world)
    add(world, first, container=vial.label_code, counted="0")  # not found
    submit(world, first)
    post(world, first)
    assert vial.state is ContainerState.EMPTY
    second = start(world)
    add(world, second, code=vial.label_code, at=NOW + 3 * HOUR)  # found again, sealed and full
    submit(world, second)
    post(world, second, at=NOW + 4 * HOUR)
    assert (vial.remaining, vial.state) == (Decimal(100), ContainerState.SEALED)
    assert [m.quantity for m in adjustments(session)] == [Decimal(-100), Decimal(100)]


def test_a_failure_while_posting_leaves_nothing_half_written(world, session, monkeypatch):
    first, second = opened_vial(world, ref="P-1"), opened_vial(world, ref="P-2")
    count = start(world)
    add(world, count, container=first.label_code, counted="10")
    add(world, count, container=second.label_code, counted="20")
    submit(world, count)
    movements_before = session.scalar(select(func.count(Movement.id)))
    real_record = ledger.record
    calls = []

    def record_then_fail(*args: Any, **kwargs: Any) -> Movement:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the disk is full")
        return real_record(*args, **kwargs)

    monkeypatch.setattr(ledger, "record", record_then_fail)
    with pytest.raises(RuntimeError):
        post(world, count)
    monkeypatch.undo()

    assert len(calls) == 2  # the first adjustment was written, then undone
    assert session.scalar(select(func.count(Movement.id))) == movements_before
    session.refresh(first)
    session.refresh(second)
    session.refresh(count)
    assert (first.remaining, second.remaining) == (Decimal("86.5"), Decimal("86.5"))
    assert count.status is CountStatus.SUBMITTED and count.approved_by_id is None
    assert all(line.expected is None for line in count.lines)
    post(world, count)  # and it posts cleanly afterwards
    assert [m.quantity for m in adjustments(session)] == [Decimal("-76.5"), Decimal("-66.5")]


def test_more_sealed_containers_than_the_ledger_holds_are_refused(world, session):
    receipt = world.receive("botox", lot=LOT, containers=2)
    count = start(world)
    add(world, count, lot_id=receipt.lot.id, containers=3)
    submit(world, count)
    # The review says it before Post is pressed, and what the reviewer can do: send the sheet back.
    (line,) = counts.results(session, count)
    assert line.refused is not None and "Send the count back to the counter" in line.refused
    assert "Nothing was adjusted" not in line.refused
    error = refusal(lambda: post(world, count))
    assert error.code == "count_surplus" and "Nothing was adjusted" in error.message
    assert "Send the count back to the counter to scan the labels of the extra ones" in error.message
    assert adjustments(session) == [] and count.status is CountStatus.SUBMITTED


def test_a_line_posting_would_accept_says_nothing_on_the_review(world, session):
    receipt = world.receive("botox", lot=LOT, containers=2)
    count = start(world)
    add(world, count, lot_id=receipt.lot.id, containers=2)
    submit(world, count)
    assert [line.refused for line in counts.results(session, count)] == [None]


def test_a_reviewer_sends_a_count_back_and_the_counter_corrects_it(world, session):
    receipt = world.receive("botox", lot=LOT, containers=2)
    count = start(world)
    add(world, count, lot_id=receipt.lot.id, containers=3)
    submit(world, count)
    scope = Scope.for_user(counter(world))
    assert refusal(lambda: counts.reopen(session, actor=counter(world), scope=scope, count_id=count.id)).code == \
        "counter_may_not_post"
    counts.reopen(session, actor=reviewer(world), scope=Scope.for_user(reviewer(world)), count_id=count.id)
    assert count.status is CountStatus.DRAFT and count.counted_at is None
    add(world, count, lot_id=receipt.lot.id, containers=2)
    submit(world, count)
    assert post(world, count).status is CountStatus.POSTED and adjustments(session) == []


def test_provisional_results_before_posting_and_captured_after(world, session):
    vial = opened_vial(world, used="20")
    count = start(world)
    add(world, count, container=vial.label_code, counted="70")
    submit(world, count)
    (before,) = counts.results(session, count)
    assert (before.expected, before.variance, before.is_provisional) == (Decimal(80), Decimal(-10), True)
    post(world, count)
    (after,) = counts.results(session, count)
    assert (after.expected, after.variance, after.is_provisional) == (Decimal(80), Decimal(-10), False)
    assert [m.quantity for m in counts.adjustments_of(session, count)] == [Decimal(-10)]


def test_create_submitted_is_the_whole_sheet_at_once(world, session):
    vial = opened_vial(world, used="20")
    receipt = world.receive("filler", lot="F1", containers=2)
    count = counts.create_submitted(
        session, actor=counter(world), scope=Scope.for_user(counter(world)), location_id=world.location().id,
        lines=[LineSpec(container=vial.label_code, counted=Decimal(80)),
               LineSpec(lot_id=receipt.lot.id, counted=Decimal("1.1"))],
        now=NOW,
    )
    assert count.status is CountStatus.SUBMITTED and len(count.lines) == 2
    twice = [LineSpec(container=vial.label_code, counted=Decimal(1)), LineSpec(container=str(vial.id),
                                                                                counted=Decimal(2))]
    error = refusal(lambda: counts.create_submitted(
        session, actor=counter(world), scope=Scope.for_user(counter(world)), location_id=world.location().id,
        lines=twice, now=NOW))
    assert error.code == "validation_error"


def test_not_on_sheet_lists_live_stock_the_count_did_not_cover(world, session):
    covered = world.receive("botox", lot=LOT, containers=2)
    other = world.container("dysport", lot="D1")
    vial = opened_vial(world, used="20")
    count = start(world)
    add(world, count, lot_id=covered.lot.id, containers=2)
    assert {c.id for c in counts.not_on_sheet(session, count)} == {other.id, vial.id}


def test_an_opened_vial_is_never_counted_full_for_a_blank_left(world, session):
    vial = opened_vial(world, used="20")
    count = start(world)
    with pytest.raises(DomainError) as refused:
        add(world, count, code=vial.label_code)  # "left" not filled in
    assert refused.value.code == "validation_error" and refused.value.details["field"] == "counted"
    assert "has been opened: type what is left" in refused.value.message
    assert count.lines == []
    line = add(world, count, code=vial.label_code, counted="80")
    assert line.counted == Decimal(80)


def test_a_box_code_whose_lot_swallowed_the_serial_is_not_counted(world, session):
    world.receive("botox", lot=LOT)
    count = start(world)
    gtin = world.botox.gtins[0].gtin
    with pytest.raises(DomainError) as refused:
        add(world, count, code=f"01{gtin}17270331" + f"10{LOT}21SN99", containers=1)
    assert refused.value.code == "separator_lost"


# --- what happened between counting and posting -----------------------------------------------------
# A count is compared with the ledger as it stood when each line was counted: a dose drawn, a vial opened or
# a box received between the counter's scan and the reviewer's posting is the ledger's own, never undone by
# the count nor taken for its variance.

LATER = NOW + HOUR + dt.timedelta(minutes=30)  # after the lines (NOW + 1 h), before the posting (NOW + 2 h)


def _vial_in_use(world: World) -> tuple[Any, Any]:
    """A reconstituted Botox vial with 20 U drawn at NOW (80 U left), and its treatment."""
    vial = world.container("botox")
    reconstitute(world, vial)
    treatment = start_treatment(world, "P-1")
    draw(world, treatment, vial, "20")
    return vial, treatment


def test_a_dose_drawn_after_the_count_is_not_undone_by_posting_it(world, session):
    vial, treatment = _vial_in_use(world)
    count = start(world)
    add(world, count, container=vial.label_code, counted="80")  # exactly right when counted
    submit(world, count)
    draw(world, treatment, vial, "20", at=LATER)  # 60 U left

    posted = post(world, count)

    assert adjustments(session) == []
    (line,) = posted.lines
    assert (line.counted, line.expected, line.variance) == (Decimal(80), Decimal(80), Decimal(0))
    session.refresh(vial)
    assert vial.remaining == Decimal(60)


def test_only_the_counts_own_difference_is_adjusted_after_a_later_draw(world, session):
    vial, treatment = _vial_in_use(world)
    count = start(world)
    add(world, count, container=vial.label_code, counted="76")  # 4 U short when counted
    submit(world, count)
    draw(world, treatment, vial, "20", at=LATER)

    posted = post(world, count)

    assert [(m.container_id, m.quantity) for m in adjustments(session)] == [(vial.id, Decimal(-4))]
    assert (posted.lines[0].expected, posted.lines[0].variance) == (Decimal(80), Decimal(-4))
    session.refresh(vial)
    assert vial.remaining == Decimal(56)


def test_a_count_the_later_use_cannot_fit_is_refused_and_changes_nothing(world, session):
    vial, treatment = _vial_in_use(world)
    count = start(world)
    add(world, count, container=vial.label_code, counted="10")  # 10 U counted, yet 20 U drawn afterwards
    submit(world, count)
    draw(world, treatment, vial, "20", at=LATER)

    error = refusal(lambda: post(world, count))

    assert error.code == "count_outdated" and "Nothing was adjusted" in error.message
    assert adjustments(session) == [] and count.status is CountStatus.SUBMITTED


def test_a_count_a_later_correction_made_good_already_is_refused_not_overfilled(world, session):
    vial = world.container("botox")
    reconstitute(world, vial)
    given = draw(world, start_treatment(world, "P-1"), vial, "20")  # 80 U left
    count = start(world)
    add(world, count, container=vial.label_code, counted="100")  # full, as the draw was never given
    submit(world, count)
    reverse(world, given.draw, at=LATER)  # the ledger corrects itself: 100 U again

    error = refusal(lambda: post(world, count))  # +20 more would make 120 U of a 100 U vial

    assert error.code == "count_outdated" and adjustments(session) == []


def test_a_sealed_vial_opened_after_the_count_still_counts_as_found(world, session):
    sealed = world.receive("botox", lot=LOT, containers=3).containers
    count = start(world)
    add(world, count, lot_id=sealed[0].lot_id, containers=3)
    submit(world, count)
    reconstitute(world, sealed[0], at=LATER)  # no longer sealed at posting

    posted = post(world, count)  # not count_surplus: three were there, sealed, when counted

    assert adjustments(session) == []
    (line,) = posted.lines
    assert (line.containers_counted, line.expected_containers, line.variance) == (3, 3, Decimal(0))


def test_one_sealed_vial_missing_while_another_was_opened_since_empties_an_untouched_one(world, session):
    sealed = world.receive("botox", lot=LOT, containers=3).containers
    count = start(world)
    add(world, count, lot_id=sealed[0].lot_id, containers=2)
    submit(world, count)
    reconstitute(world, sealed[2], at=LATER)  # the newest was taken out and used: it was there

    posted = post(world, count)

    assert [(m.container_id, m.quantity) for m in adjustments(session)] == [(sealed[1].id, Decimal(-100))]
    assert (posted.lines[0].expected_containers, posted.lines[0].variance) == (3, Decimal(-100))
    session.refresh(sealed[2])
    assert sealed[2].remaining == Decimal(100)


def test_a_box_received_after_the_count_is_not_taken_for_missing_stock(world, session):
    first = world.receive("botox", lot=LOT, containers=2).containers
    count = start(world)
    add(world, count, lot_id=first[0].lot_id, containers=2)
    submit(world, count)
    world.receive("botox", lot=LOT, containers=1, now=LATER)

    posted = post(world, count)

    assert adjustments(session) == []
    assert (posted.lines[0].containers_counted, posted.lines[0].expected_containers) == (2, 2)


def test_fewer_found_than_were_opened_since_is_refused(world, session):
    sealed = world.receive("botox", lot=LOT, containers=2).containers
    count = start(world)
    add(world, count, lot_id=sealed[0].lot_id, containers=0)
    submit(world, count)
    reconstitute(world, sealed[0], at=LATER)  # none found, yet one was opened here afterwards

    assert refusal(lambda: post(world, count)).code == "count_outdated"
    assert adjustments(session) == []


def test_a_container_elsewhere_in_another_clinic_names_that_clinic(world, session):
    nyc_vial = world.container("botox", location=world.location("Fridge", world.other_clinic))
    chain_manager = world.users["manager"]  # sees both clinics: the label is found, at the wrong place
    count = start(world, user=chain_manager)
    error = refusal(lambda: add(world, count, user=chain_manager, container=nyc_vial.label_code, counted="100"))
    assert error.code == "container_elsewhere"
    assert f"{world.other_clinic.name} · Fridge" in error.message


def test_a_sealed_powder_vial_is_counted_whole_or_missing_never_in_part(world, session):
    """QA: a sealed Botox vial counted as 50 U was posted "in use" at 50 U, never reconstituted; mixing it then
    reckoned 40 U/mL on a half vial. A powder vial not yet mixed holds all its powder or is gone."""
    vial = world.container("botox", lot=LOT)
    count = start(world)
    error = refusal(lambda: add(world, count, container=vial.label_code, counted="50"))
    assert error.code == "validation_error" and error.details["field"] == "counted"
    assert f"({vial.label_code}) is sealed powder: it holds its 100 U, or it is missing (0)" in error.message
    add(world, count, container=vial.label_code, counted="0")  # missing: a count may say so
    syringe = world.container("filler", lot="F1")  # sealed too: whole or missing, as powder is
    assert refusal(lambda: add(world, count, container=syringe.label_code, counted="0.3")).code == "validation_error"
    add(world, count, container=syringe.label_code, counted="0.55")
    opened = opened_vial(world, used="20")
    add(world, count, container=opened.label_code, counted="50")  # an opened vial: what is left, any amount
    assert {line.container_id: line.counted for line in count.lines} == {
        vial.id: Decimal(0), syringe.id: Decimal("0.55"), opened.id: Decimal(50)}
