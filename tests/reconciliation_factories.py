"""A ledger history for reconciliation tests, built only through the real services.

Receipts, reconstitutions, draws in U and in mL, wastes, reversed draws and wastes,
transfers, posted counts, over several products, two clinics in different time zones
and the edges of the period. Random but seeded: the same seed builds the same history.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select

from inventory.models import (
    Clinic,
    Container,
    ContainerState,
    Location,
    Movement,
    MovementKind,
    Product,
    Treatment,
    User,
)
from inventory.counts.models import Count, CountStatus
from inventory.transfers.models import TransferItem
from inventory.counts import service as counts
from inventory.transfers import moves as transfers
from inventory.transfers import service as clinic_transfers
from inventory.counts.service import LineSpec
from inventory.services.permissions import Scope
from inventory.reconciliation.service import Period
from inventory.dosing import CONFIRMABLE
from tests import factories
from tests.factories import World, send_transfer

UTC = dt.UTC
JUNE = Period(dt.date(2026, 6, 1), dt.date(2026, 6, 30))
MINUTE = dt.timedelta(minutes=1)


@dataclass
class HistoryBuilder:
    world: World
    seed: int = 7
    rng: random.Random = field(init=False)
    patients: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.session = self.world.session

    # --- who -------------------------------------------------------------------------------

    def nurse(self, clinic: Clinic) -> User:
        return self.world.users["nurse" if clinic.id == self.world.clinic.id else "other_nurse"]

    def counter_and_approver(self, clinic: Clinic) -> tuple[User, User]:
        if clinic.id == self.world.clinic.id:
            return self.world.users["clinic_manager"], self.world.users["manager"]
        return self.world.users["manager"], self.world.users["admin"]

    # --- operations ------------------------------------------------------------------------

    def receive(self, product: str, lot: str, n: int, location: Location, at: dt.datetime) -> list[Container]:
        return list(self.world.receive(product, lot=lot, containers=n, location=location, now=at).containers)

    def treatment(self, clinic: Clinic, at: dt.datetime) -> Treatment:
        self.patients += 1
        who = factories.patient(self.world, f"P-{self.patients:04d}", clinic=clinic, name=f"Patient {self.patients}")
        return factories.start_treatment(self.world, who, user=self.nurse(clinic), at=at)

    def draw(self, treatment, container: Container, quantity: Decimal, unit: str, at: dt.datetime,
             nurse: User | None = None) -> Movement:
        nurse = nurse or self.nurse(container.clinic)
        # A history is what clinics did: a dose above a label limit was confirmed by its prescriber.
        result = factories.draw(self.world, treatment, container, quantity, unit, user=nurse, at=at,
                                confirm=sorted(CONFIRMABLE), confirm_reason="confirmed by the prescriber")
        return self.session.get(Movement, result.draw.movement_id)

    def reverse(self, movement: Movement, at: dt.datetime, actor: User | None = None) -> Movement:
        actor = actor or self.world.users["manager"]  # not the injector: usage stays the injector's
        return factories.reverse(self.world, movement, "entered by mistake", user=actor, at=at,
                                 scope=Scope.everything())

    def close(self, treatment, at: dt.datetime) -> None:
        factories.close_treatment(self.world, treatment, user=self.nurse(treatment.location.clinic), at=at)

    def waste(self, container: Container, quantity: Decimal | None, at: dt.datetime, note: str | None = None,
              reason: str = "contaminated") -> Movement:
        return factories.waste(self.world, container, reason, quantity=quantity, user=self.nurse(container.clinic),
                               at=at, note=note)

    def move(self, container: Container, to: Location, at: dt.datetime) -> None:
        transfers.move_container(self.session, actor=self.world.users["manager"], scope=Scope.everything(),
                                 container_id=container.id, to_location_id=to.id, now=at, reason="restock")

    def count(self, location: Location, at: dt.datetime, lines: list[LineSpec]) -> Count:
        counter, approver = self.counter_and_approver(location.clinic)
        count = counts.create_submitted(self.session, actor=counter, scope=Scope.for_user(counter),
                                        location_id=location.id, lines=lines, now=at)
        return counts.post(self.session, actor=approver, scope=Scope.for_user(approver), count_id=count.id,
                           now=at + 30 * MINUTE)

    # --- composite sessions ----------------------------------------------------------------------

    def live(self, clinic: Clinic, product: str, state: ContainerState | None = None) -> list[Container]:
        stmt = (
            select(Container)
            .where(Container.clinic_id == clinic.id, Container.product_id == self.world.products[product].id,
                   Container.state.in_((ContainerState.SEALED, ContainerState.IN_USE)), Container.remaining > 0)
            .order_by(Container.id)
        )
        if state is not None:
            stmt = stmt.where(Container.state == state)
        return list(self.session.scalars(stmt))

    def toxin_session(self, clinic: Clinic, product: str, at: dt.datetime) -> None:
        sealed = self.live(clinic, product, ContainerState.SEALED)
        if not sealed:
            fridge = next(loc for loc in clinic.locations if loc.name == "Fridge")
            sealed = self.receive(product, f"{product[:3].upper()}-R{self.patients}", 2, fridge, at - MINUTE)
        vial = self.rng.choice(sealed)
        factories.reconstitute(self.world, vial, user=self.nurse(clinic), at=at)
        treatment = self.treatment(clinic, at)
        draws = []
        for i in range(self.rng.randint(1, 3)):
            if self.rng.random() < 0.5:
                draws.append(self.draw(treatment, vial, Decimal(self.rng.randint(2, 20)), "U", at + (i + 1) * MINUTE))
            else:
                ml = Decimal(self.rng.choice(["0.05", "0.1", "0.15", "0.25"]))
                draws.append(self.draw(treatment, vial, ml, "mL", at + (i + 1) * MINUTE))
        if self.rng.random() < 0.35:
            self.reverse(self.rng.choice(draws), at + 10 * MINUTE)
        self.close(treatment, at + 20 * MINUTE)

    def filler_session(self, clinic: Clinic, at: dt.datetime) -> None:
        sealed = self.live(clinic, "filler", ContainerState.SEALED)
        if not sealed:
            cart_place = next(loc for loc in clinic.locations if loc.name == "Cart")
            sealed = self.receive("filler", f"FIL-R{self.patients}", 3, cart_place, at - MINUTE)
        syringe = sealed[0]
        treatment = self.treatment(clinic, at)
        draw = self.draw(treatment, syringe, Decimal(self.rng.choice(["0.1", "0.2", "0.25", "0.3"])), "mL",
                         at + MINUTE)
        if self.rng.random() < 0.25:
            self.reverse(draw, at + 2 * MINUTE)
        self.close(treatment, at + 5 * MINUTE)

    def hylenex_use(self, clinic: Clinic, at: dt.datetime) -> None:
        live = self.live(clinic, "hylenex")
        if not live:
            fridge = next(loc for loc in clinic.locations if loc.name == "Fridge")
            live = self.receive("hylenex", f"HYL-R{self.patients}", 2, fridge, at - MINUTE)
        vial = live[0]
        if self.rng.random() < 0.5 and vial.remaining >= 20:
            treatment = self.treatment(clinic, at)
            unit = self.rng.choice(["USP U", "mL"])
            quantity = Decimal(self.rng.randint(5, 15)) if unit == "USP U" else Decimal("0.1")
            self.draw(treatment, vial, quantity, unit, at + MINUTE)
            self.close(treatment, at + 2 * MINUTE)
        else:
            amount = min(vial.remaining, Decimal(self.rng.randint(5, 30)))
            waste = self.waste(vial, amount, at)
            if self.rng.random() < 0.4:
                self.reverse(waste, at + 5 * MINUTE)

    def transfer(self, clinic: Clinic, at: dt.datetime) -> None:
        fridge, cart_place = (next(loc for loc in clinic.locations if loc.name == n) for n in ("Fridge", "Cart"))
        live = [c for c in self.live(clinic, self.rng.choice(["botox", "dysport", "hylenex", "filler"]))]
        if live:
            container = self.rng.choice(live)
            self.move(container, cart_place if container.location_id == fridge.id else fridge, at)

    def random_count(self, clinic: Clinic, at: dt.datetime) -> None:
        location = self.rng.choice([loc for loc in clinic.locations if loc.name in ("Fridge", "Cart")])
        here = [c for c in self.session.scalars(
            select(Container).where(Container.location_id == location.id,
                                    Container.state.in_((ContainerState.SEALED, ContainerState.IN_USE)))
            .order_by(Container.id))]
        lines: list[LineSpec] = []
        sealed_by_lot: dict[int, list[Container]] = defaultdict(list)
        for c in here:
            if c.state is ContainerState.SEALED:
                sealed_by_lot[c.lot_id].append(c)
            elif self.rng.random() < 0.8:
                short = min(c.remaining, Decimal(self.rng.choice([0, 0, 1, 2, 5])))
                lines.append(LineSpec(container=c.label_code, counted=c.remaining - short))
        for lot_id, sealed in sealed_by_lot.items():
            if self.rng.random() < 0.7:
                lines.append(LineSpec(lot_id=lot_id, containers=len(sealed) - self.rng.choice([0, 0, 1])))
        if lines:
            self.count(location, at, lines)


def build_history(world: World, seed: int = 7) -> HistoryBuilder:
    """Stock before June, a busy June with both period edges, and July after it."""
    b = HistoryBuilder(world, seed)
    lon, nyc = world.clinic, world.other_clinic
    fridge, cart_place = world.location("Fridge"), world.location("Cart")
    nyc_fridge = world.location("Fridge", nyc)
    start = dt.datetime(2026, 5, 18, 8, 0, tzinfo=UTC)
    b.receive("botox", "C3709C3", 6, fridge, start)
    b.receive("dysport", "D4410", 3, fridge, start + MINUTE)
    b.receive("filler", "VB123A", 6, cart_place, start + 2 * MINUTE)
    b.receive("hylenex", "2205123", 3, fridge, start + 3 * MINUTE)
    b.receive("botox", "C3709C3", 4, nyc_fridge, start + 4 * MINUTE)  # the same lot in another clinic
    b.receive("daxxify", "DX1", 2, fridge, start + 5 * MINUTE)

    operations = [
        lambda c, t: b.toxin_session(c, b.rng.choice(["botox", "dysport", "daxxify"]), t),
        lambda c, t: b.filler_session(c, t),
        lambda c, t: b.hylenex_use(c, t),
        lambda c, t: b.transfer(c, t),
        lambda c, t: b.receive(b.rng.choice(["botox", "filler", "hylenex"]), "LATE-1", b.rng.randint(1, 3),
                               b.rng.choice([loc for loc in c.locations if loc.name in ("Fridge", "Cart")]), t),
    ]
    def may_31() -> None:  # London is UTC+1 in summer
        b.receive("daxxify", "EDGE-1", 1, fridge, dt.datetime(2026, 5, 31, 22, 59, tzinfo=UTC))  # 23:59, 31 May
        hylenex = b.live(lon, "hylenex") or b.receive("hylenex", "EDGE-H", 1, fridge,
                                                      dt.datetime(2026, 5, 31, 23, 0, tzinfo=UTC))
        # 00:30 on 1 June, with a note that looks like a formula
        b.waste(hylenex[0], Decimal("1"), dt.datetime(2026, 5, 31, 23, 30, tzinfo=UTC), note="=1+1 dropped, @once")

    def june_1() -> None:  # New York is UTC-4 in summer
        vial = b.receive("botox", "NYC-EDGE", 1, nyc_fridge, dt.datetime(2026, 6, 1, 3, 30, tzinfo=UTC))[0]  # 31 May
        # Mixed first: sealed powder is wasted whole, never in part.
        factories.reconstitute(b.world, vial, user=b.nurse(vial.clinic), at=dt.datetime(2026, 6, 1, 4, 0, tzinfo=UTC))
        b.waste(vial, Decimal("5"), dt.datetime(2026, 6, 1, 4, 30, tzinfo=UTC))  # 00:30 on 1 June

    def june_30() -> None:
        b.random_count(lon, dt.datetime(2026, 6, 30, 21, 0, tzinfo=UTC))
        b.receive("daxxify", "EDGE-1", 1, fridge, dt.datetime(2026, 6, 30, 22, 30, tzinfo=UTC))  # 23:30, 30 June
        b.toxin_session(lon, "daxxify", dt.datetime(2026, 6, 30, 23, 30, tzinfo=UTC))  # 00:30 on 1 July: outside

    edges = {dt.date(2026, 5, 31): may_31, dt.date(2026, 6, 1): june_1, dt.date(2026, 6, 30): june_30}
    day = start
    while day < dt.datetime(2026, 7, 4, tzinfo=UTC):
        day += dt.timedelta(days=1)
        hours = sorted(b.rng.sample(range(0, 21), 3))
        for hour in hours:
            at = day.replace(hour=hour, minute=b.rng.randint(0, 20))
            clinic = lon if b.rng.random() < 0.75 else nyc
            if clinic is nyc and b.rng.random() < 0.5:
                b.toxin_session(nyc, "botox", at)
            else:
                b.rng.choice(operations)(clinic, at)
        if day.date() in edges:
            edges[day.date()]()
        elif b.rng.random() < 0.12:
            b.random_count(lon if b.rng.random() < 0.8 else nyc, day.replace(hour=23, minute=30))
    world.session.flush()
    return b


# --- consignments between clinics around the end of June ------------------------------------------------


def consignments(world: World) -> dict[str, Decimal]:
    """Stock sent between London (UTC+1 in summer) and New York (UTC-4) around June's edges.

    Returns what each (lot, clinic) row should show as in transit at the end of June.
    """
    session = world.session
    manager = world.users["manager"]
    lon_fridge, nyc_fridge = world.location("Fridge"), world.location("Fridge", world.other_clinic)
    may = dt.datetime(2026, 5, 20, 10, tzinfo=UTC)

    def at(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime(2026, month, day, hour, minute, tzinfo=UTC)

    def received(transfer, when: dt.datetime) -> None:
        clinic_transfers.receive(session, actor=manager, scope=Scope.everything(), transfer_id=transfer.id, now=when)

    def called_back(transfer, when: dt.datetime) -> None:
        clinic_transfers.cancel(session, actor=manager, scope=Scope.everything(), transfer_id=transfer.id, now=when)

    r1 = world.receive("botox", lot="R1", containers=4, location=lon_fridge, now=may).containers
    received(send_transfer(world, [r1[0]], at=at(6, 10, 10)), at(6, 12, 10))  # arrived inside June
    received(send_transfer(world, [r1[1]], at=at(6, 29, 10)), at(7, 2, 10))  # arrived in July
    send_transfer(world, [r1[2]], at=at(6, 30, 22, 30))  # 23:30 on 30 June in London: on the road
    send_transfer(world, [r1[3]], at=at(6, 30, 23))  # midnight: 1 July in London, after the period

    r2 = world.receive("dysport", lot="R2", containers=2, location=lon_fridge, now=may).containers
    send_transfer(world, [r2[0]], at=at(5, 25, 10))  # sent in May, still on the road: no June movement
    called_back(send_transfer(world, [r2[1]], at=at(6, 20, 10)), at(6, 30, 23, 30))  # back at 00:30 on 1 July

    r3 = world.receive("filler", lot="R3", containers=1, location=lon_fridge, now=may).containers
    called_back(send_transfer(world, [r3[0]], at=at(6, 5, 10)), at(6, 6, 10))  # back inside June

    n1 = world.receive("botox", lot="N1", containers=2, location=nyc_fridge, now=may).containers
    lon = world.location("Fridge")
    # 22:00 on 30 June in New York (already 1 July in UTC and in London): on the road at New York's end.
    send_transfer(world, [n1[0]], to=lon, at=at(7, 1, 2))
    # Received at 23:00 on 30 June New York time (04:00 on 1 July in London): arrived by New York's end.
    received(send_transfer(world, [n1[1]], to=lon, at=at(6, 30, 12)), at(7, 1, 3))
    session.flush()
    return {"R1 LON": Decimal(200), "R2 LON": Decimal(600), "R3 LON": Decimal(0), "N1 NYC": Decimal(100),
            "R1 NYC": Decimal(0)}


# --- an independent recomputation: plain Python over every ledger row ---------------------------------

_NAMES = {
    MovementKind.RECEIVE: ("received", 1), MovementKind.DRAW: ("drawn", -1), MovementKind.WASTE: ("wasted", -1),
    MovementKind.ADJUST: ("adjusted", 1), MovementKind.TRANSFER_IN: ("transfers_in", 1),
    MovementKind.TRANSFER_OUT: ("transfers_out", -1), MovementKind.RETURN: ("returned", -1),
}


def local_date(moment: dt.datetime, timezone: str) -> dt.date:
    return moment.astimezone(ZoneInfo(timezone)).date()


def recompute(session, period: Period, clinic_ids: set[int] | None = None) -> dict[tuple[int, int], dict]:
    """Per (lot id, location id): every figure of the reconciliation, from the raw rows."""
    clinics = {c.id: c for c in session.scalars(select(Clinic))}
    movements = list(session.scalars(select(Movement).order_by(Movement.id)))
    by_id = {m.id: m for m in movements}
    rows: dict[tuple[int, int], dict] = defaultdict(lambda: defaultdict(Decimal))
    for m in movements:
        if clinic_ids is not None and m.clinic_id not in clinic_ids:
            continue
        day = local_date(m.at, clinics[m.clinic_id].timezone)
        row = rows[(m.lot_id, m.location_id)]
        row["product_id"] = m.product_id
        if day < period.start:
            row["opening"] += m.quantity
            row["closing"] += m.quantity
        elif day <= period.end:
            row["closing"] += m.quantity
            row["movements"] += 1
            kind = by_id[m.reverses_id].kind if m.kind is MovementKind.REVERSAL else m.kind
            if kind in _NAMES:
                name, sign = _NAMES[kind]
                row[name] += sign * m.quantity

    # Sealed containers at each edge of the period, replaying each container's rows.
    containers = {c.id: c for c in session.scalars(select(Container))}
    for edge, name in ((period.start, "sealed_opening"), (period.end + dt.timedelta(days=1), "sealed_closing")):
        balance: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
        opened: set[int] = set()
        for m in movements:
            if clinic_ids is not None and m.clinic_id not in clinic_ids:
                continue
            if local_date(m.at, clinics[m.clinic_id].timezone) >= edge:
                continue
            balance[(m.container_id, m.location_id)] += m.quantity
            if m.kind in (MovementKind.RECONSTITUTE, MovementKind.DRAW):
                opened.add(m.container_id)
        for (container_id, location_id), total in balance.items():
            container = containers[container_id]
            if total == container.initial_quantity and container_id not in opened:
                rows[(container.lot_id, location_id)][name] += 1

    # The last count posted in the period per lot and location.
    posted = [
        c for c in session.scalars(select(Count).where(Count.status == CountStatus.POSTED))
        if (clinic_ids is None or c.clinic_id in clinic_ids)
        and period.start <= local_date(c.posted_at, clinics[c.clinic_id].timezone) <= period.end
    ]
    last: dict[tuple[int, int], Count] = {}
    for count in sorted(posted, key=lambda c: (c.posted_at, c.id)):
        for line in count.lines:
            last[(line.lot_id, count.location_id)] = count
    for (lot_id, location_id), count in last.items():
        lines = [line for line in count.lines if line.lot_id == lot_id]
        row = rows[(lot_id, location_id)]
        row["product_id"] = lines[0].lot.product_id  # a lot counted where it never moved has no movement row
        row["count_id"] = count.id
        row["counted"] = sum(line.counted for line in lines)
        row["expected_at_count"] = sum(line.expected for line in lines)
        row["sealed_counted"] = sum(line.containers_counted or 0 for line in lines)
        row["sealed_expected_at_count"] = sum(line.expected_containers or 0 for line in lines)

    # What left for another clinic by the end (the sender's days) and had arrived nowhere by then.
    for item in session.scalars(select(TransferItem)):
        out, back = by_id[item.out_movement_id], by_id.get(item.in_movement_id)
        if clinic_ids is not None and out.clinic_id not in clinic_ids:
            continue
        zone = clinics[out.clinic_id].timezone
        if local_date(out.at, zone) <= period.end and (back is None or local_date(back.at, zone) > period.end):
            row = rows[(out.lot_id, out.location_id)]
            row["product_id"] = out.product_id
            row["in_transit_at_end"] += item.quantity
    return {
        key: dict(values) for key, values in rows.items()
        if values["opening"] or values["movements"] or "count_id" in values
        or values["sealed_opening"] or values["sealed_closing"] or values["in_transit_at_end"]
    }


def recompute_usage(session, period: Period) -> dict[tuple[str, int, int], Decimal]:
    """(month, product id, injector id) -> drawn net of reversed draws, from the raw rows."""
    clinics = {c.id: c for c in session.scalars(select(Clinic))}
    movements = list(session.scalars(select(Movement)))
    by_id = {m.id: m for m in movements}
    usage: dict[tuple[str, int, int], Decimal] = defaultdict(Decimal)
    for m in movements:
        original = by_id[m.reverses_id] if m.kind is MovementKind.REVERSAL else m
        if original.kind is not MovementKind.DRAW:
            continue
        day = local_date(m.at, clinics[m.clinic_id].timezone)
        if period.start <= day <= period.end:
            usage[(day.strftime("%Y-%m"), m.product_id, original.actor_id)] -= m.quantity
    return dict(usage)


def products_by_id(session) -> dict[int, Product]:
    return {p.id: p for p in session.scalars(select(Product))}
