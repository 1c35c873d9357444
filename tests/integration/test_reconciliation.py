"""Reconciliation arithmetic, checked against plain Python over every raw ledger row."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from inventory.errors import NotFound, ValidationError
from inventory.models import Draw, Movement, MovementKind
from inventory.services import cart, ledger, reconciliation
from inventory.services.counts import LineSpec
from inventory.services.permissions import Scope
from inventory.services.reconciliation import Period
from tests.reconciliation_factories import JUNE, HistoryBuilder, build_history, recompute, recompute_usage

UTC = dt.UTC
FIGURES = (
    "opening", "received", "drawn", "wasted", "adjusted", "transfers_in", "transfers_out", "returned", "closing",
    "movements", "sealed_opening", "sealed_closing",
)
COUNT_FIGURES = ("count_id", "counted", "expected_at_count", "sealed_counted", "sealed_expected_at_count")


@pytest.fixture(autouse=True)
def ledger_stays_balanced(session):
    yield
    assert ledger.find_balance_mismatches(session) == []


def as_dict(row: reconciliation.ReconciliationRow) -> dict:
    values = {name: getattr(row, name) for name in FIGURES}
    if row.count_id is not None:
        values |= {name: getattr(row, name) for name in COUNT_FIGURES}
    values["product_id"] = row.product.id
    return values


def normalised(expected: dict) -> dict:
    values = {name: expected.get(name, Decimal(0)) for name in FIGURES}
    values["movements"] = int(values["movements"])
    values["sealed_opening"] = int(values["sealed_opening"])
    values["sealed_closing"] = int(values["sealed_closing"])
    if "count_id" in expected:
        values |= {name: expected[name] for name in COUNT_FIGURES}
    values["product_id"] = expected["product_id"]
    return values


def test_a_generated_history_matches_an_independent_recomputation(world, session):
    build_history(world)
    rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)

    got = {(row.lot.id, row.location.id): as_dict(row) for row in rec.rows}
    expected = {key: normalised(values) for key, values in recompute(session, JUNE).items()}
    assert got.keys() == expected.keys()
    differences = {key: (got[key], expected[key]) for key in got if got[key] != expected[key]}
    assert differences == {}
    for row in rec.rows:
        assert row.expected_closing == row.closing, row.lot.number  # the formula is the ledger's balance
        if row.count_id is not None:
            assert row.variance == row.counted - row.expected_at_count

    # The history really exercised what it claims to.
    kinds = set(session.scalars(select(Movement.kind).distinct()))
    assert {MovementKind.RECEIVE, MovementKind.RECONSTITUTE, MovementKind.DRAW, MovementKind.WASTE,
            MovementKind.ADJUST, MovementKind.TRANSFER_IN, MovementKind.TRANSFER_OUT, MovementKind.REVERSAL} <= kinds
    original = select(Movement.kind).where(Movement.id.in_(select(Movement.reverses_id)))
    assert set(session.scalars(original.distinct())) == {MovementKind.DRAW, MovementKind.WASTE}
    assert set(session.scalars(select(Draw.entered_unit).distinct())) >= {"U", "mL"}
    assert {row.clinic.code for row in rec.rows} == {"LON", "NYC"}
    assert len({row.product.id for row in rec.rows}) >= 5
    assert sum(1 for row in rec.rows if row.count_id is not None) >= 3
    assert any(row.drawn and row.product.base_unit == "mL" for row in rec.rows)


def test_the_edges_of_the_period_follow_each_clinics_time_zone(world, session):
    build_history(world)
    rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)
    by_lot = {(row.lot.number, row.clinic.code, row.location.name): row for row in rec.rows}
    london_edge = by_lot[("EDGE-1", "LON", "Fridge")]
    assert london_edge.opening == Decimal(100)  # received at 23:59 on 31 May, London time
    assert london_edge.received == Decimal(100)  # received at 23:30 on 30 June; 1 July's session is outside
    new_york = by_lot[("NYC-EDGE", "NYC", "Fridge")]
    assert (new_york.opening, new_york.wasted, new_york.expected_closing) == (Decimal(100), Decimal(5), Decimal(95))


def test_a_small_history_by_hand(world, session):
    b = HistoryBuilder(world)
    fridge, cart_place = world.location("Fridge"), world.location("Cart")
    day = lambda d, h=10: dt.datetime(2026, 6, d, h, tzinfo=UTC)  # noqa: E731
    vials = b.receive("botox", "A1", 3, fridge, dt.datetime(2026, 5, 20, 10, tzinfo=UTC))
    syringes = b.receive("filler", "F1", 2, cart_place, day(1))
    hylenex = b.receive("hylenex", "H1", 1, fridge, day(1))[0]

    nurse = world.users["nurse"]
    cart.reconstitute(session, actor=nurse, scope=Scope.for_user(nurse), container_id=vials[0].id,
                      diluent_ml=Decimal("2.5"), now=day(2))
    treatment = b.treatment(world.clinic, day(2))
    first = b.draw(treatment, vials[0], Decimal(10), "U", day(2, 11))
    b.draw(treatment, vials[0], Decimal("0.25"), "mL", day(2, 11))  # 10 U at 40 U/mL
    b.reverse(first, day(2, 12))
    b.close(treatment, day(2, 13))  # wastes the 90 U left: single-patient vial
    b.receive("botox", "A1", 2, fridge, day(3))
    b.move(vials[2], cart_place, day(4))
    b.count(fridge, day(5), [LineSpec(lot_id=vials[0].lot_id, containers=2)])  # vials[1], and the two new: 3 sealed
    filler_treatment = b.treatment(world.clinic, day(6))
    b.draw(filler_treatment, syringes[0], Decimal("0.3"), "mL", day(6))
    b.close(filler_treatment, day(6, 11))  # wastes 0.25 mL
    b.reverse(b.waste(hylenex, Decimal(30), day(7)), day(7, 11))
    b.waste(hylenex, Decimal(20), day(8))

    rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)
    rows = {(row.lot.number, row.location.name): row for row in rec.rows}
    botox_fridge = rows[("A1", "Fridge")]
    assert (botox_fridge.opening, botox_fridge.received, botox_fridge.drawn, botox_fridge.wasted) == \
        (Decimal(300), Decimal(200), Decimal(10), Decimal(90))
    assert (botox_fridge.adjusted, botox_fridge.transfers_in, botox_fridge.transfers_out) == \
        (Decimal(-100), Decimal(0), Decimal(100))
    assert botox_fridge.expected_closing == Decimal(200)
    assert (botox_fridge.counted, botox_fridge.expected_at_count, botox_fridge.variance) == \
        (Decimal(200), Decimal(300), Decimal(-100))
    assert (botox_fridge.sealed_opening, botox_fridge.sealed_closing) == (3, 2)
    assert (botox_fridge.sealed_counted, botox_fridge.sealed_expected_at_count, botox_fridge.sealed_variance) == \
        (2, 3, -1)
    botox_cart = rows[("A1", "Cart")]
    assert (botox_cart.opening, botox_cart.transfers_in, botox_cart.expected_closing, botox_cart.sealed_closing) == \
        (Decimal(0), Decimal(100), Decimal(100), 1)
    assert botox_cart.count_id is None and botox_cart.variance is None
    filler = rows[("F1", "Cart")]
    assert (filler.received, filler.drawn, filler.wasted, filler.expected_closing) == \
        (Decimal("1.1"), Decimal("0.3"), Decimal("0.25"), Decimal("0.55"))
    assert filler.unit == "mL"
    h = rows[("H1", "Fridge")]
    assert (h.received, h.wasted, h.expected_closing, h.unit) == (Decimal(150), Decimal(20), Decimal(130), "USP U")

    assert [u for u in reconciliation.usage(session, scope=Scope.everything(), period=JUNE)
            if u.product.id == world.botox.id] == [
        reconciliation.UsageRow("2026-06", world.botox, nurse, Decimal(10))
    ]


def test_rows_and_totals_never_add_units_of_different_products(world, session):
    build_history(world)
    rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)
    groups = rec.by_product()
    assert len(groups) == len({row.product.id for row in rec.rows})
    for group in groups:
        assert {row.product.id for row in group.rows} == {group.product.id}
        assert group.total("drawn") == sum(row.drawn for row in rec.rows if row.product.id == group.product.id)


def test_a_location_or_a_clinic_managers_clinics_only(world, session):
    build_history(world)
    fridge = world.location("Fridge")
    one_place = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE, location_id=fridge.id)
    assert one_place.rows and {row.location.id for row in one_place.rows} == {fridge.id}
    everywhere = recompute(session, JUNE)
    for row in one_place.rows:
        assert row.expected_closing == everywhere[(row.lot.id, fridge.id)]["closing"]

    london_manager = Scope.for_user(world.users["clinic_manager"])
    theirs = reconciliation.reconcile(session, scope=london_manager, period=JUNE)
    assert {row.clinic.code for row in theirs.rows} == {"LON"}
    assert len(theirs.rows) == len(recompute(session, JUNE, clinic_ids={world.clinic.id}))
    with pytest.raises(NotFound):
        reconciliation.reconcile(session, scope=london_manager, period=JUNE,
                                 location_id=world.location("Fridge", world.other_clinic).id)


def test_usage_per_month_product_and_injector_matches_the_raw_rows(world, session):
    build_history(world)
    may_to_july = Period(dt.date(2026, 5, 15), dt.date(2026, 7, 3))
    rows = reconciliation.usage(session, scope=Scope.everything(), period=may_to_july)
    got = {(r.month, r.product.id, r.injector.id): r.quantity for r in rows}
    expected = {key: q for key, q in recompute_usage(session, may_to_july).items()}
    assert got == expected
    assert {r.month for r in rows} == {"2026-05", "2026-06", "2026-07"}
    assert {r.injector.username for r in rows} == {"nurse", "nyc-nurse"}  # reversals count against the injector


def test_usage_per_product_adds_up_to_drawn(world, session):
    build_history(world)
    rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)
    used: dict[int, Decimal] = {}
    for row in reconciliation.usage(session, scope=Scope.everything(), period=JUNE):
        used[row.product.id] = used.get(row.product.id, Decimal(0)) + row.quantity
    drawn = {group.product.id: group.total("drawn") for group in rec.by_product() if group.total("drawn")}
    assert used == drawn


def test_a_period_must_be_given_in_order_and_not_too_long(world):
    with pytest.raises(ValidationError):
        Period.of(None, dt.date(2026, 6, 1))
    with pytest.raises(ValidationError):
        Period.of(dt.date(2026, 6, 2), dt.date(2026, 6, 1))
    with pytest.raises(ValidationError):
        Period.of(dt.date(2020, 1, 1), dt.date(2026, 1, 1))
    assert Period.of(dt.date(2026, 6, 1), dt.date(2026, 6, 1)).bounds("Europe/London") == (
        dt.datetime(2026, 5, 31, 23, tzinfo=UTC), dt.datetime(2026, 6, 1, 23, tzinfo=UTC))


def test_an_empty_period_has_no_rows(world, session):
    assert reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE).rows == []
    assert session.scalar(select(func.count(Movement.id))) == 0
