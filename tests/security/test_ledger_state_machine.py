"""Ledger invariants by property testing (issue 8): a Hypothesis state machine over the real services.

Random sequences of what a chain of clinics does all day (receive, reconstitute, draw in U or mL,
waste, waste what is past beyond-use, reverse, close treatments, counts posted by a second manager,
moves inside a clinic and into a kit, transfers between clinics, quarantine, release, recall, the clock
moving on by hours and days across beyond-use times and lot expiries) run through the services on one
database session. Both sharing rules run: Daxxify is set multi-patient, the other powders are single-
patient; NYC holds an opened filler syringe for its patient for two days, LON does not.

Any operation may be refused by a DomainError. A refusal must change nothing: each operation runs in a
savepoint, no movement or draw may be written before the refusal, and a snapshot of balances, states,
lots, treatments, counts, transfers, recall lines and log sizes is compared before and after.

After every step that wrote something (a refused step was just shown to change nothing, and moving the
clock writes nothing) the machine checks, from the database's own records and its own model of what
happened when, never from a service's return value:

* no container below zero or above what it was received with, every cached balance equal to its ledger
  sum, in-transit stock holding nothing, lot statuses as the model says;
* every draw was taken while its lot was active (by the model's history of quarantines, releases and
  recalls), unexpired that day in its clinic's time zone, from a reconstituted vial where the product
  needs one, before the vial's beyond-use time, from the treatment's own clinic, not from stock on the
  road and not in a closed treatment; the same rules for reconstitutions, receipts, clinic transfers and
  moves into a kit;
* a filler syringe or a single-patient powder vial never serves two patients (live draws grouped by
  container), and a single-patient vial never serves two treatments;
* brands never summed: reconciliation rows, per-product groups, usage figures and treatment totals each
  belong to one product and equal what the ledger holds for that product alone;
* the hash chains of movements and audit events verify (``find_chain_breaks``, as ``vialog verify``).

For the operations whose outcome is simple to foresee (receive, draw, waste, reverse, close, quarantine,
release, recall, post by the counter) the model also predicts acceptance or refusal, so that a service
refusing too much is caught as well as one allowing too much.

Every example starts from the same stock (``prepare``) inside a savepoint rolled back in ``teardown``.
VIALOG_STATEFUL_EXAMPLES and VIALOG_STATEFUL_STEPS run more (the defaults, 20 examples of up to 40
steps, keep the file under a minute per database); the figures are printed at the end (``pytest -s``).
What the machine found is pinned by the tests at the end of the file.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections import Counter
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from inventory import dosing
from inventory.errors import DomainError
from inventory.models import (
    AuditEvent,
    Container,
    ContainerState,
    Draw,
    Location,
    LocationKind,
    Lot,
    LotStatus,
    Movement,
    MovementKind,
    Patient,
    Product,
    ProductKind,
    Treatment,
)
from inventory.counts.models import Count
from inventory.transfers.models import Transfer
from inventory.services import audit_chain, ledger
from inventory.cart import service as cart
from inventory.cold_chain.service import needs_fridge
from inventory.transfers import service as clinic_transfers
from inventory.counts import service as counts
from inventory.receiving import service as receiving
from inventory.reconciliation import service as reconciliation
from inventory.transfers import moves
from inventory.services.clock import clinic_today
from inventory.counts.service import LineSpec
from inventory.services.permissions import Scope
from recall import services as recalls
from recall.models import RecallCase, RecallContainer, RecallContainerStatus
from tests.factories import NOW, World, make_product, send_transfer

EXAMPLES = int(os.environ.get("VIALOG_STATEFUL_EXAMPLES", "20"))
STEPS = int(os.environ.get("VIALOG_STATEFUL_STEPS", "40"))

PRODUCTS = ("botox", "dysport", "daxxify", "filler", "firm_filler", "hylenex", "syringe")
# Lot numbers recur, so later receipts meet lots already on file (and their status). Expiry in days from
# NOW: "A" expires tomorrow, "X" expired yesterday (always refused at receiving).
LOT_EXPIRY_DAYS = {"A": 1, "B": 3, "C": 30, "D": 400, "X": -1}
PLACES = ("Fridge", "Cart", "Room 1", "Kit")
AREAS = ("glabella", "forehead", "crows_feet_left", "lip", "cheek")
QUANTITIES = {
    "U": [Decimal(q) for q in ("1", "2", "4", "10", "20", "40", "120")],
    "mL": [Decimal(q) for q in ("0.05", "0.1", "0.25", "0.5", "1.2")],
    "each": [Decimal("1"), Decimal("2")],
}
DILUENTS = [Decimal(q) for q in ("1.2", "2.5", "1.0", "4", "0.4")]  # 0.4 mL is a typo: refused
HOURS = (1, 2, 1, 3, 6, 13, 23, 25, 49, 100)
WASTE_REASONS = ("dropped", "contaminated", "beyond_use", "no_vacuum", "expired")
WASTE_QUANTITIES = (None, Decimal("0.1"), Decimal("1"), Decimal("10"))
COUNT_KINDS = ("same", "full", "zero", "half", "lot", "lot-1", "lot+1")
# What ``prepare`` receives before the first example: (clinic, location, product, lot, containers).
SEED_STOCK = (
    ("LON", "Fridge", "botox", "D", 3), ("LON", "Fridge", "dysport", "C", 1), ("LON", "Fridge", "daxxify", "D", 1),
    ("LON", "Fridge", "hylenex", "C", 1), ("LON", "Cart", "filler", "B", 2), ("LON", "Cart", "firm_filler", "D", 1),
    ("LON", "Cart", "syringe", "D", 2), ("NYC", "Fridge", "botox", "D", 2), ("NYC", "Fridge", "daxxify", "C", 1),
    ("NYC", "Cart", "filler", "D", 2),
)
PICK = st.integers(min_value=0, max_value=60)
RARELY = st.sampled_from([False] * 6 + [True])  # shrinks to False
NYC_HOLD_DAYS = 2  # NYC lets an opened filler syringe be held for the same patient; LON does not


class Figures:
    """What all examples of one run did: printed for docs/security.md."""

    def __init__(self) -> None:
        self.examples = 0
        self.steps = 0
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.draws_checked = 0
        self.invariant_checks = 0
        self.started = time.monotonic()

    def report(self, backend: str) -> str:
        accepted = sum(n for (_, code), n in self.outcomes.items() if code == "ok")
        refused = sum(n for (_, code), n in self.outcomes.items() if code != "ok")
        by_rule: dict[str, Counter[str]] = {}
        for (name, code), n in self.outcomes.items():
            by_rule.setdefault(name, Counter())[code] += n
        lines = [
            f"ledger state machine on {backend}: {self.examples} examples, {self.steps} steps "
            f"({accepted} accepted, {refused} refused by a domain error), {self.draws_checked} draws checked, "
            f"{self.invariant_checks} invariant passes, {time.monotonic() - self.started:.1f} s",
        ]
        for name in sorted(by_rule):
            codes = by_rule[name]
            detail = ", ".join(f"{code} {n}" for code, n in codes.most_common() if code != "ok")
            lines.append(f"  {name}: {codes['ok']} ok" + (f"; refused: {detail}" if detail else ""))
        return "\n".join(lines)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self, session: Session, world: World, extras: dict[str, Any], figures: Figures) -> None:
        super().__init__()
        self.session = session
        self.world = world
        self.figures = figures
        figures.examples += 1
        self.example = session.begin_nested()  # rolled back in teardown: every example starts clean

        self.clock = NOW
        self.step = 0
        self.clinics = [world.clinic.id, world.other_clinic.id]
        self.timezone = {world.clinic.id: world.clinic.timezone, world.other_clinic.id: world.other_clinic.timezone}
        self.location_ids: dict[tuple[int, str], int] = extras["locations"]
        self.nurse = {world.clinic.id: world.users["nurse"], world.other_clinic.id: world.users["other_nurse"]}
        self.managers = {
            world.clinic.id: [world.users["clinic_manager"], world.users["manager"]],
            world.other_clinic.id: [extras["nyc_manager"], world.users["manager"]],
        }

        # The model, starting from the stock ``prepare`` received for every example.
        self.lot_status: dict[int, LotStatus] = {}
        self.lot_history: dict[int, list[tuple[int, dt.datetime, LotStatus]]] = {}
        for lot_id, status in session.execute(select(Lot.id, Lot.status)):
            assert status is LotStatus.ACTIVE
            self.set_status(lot_id, status)
        self.lots_in_cases: set[int] = set()
        self.containers: list[int] = list(session.scalars(select(Container.id).order_by(Container.id)))
        self.treatments: list[int] = list(session.scalars(select(Treatment.id).order_by(Treatment.id)))
        self.closed: set[int] = set()
        self.reversible: list[int] = []  # draw and waste movements, in the order they were written
        self.reversed: set[int] = set()
        self.counts_submitted: list[int] = []
        self.transfers_open: list[int] = []
        self.in_transit: set[int] = set()
        self.changed = True  # the ledger or a count changed since the reports were last checked
        self.wrote = True  # an operation was accepted since the invariants were last checked
        self.touched_treatments: set[int] = set()
        self.last_draw_id = session.scalar(select(func.max(Draw.id))) or 0
        self.last_movement_id = session.scalar(select(func.max(Movement.id))) or 0

    def teardown(self) -> None:
        if self.example.is_active:
            self.example.rollback()
        self.session.expire_all()

    # --- running one operation ---------------------------------------------------------

    def attempt(self, name: str, call: Callable[[], Any], *, expect_ok: bool | None = None,
                why: str = "") -> Any:
        """Runs one service call in a savepoint; a refusal must leave everything as it was.

        ``expect_ok``: what the model foresees (None: no prediction).
        """
        self.step += 1
        self.figures.steps += 1
        before = self.snapshot()
        movements_before = before[2]
        savepoint = self.session.begin_nested()
        try:
            result = call()
        except DomainError as error:
            # Nothing the ledger keeps was written before the refusal: no half-done movement or draw.
            pending = [o for o in self.session.new if isinstance(o, (Movement, Draw))]
            with self.session.no_autoflush:
                written = self.session.scalar(select(func.count(Movement.id)))
            savepoint.rollback()
            assert not pending, f"{name} refused ({error.code}) with movements or draws pending: {pending}"
            assert written == movements_before, f"{name} wrote movements before refusing ({error.code})"
            assert self.snapshot() == before, f"{name} was refused ({error.code}) but changed something"
            self.figures.outcomes[(name, error.code)] += 1
            if expect_ok is True:
                raise AssertionError(f"{name} was refused ({error.code}: {error.message}) but the model "
                                     f"expected it to be accepted {why}") from error
            return None
        except BaseException:
            if savepoint.is_active:
                savepoint.rollback()
            raise
        savepoint.commit()
        self.wrote = True
        self.figures.outcomes[(name, "ok")] += 1
        if expect_ok is False:
            raise AssertionError(f"{name} was accepted but the model expected a refusal: {why}")
        return result

    def snapshot(self) -> tuple[Any, ...]:
        s = self.session

        def rows(stmt: Any) -> tuple[tuple[Any, ...], ...]:
            return tuple(tuple(row) for row in s.execute(stmt))

        return (
            rows(select(Container.id, Container.remaining, Container.state, Container.location_id,
                        Container.clinic_id, Container.patient_id, Container.opened_treatment_id,
                        Container.reconstituted_at, Container.beyond_use_at).order_by(Container.id)),
            rows(select(Lot.id, Lot.status, Lot.expiry).order_by(Lot.id)),
            s.scalar(select(func.count(Movement.id))),
            s.scalar(select(func.count(Draw.id))),
            rows(select(Treatment.id, Treatment.closed_at).order_by(Treatment.id)),
            rows(select(Count.id, Count.status).order_by(Count.id)),
            rows(select(Transfer.id, Transfer.status).order_by(Transfer.id)),
            rows(select(RecallContainer.id, RecallContainer.status).order_by(RecallContainer.id)),
            s.scalar(select(func.count(RecallCase.id))),
            s.scalar(select(func.count(AuditEvent.id))),
            s.scalar(select(func.count(Patient.id))),
        )

    # --- picking -------------------------------------------------------------------------

    def container(self, container_id: int) -> Container:
        container = self.session.get(Container, container_id)
        assert container is not None
        return container

    def pick_container(self, index: int, *, clinic_id: int | None = None, stray: bool = False,
                       prefer: Any = None) -> int:
        """A container of the model: live ones (of the clinic, meeting ``prefer`` if any do) first;
        any container at all when ``stray``."""
        if not stray:
            stmt = select(Container.id).where(Container.remaining > 0).order_by(Container.id)
            if clinic_id is not None:
                stmt = stmt.where(Container.clinic_id == clinic_id)
            for condition in ([prefer] if prefer is not None else []) + [None]:
                narrowed = stmt if condition is None else stmt.join(Product).where(condition)
                ids = list(self.session.scalars(narrowed))
                if ids:
                    return ids[index % len(ids)]
        return self.containers[index % len(self.containers)]

    def open_treatments(self) -> list[int]:
        return [t for t in self.treatments if t not in self.closed]

    def pick_treatment(self, index: int, stray: bool) -> int:
        open_ones = self.open_treatments()
        pool = open_ones if open_ones and not stray else self.treatments
        return pool[index % len(pool)]

    def lots(self) -> list[int]:
        return sorted(self.lot_status)

    def set_status(self, lot_id: int, status: LotStatus) -> None:
        self.lot_status[lot_id] = status
        self.lot_history.setdefault(lot_id, []).append((self.step, self.clock, status))

    def status_at(self, lot_id: int, step: int) -> LotStatus:
        """The lot's status during ``step`` by the model's history (the last change at an earlier step)."""
        status = None
        for changed_at_step, _, value in self.lot_history[lot_id]:
            if changed_at_step <= step:  # a step changes a lot's status or draws, never both
                status = value
        assert status is not None, f"lot {lot_id} has no status before step {step}"
        return status

    def usable(self, lot: Lot, clinic_id: int, at: dt.datetime) -> bool:
        return self.lot_status[lot.id] is LotStatus.ACTIVE and lot.expiry >= clinic_today(at, self.timezone[clinic_id])

    # --- rules: stock in -----------------------------------------------------------------

    @rule(product=st.sampled_from(PRODUCTS), clinic=st.sampled_from([0, 1]), place=st.sampled_from(PLACES[:3]),
          lot=st.sampled_from(sorted(LOT_EXPIRY_DAYS)), typo=RARELY, containers=st.integers(1, 3))
    def receive(self, product: str, clinic: int, place: str, lot: str, typo: bool, containers: int) -> None:
        clinic_id = self.clinics[clinic]
        item = self.world.products[product]
        expiry = NOW.date() + dt.timedelta(days=LOT_EXPIRY_DAYS[lot] + (1 if typo else 0))
        on_file = self.session.scalar(select(Lot).where(Lot.product_id == item.id, Lot.number_key == f"LOT-{lot}"))
        # A box kept at 2-8 °C goes only into a temperature-sensitive place (the fridge) unless confirmed.
        kept_cold = place == "Fridge" or not needs_fridge(item)
        ok = (expiry >= clinic_today(self.clock, self.timezone[clinic_id]) and kept_cold
              and (on_file is None or (on_file.expiry == expiry and self.lot_status[on_file.id] is LotStatus.ACTIVE)))
        manager = self.managers[clinic_id][0]
        receipt = self.attempt("receive", lambda: receiving.receive(
            self.session, actor=manager, scope=Scope.for_user(manager), location_id=self.location_ids[clinic_id, place],
            containers=containers, now=self.clock, gtin=item.gtins[0].gtin, lot_number=f"LOT-{lot}", expiry=expiry,
        ), expect_ok=ok, why=f"(lot {lot} expiring {expiry}, on file: {on_file and on_file.expiry}, into {place})")
        if receipt is not None:
            if receipt.lot_id not in self.lot_status:
                self.set_status(receipt.lot_id, LotStatus.ACTIVE)
            self.containers.extend(c.id for c in receipt.containers)

    # --- rules: at the cart ------------------------------------------------------------------

    @precondition(lambda self: self.containers)
    @rule(index=PICK, diluent=st.sampled_from(DILUENTS), stray=RARELY)
    def reconstitute(self, index: int, diluent: Decimal, stray: bool) -> None:
        powder = Product.requires_reconstitution & Container.reconstituted_at.is_(None)
        container_id = self.pick_container(index, stray=stray, prefer=powder)
        nurse = self.nurse[self.container(container_id).clinic_id]
        self.attempt("reconstitute", lambda: cart.reconstitute(
            self.session, actor=nurse, scope=Scope.for_user(nurse), container_id=container_id, diluent_ml=diluent,
            now=self.clock,
        ))

    @precondition(lambda self: len(self.open_treatments()) < 4)
    @rule(clinic=st.sampled_from([0, 1]), ref=st.sampled_from(["P1", "P2", "P3"]))
    def start_treatment(self, clinic: int, ref: str) -> None:
        clinic_id = self.clinics[clinic]
        nurse = self.nurse[clinic_id]
        scope = Scope.for_user(nurse)

        def start() -> Treatment:
            patient = cart.find_or_create_patient(self.session, scope=scope, clinic_id=clinic_id, external_ref=ref,
                                                  name=f"Patient {ref}")
            return cart.start_treatment(self.session, actor=nurse, scope=scope, patient_id=patient.id,
                                        location_id=self.location_ids[clinic_id, "Room 1"], now=self.clock)

        treatment = self.attempt("start_treatment", start, expect_ok=True)
        self.treatments.append(treatment.id)

    # Three rules draw (any container, a mixed toxin, a filler syringe), so that draws stay frequent
    # when Hypothesis enables only some rules in an example.

    @precondition(lambda self: self.treatments and self.containers)
    @rule(t=PICK, c=PICK, unit=PICK, quantity=PICK, area=st.sampled_from(AREAS), stray=RARELY)
    def draw(self, t: int, c: int, unit: int, quantity: int, area: str, stray: bool) -> None:
        self.take("draw", t, c, unit, quantity, area, stray,
                  ~Product.requires_reconstitution | Container.reconstituted_at.is_not(None))

    @precondition(lambda self: self.open_treatments())
    @rule(t=PICK, c=PICK, unit=PICK, quantity=PICK, area=st.sampled_from(AREAS))
    def draw_toxin(self, t: int, c: int, unit: int, quantity: int, area: str) -> None:
        self.take("draw", t, c, unit, quantity, area, False,
                  (Product.kind == ProductKind.NEUROMODULATOR) & Container.reconstituted_at.is_not(None))

    @precondition(lambda self: self.open_treatments())
    @rule(t=PICK, c=PICK, quantity=PICK, area=st.sampled_from(AREAS))
    def draw_filler(self, t: int, c: int, quantity: int, area: str) -> None:
        self.take("draw", t, c, 0, quantity, area, False, Product.kind == ProductKind.FILLER)

    def take(self, name: str, t: int, c: int, unit: int, quantity: int, area: str, stray: bool,
             prefer: Any) -> None:
        treatment_id = self.pick_treatment(t, stray)
        treatment = self.session.get(Treatment, treatment_id)
        assert treatment is not None
        container_id = self.pick_container(c, clinic_id=treatment.clinic_id, stray=stray, prefer=prefer)
        container = self.container(container_id)
        units = accepted_units(container)
        chosen = units[unit % len(units)]
        amounts = QUANTITIES[chosen if chosen in QUANTITIES else "U"]
        amount = amounts[quantity % len(amounts)]
        ok, why = self.foresee_draw(treatment, container, amount, chosen)
        nurse = self.nurse[treatment.clinic_id]
        result = self.attempt(name, lambda: cart.draw(
            self.session, actor=nurse, scope=Scope.for_user(nurse), treatment_id=treatment_id,
            container_id=container_id, quantity=amount, unit=chosen, area=area, now=self.clock,
            # The injector confirms any dose warning: the machine explores the ledger, not the dose limits.
            confirm=dosing.CONFIRMABLE, confirm_reason="confirmed by the state machine",
        ), expect_ok=ok, why=why)
        if result is not None:
            self.reversible.append(result.draw.movement_id)

    def foresee_draw(self, treatment: Treatment, container: Container, amount: Decimal,
                     unit: str) -> tuple[bool, str]:
        """The model's view of whether this draw may be taken, with the first reason it may not."""
        product = container.product
        now = self.clock
        if treatment.id in self.closed:
            return False, "treatment closed"
        if container.clinic_id != treatment.clinic_id:
            return False, "another clinic's container"
        if container.id in self.in_transit:
            return False, "in transit"
        if container.state in (ContainerState.EMPTY, ContainerState.DISCARDED) or container.remaining <= 0:
            return False, "empty"
        if not self.usable(container.lot, container.clinic_id, now):
            return False, f"lot {self.lot_status[container.lot_id].value}, expiry {container.lot.expiry}"
        if product.requires_reconstitution and container.reconstituted_at is None:
            return False, "not reconstituted"
        if container.beyond_use_at is not None and now >= container.beyond_use_at:
            return False, "beyond use"
        if product.is_single_patient and container.patient_id is not None:
            if container.patient_id != treatment.patient_id:
                return False, "another patient's container"
            if container.opened_treatment_id != treatment.id:
                hold = container.clinic.filler_hold_days
                held = (product.kind is ProductKind.FILLER and hold > 0 and container.opened_at is not None
                        and now < container.opened_at + dt.timedelta(days=hold))
                if not held:
                    return False, "opened in another session"
        if unit == "mL" and product.base_unit not in ("mL", "each"):
            concentration = container.concentration_u_per_ml or product.strength_per_ml
            amount = (amount * concentration).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
            if amount <= 0:
                return False, "too small"
        if amount > container.remaining:
            return False, f"{amount} > {container.remaining} left"
        return True, "(all rules met)"

    @precondition(lambda self: self.containers)
    @rule(index=PICK, reason=st.sampled_from(WASTE_REASONS), quantity=st.sampled_from(WASTE_QUANTITIES),
          stray=RARELY)
    def waste(self, index: int, reason: str, quantity: Decimal | None, stray: bool) -> None:
        container_id = self.pick_container(index, stray=stray)
        container = self.container(container_id)
        nurse = self.nurse[container.clinic_id]
        # Wasting takes stock out of use whatever the lot's expiry: only an empty or travelling container, more
        # than is left, or (for the nurse, who does not decide holds) one of a quarantined or recalled lot, set
        # aside for the safety lead, is refused.
        # A powder vial not yet reconstituted is wasted whole.
        whole_only = (container.product.requires_reconstitution and container.state is ContainerState.SEALED
                      and container.reconstituted_at is None and container.opened_at is None)
        ok = (container.state not in (ContainerState.EMPTY, ContainerState.DISCARDED, ContainerState.IN_TRANSIT)
              and container.remaining > 0 and (quantity is None or quantity <= container.remaining)
              and self.lot_status[container.lot_id] is LotStatus.ACTIVE
              and not (whole_only and quantity is not None and quantity < container.remaining))
        movement = self.attempt("waste", lambda: cart.waste(
            self.session, actor=nurse, scope=Scope.for_user(nurse), container_id=container_id, reason=reason,
            now=self.clock, quantity=quantity,
        ), expect_ok=ok, why=f"({container.state.value}, {container.remaining} left, {quantity} asked)")
        if movement is not None:
            self.reversible.append(movement.id)

    @precondition(lambda self: self.session.scalar(select(func.count(Container.id)).where(
        Container.beyond_use_at <= self.clock, Container.remaining > 0)))
    @rule()
    def waste_beyond_use(self) -> None:
        wasted = self.attempt("waste_beyond_use", lambda: cart.waste_beyond_use(
            self.session, actor=self.world.users["manager"], scope=Scope.everything(), now=self.clock,
        ), expect_ok=True)
        self.reversible.extend(m.id for m in wasted)
        # The manager does not decide holds: a vial of a quarantined or recalled lot stays for the safety lead.
        left = [c for c in cart.beyond_use_containers(self.session, scope=Scope.everything(), now=self.clock)
                if self.lot_status[c.lot_id] is LotStatus.ACTIVE]
        assert left == [], f"still past beyond-use with something left: {[c.label_code for c in left]}"

    @precondition(lambda self: self.reversible)
    @rule(index=PICK, stray=RARELY)
    def reverse(self, index: int, stray: bool) -> None:
        if stray:  # any movement: a receipt, a count, a reversal ... is not reversible
            ids = list(self.session.scalars(select(Movement.id).order_by(Movement.id)))
            movement_id = ids[index % len(ids)]
        else:
            movement_id = self.reversible[index % len(self.reversible)]
        movement = self.session.get(Movement, movement_id)
        assert movement is not None
        container = self.container(movement.container_id)
        # A correction belongs to the clinic that recorded the movement, and never to stock on the road.
        # A correction never leaves a container holding more than it was received with (a count may
        # have set what is left since the movement).
        ok = (movement.kind in (MovementKind.DRAW, MovementKind.WASTE) and movement.id not in self.reversed
              and container.clinic_id == movement.clinic_id and container.id not in self.in_transit
              and container.remaining - movement.quantity <= container.initial_quantity)
        nurse = self.nurse[movement.clinic_id]
        reversal = self.attempt("reverse", lambda: cart.reverse(
            self.session, actor=nurse, scope=Scope.for_user(nurse), movement_id=movement_id,
            reason="wrong container scanned", now=self.clock,
        ), expect_ok=ok, why=f"({movement.kind.value}, reversed before: {movement.id in self.reversed})")
        if reversal is not None:
            self.reversed.add(movement_id)

    @precondition(lambda self: self.open_treatments())
    @rule(index=PICK, stray=RARELY)
    def close_treatment(self, index: int, stray: bool) -> None:
        treatment_id = self.pick_treatment(index, stray)
        treatment = self.session.get(Treatment, treatment_id)
        assert treatment is not None
        nurse = self.nurse[treatment.clinic_id]
        closed = self.attempt("close_treatment", lambda: cart.close_treatment(
            self.session, actor=nurse, scope=Scope.for_user(nurse), treatment_id=treatment_id, now=self.clock,
        ), expect_ok=treatment_id not in self.closed)
        if closed is not None:
            self.closed.add(treatment_id)
            self.touched_treatments.add(treatment_id)
            self.reversible.extend(m.id for m in closed.wasted)

    # --- rules: counts -------------------------------------------------------------------

    @precondition(lambda self: self.containers)
    @rule(clinic=st.sampled_from([0, 1]), place=st.sampled_from(PLACES),
          lines=st.lists(st.tuples(PICK, st.sampled_from(COUNT_KINDS)), min_size=1, max_size=3),
          counter=st.sampled_from([0, 1]))
    def count(self, clinic: int, place: str, lines: list[tuple[int, str]], counter: int) -> None:
        clinic_id = self.clinics[clinic]
        location_id = self.location_ids[clinic_id, place]
        here = list(self.session.scalars(
            select(Container).where(Container.location_id == location_id,
                                    Container.state.in_((ContainerState.SEALED, ContainerState.IN_USE)))
            .order_by(Container.id)
        ))
        specs: list[LineSpec] = []
        seen: set[tuple[str, int]] = set()
        for index, kind in lines:
            if kind.startswith("lot"):
                sealed = [c for c in here if c.state is ContainerState.SEALED]
                if not sealed:
                    continue
                lot_id = sealed[index % len(sealed)].lot_id
                found = sum(1 for c in sealed if c.lot_id == lot_id) + {"lot": 0, "lot-1": -1, "lot+1": 1}[kind]
                if ("lot", lot_id) in seen:
                    continue
                seen.add(("lot", lot_id))
                specs.append(LineSpec(lot_id=lot_id, containers=max(found, 0)))
                continue
            container = here[index % len(here)] if here else self.container(self.pick_container(index))
            if ("container", container.id) in seen:
                continue
            seen.add(("container", container.id))
            counted = {
                # Blank means "sealed and full", which is refused for a container that was ever opened.
                "same": container.remaining, "zero": Decimal(0),
                "full": None if container.state is ContainerState.SEALED and container.opened_at is None
                and not container.is_reconstituted else container.initial_quantity,
                "half": (container.remaining / 2).quantize(Decimal("0.0001")),
            }[kind]
            specs.append(LineSpec(container=str(container.id), counted=counted))
        if not specs:
            return
        manager = self.managers[clinic_id][counter]
        made = self.attempt("count", lambda: counts.create_submitted(
            self.session, actor=manager, scope=Scope.for_user(manager), location_id=location_id, lines=specs,
            now=self.clock,
        ))
        if made is not None:
            self.counts_submitted.append(made.id)

    @precondition(lambda self: self.counts_submitted)
    @rule(index=PICK, same_person=RARELY)
    def post_count(self, index: int, same_person: bool) -> None:
        count_id = self.counts_submitted[index % len(self.counts_submitted)]
        count = self.session.get(Count, count_id)
        assert count is not None
        managers = self.managers[count.clinic_id]
        if same_person:
            poster = next(m for m in managers if m.id == count.counted_by_id)
        else:
            poster = next(m for m in managers if m.id != count.counted_by_id)
        posted = self.attempt("post_count", lambda: counts.post(
            self.session, actor=poster, scope=Scope.for_user(poster), count_id=count_id, now=self.clock,
        ), expect_ok=False if same_person else None, why="the counter may not post their own count")
        if posted is None:
            return
        self.changed = True  # the reconciliation shows the count
        self.counts_submitted.remove(count_id)
        # The count's word is the ledger's as of each line's counting: a container line holds what was counted
        # plus whatever the ledger recorded for it since (a dose drawn between counting and posting stays drawn),
        # and a lot line whose lot nothing touched here since has exactly as many sealed containers as were found.
        # The count's own adjustments, left out by id: a NOT over a reason or note that is NULL would be NULL.
        own = Movement.id.in_(select(Movement.id).where(
            Movement.reason == counts.COUNT_REASON, Movement.note == counts.count_note(count_id)))
        on_lines = {line.container_id for line in posted.lines if line.container_id is not None}
        for line in posted.lines:
            if line.container_id is not None:
                since = self.session.scalar(select(func.coalesce(func.sum(Movement.quantity), 0)).where(
                    Movement.container_id == line.container_id, Movement.at > line.entered_at, ~own))
                assert self.container(line.container_id).remaining == line.counted + since, \
                    f"count {count_id} line {line.id}"
                continue
            touched = self.session.scalar(select(func.count(Movement.id)).where(
                Movement.lot_id == line.lot_id, Movement.at > line.entered_at, ~own,
                Movement.container_id.not_in(on_lines or {0}),
            ))
            if touched:
                continue  # opened, moved or received since it was counted: the count applied its own difference
            sealed = self.session.scalar(select(func.count(Container.id)).where(
                Container.lot_id == line.lot_id, Container.location_id == posted.location_id,
                Container.state == ContainerState.SEALED, Container.id.not_in(on_lines or {0}),
            ))
            assert sealed == line.containers_counted, f"count {count_id} lot line {line.id}"

    # --- rules: moving stock ------------------------------------------------------------------

    @precondition(lambda self: self.containers)
    @rule(index=PICK, place=st.sampled_from(PLACES), other_clinic=RARELY)
    def move(self, index: int, place: str, other_clinic: bool) -> None:
        container_id = self.pick_container(index)
        container = self.container(container_id)
        clinic_id = container.clinic_id
        if other_clinic:
            clinic_id = next(c for c in self.clinics if c != clinic_id)
        manager = self.world.users["manager"]
        self.attempt("move", lambda: moves.move_container(
            self.session, actor=manager, scope=Scope.for_user(manager), container_id=container_id,
            to_location_id=self.location_ids[clinic_id, place], now=self.clock, reason="restock",
        ))

    @precondition(lambda self: self.containers)
    @rule(first=PICK, second=st.none() | PICK, clinic=st.sampled_from([0, 1]),
          place=st.sampled_from(PLACES))
    def send(self, first: int, second: int | None, clinic: int, place: str) -> None:
        source = self.clinics[clinic]
        sealed = Container.state == ContainerState.SEALED  # what may travel, mostly: opened ones are refused
        ids = [self.pick_container(first, clinic_id=source, prefer=sealed)]
        if second is not None:
            other = self.pick_container(second, clinic_id=source, prefer=sealed if second % 4 else None)
            if other not in ids:
                ids.append(other)
        destination = next(c for c in self.clinics if c != self.container(ids[0]).clinic_id)
        manager = self.world.users["manager"]
        transfer = self.attempt("send", lambda: clinic_transfers.send(
            self.session, actor=manager, scope=Scope.for_user(manager), container_ids=ids,
            to_location_id=self.location_ids[destination, place], now=self.clock,
        ))
        if transfer is not None:
            self.transfers_open.append(transfer.id)
            self.in_transit.update(ids)

    @precondition(lambda self: self.transfers_open)
    @rule(index=PICK, cancel=RARELY, place=st.none() | st.sampled_from(PLACES[:3]))
    def arrive(self, index: int, cancel: bool, place: str | None) -> None:
        transfer_id = self.transfers_open[index % len(self.transfers_open)]
        transfer = self.session.get(Transfer, transfer_id)
        assert transfer is not None
        items = [item.container_id for item in transfer.items]
        manager = self.world.users["manager"]
        if cancel:
            done = self.attempt("cancel_transfer", lambda: clinic_transfers.cancel(
                self.session, actor=manager, scope=Scope.for_user(manager), transfer_id=transfer_id, now=self.clock,
            ), expect_ok=True)
        else:
            location_id = self.location_ids[transfer.to_clinic_id, place] if place else None
            # A box kept at 2-8 °C is received into the fridge only (the place, or the one planned at sending).
            into = place or transfer.to_location.name
            kept_cold = into == "Fridge" or not any(needs_fridge(item.container.product) for item in transfer.items)
            done = self.attempt("receive_transfer", lambda: clinic_transfers.receive(
                self.session, actor=manager, scope=Scope.for_user(manager), transfer_id=transfer_id, now=self.clock,
                location_id=location_id,
            ), expect_ok=kept_cold, why=f"(into {into})")
        if done is not None:
            self.transfers_open.remove(transfer_id)
            self.in_transit.difference_update(items)

    # --- rules: safety -----------------------------------------------------------------------

    @precondition(lambda self: self.lot_status)
    @rule(index=PICK)
    def quarantine(self, index: int) -> None:
        lot_id = self.lots()[index % len(self.lot_status)]
        lot = self.attempt("quarantine", lambda: recalls.quarantine(
            self.session, actor=self.world.users["safety"], lot_id=lot_id, reason="temperature excursion",
            now=self.clock,
        ), expect_ok=self.lot_status[lot_id] is LotStatus.ACTIVE)
        if lot is not None:
            self.set_status(lot_id, LotStatus.QUARANTINED)

    @precondition(lambda self: self.lot_status)
    @rule(index=PICK)
    def release(self, index: int) -> None:
        lot_id = self.lots()[index % len(self.lot_status)]
        lot = self.attempt("release", lambda: recalls.release(
            self.session, actor=self.world.users["safety"], lot_id=lot_id, reason="fridge log checked",
            now=self.clock,
        ), expect_ok=self.lot_status[lot_id] is LotStatus.QUARANTINED)
        if lot is not None:
            self.set_status(lot_id, LotStatus.ACTIVE)

    @precondition(lambda self: self.lot_status)
    @rule(picks=st.lists(PICK, min_size=1, max_size=2), recall_class=st.sampled_from(["I", "II", "III"]))
    def open_recall(self, picks: list[int], recall_class: str) -> None:
        lots = self.lots()
        lot_ids = sorted({lots[i % len(lots)] for i in picks})
        case = self.attempt("open_recall", lambda: recalls.open_recall(
            self.session, actor=self.world.users["safety"], lot_ids=lot_ids, reason="counterfeit alert",
            recall_class=recall_class, source="regulator", now=self.clock,
        ), expect_ok=not self.lots_in_cases.intersection(lot_ids))
        if case is not None:
            self.lots_in_cases.update(lot_ids)
            for lot_id in lot_ids:
                self.set_status(lot_id, LotStatus.RECALLED)

    @precondition(lambda self: self.lots_in_cases)
    @rule(index=PICK, returned=st.booleans())
    def recall_container_done(self, index: int, returned: bool) -> None:
        lines = list(self.session.execute(
            select(RecallContainer.case_id, RecallContainer.container_id)
            .where(RecallContainer.status == RecallContainerStatus.OPEN).order_by(RecallContainer.id)
        ))
        if not lines:
            return
        case_id, container_id = lines[index % len(lines)]
        self.attempt("recall_container_done", lambda: recalls.update_container(
            self.session, actor=self.world.users["safety"], scope=Scope.everything(), case_id=case_id,
            container_id=container_id, status="returned" if returned else "destroyed", now=self.clock,
        ))

    # --- rules: time -------------------------------------------------------------------------

    @rule(hours=st.sampled_from(HOURS))
    def advance_clock(self, hours: int) -> None:
        self.step += 1
        self.figures.steps += 1
        self.figures.outcomes[("advance_clock", "ok")] += 1
        self.clock += dt.timedelta(hours=hours)

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def ledger_holds(self) -> None:
        if not self.wrote:
            # A refused step was proved to change nothing (``attempt`` compares snapshots) and moving the
            # clock writes nothing: the database is the one checked after the last step that wrote.
            return
        self.wrote = False
        self.figures.invariant_checks += 1
        s = self.session
        # No container below zero; every cached balance is its ledger sum; stock on the road holds nothing.
        assert ledger.find_balance_mismatches(s) == []
        assert (s.scalar(select(func.min(Container.remaining))) or 0) >= 0
        overfull = list(s.execute(select(Container.label_code, Container.remaining, Container.initial_quantity)
                                  .where(Container.remaining > Container.initial_quantity)))
        assert overfull == [], f"containers holding more than they were received with: {overfull}"
        travelling = set(s.scalars(select(Container.id).where(Container.state == ContainerState.IN_TRANSIT)))
        assert travelling == self.in_transit
        assert not s.scalar(select(func.count(Container.id)).where(
            Container.state == ContainerState.IN_TRANSIT, Container.remaining != 0))
        # Lot statuses are what the model says.
        on_file = {lot_id: status for lot_id, status in s.execute(select(Lot.id, Lot.status))}
        assert on_file == self.lot_status
        self.check_new_movements()
        self.check_new_draws()
        self.check_single_patient()
        if self.changed:  # the reports read only the database: unchanged data, unchanged reports
            self.check_brands_never_summed()
            self.changed = False
        breaks, _ = audit_chain.find_chain_breaks(s)
        assert breaks == [], [str(b) for b in breaks]

    def check_new_movements(self) -> None:
        new = list(self.session.execute(
            select(Movement, Container, Lot, Location)
            .join(Container, Container.id == Movement.container_id)
            .join(Lot, Lot.id == Movement.lot_id)
            .join(Location, Location.id == Movement.location_id)
            .where(Movement.id > self.last_movement_id).order_by(Movement.id)
        ))
        draws_written = 0
        for movement, container, lot, location in new:
            where = f"movement {movement.id} ({movement.kind.value}) of {container.label_code}"
            assert movement.at == self.clock, where
            assert movement.balance_after >= 0, where
            assert movement.product_id == container.product_id == lot.product_id, where
            assert movement.lot_id == container.lot_id, where
            assert location.clinic_id == movement.clinic_id, where
            if movement.treatment_id is not None:
                self.touched_treatments.add(movement.treatment_id)
            kind = movement.kind
            if kind is MovementKind.DRAW:
                draws_written += 1
            if kind in (MovementKind.RECONSTITUTE, MovementKind.RECEIVE):
                assert self.usable(lot, movement.clinic_id, movement.at), f"{where}: lot not usable"
            if kind is MovementKind.RECONSTITUTE:
                assert container.id not in self.in_transit, where
            if kind is MovementKind.TRANSFER_OUT and movement.reason == clinic_transfers.REASON:
                assert self.usable(lot, movement.clinic_id, movement.at), f"{where}: sent an unusable lot"
                assert -movement.quantity == container.initial_quantity, f"{where}: only whole containers travel"
            if (kind is MovementKind.TRANSFER_IN and location.kind is LocationKind.KIT
                    and movement.reason != clinic_transfers.REASON):
                assert self.usable(lot, movement.clinic_id, movement.at), f"{where}: unusable lot into a kit"
                assert container.beyond_use_at is None or movement.at < container.beyond_use_at, where
        if new:
            self.last_movement_id = new[-1][0].id
            self.changed = True
        written = self.session.scalar(select(func.count(Draw.id)).where(Draw.id > self.last_draw_id))
        assert written == draws_written, "every draw movement has its draw record, and only one"

    def check_new_draws(self) -> None:
        """Every draw was taken while allowed: by the model's lot history and the records' own times."""
        new = list(self.session.execute(
            select(Draw, Movement, Container, Lot, Product, Treatment)
            .join(Movement, Movement.id == Draw.movement_id)
            .join(Container, Container.id == Draw.container_id)
            .join(Lot, Lot.id == Container.lot_id)
            .join(Product, Product.id == Container.product_id)
            .join(Treatment, Treatment.id == Draw.treatment_id)
            .where(Draw.id > self.last_draw_id).order_by(Draw.id)
        ))
        for draw, movement, container, lot, product, treatment in new:
            self.figures.draws_checked += 1
            where = f"draw {draw.id} from {container.label_code} ({product.name}, lot {lot.number})"
            assert draw.at == movement.at == self.clock, where
            assert movement.kind is MovementKind.DRAW and movement.quantity == -draw.quantity, where
            assert movement.treatment_id == draw.treatment_id, where
            assert self.status_at(lot.id, self.step) is LotStatus.ACTIVE, (
                f"{where}: lot was {self.status_at(lot.id, self.step).value} at step {self.step}")
            tz = self.timezone[movement.clinic_id]
            assert clinic_today(draw.at, tz) <= lot.expiry, f"{where}: lot expired {lot.expiry}"
            if product.requires_reconstitution:
                assert container.reconstituted_at is not None, f"{where}: never reconstituted"
                assert container.reconstituted_at <= draw.at, f"{where}: drawn before reconstitution"
            assert container.beyond_use_at is None or draw.at < container.beyond_use_at, f"{where}: beyond use"
            assert movement.clinic_id == treatment.clinic_id, f"{where}: another clinic's stock"
            assert container.id not in self.in_transit, f"{where}: stock on the road"
            assert treatment.id not in self.closed, f"{where}: treatment closed"
        if new:
            self.last_draw_id = new[-1][0].id

    def check_single_patient(self) -> None:
        """Live draws by container: one patient for a filler or single-patient toxin, one session for a toxin."""
        live = self.session.execute(
            select(Draw.container_id, Treatment.patient_id, Treatment.id, Product.kind,
                   Product.requires_reconstitution, Product.is_multi_patient)
            .join(Treatment, Treatment.id == Draw.treatment_id)
            .join(Container, Container.id == Draw.container_id)
            .join(Product, Product.id == Container.product_id)
            .where(~cart.reversal_exists(Draw.movement_id))
        )
        patients: dict[int, set[int]] = {}
        sessions: dict[int, set[int]] = {}
        single: dict[int, tuple[bool, bool]] = {}
        for container_id, patient_id, treatment_id, kind, powder, multi in live:
            patients.setdefault(container_id, set()).add(patient_id)
            sessions.setdefault(container_id, set()).add(treatment_id)
            one_patient = kind is ProductKind.FILLER or (powder and not multi)
            single[container_id] = (one_patient, one_patient and kind is not ProductKind.FILLER)
        for container_id, (one_patient, one_session) in single.items():
            if one_patient:
                assert len(patients[container_id]) <= 1, f"container {container_id} used for {patients[container_id]}"
                if one_session:  # a single-patient vial serves one session; a held filler syringe may serve more
                    assert len(sessions[container_id]) <= 1, f"vial {container_id} used in {sessions[container_id]}"

    def check_brands_never_summed(self) -> None:
        s = self.session
        # Every figure the reports give belongs to one product and equals that product's ledger alone.
        period = reconciliation.Period.of(NOW.date() - dt.timedelta(days=1), self.clock.date() + dt.timedelta(days=1))
        report = reconciliation.reconcile(s, scope=Scope.everything(), period=period)
        ledger_by_place = {
            (lot_id, location_id): (total, products)
            for lot_id, location_id, total, products in s.execute(
                select(Movement.lot_id, Movement.location_id, func.sum(Movement.quantity),
                       func.count(func.distinct(Movement.product_id)))
                .group_by(Movement.lot_id, Movement.location_id)
            )
        }
        for row in report.rows:
            total, products = ledger_by_place.get((row.lot.id, row.location.id), (Decimal(0), 1))
            assert products == 1 and row.product.id == row.lot.product_id, f"row {row.lot.number} mixes products"
            assert row.closing == total == row.expected_closing, (
                f"{row.product.name} lot {row.lot.number} at {row.location.name}: closing {row.closing}, "
                f"expected {row.expected_closing}, ledger {total}")
            assert row.unit == row.product.base_unit
        by_product = dict(s.execute(select(Movement.product_id, func.sum(Movement.quantity))
                                    .group_by(Movement.product_id)).all())
        for group in report.by_product():
            assert {row.product.id for row in group.rows} == {group.product.id}
            assert group.total("closing") == by_product.get(group.product.id, 0), group.product.name
        live_draws = {
            product_id: total for product_id, total in s.execute(
                select(Container.product_id, func.sum(Draw.quantity))
                .join(Container, Container.id == Draw.container_id)
                .where(~cart.reversal_exists(Draw.movement_id)).group_by(Container.product_id)
            )
        }
        used: dict[int, Decimal] = {}
        for usage in reconciliation.usage(s, scope=Scope.everything(), period=period):
            used[usage.product.id] = used.get(usage.product.id, Decimal(0)) + usage.quantity
        assert {p: q for p, q in used.items() if q} == {p: q for p, q in live_draws.items() if q}
        for treatment_id in sorted(self.touched_treatments):
            summary = cart.treatment_summary(s, treatment_id, Scope.everything())
            expected = {
                product_id: total for product_id, total in s.execute(
                    select(Container.product_id, func.sum(Draw.quantity))
                    .join(Container, Container.id == Draw.container_id)
                    .where(Draw.treatment_id == treatment_id, ~cart.reversal_exists(Draw.movement_id))
                    .group_by(Container.product_id)
                )
            }
            ids = [total.product.id for total in summary.totals]
            assert len(ids) == len(set(ids)), f"treatment {treatment_id} totals a product twice"
            assert {t.product.id: t.quantity for t in summary.totals} == expected, f"treatment {treatment_id}"
        self.touched_treatments.clear()


