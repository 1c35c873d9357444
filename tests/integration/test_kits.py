"""Emergency kits: readiness from the ledger, every reason and both sides of each boundary, checks, moves."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from inventory.errors import ContainerEmpty, LotQuarantined, NotFound, UnknownContainer, ValidationError
from inventory.models import ContainerState, LocationKind, LotStatus, Movement, MovementKind, ProductKind
from inventory.kits.models import KitCheck, KitRequirement, KitStatus
from inventory.services import ledger
from inventory.kits import service as kits
from inventory.transfers import moves as transfers
from inventory.services.clock import format_date
from inventory.kits.service import RequirementSpec
from inventory.services.permissions import Scope
from tests.factories import EVERYWHERE, NOW, draw, kit_location, make_product, refusal, start_treatment
from tests.kit_factories import (
    FAR,
    check,
    codes,
    days,
    emergency_draw,
    new_kit,
    state,
    stock,
    stocked_kit,
    template,
    texts,
)


# --- ready, short, and how requirements count -------------------------------------------


def test_a_stocked_and_checked_kit_is_ready(world):
    kit = stocked_kit(world)
    check(world, kit)
    found = state(world, kit)
    assert (found.status, found.reasons) == (KitStatus.READY, [])
    assert (found.name, found.location, found.clinic_code) == ("Emergency kit (room 1)", "Emergency kit (room 1)", "LON")
    assert found.last_check_at == NOW and found.last_checked_by == "nurse"


def test_a_short_requirement_says_what_the_kit_has_and_needs(world):
    kit = new_kit(world)
    stock(world, kit, "hylenex", count=1)
    stock(world, kit, "syringe", count=2, lot="SY2026")
    check(world, kit)
    found = state(world, kit)
    assert found.status is KitStatus.NOT_READY
    assert texts(found) == ["Hyaluronidase: 150 USP U of 300 USP U (Hylenex recombinant 150 USP U/mL)"]
    data = found.reasons[0].data
    assert (data["have"], data["need"], data["unit"], data["short_by"]) == ("150", "300", "USP U", "150")


def test_a_product_requirement_sums_the_lots_of_that_product(world):
    kit = new_kit(world)
    stock(world, kit, "hylenex", count=2)
    stock(world, kit, "syringe", lot="SY1")
    stock(world, kit, "syringe", lot="SY2")
    check(world, kit)
    assert state(world, kit).status is KitStatus.READY


def test_a_missing_product_counts_as_zero_in_its_own_unit(world):
    kit = new_kit(world)
    stock(world, kit, "hylenex", count=2)
    check(world, kit)
    assert texts(state(world, kit)) == ["Syringes 1 mL: 0 each of 2 each"]


def test_a_kind_requirement_with_nothing_inside_names_the_kind(world):
    kit = new_kit(world)
    stock(world, kit, "syringe", count=2, lot="SY2026")
    check(world, kit)
    assert texts(state(world, kit)) == ["Hyaluronidase: none that counts; needs 300 in one unit (IU and USP U each "
                                        "add up across products, any other unit only within its product)"]


def test_usp_units_of_different_products_add_up(world, session):
    """DOMAIN.md: USP units measure the same enzyme activity, so Hylenex and Amphadase vials add up."""
    world.products["amphadase"] = make_product(session, "Amphadase 150 USP U/mL")
    kit = new_kit(world)
    stock(world, kit, "hylenex")
    stock(world, kit, "amphadase", lot="AM1")
    stock(world, kit, "syringe", count=2, lot="SY2026")
    check(world, kit)
    found = state(world, kit)
    assert (found.status, found.reasons) == (KitStatus.READY, [])  # 150 + 150 USP U
    (line,) = [line for line in found.lines if line.label == "Hyaluronidase"]
    assert (line.have, line.product) == (Decimal(300), "Amphadase 150 USP U/mL + Hylenex recombinant 150 USP U/mL")


# --- what must not be inside --------------------------------------------------------------


@pytest.mark.parametrize("status", [LotStatus.QUARANTINED, LotStatus.RECALLED])
def test_a_quarantined_or_recalled_lot_inside_makes_the_kit_not_ready(world, status):
    kit = stocked_kit(world)
    (bad,) = stock(world, kit, "hylenex", lot="QX1")
    check(world, kit)
    assert state(world, kit).status is KitStatus.READY
    bad.lot.status = status
    world.session.flush()
    found = state(world, kit)
    assert found.status is KitStatus.NOT_READY
    assert texts(found) == [f"Contains {status.value} lot QX1 of Hylenex recombinant 150 USP U/mL: remove it"]
    assert codes(found) == [f"{status.value}_inside"]


def test_a_quarantined_lot_does_not_count_towards_a_requirement(world):
    kit = stocked_kit(world)
    check(world, kit)
    kits_lot = kits.contents(world.session, kit)[0].lot
    kits_lot.status = LotStatus.QUARANTINED
    world.session.flush()
    assert codes(state(world, kit)) == ["quarantined_inside", "requirement_short"]


def test_an_expired_lot_inside_makes_the_kit_not_ready_from_the_day_after_its_expiry(world):
    kit = stocked_kit(world)
    stock(world, kit, "syringe", lot="OLD1", expiry=days(0))
    check(world, kit)
    on_expiry_day = state(world, kit)
    assert on_expiry_day.status is KitStatus.EXPIRING_SOON  # usable through its day
    day_after = state(world, kit, NOW + dt.timedelta(days=1))
    assert "Contains expired lot OLD1 of Syringe 1 mL Luer-lock (expired 15 Jun 2026): remove it" in texts(day_after)
    assert day_after.status is KitStatus.NOT_READY


# --- boundaries --------------------------------------------------------------------------


@pytest.mark.parametrize(("expires_in", "counts"), [(30, True), (29, False)])
def test_stock_counts_only_with_at_least_the_minimum_days_to_expiry(world, expires_in, counts):
    kit = new_kit(world, hyaluronidase_days=30)
    stock(world, kit, "hylenex", count=2, expiry=days(expires_in))
    stock(world, kit, "syringe", count=2, lot="SY2026")
    check(world, kit)
    found = state(world, kit)
    if counts:
        assert found.status is KitStatus.EXPIRING_SOON
        assert "requirement_short" not in codes(found)
    else:
        assert found.status is KitStatus.NOT_READY
        assert texts(found) == [
            "Hyaluronidase: none that counts; needs 300 in one unit (IU and USP U each add up across products, "
            "any other unit only within its product); too close to expiry to "
            "count (needs 30 days): Hylenex recombinant 150 USP U/mL lot 2205123 expires in 29 days"
        ]


@pytest.mark.parametrize(("expires_in", "expected"), [(30, KitStatus.EXPIRING_SOON), (31, KitStatus.READY)])
def test_expiring_soon_when_counted_stock_expires_within_the_warning_days(world, expires_in, expected):
    kit = stocked_kit(world)
    stock(world, kit, "syringe", lot="SY-SHORT", expiry=days(expires_in))
    check(world, kit)
    found = state(world, kit)
    assert found.status is expected
    if expected is KitStatus.EXPIRING_SOON:
        assert texts(found) == [f"Syringe 1 mL Luer-lock lot SY-SHORT expires in 30 days ({format_date(days(30))})"]
        assert found.reasons[0].data | {"days": 30, "counts_until": days(30).isoformat()} == found.reasons[0].data


@pytest.mark.parametrize(("expires_in", "expected"), [(60, KitStatus.EXPIRING_SOON), (61, KitStatus.READY)])
def test_the_warning_runs_from_the_day_stock_stops_counting(world, expires_in, expected):
    kit = new_kit(world, hyaluronidase_days=30, warning_days=30)
    stock(world, kit, "hylenex", count=2, expiry=days(expires_in))
    stock(world, kit, "syringe", count=2, lot="SY2026")
    check(world, kit)
    found = state(world, kit)
    assert found.status is expected
    if expected is KitStatus.EXPIRING_SOON:
        assert texts(found) == [
            f"Hylenex recombinant 150 USP U/mL lot 2205123 expires in 60 days ({format_date(days(60))}); it counts for this "
            f"kit until {format_date(days(30))} (Hyaluronidase needs 30 days of shelf life)"
        ]


def test_a_short_dated_lot_of_another_usp_product_counts_and_warns(world, session):
    """It adds to the USP pool, so it counts; and what counts and expires soon turns the kit amber."""
    world.products["amphadase"] = make_product(session, "Amphadase 150 USP U/mL")
    kit = stocked_kit(world)
    stock(world, kit, "amphadase", lot="AM-SHORT", expiry=days(5))
    check(world, kit)
    found = state(world, kit)
    assert found.status is KitStatus.EXPIRING_SOON
    assert [r.data["lot"] for r in found.reasons] == ["AM-SHORT"]


@pytest.mark.parametrize(("checked_days_ago", "overdue"), [(7, False), (8, True)])
def test_a_check_holds_for_check_interval_days(world, checked_days_ago, overdue):
    kit = stocked_kit(world)
    # Late in the evening, London time: the interval counts calendar days in the clinic, not hours.
    check(world, kit, at=dt.datetime(2026, 6, 15 - checked_days_ago, 21, 30, tzinfo=dt.UTC))
    found = state(world, kit)
    if overdue:
        assert found.status is KitStatus.NOT_READY
        assert texts(found) == ["Last check 8 days ago; checked every 7 days"]
    else:
        assert (found.status, found.reasons) == (KitStatus.READY, [])


def test_a_kit_never_checked_is_not_ready(world):
    kit = stocked_kit(world)
    found = state(world, kit)
    assert found.status is KitStatus.NOT_READY and texts(found) == ["Never checked; checked every 7 days"]
    assert found.last_check_at is None


def test_today_is_the_clinics_date(world):
    """At 02:00 UTC on 16 June it is still 15 June in New York: stock expiring on the 15th still counts there."""
    late = dt.datetime(2026, 6, 16, 2, 0, tzinfo=dt.UTC)
    london = stocked_kit(world)
    new_york = new_kit(world, world.other_clinic)
    for kit in (london, new_york):
        stock(world, kit, "hylenex", lot="H-JUNE15", expiry=days(0), count=2)
        stock(world, kit, "syringe", count=2, lot="SY2026")
        check(world, kit, at=late)
    assert "expired_inside" in codes(state(world, london, late))
    assert codes(state(world, new_york, late)) == ["expiring"]
    assert state(world, new_york, late).reasons[0].text.startswith(
        "Hylenex recombinant 150 USP U/mL lot H-JUNE15 expires today")


# --- checks, seal and emergency use -----------------------------------------------------------


def test_a_broken_seal_makes_the_kit_not_ready_until_a_check_finds_it_sealed(world):
    kit = stocked_kit(world)
    broken = check(world, kit, seal_intact=False)
    assert broken.status is KitStatus.NOT_READY
    assert broken.reasons[0]["text"] == "Seal found broken at the last check on 15 Jun 2026: check the contents and reseal"
    assert codes(state(world, kit)) == ["seal_broken"]
    resealed = check(world, kit, at=NOW + dt.timedelta(hours=1))
    assert resealed.status is KitStatus.READY
    assert state(world, kit, NOW + dt.timedelta(hours=1)).status is KitStatus.READY
    assert codes(state(world, kit)) == ["seal_broken"]  # at NOW the reseal was not yet recorded


def test_emergency_use_makes_the_kit_not_ready_until_restocked_and_checked(world, session):
    kit = stocked_kit(world)
    check(world, kit)
    vial = next(c for c in kits.contents(session, kit) if c.product.name.startswith("Hylenex"))
    drawn_at = NOW + dt.timedelta(days=1)
    emergency_draw(world, vial, "150", at=drawn_at)
    found = state(world, kit, drawn_at)
    assert found.status is KitStatus.NOT_READY
    assert texts(found) == [
        "Used in an emergency on 16 Jun 2026: restock and check",
        "Hyaluronidase: 150 USP U of 300 USP U (Hylenex recombinant 150 USP U/mL)",
    ]
    assert vial.state is ContainerState.EMPTY

    later = drawn_at + dt.timedelta(hours=2)
    (fresh,) = world.receive("hylenex", lot="2205999", expiry=FAR, location=world.location("Fridge"), now=later).containers
    kits.add_to_kit(session, actor=world.users["nurse"], scope=EVERYWHERE, kit_id=kit.id,
                    container_ref=fresh.label_code, now=later)
    assert codes(state(world, kit, later)) == ["emergency_use"]  # restocked, not yet checked
    snapshot = check(world, kit, at=later + dt.timedelta(minutes=5))
    assert snapshot.status is KitStatus.READY and snapshot.reasons == []
    assert state(world, kit, later + dt.timedelta(minutes=5)).status is KitStatus.READY


def test_a_vial_opened_for_a_patient_does_not_count_and_is_named(world, session):
    """A single-dose Hylenex vial opened for one patient serves nobody else: the kit skips it, says so."""
    kit = stocked_kit(world)
    check(world, kit)
    vial = next(c for c in kits.contents(session, kit) if c.product.name.startswith("Hylenex"))
    draw(world, start_treatment(world), vial, "10", unit="USP U", area="other", area_detail="nasal ala")
    found = state(world, kit)
    assert found.status is KitStatus.NOT_READY
    (skipped,) = [r for r in found.reasons if r.code == "not_counted_inside"]
    assert skipped.text == (f"Hylenex recombinant 150 USP U/mL {vial.label_code} is opened for a patient: "
                            "it does not count; remove it")
    (line,) = [line for line in found.lines if line.label == "Hyaluronidase"]
    assert line.have == 150  # the other vial only


def test_a_reversed_emergency_draw_does_not_count_but_an_ordinary_draw_is_kit_use(world, session):
    kit = stocked_kit(world)
    stock(world, kit, "hylenex")
    check(world, kit)
    vial = kits.contents(session, kit)[0]
    mistake = emergency_draw(world, vial, "10", at=NOW + dt.timedelta(minutes=1))
    locked = ledger.lock_container(session, vial.id, EVERYWHERE)
    ledger.record(session, locked, kind=MovementKind.REVERSAL, quantity=Decimal(10), actor=world.users["nurse"],
                  at=NOW + dt.timedelta(minutes=2), reverses=mistake)
    session.flush()
    assert state(world, kit, NOW + dt.timedelta(minutes=2)).status is KitStatus.READY
    ledger.record(session, locked, kind=MovementKind.DRAW, quantity=Decimal(-10), actor=world.users["nurse"],
                  at=NOW + dt.timedelta(minutes=3), reason="treatment")
    session.flush()
    # Whatever its reason, a draw from a kit is kit use: restock and check (acceptance defect, kit 1).
    assert codes(state(world, kit, NOW + dt.timedelta(minutes=5))) == ["kit_used"]


def test_a_check_records_who_when_the_seal_and_the_status_it_found(world, session):
    kit = new_kit(world)
    stock(world, kit, "hylenex")
    result = kits.record_check(session, actor=world.users["safety"], scope=EVERYWHERE, kit_id=kit.id,
                               seal_intact=True, notes="  syringes missing  ", now=NOW)
    session.expire_all()
    stored = session.get(KitCheck, result.id)
    assert (stored.checked_by.username, stored.checked_at, stored.seal_intact, stored.notes) == (
        "safety", NOW, True, "syringes missing")
    assert stored.status is KitStatus.NOT_READY
    assert [r["code"] for r in stored.reasons] == ["requirement_short", "requirement_short"]
    assert stored.reasons[0]["data"]["have"] == "150"


def test_a_check_of_another_clinics_kit_is_not_found(world):
    kit = stocked_kit(world)
    with pytest.raises(NotFound):
        kits.record_check(world.session, actor=world.users["other_nurse"],
                          scope=Scope.for_user(world.users["other_nurse"]), kit_id=kit.id, seal_intact=True,
                          notes="", now=NOW)


# --- a board of kits stocked alike (their contents are judged once, each kit keeps its own answer) -----


def stocked_alike(world, kit) -> None:
    stock(world, kit, "hylenex", count=2)
    stock(world, kit, "syringe", count=2, lot="SY2026")


def test_kits_stocked_alike_keep_their_own_checks_and_seals(world):
    board_kits = [new_kit(world, name=f"Kit {n}") for n in range(4)]
    for kit in board_kits:
        stocked_alike(world, kit)
    check(world, board_kits[0])
    check(world, board_kits[1], seal_intact=False)
    check(world, board_kits[3], at=NOW - dt.timedelta(days=8))
    board = kits.readiness(world.session, scope=EVERYWHERE, now=NOW)
    assert [(found.name, codes(found)) for found in board] == [
        ("Kit 0", []), ("Kit 1", ["seal_broken"]), ("Kit 2", ["never_checked"]), ("Kit 3", ["check_overdue"]),
    ]
    assert [found.status for found in board] == [KitStatus.READY] + [KitStatus.NOT_READY] * 3
    assert all(found.lines == board[0].lines for found in board)
    board[0].lines.clear()
    board[1].reasons.clear()
    assert len(board[2].lines) == 2 and codes(board[2]) == ["never_checked"]  # each kit's lists are its own


def test_kits_stocked_alike_in_clinics_on_different_dates_are_judged_on_their_own_dates(world):
    """At 02:00 UTC on 16 June it is the 16th in London and still the 15th in New York: one board, two answers."""
    late = dt.datetime(2026, 6, 16, 2, 0, tzinfo=dt.UTC)
    london, new_york = new_kit(world), new_kit(world, world.other_clinic)
    for kit in (london, new_york):
        stock(world, kit, "hylenex", count=2, lot="H-JUNE15", expiry=days(0))
        stock(world, kit, "syringe", count=2, lot="SY2026")
        check(world, kit, at=late)
    board = {found.clinic_code: found for found in kits.readiness(world.session, scope=EVERYWHERE, now=late)}
    assert codes(board["LON"]) == ["expired_inside", "requirement_short"]
    assert codes(board["NYC"]) == ["expiring"]
    assert board["NYC"].reasons[0].text.startswith("Hylenex recombinant 150 USP U/mL lot H-JUNE15 expires today")


def test_kits_stocked_alike_are_judged_against_their_own_templates(world):
    vascular = new_kit(world)
    long_shelf = template(world, name="Long shelf-life kit", hyaluronidase_days=400)
    other = kits.create_kit(world.session, scope=EVERYWHERE, template_id=long_shelf.id, name="Long kit",
                            location_id=kit_location(world, name="Long kit").id)
    for kit in (vascular, other):
        stocked_alike(world, kit)
        check(world, kit)
    board = {found.name: found for found in kits.readiness(world.session, scope=EVERYWHERE, now=NOW)}
    assert codes(board["Emergency kit (room 1)"]) == []
    assert codes(board["Long kit"]) == ["requirement_short"]
    assert board["Long kit"].reasons[0].data["too_close_to_expiry"][0]["days"] == (FAR - days(0)).days


# --- scope and query count ------------------------------------------------------------


def test_readiness_lists_only_the_callers_clinics(world):
    stocked_kit(world)
    new_kit(world, world.other_clinic, name="NYC kit")
    everything = kits.readiness(world.session, scope=EVERYWHERE, now=NOW)
    assert [k.clinic_code for k in everything] == ["LON", "NYC"]
    mine = kits.readiness(world.session, scope=Scope.for_user(world.users["other_nurse"]), now=NOW)
    assert [k.name for k in mine] == ["NYC kit"]


def _statements_for_board(world, session, count: int, history: bool = False) -> int:
    for n in range(count):
        kit = new_kit(world, name=f"Kit {count}-{n}")
        stock(world, kit, "hylenex", count=2, lot=f"H{count}")
        stock(world, kit, "syringe", lot=f"S{count}")
        check(world, kit, seal_intact=n % 2 == 0)
        emergency_draw(world, kits.contents(session, kit)[0], "1", at=NOW + dt.timedelta(minutes=1))
    session.flush()
    statements: list[str] = []

    def count_statement(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", count_statement)
    try:
        board = kits.readiness(session, scope=EVERYWHERE, now=NOW + dt.timedelta(hours=1), history=history)
    finally:
        event.remove(engine, "before_cursor_execute", count_statement)
    assert len([k for k in board if k.name.startswith(f"Kit {count}-")]) == count
    return len(statements)


def test_the_board_costs_the_same_number_of_queries_for_2_or_20_kits(world, session):
    few = _statements_for_board(world, session, 2)
    many = _statements_for_board(world, session, 20)
    assert few == many <= 7


# --- a past moment: what had been recorded by then ------------------------------------------------

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


def past(world, kit, at: dt.datetime) -> kits.KitReadiness:
    (found,) = [k for k in kits.readiness_at(world.session, scope=EVERYWHERE, at=at, now=NOW + 30 * DAY)
                if k.kit_id == kit.id]
    return found


def test_a_past_moment_reads_the_last_check_at_or_before_it(world):
    kit = stocked_kit(world)
    check(world, kit, seal_intact=False)
    check(world, kit, at=NOW + 2 * DAY)
    for judged in (state(world, kit, NOW + DAY), past(world, kit, NOW + DAY)):
        assert codes(judged) == ["seal_broken"] and judged.last_check_at == NOW
    assert state(world, kit, NOW + 2 * DAY).status is KitStatus.READY

    unchecked = new_kit(world, name="Checked later")
    stock(world, unchecked, "hylenex", count=2)
    stock(world, unchecked, "syringe", count=2, lot="SY2026")
    check(world, unchecked, at=NOW + 2 * DAY)
    assert codes(past(world, unchecked, NOW + DAY)) == ["never_checked"]


def test_a_past_moment_sees_emergency_use_and_its_reversal_only_once_recorded(world, session):
    kit = stocked_kit(world)
    check(world, kit)
    vial = kits.contents(session, kit)[0]
    used = emergency_draw(world, vial, "150", at=NOW + 2 * HOUR)
    locked = ledger.lock_container(session, vial.id, EVERYWHERE)
    ledger.record(session, locked, kind=MovementKind.REVERSAL, quantity=Decimal(150), actor=world.users["nurse"],
                  at=NOW + 4 * HOUR, reverses=used)
    session.flush()
    assert state(world, kit, NOW + HOUR).status is KitStatus.READY  # not used yet
    assert codes(past(world, kit, NOW + HOUR)) == []
    # Used, not yet found a mistake: the vial was empty then, whatever the ledger holds now.
    assert codes(past(world, kit, NOW + 3 * HOUR)) == ["emergency_use", "requirement_short"]
    assert "emergency_use" in codes(state(world, kit, NOW + 3 * HOUR))
    assert codes(past(world, kit, NOW + 5 * HOUR)) == []


def test_a_past_moment_reads_the_contents_the_ledger_had_then(world, session):
    """Taken out, opened for a patient or added later: a past board counts the kit as it was."""
    kit = stocked_kit(world)
    check(world, kit)
    first, second = (c for c in kits.contents(session, kit) if c.product.name.startswith("Hylenex"))
    kits.remove_from_kit(session, actor=world.users["nurse"], scope=EVERYWHERE, kit_id=kit.id,
                         container_ref=first.label_code, to_location_id=world.location("Fridge").id, now=NOW + DAY)
    draw(world, start_treatment(world, at=NOW + 2 * DAY), second, "10", unit="USP U", area="other",
         area_detail="nasal ala", at=NOW + 2 * DAY)
    stock(world, kit, "syringe", lot="LATE1", now=NOW + 3 * DAY)
    check(world, kit, at=NOW + 3 * DAY)

    then = past(world, kit, NOW + HOUR)
    assert (then.status, then.reasons) == (KitStatus.READY, [])
    assert [(line.label, line.have) for line in then.lines] == [("Hyaluronidase", 300), ("Syringes 1 mL", 2)]
    assert codes(state(world, kit, NOW + HOUR)) == ["not_counted_inside", "requirement_short"]  # read as it is now

    one_out = past(world, kit, NOW + DAY + HOUR)
    assert [(line.label, line.have) for line in one_out.lines] == [("Hyaluronidase", 150), ("Syringes 1 mL", 2)]
    opened = past(world, kit, NOW + 2 * DAY + HOUR)
    assert codes(opened) == ["kit_used", "not_counted_inside", "requirement_short"]  # drawn since the check
    assert opened.reasons[1].data == {"label_code": second.label_code, "product": "Hylenex recombinant 150 USP U/mL",
                                      "why": "opened for a patient", "remaining": "140", "unit": "USP U"}
    assert [line.have for line in past(world, kit, NOW + 3 * DAY + HOUR).lines] == [0, 3]


def test_a_past_moment_reads_the_lot_status_and_holds_as_they_were_then(world, session):
    from inventory.cold_chain import service as cold_chain
    from recall import services as recalls

    kit = stocked_kit(world)
    (extra,) = stock(world, kit, "hylenex", lot="QX1")
    check(world, kit)
    safety = world.users["safety"]
    recalls.quarantine(session, actor=safety, lot_id=extra.lot_id, reason="supplier letter", now=NOW + DAY)
    recalls.release(session, actor=safety, lot_id=extra.lot_id, reason="cleared", now=NOW + 2 * DAY)
    kit.location.temperature_sensitive = True  # a kit kept in a fridge
    cold_chain.record_excursion(session, actor=world.users["manager"], scope=EVERYWHERE, location_id=kit.location_id,
                                started_at=NOW + 3 * DAY, ended_at=NOW + 3 * DAY + HOUR, min_c=Decimal(9),
                                max_c=Decimal(14), now=NOW + 3 * DAY + 2 * HOUR)
    cold_chain.release_hold(session, actor=safety, scope=EVERYWHERE, container_id=extra.id, reason="stable",
                            now=NOW + 4 * DAY)
    for other in kits.contents(session, kit):
        if other.is_on_hold:
            cold_chain.release_hold(session, actor=safety, scope=EVERYWHERE, container_id=other.id, reason="stable",
                                    now=NOW + 4 * DAY)
    check(world, kit, at=NOW + 3 * DAY)

    assert codes(past(world, kit, NOW + HOUR)) == []
    assert codes(past(world, kit, NOW + DAY + HOUR)) == ["quarantined_inside"]
    assert codes(state(world, kit, NOW + DAY + HOUR)) == []  # read as it is now: released since
    assert codes(past(world, kit, NOW + 2 * DAY + HOUR)) == []
    held = past(world, kit, NOW + 3 * DAY + 3 * HOUR)
    assert set(codes(held)) == {"on_hold_inside", "requirement_short"}
    assert extra.label_code in {r.data.get("label_code") for r in held.reasons}
    assert codes(past(world, kit, NOW + 4 * DAY + HOUR)) == []


def test_a_past_board_leaves_out_kits_created_after_it(world):
    stocked_kit(world)
    later = new_kit(world, name="New kit")
    later.created_at = NOW + DAY
    world.session.flush()
    names = [k.name for k in kits.readiness_at(world.session, scope=EVERYWHERE, at=NOW + HOUR, now=NOW + 2 * DAY)]
    assert names == ["Emergency kit (room 1)"]


def test_the_past_reading_of_the_present_is_the_live_board(world, session):
    """The ledger rebuilt at the last moment recorded says what the cached state says, reason for reason."""
    from inventory.cold_chain import service as cold_chain

    kit = stocked_kit(world)
    stock(world, kit, "syringe", lot="OLD1", expiry=days(3))
    (quarantined,) = stock(world, kit, "hylenex", lot="QX1")
    quarantined.lot.status = LotStatus.QUARANTINED
    check(world, kit, seal_intact=False)
    vial = next(c for c in kits.contents(session, kit) if c.lot.number == "2205123")
    draw(world, start_treatment(world), vial, "10", unit="USP U", area="other", area_detail="nasal ala")
    emergency_draw(world, next(c for c in kits.contents(session, kit) if c.lot.number == "2205123" and c is not vial),
                   "150", at=NOW + HOUR)
    fridge_kit = new_kit(world, name="Fridge kit")
    stock(world, fridge_kit, "hylenex", count=3)
    fridge_kit.location.temperature_sensitive = True
    cold_chain.record_excursion(session, actor=world.users["manager"], scope=EVERYWHERE,
                                location_id=fridge_kit.location_id, started_at=NOW, ended_at=NOW + HOUR,
                                min_c=Decimal(9), max_c=Decimal(14), now=NOW + 2 * HOUR)
    later = NOW + 5 * DAY
    live = kits.readiness(session, scope=EVERYWHERE, now=later)
    rebuilt = kits.readiness(session, scope=EVERYWHERE, now=later, history=True)
    assert [(k.status, k.reasons, k.lines) for k in rebuilt] == [(k.status, k.reasons, k.lines) for k in live]
    assert {"seal_broken", "quarantined_inside", "not_counted_inside", "emergency_use",
            "expired_inside"} <= set(codes(live[0])) and "on_hold_inside" in codes(live[1])


def test_a_moment_without_time_zone_is_each_clinics_own_time_and_never_one_to_come(world):
    london, new_york = stocked_kit(world), new_kit(world, world.other_clinic, name="NYC kit")
    stock(world, new_york, "hylenex", count=2)
    stock(world, new_york, "syringe", count=2, lot="SY2026")
    check(world, london, at=dt.datetime(2026, 6, 16, 7, 30, tzinfo=dt.UTC))  # 08:30 in London
    check(world, new_york, at=dt.datetime(2026, 6, 16, 12, 30, tzinfo=dt.UTC))  # 08:30 in New York

    def board(at, now=NOW + 30 * DAY):
        return [(k.clinic_code, k.status) for k in kits.readiness_at(world.session, scope=EVERYWHERE, at=at, now=now)]

    assert board(dt.datetime(2026, 6, 16, 9, 0)) == [("LON", KitStatus.READY), ("NYC", KitStatus.READY)]
    assert board(dt.datetime(2026, 6, 16, 9, 0, tzinfo=dt.UTC)) == [("LON", KitStatus.READY),
                                                                     ("NYC", KitStatus.NOT_READY)]
    # 12:00 UTC: already 13:00 in London, still 08:00 in New York.
    error = refusal(lambda: board(dt.datetime(2026, 6, 16, 9, 0), now=dt.datetime(2026, 6, 16, 12, 0, tzinfo=dt.UTC)))
    assert isinstance(error, ValidationError)
    assert error.message.startswith("2026-06-16T09:00:00 in America/New_York is still to come")
    assert board(dt.datetime(2026, 6, 16, 12, 0, tzinfo=dt.UTC), now=dt.datetime(2026, 6, 16, 12, 0, tzinfo=dt.UTC))


@pytest.mark.parametrize(("text", "moment"), [
    ("2026-06-15T08:00Z", dt.datetime(2026, 6, 15, 8, 0, tzinfo=dt.UTC)),
    (" 2026-06-15 08:00+02:00 ", dt.datetime(2026, 6, 15, 6, 0, tzinfo=dt.UTC)),
    ("2026-06-15", dt.datetime(2026, 6, 15)),
    ("next tuesday", None),
    ("2026-02-30", None),
    ("", None),
])
def test_a_moment_is_read_in_iso_8601(text, moment):
    if moment is None:
        assert isinstance(refusal(lambda: kits.parse_moment(text)), ValidationError)
    else:
        assert kits.parse_moment(text) == moment


def test_a_past_board_costs_the_same_number_of_queries_for_2_or_20_kits(world, session):
    few = _statements_for_board(world, session, 2, history=True)
    many = _statements_for_board(world, session, 20, history=True)
    assert few == many <= 8


# --- moving containers in and out: the ledger is the contents ------------------------------------


def test_moving_a_container_writes_a_balanced_pair_and_the_kit_contents_follow(world, session):
    kit = new_kit(world)
    fridge = world.location("Fridge")
    (vial,) = world.receive("hylenex", location=fridge).containers
    assert kits.contents(session, kit) == []
    moved = transfers.move_container(session, actor=world.users["nurse"], scope=EVERYWHERE, container_id=vial.id,
                                     to_location_id=kit.location_id, now=NOW, reason="kit restock")
    assert moved.location_id == kit.location_id and moved.state is ContainerState.SEALED
    assert moved.remaining == Decimal(150)
    assert [c.id for c in kits.contents(session, kit)] == [vial.id]
    pair = session.scalars(select(Movement).where(Movement.container_id == vial.id,
                                                  Movement.kind != MovementKind.RECEIVE).order_by(Movement.id)).all()
    assert [(m.kind, m.quantity, m.location_id, m.balance_after) for m in pair] == [
        (MovementKind.TRANSFER_OUT, Decimal(-150), fridge.id, Decimal(0)),
        (MovementKind.TRANSFER_IN, Decimal(150), kit.location_id, Decimal(150)),
    ]
    assert ledger.find_balance_mismatches(session) == []

    kits.remove_from_kit(session, actor=world.users["nurse"], scope=EVERYWHERE, kit_id=kit.id,
                         container_ref=vial.label_code, to_location_id=fridge.id, now=NOW)
    assert kits.contents(session, kit) == [] and vial.location_id == fridge.id
    assert ledger.find_balance_mismatches(session) == []


def test_an_opened_container_stays_opened_when_moved(world, session):
    kit = new_kit(world)
    (vial,) = world.receive("hylenex", location=world.location("Fridge")).containers
    locked = ledger.lock_container(session, vial.id, EVERYWHERE)
    ledger.record(session, locked, kind=MovementKind.DRAW, quantity=Decimal(-50), actor=world.users["nurse"], at=NOW)
    locked.state = ContainerState.IN_USE
    session.flush()
    kits.add_to_kit(session, actor=world.users["nurse"], scope=EVERYWHERE, kit_id=kit.id, container_ref=vial.id,
                    now=NOW)
    assert (vial.state, vial.remaining) == (ContainerState.IN_USE, Decimal(100))
    assert ledger.find_balance_mismatches(session) == []


def test_a_quarantined_lot_cannot_go_into_a_kit_but_can_come_out(world, session):
    kit = new_kit(world)
    (inside,) = stock(world, kit, "hylenex", lot="Q1")
    (outside,) = world.receive("hylenex", lot="Q1", location=world.location("Fridge")).containers
    inside.lot.status = LotStatus.QUARANTINED
    session.flush()
    with pytest.raises(LotQuarantined):
        kits.add_to_kit(session, actor=world.users["nurse"], scope=EVERYWHERE, kit_id=kit.id,
                        container_ref=outside.label_code, now=NOW)
    assert outside.location_id == world.location("Fridge").id
    kits.remove_from_kit(session, actor=world.users["nurse"], scope=EVERYWHERE, kit_id=kit.id,
                         container_ref=inside.label_code, to_location_id=world.location("Fridge").id, now=NOW)
    assert kits.contents(session, kit) == []
    assert ledger.find_balance_mismatches(session) == []


def test_a_vial_opened_for_a_patient_cannot_go_into_a_kit(world, session):
    """The kit is for whoever has the emergency next: a vial opened for one patient is refused on the way in."""
    kit = new_kit(world)
    (vial,) = world.receive("hylenex", lot="OPEN1", location=world.location("Fridge")).containers
    draw(world, start_treatment(world), vial, "10", unit="USP U", area="other", area_detail="nasal ala")
    error = refusal(lambda: kits.add_to_kit(session, actor=world.users["nurse"], scope=EVERYWHERE, kit_id=kit.id,
                                            container_ref=vial.label_code, now=NOW))
    assert error.code == "container_other_patient" and "cannot go into a kit" in error.message
    assert vial.location_id == world.location("Fridge").id and kits.contents(session, kit) == []


def test_moves_stay_inside_one_clinic_and_refuse_what_cannot_move(world, session):
    kit = new_kit(world)
    (vial,) = world.receive("hylenex", location=world.location("Fridge")).containers
    nyc_cart = world.location("Cart", world.other_clinic)
    with pytest.raises(transfers.OtherClinic):
        transfers.move_container(session, actor=world.users["manager"], scope=EVERYWHERE, container_id=vial.id,
                                 to_location_id=nyc_cart.id, now=NOW, reason="wrong")
    with pytest.raises(NotFound):  # a LON nurse cannot even see the NYC location
        transfers.move_container(session, actor=world.users["nurse"], scope=Scope.for_user(world.users["nurse"]),
                                 container_id=vial.id, to_location_id=nyc_cart.id, now=NOW, reason="wrong")
    nyc_kit = new_kit(world, world.other_clinic)
    with pytest.raises(UnknownContainer):  # nor a NYC nurse the LON vial
        kits.add_to_kit(session, actor=world.users["other_nurse"], scope=Scope.for_user(world.users["other_nurse"]),
                        kit_id=nyc_kit.id, container_ref=vial.label_code, now=NOW)
    with pytest.raises(transfers.AlreadyThere):
        transfers.move_container(session, actor=world.users["nurse"], scope=EVERYWHERE, container_id=vial.id,
                                 to_location_id=world.location("Fridge").id, now=NOW, reason="again")
    with pytest.raises(ValidationError):
        transfers.move_container(session, actor=world.users["nurse"], scope=EVERYWHERE, container_id=vial.id,
                                 to_location_id=kit.location_id, now=NOW, reason=" ")
    locked = ledger.lock_container(session, vial.id, EVERYWHERE)
    ledger.record(session, locked, kind=MovementKind.DRAW, quantity=Decimal(-150), actor=world.users["nurse"], at=NOW)
    with pytest.raises(ContainerEmpty):
        kits.add_to_kit(session, actor=world.users["nurse"], scope=EVERYWHERE, kit_id=kit.id, container_ref=vial.id,
                        now=NOW)
    with pytest.raises(kits.NotInKit):
        kits.remove_from_kit(session, actor=world.users["nurse"], scope=EVERYWHERE, kit_id=kit.id,
                             container_ref=vial.id, to_location_id=world.location("Cart").id, now=NOW)
    assert ledger.find_balance_mismatches(session) == []


# --- templates and kits -------------------------------------------------------------------


def test_a_requirement_names_a_product_or_a_kind_never_both(world, session):
    with pytest.raises(ValidationError):
        kits.create_template(session, name="Bad", requirements=[
            RequirementSpec("Both", Decimal(1), product_id=world.products["syringe"].id,
                            product_kind=ProductKind.SUPPLY)])
    with pytest.raises(ValidationError):
        kits.create_template(session, name="Bad", requirements=[RequirementSpec("Neither", Decimal(1))])
    tpl = template(world)
    with session.begin_nested(), pytest.raises(IntegrityError):  # the database says so too
        session.add(KitRequirement(template_id=tpl.id, label="Both", product_id=world.products["syringe"].id,
                                   product_kind=ProductKind.SUPPLY, min_quantity=Decimal(1)))
        session.flush()
    with pytest.raises(kits.DuplicateName):
        template(world)


def test_a_kit_goes_at_a_free_kit_location_or_a_new_one(world, session):
    tpl = template(world)
    with pytest.raises(kits.WrongLocationKind):
        kits.create_kit(session, scope=EVERYWHERE, template_id=tpl.id, name="Kit", location_id=world.location().id)
    location = kit_location(world, name="Kit shelf")
    assert kits.free_kit_locations(session, EVERYWHERE) == [location]
    kits.create_kit(session, scope=EVERYWHERE, template_id=tpl.id, name="Kit A", location_id=location.id)
    with pytest.raises(kits.KitLocationTaken):
        kits.create_kit(session, scope=EVERYWHERE, template_id=tpl.id, name="Kit B", location_id=location.id)
    created = kits.create_kit(session, scope=EVERYWHERE, template_id=tpl.id, name="Kit C", clinic_id=world.clinic.id)
    assert (created.location.name, created.location.kind, created.clinic_id) == ("Kit C", LocationKind.KIT,
                                                                                  world.clinic.id)
    with pytest.raises(NotFound):
        kits.create_kit(session, scope=Scope.for_user(world.users["nurse"]), template_id=tpl.id, name="Kit D",
                        clinic_id=world.other_clinic.id)
