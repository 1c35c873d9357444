"""A realistic history of a clinic chain, written straight into PostgreSQL with COPY.

Deterministic from ``seed``: the same scale and seed give the same rows, ids and hashes.
The schema comes from the application's migrations; the rows follow the ledger's rules
exactly as the services would write them (inventory/services/cart.py, ledger.py):

- every container's movements are chained with ``audit_chain.movement_hash`` (the
  module's own function, so ``vialog verify`` recomputes the same hashes), each carries
  its running ``balance_after``, and the container's cached ``remaining`` and ``state``
  are what ``ledger.record`` would have left;
- the audit log is one global chain (``audit_chain.audit_hash``).

What is generated, per clinic (rooms, fridge, cart, store room and kit locations; three
nurses and a manager): ``treatments_per_day`` treatments a day, six days a week, of new
and returning patients; toxin treatments draw two areas in units from a reconstituted
vial (shared between patients for the products whose sharing an admin allowed, else one
vial per treatment with the remainder wasted at closing), filler treatments draw mL
from one or two single-patient syringes, a few dissolve filler with hyaluronidase.
Stock arrives in boxes of the region's current lot (a lot ships to one region of ten
clinics for a month), vials past their beyond-use time are wasted, a few draws are
reversed and drawn again, a few lots are recalled (live containers destroyed, patients
notified, case closed). Emergency kits are stocked through receipts and checked weekly.

Ids are assigned here, in blocks per clinic, so clinics are generated in parallel worker
processes; the loader drops the secondary indexes during COPY and rebuilds them after,
and runs with ``session_replication_role = replica`` (no foreign-key triggers: the rows
are consistent by construction, ``tests/bench/test_generator.py`` checks the keys).
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import random
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import psycopg

from inventory.services import audit_chain
from inventory.demo import KIT_REQUIREMENTS, KIT_TEMPLATE, PRODUCTS
from inventory.models.user import username_key
from inventory.models.catalog import ProductKind, opened_for_one_patient, product_name_key
from inventory.patient_refs import name_search_key, ref_key

DOSE_COLUMNS = ("follow_up_days", "session_max_units", "session_max_areas", "cumulative_max_units",
                "cumulative_window_days", "retreat_interval_days")

UTC = dt.UTC
END = dt.datetime(2026, 11, 1, tzinfo=UTC)  # the history ends here (fixed: determinism)
STEP = Decimal("0.0001")
ZERO = Decimal(0)
INT_BLOCK = 1_000_000  # ids per clinic for INTEGER keys (containers, patients, treatments, receipts, checks)
BIG_BLOCK = 100_000_000  # ids per clinic for BIGINT keys (movements, draws)
BENCH_PASSWORD = "bench-password-2026"
# Products whose sharing between patients an admin allowed (Product.is_multi_patient).
MULTI_PATIENT = {"Botox Cosmetic 100 U", "Dysport 300 U", "Xeomin 100 U"}
TIMEZONES = ("Europe/London", "America/New_York", "America/Chicago", "America/Los_Angeles", "Europe/Berlin",
             "Europe/Madrid", "Australia/Sydney", "America/Denver", "Europe/Paris", "Asia/Dubai")
CLINICS_PER_REGION = 10


@dataclass(frozen=True)
class Scale:
    clinics: int
    days: int
    kits_per_clinic: int
    treatments_per_day: int = 30
    recalls: int = 3


SCALES = {
    "tiny": Scale(clinics=2, days=100, kits_per_clinic=2, treatments_per_day=10, recalls=1),
    "small": Scale(clinics=10, days=90, kits_per_clinic=100, recalls=2),
    "chain": Scale(clinics=100, days=1826, kits_per_clinic=10, recalls=3),
}

TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": ("id", "clinic_id", "external_ref", "ref_key", "name", "name_key", "date_of_birth", "created_at"),
    "treatments": ("id", "clinic_id", "patient_id", "location_id", "injector_id", "started_at", "closed_at",
                   "closed_by_id"),
    "receipts": ("id", "clinic_id", "location_id", "lot_id", "received_by_id", "received_at", "container_count",
                 "scanned_code"),
    "containers": ("id", "label_code", "clinic_id", "location_id", "product_id", "lot_id", "receipt_id", "serial",
                   "state", "initial_quantity", "remaining", "diluent_ml", "concentration_u_per_ml",
                   "diluent_name", "diluent_lot", "reconstituted_at", "reconstituted_by_id", "beyond_use_at",
                   "patient_id", "opened_treatment_id", "opened_at", "created_at", "chain_head"),
    "movements": ("id", "clinic_id", "location_id", "container_id", "lot_id", "product_id", "kind", "quantity",
                  "balance_after", "actor_id", "at", "reason", "note", "treatment_id", "reverses_id",
                  "prev_hash", "row_hash"),
    "draws": ("id", "treatment_id", "container_id", "movement_id", "area", "area_detail", "quantity",
              "quantity_ml", "concentration_u_per_ml", "entered_unit", "reason", "injector_id", "at", "created_at",
              "lot_id", "patient_id", "clinic_id"),
    "kit_checks": ("id", "kit_id", "checked_by_id", "checked_at", "seal_intact", "notes", "status", "reasons"),
}
# Tables whose plain (non-constraint) indexes are dropped during the load and rebuilt after it.
BULK_TABLES = tuple(TABLE_COLUMNS)


class MoveRow(NamedTuple):
    """A movement's columns: what ``audit_chain.movement_hash`` reads by name."""

    id: int
    clinic_id: int
    location_id: int
    container_id: int
    lot_id: int
    product_id: int
    kind: str
    quantity: Decimal
    balance_after: Decimal
    actor_id: int
    at: dt.datetime
    reason: str | None
    note: str | None
    treatment_id: int | None
    reverses_id: int | None


