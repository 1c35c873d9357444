"""Reconciliation arithmetic, checked against plain Python over every raw ledger row."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from inventory.errors import NotFound, ValidationError
from inventory.models import Draw, Location, LocationKind, Movement, MovementKind
from inventory.transfers import service as clinic_transfers
from inventory.reconciliation import service as reconciliation
from inventory.counts.service import LineSpec
from inventory.services.permissions import Scope
from inventory.reconciliation.service import Period
from tests.reconciliation_factories import JUNE, HistoryBuilder, build_history, recompute, recompute_usage
from tests.factories import reconstitute, send_transfer

UTC = dt.UTC
FIGURES = (
    "opening", "received", "drawn", "wasted", "adjusted", "transfers_in", "transfers_out", "returned", "closing",
    "movements", "sealed_opening", "sealed_closing", "in_transit_at_end",
)
COUNT_FIGURES = ("count_id", "counted", "expected_at_count", "sealed_counted", "sealed_expected_at_count")


pytestmark = pytest.mark.usefixtures("ledger_stays_balanced")


@pytest.fixture(params=["from the end", "from the start"])
def direction(request, monkeypatch):
    """Balances are worked back from today's or summed from the ledger's start, whichever end of the
    ledger is nearer the period (``_nearer_the_start``): both ways must give the same figures."""
    from_start = request.param == "from the start"
    monkeypatch.setattr(reconciliation, "_nearer_the_start", lambda *args: from_start)
    return request.param


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


def test_a_generated_history_matches_an_independent_recomputation(world, session, direction):
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


def test_the_edges_of_the_period_follow_each_clinics_time_zone(world, session, direction):
    build_history(world)
    rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)
    by_lot = {(row.lot.number, row.clinic.code, row.location.name): row for row in rec.rows}
    london_edge = by_lot[("EDGE-1", "LON", "Fridge")]
    assert london_edge.opening == Decimal(100)  # received at 23:59 on 31 May, London time
    assert london_edge.received == Decimal(100)  # received at 23:30 on 30 June; 1 July's session is outside
    # The vial may since have moved within New York (a random restock): add up its lot's rows.
    new_york = [row for row in rec.rows if row.lot.number == "NYC-EDGE"]
    assert [sum((getattr(row, figure) for row in new_york), Decimal(0))
            for figure in ("opening", "wasted", "expected_closing")] == [Decimal(100), Decimal(5), Decimal(95)]


def test_a_small_history_by_hand(world, session):
    b = HistoryBuilder(world)
    fridge, cart_place = world.location("Fridge"), world.location("Cart")
    day = lambda d, h=10: dt.datetime(2026, 6, d, h, tzinfo=UTC)  # noqa: E731
    vials = b.receive("botox", "A1", 3, fridge, dt.datetime(2026, 5, 20, 10, tzinfo=UTC))
    syringes = b.receive("filler", "F1", 2, cart_place, day(1))
    hylenex = b.receive("hylenex", "H1", 1, fridge, day(1))[0]

    nurse = world.users["nurse"]
    reconstitute(world, vials[0], at=day(2))
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


# --- the edges of the ledger around the period -----------------------------------------------------------


def test_containers_moved_reversed_and_received_across_the_edges_match_the_raw_rows(world, session, direction):
    b = HistoryBuilder(world)
    lon = world.clinic
    fridge, cart_place = world.location("Fridge"), world.location("Cart")
    manager = world.users["manager"]
    first = dt.datetime(2026, 5, 31, 23, tzinfo=UTC)  # midnight on 1 June in London
    may, july = dt.datetime(2026, 5, 20, 10, tzinfo=UTC), dt.datetime(2026, 7, 2, 10, tzinfo=UTC)

    def arrive(transfer, at: dt.datetime) -> None:
        clinic_transfers.receive(session, actor=manager, scope=Scope.everything(), transfer_id=transfer.id, now=at)

    sent = b.receive("botox", "T1", 4, fridge, may)
    # Its last movement before the period is a transfer out: in transit on 1 June, arrives inside June.
    arrive(send_transfer(world, [sent[0]], at=dt.datetime(2026, 5, 28, 10, tzinfo=UTC)), dt.datetime(2026, 6, 5, 10, tzinfo=UTC))
    # Sent inside June, arrives after it: in neither clinic's stock at the end of June.
    arrive(send_transfer(world, [sent[1]], at=dt.datetime(2026, 6, 29, 10, tzinfo=UTC)), july)
    # Sent before June and called back inside it.
    clinic_transfers.cancel(session, actor=manager, scope=Scope.everything(),
                            transfer_id=send_transfer(world, [sent[2]], at=dt.datetime(2026, 5, 29, 10, tzinfo=UTC)).id,
                            now=dt.datetime(2026, 6, 3, 10, tzinfo=UTC))
    # Moved at the very first moment of the period: the move belongs to June.
    b.move(sent[3], cart_place, first)

    # A draw before June reversed inside it, and a draw inside June reversed after it.
    def drawn_from(lot: str, day: dt.datetime, *doses: int) -> list[Movement]:
        vial = b.receive("dysport", lot, 1, fridge, may)[0]
        reconstitute(world, vial, at=day)
        treatment = b.treatment(lon, day + dt.timedelta(minutes=5))
        return [b.draw(treatment, vial, Decimal(dose), "U", day + dt.timedelta(minutes=10 + i))
                for i, dose in enumerate(doses)]

    b.reverse(drawn_from("D1", dt.datetime(2026, 5, 25, 9, tzinfo=UTC), 20, 15)[0],
              dt.datetime(2026, 6, 2, 10, tzinfo=UTC))
    b.reverse(drawn_from("D2", dt.datetime(2026, 6, 10, 9, tzinfo=UTC), 5)[0], july)
    # Reconstituted before June and never drawn from: full, but no longer sealed.
    mixed = b.receive("daxxify", "X1", 1, fridge, may)[0]
    reconstitute(world, mixed, at=dt.datetime(2026, 5, 26, 9, tzinfo=UTC))
    # Received inside June; and one held all of June but wasted after it (it holds nothing today).
    b.receive("hylenex", "H2", 2, cart_place, dt.datetime(2026, 6, 10, 10, tzinfo=UTC))
    b.waste(b.receive("hylenex", "H1", 1, fridge, may)[0], None, july)
    # A count of a lot where none of it is: the row is the count's alone.
    b.count(world.location("Room 1"), dt.datetime(2026, 6, 20, 10, tzinfo=UTC),
            [LineSpec(lot_id=sent[0].lot_id, containers=0)])

    rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)
    got = {(row.lot.id, row.location.id): as_dict(row) for row in rec.rows}
    expected = {key: normalised(values) for key, values in recompute(session, JUNE).items()}
    assert got == expected

    rows = {(row.lot.number, row.clinic.code, row.location.name): row for row in rec.rows}
    t1 = rows[("T1", "LON", "Fridge")]
    # Two of four in the fridge on 1 June (two on their way); one moved to the cart at that very moment,
    # one sent and one called back in June.
    assert (t1.opening, t1.transfers_out, t1.transfers_in, t1.closing) == \
        (Decimal(200), Decimal(200), Decimal(100), Decimal(100))
    assert (t1.sealed_opening, t1.sealed_closing) == (2, 1)
    assert t1.in_transit_at_end == Decimal(100)  # sent on 29 June, received in July: on the road at the end
    assert rows[("T1", "LON", "Cart")].sealed_closing == 1
    arrived = rows[("T1", "NYC", "Fridge")]
    assert (arrived.opening, arrived.transfers_in, arrived.closing, arrived.sealed_closing) == \
        (Decimal(0), Decimal(100), Decimal(100), 1)
    reversed_in_june, reversed_later = rows[("D1", "LON", "Fridge")], rows[("D2", "LON", "Fridge")]
    assert (reversed_in_june.opening, reversed_in_june.drawn, reversed_in_june.closing) == \
        (Decimal(265), Decimal(-20), Decimal(285))
    assert (reversed_later.opening, reversed_later.drawn, reversed_later.closing) == \
        (Decimal(300), Decimal(5), Decimal(295))
    assert (reversed_in_june.sealed_opening, reversed_later.sealed_opening, reversed_later.sealed_closing) == (0, 1, 0)
    assert rows[("X1", "LON", "Fridge")].sealed_opening == 0
    assert (rows[("H2", "LON", "Cart")].sealed_opening, rows[("H2", "LON", "Cart")].sealed_closing) == (0, 2)
    wasted_later = rows[("H1", "LON", "Fridge")]
    assert (wasted_later.opening, wasted_later.closing, wasted_later.sealed_closing) == (Decimal(150), Decimal(150), 1)
    counted_only = rows[("T1", "LON", "Room 1")]
    assert (counted_only.count_id is not None, counted_only.opening, counted_only.movements) == (True, 0, 0)


def test_rows_come_in_the_reports_order_across_clinics_text_compared_as_python_does(world, session):
    lon, nyc = world.clinic, world.other_clinic
    # "annex" sorts after "Back room" (and "a-lot" after "B-LOT") character by character, as Python compares
    # text, but before it in many databases' collations.
    annex, back = (Location(clinic_id=lon.id, name=name, kind=LocationKind.STORAGE) for name in ("annex", "Back room"))
    session.add_all([annex, back])
    session.flush()
    at = dt.datetime(2026, 6, 10, 10, tzinfo=UTC)
    for location in (annex, back, world.location("Fridge", nyc), world.location("Fridge")):
        world.receive("botox", lot="a-lot", containers=1, location=location, now=at)
        world.receive("botox", lot="B-LOT", containers=1, location=location, now=at)
    world.receive("filler", lot="F9", location=world.location("Cart", nyc), now=at)

    rec = reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE)
    order = [(row.product.name, row.lot.expiry, row.lot.number, row.clinic.code, row.location.name)
             for row in rec.rows]
    assert order == sorted(order)
    assert [(lot, clinic, place) for _, _, lot, clinic, place in order[:4]] == [
        ("B-LOT", "LON", "Back room"), ("B-LOT", "LON", "Fridge"), ("B-LOT", "LON", "annex"),
        ("B-LOT", "NYC", "Fridge")]
    streamed = list(reconciliation.reconciliation_lines(session, clinics=[nyc, lon], period=JUNE, chunk=1))
    assert [(line.lot_id, line.location_id) for line in streamed] == [(row.lot.id, row.location.id) for row in rec.rows]


def test_the_reconciliation_leaves_the_jit_setting_as_it_was(world, session):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("JIT is PostgreSQL's")
    world.receive("botox", now=dt.datetime(2026, 6, 10, tzinfo=UTC))
    before = session.scalar(text("SELECT current_setting('jit')"))
    assert reconciliation.reconcile(session, scope=Scope.everything(), period=JUNE).rows
    assert session.scalar(text("SELECT current_setting('jit')")) == before