def accepted_units(container: Container) -> list[str]:
    """What a nurse may type for this container: its base unit, or U and mL for a product counted in units."""
    product = container.product
    if product.base_unit in ("mL", "each"):
        return [product.base_unit]
    return list(dict.fromkeys(["U", product.base_unit, "mL"]))


def prepare(session: Session, world: World) -> dict[str, Any]:
    """What every example starts from, on top of the shared world (rolled back with the test)."""
    locations: dict[tuple[int, str], int] = {}
    for clinic in (world.clinic, world.other_clinic):
        session.add(Location(clinic_id=clinic.id, name="Kit", kind=LocationKind.KIT))
        session.flush()
        for location in session.scalars(select(Location).where(Location.clinic_id == clinic.id)):
            locations[clinic.id, location.name] = location.id
    world.other_clinic.filler_hold_days = NYC_HOLD_DAYS
    world.products["daxxify"].is_multi_patient = True  # an admin allowed sharing Daxxify: both rules run
    nyc_manager = world.nyc_manager()
    session.flush()
    # Stock and open treatments in both clinics, so that every example can draw from its first steps.
    lon, nyc = world.clinic.id, world.other_clinic.id
    for clinic_id, place, product, lot, containers in SEED_STOCK:
        clinic_id = lon if clinic_id == "LON" else nyc
        world.receive(product, lot=f"LOT-{lot}", expiry=NOW.date() + dt.timedelta(days=LOT_EXPIRY_DAYS[lot]),
                      containers=containers, location=session.get(Location, locations[clinic_id, place]))
    for clinic_id, nurse in ((lon, world.users["nurse"]), (nyc, world.users["other_nurse"])):
        scope = Scope.for_user(nurse)
        for product in ("botox", "daxxify"):
            vial = session.scalar(select(Container).where(Container.clinic_id == clinic_id,
                                                          Container.product_id == world.products[product].id)
                                  .order_by(Container.id).limit(1))
            cart.reconstitute(session, actor=nurse, scope=scope, container_id=vial.id, diluent_ml=Decimal("2.5"),
                              now=NOW)
        patient = cart.find_or_create_patient(session, scope=scope, clinic_id=clinic_id, external_ref="P1",
                                              name="Patient P1")
        cart.start_treatment(session, actor=nurse, scope=scope, patient_id=patient.id,
                             location_id=locations[clinic_id, "Room 1"], now=NOW)
    session.flush()
    return {"locations": locations, "nyc_manager": nyc_manager}