class AuditRow(NamedTuple):
    id: int
    at: dt.datetime
    actor_id: int | None
    clinic_id: int | None
    action: str
    object_type: str
    object_id: str | None
    details: dict[str, Any] | None


# --- the shared plan: catalog, clinics, users, lots, kits --------------------------------------


@dataclass(frozen=True)
class ProductInfo:
    id: int
    name: str
    kind: str
    base_unit: str
    per_container: Decimal
    requires_reconstitution: bool
    beyond_use_hours: int | None
    diluent_ml: Decimal | None
    diluent_name: str | None
    strength: Decimal | None
    is_multi_patient: bool
    is_single_dose: bool

    @property
    def is_single_patient(self) -> bool:
        return opened_for_one_patient(ProductKind(self.kind), is_single_dose=self.is_single_dose,
                                      is_multi_patient=self.is_multi_patient)


@dataclass
class ClinicPlan:
    index: int  # 1-based
    id: int
    code: str
    timezone: str
    region: int
    rooms: list[int]
    fridge: int
    cart: int
    store: int
    kits: list[tuple[int, int, str]]  # (kit id, location id, flavour: ok / short / overdue)
    nurses: list[int]
    manager: int


@dataclass
class Plan:
    scale: Scale
    seed: int
    start: dt.date
    products: dict[str, ProductInfo]
    clinics: list[ClinicPlan]
    lots: dict[tuple[int, int, int], int]  # (product id, region, month) -> lot id
    kit_lots: dict[tuple[int, int, str], int]  # (product id, region, flavour) -> lot id
    recalls: dict[int, tuple[int, dt.datetime]]  # lot id -> (case id, moment)
    safety_id: int
    template_id: int
    months: int

    def month_of(self, day: dt.date) -> int:
        return (day.year - self.start.year) * 12 + day.month - self.start.month


def months_between(start: dt.date, end: dt.date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month + 1


def label_code(container_id: int) -> str:
    """A Vialog label (VL + 8 Crockford base-32 characters) that is the container id itself: unique."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    chars = []
    n = container_id
    for _ in range(8):
        n, r = divmod(n, 32)
        chars.append(alphabet[r])
    return "VL" + "".join(reversed(chars))


# --- the load --------------------------------------------------------------------------------


def generate(conninfo: str, scale: Scale, *, seed: int = 2026, workers: int = 2, log: Any = print) -> dict[str, Any]:
    """Fills an empty, migrated database (``vialog init-db``) with a history at ``scale``."""
    started = time.monotonic()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if conn.execute("SELECT count(*) FROM movements").fetchone()[0]:
            raise SystemExit("the database already holds movements: generate into a fresh one")
        plan = _write_shared(conn, scale, seed)
        dropped = _drop_bulk_indexes(conn)
    log(f"shared rows written; {len(dropped)} indexes dropped for the load ({time.monotonic() - started:.1f} s)")

    jobs = [(conninfo, plan, clinic) for clinic in plan.clinics]
    totals: dict[str, int] = {}
    recall_patients: list[tuple[int, int, int]] = []
    recall_containers: list[tuple[int, int, int]] = []
    if workers > 1 and len(jobs) > 1:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(workers) as pool:
            results: Iterable[ClinicResult] = pool.imap_unordered(_clinic_job, jobs)
            _collect(results, totals, recall_patients, recall_containers, log, started, len(jobs))
    else:
        _collect(map(_clinic_job, jobs), totals, recall_patients, recall_containers, log, started, len(jobs))

    with psycopg.connect(conninfo, autocommit=True) as conn:
        _write_recalls_and_audit(conn, plan, recall_patients, recall_containers)
        log(f"rebuilding {len(dropped)} indexes ({time.monotonic() - started:.1f} s)")
        conn.execute("SET maintenance_work_mem = '1GB'")
        for statement in dropped:
            conn.execute(statement)
        for table in ("clinics", "locations", "users", "products", "product_gtins", "lots", "kit_templates",
                      "kit_requirements", "kits", "recall_cases", "recall_lots", "recall_patients",
                      "recall_containers", "audit_events", *BULK_TABLES):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)")
        log(f"vacuum analyze ({time.monotonic() - started:.1f} s)")
        conn.execute("VACUUM (ANALYZE)")
    totals["seconds"] = round(time.monotonic() - started, 1)
    return totals


def _collect(results: Iterable[ClinicResult], totals: dict[str, int], patients: list, containers: list,
             log: Any, started: float, count: int) -> None:
    done = 0
    for result in results:
        done += 1
        for key, value in result.counts.items():
            totals[key] = totals.get(key, 0) + value
        patients.extend(result.recall_patients)
        containers.extend(result.recall_containers)
        if done == count or done % max(1, count // 20) == 0:
            log(f"clinic {done}/{count}: {totals.get('movements', 0):,} movements, "
                f"{totals.get('draws', 0):,} draws ({time.monotonic() - started:.0f} s)")


def _drop_bulk_indexes(conn: psycopg.Connection) -> list[str]:
    """Drops the plain indexes of the bulk tables; returns the statements that rebuild them."""
    rows = conn.execute(
        """SELECT i.indexname, i.indexdef FROM pg_indexes i
           WHERE i.schemaname = 'public' AND i.tablename = ANY(%s)
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
        (list(BULK_TABLES),),
    ).fetchall()
    for name, _ in rows:
        conn.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in rows]