def test_ledger_invariants_hold_under_random_operations(session, world, backend):
    extras = prepare(session, world)
    figures = Figures()
    try:
        run_state_machine_as_test(
            lambda: LedgerMachine(session, world, extras, figures),
            settings=settings(
                max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large],
            ),
        )
    finally:
        print("\n" + figures.report(backend))
    assert figures.examples >= 1


# --- what the machine found -------------------------------------------------------------------


def test_a_correction_never_puts_stock_into_a_container_on_the_road(session, world):
    """A draw from a shared container (no patient binding) that a count later found full again, sent to
    the other clinic, then reversed while on the road, put units into an in-transit container: the
    database's CHECK refused the flush (an IntegrityError, a 500 at the API). A correction of stock on
    the road is now refused like every other use of it, and changes nothing."""
    nurse, manager = world.users["nurse"], world.users["manager"]
    scope = Scope.for_user(nurse)
    # Shared by an admin's choice (no patient binding): only a toxin ever is (a single-dose vial, a filler or a
    # hyaluronidase never: DOMAIN.md). A ready-to-use liquid, so that its first draw opens it.
    shared = make_product(session, "Alluzience 125 s.U", is_multi_patient=True)
    vial = world.container(shared, lot="H1", expiry=NOW.date() + dt.timedelta(days=90))
    patient = cart.find_or_create_patient(session, scope=scope, clinic_id=world.clinic.id, external_ref="P1",
                                          name="Patient P1")
    treatment = cart.start_treatment(session, actor=nurse, scope=scope, patient_id=patient.id,
                                     location_id=world.location("Room 1").id, now=NOW)
    drawn = cart.draw(session, actor=nurse, scope=scope, treatment_id=treatment.id, container_id=vial.id,
                      quantity=Decimal("10"), unit="s.U", area="lip", now=NOW)
    # The count finds the vial full: the ledger follows the count, and the vial is sealed again.
    count = counts.create_submitted(session, actor=world.users["clinic_manager"],
                                    scope=Scope.for_user(world.users["clinic_manager"]),
                                    location_id=vial.location_id, lines=[LineSpec(container=str(vial.id), counted=Decimal(125))],
                                    now=NOW + dt.timedelta(hours=1))
    counts.post(session, actor=manager, scope=Scope.for_user(manager), count_id=count.id,
                now=NOW + dt.timedelta(hours=2))
    assert vial.state is ContainerState.SEALED
    send_transfer(world, [vial], at=NOW + dt.timedelta(hours=3))
    movements = session.scalar(select(func.count(Movement.id)))

    with session.begin_nested():
        try:
            cart.reverse(session, actor=nurse, scope=scope, movement_id=drawn.draw.movement_id,
                         reason="wrong vial scanned", now=NOW + dt.timedelta(hours=4))
        except DomainError as error:
            refusal = error
        else:
            refusal = None
    assert refusal is not None and refusal.code == "container_in_transit"
    session.expire_all()
    assert session.scalar(select(func.count(Movement.id))) == movements
    container = session.get(Container, vial.id)
    assert container.state is ContainerState.IN_TRANSIT and container.remaining == 0
    assert ledger.find_balance_mismatches(session) == []