def _seal_specs() -> dict[str, audit_chain.SealSpec]:
    """The app's seals by table (services/audit_chain.py), so ``vialog verify`` accepts the generated rows."""
    from recall import RECALL_SEALS, models as recall_models

    specs = [audit_chain.SealSpec(model, fields, with_id) for model, fields, with_id in audit_chain.CORE_SEALS]
    specs += [audit_chain.SealSpec(getattr(recall_models, name), fields, True) for name, fields in RECALL_SEALS.items()]
    return {spec.model.__table__.name: spec for spec in specs}  # type: ignore[attr-defined]


SEAL_SPECS = _seal_specs()


class _Columns(dict):
    """A generated row by column name; a sealed column the generator leaves out is NULL."""

    def __getattr__(self, name: str) -> Any:
        return self.get(name)


def _sealed(spec: audit_chain.SealSpec, columns: tuple[str, ...], rows: Iterable[tuple]) -> Iterator[tuple]:
    for row in rows:
        values = _Columns(zip(columns, row))
        yield (*row, audit_chain.row_seal(spec, values["id"], values))


def _insert(conn: psycopg.Connection, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
    spec = SEAL_SPECS.get(table)
    if spec is not None:
        rows, columns = _sealed(spec, columns, rows), (*columns, "row_seal")
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _write_shared(conn: psycopg.Connection, scale: Scale, seed: int) -> Plan:
    from argon2 import PasswordHasher

    rng = random.Random(seed)
    start = (END - dt.timedelta(days=scale.days)).date()
    created = dt.datetime.combine(start, dt.time(6), tzinfo=UTC) - dt.timedelta(days=30)

    # Catalog: the demo products, with their invented GTINs.
    products: dict[str, ProductInfo] = {}
    product_rows, gtin_rows = [], []
    for n, spec in enumerate(PRODUCTS, start=1):
        spec = dict(spec)
        gtin = spec.pop("gtin")
        kind = spec["kind"].value
        multi = spec["name"] in MULTI_PATIENT
        products[spec["name"]] = ProductInfo(
            n, spec["name"], kind, spec["base_unit"], spec["quantity_per_container"],
            spec.get("requires_reconstitution", False), spec.get("beyond_use_hours"),
            spec.get("labelled_diluent_ml"), spec.get("labelled_diluent"), spec.get("strength_per_ml"), multi,
            spec.get("is_single_dose", False),
        )
        gp = spec.get("gprime_category")
        product_rows.append((
            n, spec["name"], product_name_key(spec["name"]), spec["brand"], spec.get("generic_name", ""), "", kind,
            spec["base_unit"],
            spec["quantity_per_container"], spec["storage"], True, spec.get("requires_reconstitution", False),
            spec.get("beyond_use_hours"), spec.get("labelled_diluent"), spec.get("labelled_diluent_ml"), multi,
            spec.get("usual_max_units_per_session"), gp.value if gp else None, spec.get("gprime_pa"),
            spec.get("has_lidocaine"), spec.get("material"), spec.get("hyaluronidase_source"),
            spec.get("strength_per_ml"), spec.get("label_source", ""), created,
            # The molecule and its label limits: the draw benchmark's toxin draws run the dose checks.
            spec.get("molecule"), spec["form"].value if spec.get("form") else None, spec.get("is_single_dose", False),
            *(spec.get(column) for column in DOSE_COLUMNS),
        ))
        gtin_rows.append((n, n, gtin))
    _insert(conn, "products", (
        "id", "name", "name_key", "brand", "generic_name", "manufacturer", "kind", "base_unit", "quantity_per_container",
        "storage", "is_active", "requires_reconstitution", "beyond_use_hours", "labelled_diluent",
        "labelled_diluent_ml", "is_multi_patient", "usual_max_units_per_session", "gprime_category", "gprime_pa",
        "has_lidocaine", "material", "hyaluronidase_source", "strength_per_ml", "label_source", "created_at",
        "molecule", "form", "is_single_dose", *DOSE_COLUMNS,
    ), product_rows)
    _insert(conn, "product_gtins", ("id", "product_id", "gtin"), gtin_rows)

    # The kit template of the demo.
    template_id = 1
    _insert(conn, "kit_templates", ("id", "name", "description", "check_interval_days", "warning_days",
                                    "created_at"),
            [(template_id, KIT_TEMPLATE["name"], KIT_TEMPLATE["description"], KIT_TEMPLATE["check_interval_days"],
              KIT_TEMPLATE["warning_days"], created)])
    req_rows = []
    for n, (label, what, minimum, min_days) in enumerate(KIT_REQUIREMENTS, start=1):
        by_kind = hasattr(what, "value")  # a ProductKind (itself a str)
        req_rows.append((n, template_id, label, None if by_kind else products[what].id,
                         what.value if by_kind else None, Decimal(minimum), min_days))
    _insert(conn, "kit_requirements", ("id", "template_id", "label", "product_id", "product_kind", "min_quantity",
                                       "min_days_to_expiry"), req_rows)

    # Users: chain level first (admin, safety lead, manager, the benchmarks' own admin), then per clinic.
    password_hash = PasswordHasher().hash(BENCH_PASSWORD)
    user_rows = [
        (1, "admin", "Chain admin", "admin", True), (2, "safety", "Chain safety lead", "safety_lead", True),
        (3, "manager", "Chain manager", "manager", True), (4, "bench", "Benchmark client", "admin", True),
    ]
    clinic_rows, location_rows, kit_rows, user_clinic_rows = [], [], [], []
    clinics: list[ClinicPlan] = []
    location_id, user_id, kit_id = 0, len(user_rows), 0
    for k in range(1, scale.clinics + 1):
        code = f"C{k:03d}"
        zone = TIMEZONES[(k - 1) % len(TIMEZONES)]
        clinic_rows.append((k, code, f"Vialog Clinic {k:03d}", zone, 14 if k % 4 == 0 else 0, created))

        def place(name: str, kind: str) -> int:
            nonlocal location_id
            location_id += 1
            # Fridges are temperature-sensitive, as the app makes them (an excursion there holds their stock).
            location_rows.append((location_id, k, name, kind, True, kind == "fridge"))
            return location_id

        rooms = [place(f"Treatment room {r}", "room") for r in range(1, 5)]
        fridge, cart, store = place("Medicines fridge", "fridge"), place("Treatment cart", "cart"), place(
            "Store room", "storage")
        nurses = []
        for j in range(1, 4):
            user_id += 1
            user_rows.append((user_id, f"nurse-{code.lower()}-{j}", f"Nurse {j} ({code})", "nurse", False))
            user_clinic_rows.append((user_id, k))
            nurses.append(user_id)
        user_id += 1
        manager = user_id
        user_rows.append((manager, f"manager-{code.lower()}", f"Manager ({code})", "manager", False))
        user_clinic_rows.append((manager, k))
        kits = []
        for n in range(1, scale.kits_per_clinic + 1):
            kit_id += 1
            name = f"Emergency kit {n:03d}"
            loc = place(name, "kit")
            flavour = "short" if rng.random() < 0.05 else "overdue" if rng.random() < 0.08 else "ok"
            kit_rows.append((kit_id, k, template_id, name, loc, created))
            kits.append((kit_id, loc, flavour))
        clinics.append(ClinicPlan(k, k, code, zone, (k - 1) // CLINICS_PER_REGION, rooms, fridge, cart, store,
                                  kits, nurses, manager))
    _insert(conn, "clinics", ("id", "code", "name", "timezone", "filler_hold_days", "created_at"), clinic_rows)
    _insert(conn, "locations", ("id", "clinic_id", "name", "kind", "is_active", "temperature_sensitive"),
            location_rows)
    _insert(conn, "users", ("id", "username", "username_key", "display_name", "password_hash", "role",
                            "is_chain_level", "is_active", "created_at"),
            [(row[0], row[1], username_key(row[1]), row[2], password_hash, *row[3:], True, created)
             for row in user_rows])
    _insert(conn, "user_clinics", ("user_id", "clinic_id"), user_clinic_rows)
    _insert(conn, "kits", ("id", "clinic_id", "template_id", "name", "location_id", "created_at"), kit_rows)

    # Lots: each product ships to each region (ten clinics) one lot a month.
    regions = (scale.clinics - 1) // CLINICS_PER_REGION + 1
    months = months_between(start, END.date())
    lots: dict[tuple[int, int, int], int] = {}
    lot_rows = []
    shelf = {"neuromodulator": 24, "filler": 18, "hyaluronidase": 24, "supply": 36}
    lot_id = 0
    for product in products.values():
        if product.kind == "supply":
            continue
        for region in range(regions):
            for month in range(months):
                lot_id += 1
                number = f"{product.name[0]}{product.id:02d}{region:02d}{month:03d}{rng.randint(10, 99)}"
                first = _add_months(start.replace(day=1), month)
                expiry = _add_months(first, shelf[product.kind])
                lots[(product.id, region, month)] = lot_id
                lot_rows.append([lot_id, product.id, number, number, expiry, expiry.strftime("%y%m%d"), "active",
                                 None, None, dt.datetime.combine(first, dt.time(6), tzinfo=UTC)])
    # The kits' lots, received into the kits 200 days before the end: sound, or short-dated.
    kit_lots: dict[tuple[int, int, str], int] = {}
    for product in products.values():
        if product.kind not in ("hyaluronidase", "supply"):
            continue
        for region in range(regions):
            for flavour, days in (("ok", 700), ("short", 45)):
                lot_id += 1
                number = f"K{product.id:02d}{region:02d}{flavour[0].upper()}{rng.randint(100, 999)}"
                expiry = END.date() + dt.timedelta(days=days)
                kit_lots[(product.id, region, flavour)] = lot_id
                lot_rows.append([lot_id, product.id, number, number, expiry, expiry.strftime("%y%m%d"), "active",
                                 None, None, END - dt.timedelta(days=230)])

    # Recalls: a few toxin and filler lots of months long past, recalled two months after they shipped.
    recalls: dict[int, tuple[int, dt.datetime]] = {}
    candidates = [(key, lid) for key, lid in lots.items()
                  if 0 <= key[2] < months - 3 and key[1] == 0
                  and next(p for p in products.values() if p.id == key[0]).kind in ("neuromodulator", "filler")]
    for case_id, (key, lid) in enumerate(rng.sample(candidates, min(scale.recalls, len(candidates))), start=1):
        moment = dt.datetime.combine(_add_months(start.replace(day=1), key[2] + 2), dt.time(6), tzinfo=UTC)
        if moment.date() < start:
            moment = dt.datetime.combine(start, dt.time(6), tzinfo=UTC)
        recalls[lid] = (case_id, moment)
        row = lot_rows[lid - 1]
        row[6], row[7], row[8] = "recalled", f"Recall case {case_id}: manufacturer notice", moment
    _insert(conn, "lots", ("id", "product_id", "number", "number_key", "expiry", "expiry_raw", "status",
                           "status_reason", "status_changed_at", "created_at"), [tuple(r) for r in lot_rows])
    return Plan(scale, seed, start, products, clinics, lots, kit_lots, recalls, safety_id=2,
                template_id=template_id, months=months)


def _add_months(day: dt.date, months: int) -> dt.date:
    total = day.month - 1 + months
    return day.replace(year=day.year + total // 12, month=total % 12 + 1)


def _write_recalls_and_audit(conn: psycopg.Connection, plan: Plan, patients: list[tuple[int, int, int]],
                             containers: list[tuple[int, int, int]]) -> None:
    """Recall cases (closed: every patient notified, every live container destroyed) and the audit log."""
    case_rows, lot_rows, events = [], [], []
    for lot_id, (case_id, moment) in sorted(plan.recalls.items(), key=lambda item: item[1][0]):
        closed = moment + dt.timedelta(days=14)
        case_rows.append((case_id, "Manufacturer notice: particulate matter found in retained samples", "II",
                          "manufacturer", "closed", plan.safety_id, moment, plan.safety_id, closed))
        lot_rows.append((case_id, case_id, lot_id, "active"))
        events.append((moment, "recall.opened", "recall_case", str(case_id), {"lot_ids": [lot_id]}))
        events.append((moment, "lot.recalled", "lot", str(lot_id), {"case_id": case_id}))
        events.append((closed, "recall.closed", "recall_case", str(case_id), None))
    patient_rows = []
    for n, (case_id, patient_id, clinic_id) in enumerate(sorted(set(patients)), start=1):
        moment = plan.recalls[next(lot for lot, (c, _) in plan.recalls.items() if c == case_id)][1]
        patient_rows.append((n, case_id, patient_id, clinic_id, "notified", "phone", "told by phone",
                             plan.safety_id, moment + dt.timedelta(days=3)))
    container_rows = []
    for n, (case_id, container_id, clinic_id) in enumerate(sorted(set(containers)), start=1):
        moment = plan.recalls[next(lot for lot, (c, _) in plan.recalls.items() if c == case_id)][1]
        container_rows.append((n, case_id, container_id, clinic_id, "destroyed", "destroyed at the clinic",
                               plan.safety_id, moment))
    _insert(conn, "recall_cases", ("id", "reason", "recall_class", "source", "status", "opened_by_id",
                                   "opened_at", "closed_by_id", "closed_at"), case_rows)
    _insert(conn, "recall_lots", ("id", "case_id", "lot_id", "previous_status"), lot_rows)
    _insert(conn, "recall_patients", ("id", "case_id", "patient_id", "clinic_id", "status", "method", "note",
                                      "updated_by_id", "updated_at"), patient_rows)
    _insert(conn, "recall_containers", ("id", "case_id", "container_id", "clinic_id", "status", "note",
                                        "updated_by_id", "updated_at"), container_rows)
    audit_rows = []
    prev = audit_chain.GENESIS
    for n, (at, action, object_type, object_id, details) in enumerate(sorted(events, key=lambda e: e[0]), 1):
        row = AuditRow(n, at, plan.safety_id, None, action, object_type, object_id, details)
        digest = audit_chain.audit_hash(prev, row)
        audit_rows.append((*row[:-1], json.dumps(details) if details is not None else None, prev, digest))
        prev = digest
    _insert(conn, "audit_events", ("id", "at", "actor_id", "clinic_id", "action", "object_type", "object_id",
                                   "details", "prev_hash", "row_hash"), audit_rows)


# --- one clinic ------------------------------------------------------------------------------------


@dataclass
class ClinicResult:
    counts: dict[str, int]
    recall_patients: list[tuple[int, int, int]]
    recall_containers: list[tuple[int, int, int]]


def _clinic_job(job: tuple[str, Plan, ClinicPlan]) -> ClinicResult:
    conninfo, plan, clinic = job
    with psycopg.connect(conninfo) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET synchronous_commit = off")
        sim = ClinicSimulation(conn, plan, clinic)
        sim.run()
        sim.flush(final=True)
        conn.commit()
    return ClinicResult(sim.counts, sim.recall_patients, sim.recall_containers)


class Box:
    """A container while its history is simulated: what ledger.record keeps on the row."""

    __slots__ = ("id", "product", "lot_id", "location_id", "receipt_id", "initial", "remaining", "state",
                 "diluent_ml", "conc", "diluent_name", "reconstituted_at", "reconstituted_by", "bud", "patient_id",
                 "opened_tid", "opened_at", "created_at", "head", "last_at")

    def __init__(self, cid: int, product: ProductInfo, lot_id: int, location_id: int, receipt_id: int,
                 at: dt.datetime) -> None:
        self.id, self.product, self.lot_id, self.location_id, self.receipt_id = cid, product, lot_id, location_id, receipt_id
        self.initial, self.remaining = product.per_container, ZERO  # the RECEIVE movement fills it
        self.state = "sealed"
        self.diluent_ml = self.conc = self.diluent_name = self.reconstituted_at = self.reconstituted_by = None
        self.bud = self.patient_id = self.opened_tid = self.opened_at = None
        self.created_at = at
        self.head = audit_chain.GENESIS
        self.last_at = at

    def row(self, clinic_id: int) -> tuple:
        return (self.id, label_code(self.id), clinic_id, self.location_id, self.product.id, self.lot_id,
                self.receipt_id, None, self.state, self.initial, self.remaining, self.diluent_ml, self.conc,
                self.diluent_name, None, self.reconstituted_at, self.reconstituted_by, self.bud, self.patient_id,
                self.opened_tid, self.opened_at, self.created_at,
                None if self.head == audit_chain.GENESIS else self.head)


TOXIN_AREAS = (("glabella", 20), ("forehead", 10), ("crows_feet_left", 12), ("crows_feet_right", 12),
               ("bunny_lines", 4), ("masseter_left", 25), ("masseter_right", 25), ("dao", 4), ("mentalis", 6),
               ("lip_flip", 4), ("platysma", 20))
FILLER_AREAS = ("lip", "cheek", "chin", "jawline", "tear_trough", "nasolabial", "marionette", "temple")
TOXIN_WEIGHTS = (("Botox Cosmetic 100 U", 30), ("Dysport 300 U", 15), ("Xeomin 100 U", 10),
                 ("Botox Cosmetic 50 U", 6), ("Jeuveau 100 U", 6), ("Daxxify 100 U", 5), ("Letybo 100 U", 3),
                 ("Azzalure 125 s.U", 5))
FILLER_WEIGHTS = (("Juvederm Volbella XC 0.55 mL", 10), ("Juvederm Ultra XC 1.0 mL", 20),
                  ("Juvederm Voluma XC 1.0 mL", 20), ("Restylane Kysse 1.0 mL", 15), ("Restylane Lyft 1.0 mL", 15),
                  ("Radiesse 1.5 mL", 8))
HYALURONIDASE = ("Hylenex recombinant 150 USP U/mL", "Amphadase 150 USP U/mL")
BOX_SIZE = {"neuromodulator": 6, "filler": 10, "hyaluronidase": 5, "supply": 10}
FIRST_NAMES = ("Ava", "Ben", "Chloe", "Dan", "Emma", "Farah", "Grace", "Hugo", "Isla", "Jon", "Kira", "Liam",
               "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Vik", "Wen", "Yara", "Zoe")
LAST_NAMES = ("Adams", "Brown", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jones", "Khan",
              "Lopez", "Martin", "Nguyen", "Okafor", "Patel", "Quist", "Rossi", "Smith", "Taylor", "Ueda", "Vega",
              "Walsh", "Young", "Zhou")
FLUSH_ROWS = 20_000


class ClinicSimulation:
    """Day by day, one clinic's treatments and stock, as rows for COPY."""

    def __init__(self, conn: psycopg.Connection, plan: Plan, clinic: ClinicPlan) -> None:
        self.conn, self.plan, self.clinic = conn, plan, clinic
        self.rng = random.Random(plan.seed * 1000 + clinic.index)
        self.zone = ZoneInfo(clinic.timezone)
        k = clinic.index
        self.next_int = {name: k * INT_BLOCK for name in ("containers", "patients", "treatments", "receipts",
                                                          "kit_checks")}
        self.next_big = {name: k * BIG_BLOCK for name in ("movements", "draws")}
        self.rows: dict[str, list[tuple]] = {name: [] for name in TABLE_COLUMNS}
        self.counts: dict[str, int] = {name: 0 for name in TABLE_COLUMNS}
        self.boxes: list[Box] = []
        self.sealed: dict[int, deque[Box]] = {}
        self.open_vial: dict[int, Box] = {}
        self.patients: list[int] = []
        self.recall_patients: list[tuple[int, int, int]] = []
        self.recall_containers: list[tuple[int, int, int]] = []
        self.pending_recalls = sorted(
            (moment, lot_id, case_id) for lot_id, (case_id, moment) in plan.recalls.items()
        )
        self.products = plan.products
        self.toxins = [(self.products[n], w) for n, w in TOXIN_WEIGHTS]
        self.fillers = [(self.products[n], w) for n, w in FILLER_WEIGHTS]

    # ids and rows

    def _id(self, table: str) -> int:
        pool = self.next_int if table in self.next_int else self.next_big
        pool[table] += 1
        return pool[table]

    def _add(self, table: str, row: tuple) -> None:
        rows = self.rows[table]
        rows.append(row)
        if len(rows) >= FLUSH_ROWS and table != "containers":
            self._copy(table)

    def _copy(self, table: str) -> None:
        rows = self.rows[table]
        if rows:
            _insert(self.conn, table, TABLE_COLUMNS[table], rows)
            self.counts[table] += len(rows)
            self.rows[table] = []

    def flush(self, final: bool = False) -> None:
        if final:
            self.rows["containers"] = [box.row(self.clinic.id) for box in self.boxes]
        for table in TABLE_COLUMNS:
            self._copy(table)

    # the ledger

    def move(self, box: Box, kind: str, quantity: Decimal, actor: int, at: dt.datetime, *, reason: str | None = None,
             note: str | None = None, treatment_id: int | None = None, reverses_id: int | None = None) -> int:
        """ledger.record: the running balance, the state it leaves, the chained hash."""
        if at < box.last_at:
            at = box.last_at
        balance = box.remaining + quantity
        assert balance >= 0, (box.id, kind, quantity, box.remaining)
        box.remaining = balance
        if kind in ("transfer_out", "transfer_in"):
            pass
        elif balance == 0 and quantity < 0:
            box.state = "discarded" if kind == "waste" else "empty"
        elif balance > 0 and box.state in ("empty", "discarded"):
            box.state = "in_use"
        movement_id = self._id("movements")
        row = MoveRow(movement_id, self.clinic.id, box.location_id, box.id, box.lot_id, box.product.id, kind,
                      quantity, balance, actor, at, reason, note, treatment_id, reverses_id)
        digest = audit_chain.movement_hash(box.head, row)
        self._add("movements", (*row, box.head, digest))
        box.head, box.last_at = digest, at
        return movement_id

    def receive(self, product: ProductInfo, lot_id: int, location_id: int, count: int, at: dt.datetime,
                actor: int) -> list[Box]:
        receipt_id = self._id("receipts")
        self._add("receipts", (receipt_id, self.clinic.id, location_id, lot_id, actor, at, count, None))
        boxes = []
        for _ in range(count):
            box = Box(self._id("containers"), product, lot_id, location_id, receipt_id, at)
            self.boxes.append(box)
            self.move(box, "receive", product.per_container, actor, at, reason="received")
            boxes.append(box)
        return boxes

    def take(self, product: ProductInfo, at: dt.datetime) -> Box:
        """The oldest sealed container of a product, receiving a box of the region's lot when none is left."""
        stock = self.sealed.setdefault(product.id, deque())
        if not stock:
            # A clinic's day can start on the previous UTC date: clamp to the months that have lots.
            month = min(max(self.plan.month_of(at.date()), 0), self.plan.months - 1)
            lot_id = self.plan.lots[(product.id, self.clinic.region, month)]
            place = self.clinic.fridge if product.kind != "filler" else self.clinic.store
            stock.extend(self.receive(product, lot_id, place, BOX_SIZE[product.kind],
                                      at - dt.timedelta(minutes=30), self.clinic.manager))
        return stock.popleft()

    def reconstitute(self, box: Box, actor: int, at: dt.datetime) -> None:
        product = box.product
        box.diluent_ml = product.diluent_ml
        box.conc = (product.per_container / product.diluent_ml).quantize(STEP, rounding=ROUND_HALF_UP)
        box.diluent_name = product.diluent_name
        box.reconstituted_at, box.reconstituted_by = at, actor
        box.bud = at + dt.timedelta(hours=product.beyond_use_hours) if product.beyond_use_hours else None
        box.state = "in_use"
        self.move(box, "reconstitute", ZERO, actor, at, reason="reconstituted",
                  note=f"{box.diluent_ml.normalize():f} mL {box.diluent_name or 'diluent'}")

    def draw(self, box: Box, treatment: tuple[int, int], quantity: Decimal, area: str, actor: int,
             at: dt.datetime, *, entered: str) -> int:
        treatment_id, patient_id = treatment
        movement_id = self.move(box, "draw", -quantity, actor, at, treatment_id=treatment_id)
        if box.state == "sealed":
            box.state = "in_use"
        if box.product.is_single_patient and box.patient_id is None:
            box.patient_id, box.opened_tid, box.opened_at = patient_id, treatment_id, at
        if box.product.kind == "filler":
            ml, conc = quantity, None
        else:
            conc = box.conc if box.conc is not None else box.product.strength
            ml = (quantity / conc).quantize(STEP, rounding=ROUND_HALF_UP) if conc else None
        self._add("draws", (self._id("draws"), treatment_id, box.id, movement_id, area, None, quantity, ml, conc,
                            entered, None, actor, at, at, box.lot_id, patient_id, self.clinic.id))
        if box.lot_id in self.plan.recalls:
            self.recall_patients.append((self.plan.recalls[box.lot_id][0], patient_id, self.clinic.id))
        return movement_id

    def waste(self, box: Box, actor: int, at: dt.datetime, reason: str, *, note: str | None = None,
              treatment_id: int | None = None) -> None:
        self.move(box, "waste", -box.remaining, actor, at, reason=reason, note=note, treatment_id=treatment_id)

    # the days

    def run(self) -> None:
        plan, clinic = self.plan, self.clinic
        kit_day = max(plan.start, (END - dt.timedelta(days=200)).date())
        for offset in range(plan.scale.days):
            day = plan.start + dt.timedelta(days=offset)
            opening = dt.datetime.combine(day, dt.time(9), tzinfo=self.zone).astimezone(UTC)
            self._recalls_due(opening)
            if day == kit_day:
                self._stock_kits(opening - dt.timedelta(hours=1))
            if day.weekday() == 6:
                continue
            per_day = plan.scale.treatments_per_day
            spacing = 9 * 60 / per_day
            for i in range(per_day):
                at = opening + dt.timedelta(minutes=i * spacing + self.rng.random() * 4)
                self._treatment(at, clinic.rooms[i % len(clinic.rooms)], clinic.nurses[i % len(clinic.nurses)])
        if not self.clinic.kits or kit_day > END.date():
            return
        self._kit_checks(kit_day)

    def _recalls_due(self, moment: dt.datetime) -> None:
        while self.pending_recalls and self.pending_recalls[0][0] <= moment:
            at, lot_id, case_id = self.pending_recalls.pop(0)
            for box in self.boxes:
                if box.lot_id == lot_id and box.remaining > 0:
                    self.waste(box, self.clinic.manager, at, "other", note=f"recall case {case_id}: destroyed")
                    self.recall_containers.append((case_id, box.id, self.clinic.id))
            for product_id, stock in self.sealed.items():
                self.sealed[product_id] = deque(b for b in stock if b.lot_id != lot_id)
            for product_id, box in list(self.open_vial.items()):
                if box.lot_id == lot_id:
                    del self.open_vial[product_id]

    def _patient(self, at: dt.datetime) -> int:
        if self.patients and self.rng.random() < 0.7:
            return self.rng.choice(self.patients)
        patient_id = self._id("patients")
        rng = self.rng
        born = dt.date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28))
        ref = f"P{self.clinic.index:03d}-{len(self.patients) + 1:06d}"
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        self._add("patients", (patient_id, self.clinic.id, ref, ref_key(ref), name, name_search_key(name), born, at))
        self.patients.append(patient_id)
        return patient_id

    def _treatment(self, at: dt.datetime, room: int, nurse: int) -> None:
        rng = self.rng
        if self.pending_recalls and self.pending_recalls[0][0] <= at:
            self._recalls_due(at)
        patient_id = self._patient(at)
        treatment_id = self._id("treatments")
        treatment = (treatment_id, patient_id)
        closed = at + dt.timedelta(minutes=15)
        roll = rng.random()
        if roll < 0.60:
            self._toxin(treatment, nurse, at, closed)
        elif roll < 0.97:
            self._filler(treatment, nurse, at, closed)
        else:
            self._hyaluronidase(treatment, nurse, at, closed)
        self._add("treatments", (treatment_id, self.clinic.id, patient_id, room, nurse, at, closed, nurse))

    def _toxin(self, treatment: tuple[int, int], nurse: int, at: dt.datetime, closed: dt.datetime) -> None:
        rng = self.rng
        product = rng.choices([p for p, _ in self.toxins], weights=[w for _, w in self.toxins])[0]
        factor = product.per_container / 100 if product.per_container > 100 else Decimal(1)
        areas = rng.sample(TOXIN_AREAS, 2)
        box = None
        for n, (area, base) in enumerate(areas):
            dose = (Decimal(base) * factor).quantize(Decimal(1))
            when = at + dt.timedelta(minutes=5 + 3 * n)
            if product.is_multi_patient:
                box = self.open_vial.get(product.id)
                if box is not None and (when >= box.bud or box.remaining < dose):
                    past = when >= box.bud
                    self.waste(box, nurse, when, "beyond_use" if past else "other",
                               note=None if past else "too little left for a dose")
                    box = None
                if box is None:
                    box = self.take(product, when)
                    self.reconstitute(box, nurse, when)
                    self.open_vial[product.id] = box
                movement_id = self.draw(box, treatment, dose, area, nurse, when, entered="U")
                if rng.random() < 0.004 and box.remaining > 0:
                    # Recorded against the wrong area: reversed, then drawn again.
                    later = when + dt.timedelta(minutes=1)
                    self.move(box, "reversal", dose, nurse, later, reason="correction", note="wrong area entered",
                              treatment_id=treatment[0], reverses_id=movement_id)
                    self.draw(box, treatment, dose, areas[1 - n][0], nurse, later, entered="U")
            else:
                if box is None:
                    box = self.take(product, when)
                    self.reconstitute(box, nurse, when)
                dose = min(dose, box.remaining)
                if dose > 0:
                    self.draw(box, treatment, dose, area, nurse, when, entered="U")
        if not product.is_multi_patient and box is not None and box.remaining > 0:
            self.waste(box, nurse, closed, "single_patient_remainder", treatment_id=treatment[0])

    def _filler(self, treatment: tuple[int, int], nurse: int, at: dt.datetime, closed: dt.datetime) -> None:
        rng = self.rng
        product = rng.choices([p for p, _ in self.fillers], weights=[w for _, w in self.fillers])[0]
        for n in range(1 if rng.random() < 0.8 else 2):
            when = at + dt.timedelta(minutes=5 + 4 * n)
            box = self.take(product, when)
            volume = box.remaining
            if rng.random() < 0.5:
                self.draw(box, treatment, volume, rng.choice(FILLER_AREAS), nurse, when, entered="mL")
                continue
            first = (volume * Decimal(rng.uniform(0.3, 0.6))).quantize(Decimal("0.01"))
            self.draw(box, treatment, first, rng.choice(FILLER_AREAS), nurse, when, entered="mL")
            rest = box.remaining if rng.random() < 0.6 else (box.remaining * Decimal("0.7")).quantize(Decimal("0.01"))
            if rest > 0:
                self.draw(box, treatment, rest, rng.choice(FILLER_AREAS), nurse, when + dt.timedelta(minutes=2),
                          entered="mL")
            if box.remaining > 0:
                self.waste(box, nurse, closed, "single_patient_remainder", treatment_id=treatment[0])

    def _hyaluronidase(self, treatment: tuple[int, int], nurse: int, at: dt.datetime, closed: dt.datetime) -> None:
        product = self.products[self.rng.choice(HYALURONIDASE)]
        box = self.take(product, at)
        dose = Decimal(self.rng.choice((30, 45, 75, 150)))
        self.draw(box, treatment, dose, "other", nurse, at + dt.timedelta(minutes=5), entered="U")
        if box.remaining > 0:
            self.waste(box, nurse, closed, "other", note="single-dose vial: remainder discarded",
                       treatment_id=treatment[0])

    # kits

    def _kit_contents(self) -> list[tuple[ProductInfo, int]]:
        return [(self.products["Hylenex recombinant 150 USP U/mL"], 10),
                (self.products["Syringe 1 mL Luer-lock"], 10), (self.products["Needle 30 G 13 mm"], 10),
                (self.products["Sodium chloride 0.9% 10 mL"], 2), (self.products["Aspirin 300 mg"], 2),
                (self.products["Warm compress"], 2)]

    def _stock_kits(self, at: dt.datetime) -> None:
        for _, location_id, flavour in self.clinic.kits:
            for product, count in self._kit_contents():
                lot_flavour = "short" if flavour == "short" and product.kind == "hyaluronidase" else "ok"
                lot_id = self.plan.kit_lots[(product.id, self.clinic.region, lot_flavour)]
                self.receive(product, lot_id, location_id, count, at, self.clinic.manager)

    def _kit_checks(self, first_day: dt.date) -> None:
        for n, (kit_id, _, flavour) in enumerate(self.clinic.kits):
            day = first_day + dt.timedelta(days=1)
            last = END.date() - dt.timedelta(days=21 if flavour == "overdue" else 1)
            while day <= last:
                at = dt.datetime.combine(day, dt.time(8, 30), tzinfo=self.zone).astimezone(UTC)
                status = "expiring_soon" if flavour == "short" and (END.date() - day).days < 30 else "ready"
                self._add("kit_checks", (self._id("kit_checks"), kit_id, self.clinic.nurses[n % 3], at, True, "",
                                         status, "[]"))
                day += dt.timedelta(days=7)