def test_a_correction_never_leaves_more_in_a_container_than_it_was_received_with(session, world):
    """Found by the machine (a Dysport vial holding 600 U of 300): a waste that a count has since
    corrected (the count found the vial full), then reversed, counted the same units back twice. The
    reversal is refused; the count is the correction."""
    nurse, manager = world.users["nurse"], world.users["manager"]
    scope = Scope.for_user(nurse)
    hylenex = world.container("hylenex", lot="H1", expiry=NOW.date() + dt.timedelta(days=90))
    wasted = cart.waste(session, actor=nurse, scope=scope, container_id=hylenex.id, reason="dropped",
                        quantity=Decimal("10"), now=NOW)
    count = counts.create_submitted(session, actor=world.users["clinic_manager"],
                                    scope=Scope.for_user(world.users["clinic_manager"]),
                                    location_id=hylenex.location_id, lines=[LineSpec(container=str(hylenex.id), counted=Decimal(150))],
                                    now=NOW + dt.timedelta(hours=1))
    counts.post(session, actor=manager, scope=Scope.for_user(manager), count_id=count.id,
                now=NOW + dt.timedelta(hours=2))
    assert hylenex.remaining == hylenex.initial_quantity == Decimal(150)
    movements = session.scalar(select(func.count(Movement.id)))

    with session.begin_nested():
        try:
            cart.reverse(session, actor=nurse, scope=scope, movement_id=wasted.id, reason="it was not dropped",
                         now=NOW + dt.timedelta(hours=3))
        except DomainError as error:
            refusal = error
        else:
            refusal = None
    assert refusal is not None and refusal.code == "not_reversible"
    session.expire_all()
    assert session.scalar(select(func.count(Movement.id))) == movements
    assert session.get(Container, hylenex.id).remaining == Decimal(150)
    assert ledger.find_balance_mismatches(session) == []


def test_a_treatment_closes_after_a_container_it_drew_from_went_to_another_clinic(session, world):
    """Found by the machine (PostgreSQL run): a syringe drawn in a treatment by mistake, the draw
    reversed (the syringe sealed again), then sent to the other clinic and received there: closing the
    treatment locked every container it had drawn from with the nurse's scope, so it answered "No
    container with id ..." and the treatment could never be closed. The syringe holds nothing for this
    patient: closing leaves it alone."""
    nurse, manager = world.users["nurse"], world.users["manager"]
    scope = Scope.for_user(nurse)
    syringe = world.container("filler", lot="F1", expiry=NOW.date() + dt.timedelta(days=90))
    patient = cart.find_or_create_patient(session, scope=scope, clinic_id=world.clinic.id, external_ref="P1",
                                          name="Patient P1")
    treatment = cart.start_treatment(session, actor=nurse, scope=scope, patient_id=patient.id,
                                     location_id=world.location("Room 1").id, now=NOW)
    drawn = cart.draw(session, actor=nurse, scope=scope, treatment_id=treatment.id, container_id=syringe.id,
                      quantity=Decimal("0.1"), unit="mL", area="lip", now=NOW)
    cart.reverse(session, actor=nurse, scope=scope, movement_id=drawn.draw.movement_id, reason="wrong syringe",
                 now=NOW + dt.timedelta(minutes=5))
    assert syringe.state is ContainerState.SEALED and syringe.patient_id is None
    transfer = send_transfer(world, [syringe], at=NOW + dt.timedelta(minutes=10))
    clinic_transfers.receive(session, actor=manager, scope=Scope.for_user(manager), transfer_id=transfer.id,
                             now=NOW + dt.timedelta(hours=1))

    closed = cart.close_treatment(session, actor=nurse, scope=scope, treatment_id=treatment.id,
                                  now=NOW + dt.timedelta(hours=2))
    assert closed.wasted == [] and closed.treatment.is_closed
    assert syringe.clinic_id == world.other_clinic.id and syringe.remaining == syringe.initial_quantity
    assert ledger.find_balance_mismatches(session) == []
