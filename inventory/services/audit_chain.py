"""Tamper evidence: every movement and every audit event carries a SHA-256 hash chained to the one before.

Two kinds of chain (docs/security.md "Tamper-evident ledger and audit log"):

- **Movements, one chain per container.** A movement's ``prev_hash`` is the ``row_hash`` of the same
  container's previous movement (64 zeros for its first). Every movement of a container is written while
  that container's row is locked (services/ledger.py), so "the previous movement" is never raced; the
  container row carries that hash (``chain_head``), read with the lock and written with the balance, and
  ``vialog verify`` checks every head against the ledger.
- **Audit events, one global chain.** On PostgreSQL the chain is serialised with a transaction-level
  advisory lock taken when the first event of a transaction is flushed; SQLite's BEGIN IMMEDIATE already
  lets one writer in at a time.

The hashes are computed in one place, a ``before_flush`` listener on the Session class (``install``), so
code that adds Movement or AuditEvent rows through the ORM is chained without doing anything. The database
refuses rows without a hash, and refuses UPDATE, DELETE (and on PostgreSQL TRUNCATE) of both tables
(migration 0003_audit_chain). ``vialog verify`` walks the chains (``find_chain_breaks``).

The canonical encoding never depends on the database: a JSON array of strings, with decimals quantized to
four places, moments as UTC ISO 8601 with microseconds, enums by value and None as the empty string. The
field lists are fixed and versioned: a column added to either table later is not covered unless a new
version of the encoding is introduced (old rows keep verifying under the old one).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, bindparam, event, func, inspect, select, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from inventory.models import AuditEvent, Container, Draw, Lot, Movement, Patient, Treatment
from inventory.models.base import QUANTITY_SCALE

GENESIS = "0" * 64
MOVEMENT_ENCODING = "vialog-movement-v1"
AUDIT_ENCODING = "vialog-audit-v1"
# pg_advisory_xact_lock key serialising the audit chain on PostgreSQL ("VIAL" + "AUDT" as one bigint).
AUDIT_CHAIN_LOCK_KEY = 0x5649414C_41554454

MOVEMENT_FIELDS: tuple[str, ...] = (
    "clinic_id", "location_id", "container_id", "lot_id", "product_id", "kind", "quantity", "balance_after",
    "actor_id", "at", "reason", "note", "treatment_id", "reverses_id",
)
AUDIT_FIELDS: tuple[str, ...] = ("at", "actor_id", "clinic_id", "action", "object_type", "object_id", "details")
_QUANTITY_FIELDS = frozenset({"quantity", "balance_after"})
_QUANTUM = Decimal(1).scaleb(-QUANTITY_SCALE)

# The triggers migration 0003_audit_chain creates; ``vialog verify`` reports any that is missing (a
# later migration that rebuilds one of these tables on SQLite would drop them silently).
GUARDED_TABLES = ("movements", "audit_events")
SQLITE_TRIGGERS = tuple(
    f"{table}_{what}" for table in GUARDED_TABLES for what in ("hash_required", "no_update", "no_delete")
)
POSTGRES_TRIGGERS = tuple(
    f"{table}_{what}" for table in GUARDED_TABLES for what in ("no_update_delete", "no_truncate")
)


# --- canonical encoding ---------------------------------------------------------


def canonical_value(value: Any) -> str:
    """One field as text that reads the same whatever database it came back from."""
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        quantized = value.quantize(_QUANTUM)
        if quantized == 0:
            quantized = Decimal(0).quantize(_QUANTUM)  # -0 reads back from the database as 0
        return f"{quantized:f}"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: Vialog stores moments in UTC")
        return value.astimezone(dt.UTC).isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    raise TypeError(f"no canonical encoding for {type(value).__name__}")


def canonical_json(value: Any) -> str:
    """A JSON value as the database will give it back (json round trip), then with sorted keys."""
    if value is None:
        return ""
    stored = json.loads(json.dumps(value))
    if stored is None:
        return ""
    return json.dumps(stored, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _digest(parts: Sequence[str]) -> str:
    encoded = json.dumps(list(parts), separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(encoded.encode("ascii")).hexdigest()


def movement_hash(prev_hash: str, row: Any) -> str:
    """``row`` is a Movement or a result row with the movement's columns."""
    values = [canonical_value(_as_stored(name, getattr(row, name))) for name in MOVEMENT_FIELDS]
    return _digest([MOVEMENT_ENCODING, prev_hash, *values])


def _as_stored(name: str, value: Any) -> Any:
    # A quantity given as 5 or "5" is stored and read back as Decimal("5.0000").
    if name in _QUANTITY_FIELDS and value is not None and not isinstance(value, Decimal):
        return Decimal(value)
    return value


def audit_hash(prev_hash: str, row: Any) -> str:
    """``row`` is an AuditEvent or a result row with the event's columns."""
    values = [
        canonical_json(row.details) if name == "details" else canonical_value(getattr(row, name))
        for name in AUDIT_FIELDS
    ]
    return _digest([AUDIT_ENCODING, prev_hash, *values])


# --- writing: one listener on every Session ------------------------------------------


def install() -> None:
    """Chains every new Movement and AuditEvent flushed by any Session, and seals the core's trace rows
    (idempotent)."""
    if not event.contains(Session, "before_flush", _chain_new_rows):
        event.listen(Session, "before_flush", _chain_new_rows)
    for model, fields, with_id in CORE_SEALS:
        register_seal(model, fields, with_id=with_id)


def _chain_new_rows(session: Session, _flush_context: Any, _instances: Any) -> None:
    movements: list[Movement] = []
    events: list[AuditEvent] = []
    for obj in session.new:
        if isinstance(obj, Movement):
            movements.append(obj)
        elif isinstance(obj, AuditEvent):
            events.append(obj)
    # The unit of work inserts one table's new rows in the order they were added: so does the chain.
    if movements:
        _chain_movements(session, sorted(movements, key=_insert_order))
    if events:
        _chain_events(session, sorted(events, key=_insert_order))


def _insert_order(obj: Any) -> int:
    return inspect(obj).insert_order or 0


def _chain_movements(session: Session, movements: list[Movement]) -> None:
    for movement in movements:
        _sync_foreign_keys(movement)
        container = session.get(Container, movement.container_id)  # the locked row, from the identity map
        if container is None:
            raise ValueError(f"A movement names container {movement.container_id}, which does not exist.")
        movement.prev_hash = chain_head(container)
        movement.row_hash = movement_hash(movement.prev_hash, movement)
        container.chain_head = movement.row_hash  # flushed with the container's balance


class Chained(Protocol):
    """A container, or the draw's draft of one (ledger.ContainerDraft)."""

    @property
    def chain_head(self) -> str | None: ...


def chain_head(container: Chained) -> str:
    """The hash a container's next movement chains to: its newest movement's, kept on the row (migration
    0013_chain_head). The caller holds the container's lock and loaded the row under it
    (ledger.lock_container), so the value read is current and nobody races it."""
    return container.chain_head or GENESIS


def _sync_foreign_keys(movement: Movement) -> None:
    """Ids set through a relationship are copied by the flush itself, after this listener: copy them now."""
    for fk, relation in (("container_id", "container"), ("actor_id", "actor")):
        if getattr(movement, fk) is None:
            related = getattr(movement, relation)
            if related is None or related.id is None:
                raise ValueError(f"A movement needs a flushed {relation} before it is flushed itself.")
            setattr(movement, fk, related.id)


def _chain_events(session: Session, events: list[AuditEvent]) -> None:
    bind = session.get_bind(mapper=inspect(AuditEvent))
    if bind.dialect.name == "postgresql":
        # Held to the end of the transaction: the next writer reads this one's last hash after it commits.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_CHAIN_LOCK_KEY})
    prev = session.scalar(select(AuditEvent.row_hash).order_by(AuditEvent.id.desc()).limit(1)) or GENESIS
    for audit_event in events:
        audit_event.prev_hash = prev
        audit_event.row_hash = audit_hash(prev, audit_event)
        prev = audit_event.row_hash


# --- reading: vialog verify -----------------------------------------------------------


@dataclass(frozen=True)
class ChainBreak:
    """One row whose hash or link does not hold."""

    table: str
    row_id: int
    chain: str  # "container 12" or "audit log"
    problem: str

    def __str__(self) -> str:
        noun = {"movements": "movement", "audit_events": "audit event", "containers": "container"}.get(
            self.table, f"{self.table} row")
        return f"{noun} {self.row_id} ({self.chain}): {self.problem}"


@dataclass(frozen=True)
class ChainSummary:
    movements: int
    containers: int
    last_movement_id: int | None
    audit_events: int
    audit_head_id: int | None
    audit_head_hash: str | None


def find_chain_breaks(session: Session) -> tuple[list[ChainBreak], ChainSummary]:
    """Recomputes every hash and link, each movement's running balance, and every sealed row's seal."""
    breaks: list[ChainBreak] = []
    movements, containers, last_movement = _check_movements(session, breaks)
    breaks += _check_chain_heads(session)
    events, head_id, head_hash = _check_audit_events(session, breaks)
    breaks.sort(key=lambda b: (b.table != "movements", b.row_id))
    breaks += find_seal_breaks(session)
    return breaks, ChainSummary(movements, containers, last_movement, events, head_id, head_hash)


_BATCH = 5000


def _rows(session: Session, columns: Sequence[Any], order_by: Sequence[Any]) -> Iterator[Any]:
    result = session.execute(select(*columns).order_by(*order_by).execution_options(yield_per=_BATCH))
    yield from result


def _check_movements(session: Session, breaks: list[ChainBreak]) -> tuple[int, int, int | None]:
    table = Movement.__table__
    columns = [table.c.id, table.c.prev_hash, table.c.row_hash, *(table.c[name] for name in MOVEMENT_FIELDS)]
    count = containers = 0
    last_id: int | None = None
    current: int | None = None
    prev_hash, prev_id, running = GENESIS, None, Decimal(0)
    for row in _rows(session, columns, [table.c.container_id, table.c.id]):
        count += 1
        last_id = row.id if last_id is None else max(last_id, row.id)
        if row.container_id != current:
            current, containers = row.container_id, containers + 1
            prev_hash, prev_id, running = GENESIS, None, Decimal(0)
        chain = f"container {row.container_id}"
        if row.prev_hash != prev_hash:
            after = f"movement {prev_id}" if prev_id is not None else "the start of the chain"
            breaks.append(ChainBreak("movements", row.id, chain, f"prev_hash does not match {after}: "
                                     "a movement was removed, inserted or rewritten before this one"))
        if row.row_hash != movement_hash(row.prev_hash, row):
            breaks.append(ChainBreak("movements", row.id, chain, "row_hash does not match the row: it was altered"))
        running += row.quantity
        if row.balance_after != running:
            breaks.append(ChainBreak("movements", row.id, chain, f"balance_after {row.balance_after:f} is not "
                                     f"the running sum {running:f} of the container's movements"))
            running = row.balance_after  # report each gap once, not every row after it
        prev_hash, prev_id = row.row_hash, row.id
    return count, containers, last_id


def _check_chain_heads(session: Session) -> list[ChainBreak]:
    """Every container whose ``chain_head`` is not its newest movement's ``row_hash`` (NULL: no movement).
    A head out of step would chain the container's next movement to the wrong row."""
    ledger_head = (
        select(Movement.row_hash).where(Movement.container_id == Container.id).order_by(Movement.id.desc())
        .limit(1).correlate(Container).scalar_subquery()
    )
    rows = session.execute(
        select(Container.id, Container.chain_head).where(Container.chain_head.is_distinct_from(ledger_head))
        .order_by(Container.id)
    )
    return [ChainBreak("containers", container_id, f"container {container_id}",
                       "chain_head does not match the container's newest movement: "
                       + ("it is missing" if head is None else "it was altered or a movement was written around it"))
            for container_id, head in rows]


def _check_audit_events(session: Session, breaks: list[ChainBreak]) -> tuple[int, int | None, str | None]:
    table = AuditEvent.__table__
    columns = [table.c.id, table.c.prev_hash, table.c.row_hash, *(table.c[name] for name in AUDIT_FIELDS)]
    count = 0
    prev_hash, prev_id = GENESIS, None
    for row in _rows(session, columns, [table.c.id]):
        count += 1
        if row.prev_hash != prev_hash:
            after = f"event {prev_id}" if prev_id is not None else "the start of the log"
            breaks.append(ChainBreak("audit_events", row.id, "audit log", f"prev_hash does not match {after}: "
                                     "an event was removed, inserted or rewritten before this one"))
        if row.row_hash != audit_hash(row.prev_hash, row):
            breaks.append(ChainBreak("audit_events", row.id, "audit log", "row_hash does not match the row: "
                                     "it was altered"))
        prev_hash, prev_id = row.row_hash, row.id
    return count, prev_id, (prev_hash if prev_id is not None else None)


def missing_guards(session: Session) -> list[str]:
    """The append-only triggers of migration 0003_audit_chain that the database does not have."""
    dialect = session.get_bind(mapper=inspect(Movement)).dialect.name
    if dialect == "sqlite":
        stmt = text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        expected: Sequence[str] = SQLITE_TRIGGERS
    elif dialect == "postgresql":
        stmt = text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D'")
        expected = POSTGRES_TRIGGERS
    else:
        return []
    present = set(session.scalars(stmt))
    return [name for name in expected if name not in present]


# --- anchors: hashes written down outside the server -------------------------------------


MAX_ROW_ID = 2**63 - 1  # audit events and movements have BIGINT ids (SQLite's INTEGER is as wide)


@dataclass(frozen=True)
class Anchor:
    """``audit:ID:HASH`` pins the audit log up to event ID; ``movements:ID:HASH`` pins every container's
    chain as it stood at movement ID (a digest of each container's newest movement up to ID)."""

    kind: str
    row_id: int
    digest: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.row_id}:{self.digest}"

    @classmethod
    def parse(cls, text_value: str) -> Anchor:
        kind, _, rest = text_value.strip().partition(":")
        row_id, _, digest = rest.partition(":")
        if kind not in {"audit", "movements"} or not row_id.isdigit() or len(digest) != 64:
            raise ValueError(f"{text_value!r} is not an anchor: expected audit:ID:HASH or movements:ID:HASH")
        if int(row_id) > MAX_ROW_ID:
            raise ValueError(f"{text_value!r} is not an anchor: no {kind} id is above {MAX_ROW_ID}")
        return cls(kind, int(row_id), digest.lower())


def movements_digest(session: Session, up_to_id: int) -> str:
    """SHA-256 over ``container_id:row_hash`` of each container's newest movement with id <= up_to_id."""
    newest = (
        select(func.max(Movement.id)).where(Movement.id <= up_to_id).group_by(Movement.container_id)
    )
    rows = session.execute(
        select(Movement.container_id, Movement.row_hash).where(Movement.id.in_(newest)).order_by(Movement.container_id)
    )
    digest = hashlib.sha256()
    for container_id, row_hash in rows:
        digest.update(f"{container_id}:{row_hash}\n".encode("ascii"))
    return digest.hexdigest()


def current_anchors(session: Session, summary: ChainSummary, settled_movement: int | None) -> list[Anchor]:
    """The audit chain's head, and the movement chains up to ``settled_movement`` (``settled_movement_id``)."""
    anchors = []
    if summary.audit_head_id is not None and summary.audit_head_hash is not None:
        anchors.append(Anchor("audit", summary.audit_head_id, summary.audit_head_hash))
    if settled_movement is not None:
        anchors.append(Anchor("movements", settled_movement, movements_digest(session, settled_movement)))
    return anchors


def settled_movement_id(bind: Engine | Connection, *, lock_timeout_s: int = 30) -> int | None:
    """The newest movement id below which no movement can still appear, for the movements anchor. The
    newest id visible will not do: a draw takes its movement's id with its container's lock and commits a
    moment later, so a draw under way may hold a lower id than one already committed; an anchor there would
    be broken by that draw's commit, and verify would report tampering that never happened.

    On PostgreSQL every writer of movements holds a lock on containers from before its movement's id is
    taken until it commits (a draw's lock reserves the id; the unit of work inserts after locking or
    inserting the container): ``LOCK TABLE containers IN EXCLUSIVE MODE``, in a transaction of its own,
    waits for the writers under way and holds new ones back for the instant the newest id is read (plain
    reads go on). SQLite serialises writers, and gives an id at the INSERT. Raises OperationalError if a
    writer holds containers longer than ``lock_timeout_s``.

    ``bind``: the session's. A connection is a transaction someone else holds (a test's): there the newest
    id is read as it stands, for a lock taken in it would keep every writer waiting until it ends."""
    if isinstance(bind, Connection):
        return bind.scalar(select(func.max(Movement.id)))
    with bind.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(lock_timeout_s)}s'")
            connection.exec_driver_sql("LOCK TABLE containers IN EXCLUSIVE MODE")
        newest = connection.scalar(select(func.max(Movement.id)))
        connection.rollback()
    return None if newest is None else int(newest)


def check_anchor(session: Session, anchor: Anchor) -> str | None:
    """None if the anchor still holds, else what differs (the caller names the anchor)."""
    if anchor.kind == "audit":
        stored = session.scalar(select(AuditEvent.row_hash).where(AuditEvent.id == anchor.row_id))
        if stored is None:
            return f"audit event {anchor.row_id} is gone"
        if stored != anchor.digest:
            return f"audit event {anchor.row_id} now hashes to {stored}"
        return None
    digest = movements_digest(session, anchor.row_id)
    if digest != anchor.digest:
        return f"the movement chains up to movement {anchor.row_id} now digest to {digest}"
    return None


# --- seals: every row a recall or an auditor relies on ------------------------------------------------
#
# Draws with their patient, treatments, patients' identity, lots (their state) and, registered by the
# recall feature, recall cases with their lots, patient and container lines. These rows are not
# append-only (a lot is quarantined, a treatment closed, a recall line notified), so instead of a chain
# each carries ``row_seal``: SHA-256 over the canonical encoding (as above) of its fields, rewritten by
# the ORM whenever the row changes. Changing a sealed field in the database directly (which patient a
# draw belongs to, a lot's status, a recall line) breaks the seal, and ``vialog verify`` names the row.
#
# A row whose id others refer to (a patient, a lot) seals its id too, so two rows' contents cannot be
# swapped with their seals; its id is known only after the INSERT, so the seal is written by one UPDATE
# of that row in the same flush. A draw is bound instead to its movement (unique, chained), so its seal
# is computed before the INSERT: the draw path pays one SHA-256 and no extra statement.

SEAL_ENCODING = "vialog-seal-v1"


@dataclass(frozen=True)
class SealSpec:
    model: type
    fields: tuple[str, ...]
    with_id: bool  # False only for rows bound by a unique, immutable field (a draw by its movement)


SEALED: dict[str, SealSpec] = {}  # table name -> spec

# The fields of each sealed table are fixed like the chains' (a column added later is not covered until
# a new encoding version). Mutable columns that carry no trace (a patient's phone) stay out.
CORE_SEALS: tuple[tuple[type, tuple[str, ...], bool], ...] = (
    (Patient, ("clinic_id", "external_ref", "name", "date_of_birth"), True),
    (Treatment, ("clinic_id", "patient_id", "location_id", "injector_id", "started_at", "closed_at",
                 "closed_by_id"), True),
    (Draw, ("movement_id", "treatment_id", "container_id", "lot_id", "patient_id", "clinic_id", "injector_id",
            "at", "area", "area_detail", "quantity", "quantity_ml", "concentration_u_per_ml", "entered_unit",
            "reason", "dose_warnings", "confirmed_warnings", "confirm_reason"), False),
    (Lot, ("product_id", "number", "number_key", "expiry", "expiry_raw", "status", "status_reason",
           "status_changed_at"), True),
)


def register_seal(model: type, fields: Sequence[str], *, with_id: bool = True) -> None:
    """Seals ``model``'s rows over ``fields`` from now on (idempotent). Features register their own tables
    (recall does from its init_app), so the core never imports them."""
    table = model.__table__.name  # type: ignore[attr-defined]
    if table in SEALED:
        return
    SEALED[table] = SealSpec(model, tuple(fields), with_id)
    event.listen(model, "before_update", _seal_before_update)
    if with_id:
        event.listen(model, "after_insert", _seal_after_insert)
    else:
        event.listen(model, "before_insert", _seal_before_insert)


def row_seal(spec: SealSpec, row_id: int | None, values: Any) -> str:
    """``values``: an object or a result row with the spec's fields."""
    parts = [SEAL_ENCODING, spec.model.__table__.name]  # type: ignore[attr-defined]
    if spec.with_id:
        parts.append(canonical_value(row_id))
    parts += [canonical_value(getattr(values, name)) for name in spec.fields]
    return _digest(parts)


def _spec_of(target: Any) -> SealSpec:
    return SEALED[type(target).__table__.name]


def seal_new(target: Any) -> str:
    """The seal of a new row bound by a unique field (a draw by its movement): computed before its INSERT,
    by the ORM's before_insert listener or by code that inserts the row itself (cart.service.draw)."""
    return row_seal(_spec_of(target), None, target)


def _seal_before_insert(_mapper: Any, _connection: Any, target: Any) -> None:
    target.row_seal = seal_new(target)


def _seal_before_update(_mapper: Any, _connection: Any, target: Any) -> None:
    spec = _spec_of(target)
    # Only a change of a sealed field changes the seal (a treatment's follow-up date is not trace data).
    state = inspect(target)
    if any(state.attrs[name].history.has_changes() for name in spec.fields):
        target.row_seal = row_seal(spec, target.id, target)


def _seal_after_insert(_mapper: Any, connection: Any, target: Any) -> None:
    spec = _spec_of(target)
    seal = row_seal(spec, target.id, target)
    table = spec.model.__table__  # type: ignore[attr-defined]
    connection.execute(table.update().where(table.c.id == target.id).values(row_seal=seal))
    set_committed_value(target, "row_seal", seal)


def find_seal_breaks(session: Session) -> list[ChainBreak]:
    """Every sealed row whose seal is missing or no longer matches its fields."""
    breaks: list[ChainBreak] = []
    for table_name, spec in sorted(SEALED.items()):
        table = spec.model.__table__  # type: ignore[attr-defined]
        columns = [table.c.id, table.c.row_seal, *(table.c[name] for name in spec.fields)]
        for row in _rows(session, columns, [table.c.id]):
            if row.row_seal is None:
                breaks.append(ChainBreak(table_name, row.id, "seal", "row_seal is missing: the row was written "
                                         "outside the application"))
            elif row.row_seal != row_seal(spec, row.id, row):
                breaks.append(ChainBreak(table_name, row.id, "seal", "row_seal does not match the row: it was "
                                         "altered outside the application"))
    return breaks


def seal_existing_rows(connection: Any, spec: SealSpec, ids: Sequence[int] | None = None) -> int:
    """Writes the seal of every row of ``spec``'s table, or of the rows ``ids``: migration
    0011_tamper_evident's back-fill, and rows added by a bulk INSERT (which runs no mapper events)."""
    table = spec.model.__table__  # type: ignore[attr-defined]
    stmt = select(table.c.id, *(table.c[name] for name in spec.fields))
    if ids is None:
        batches = [connection.execute(stmt).all()]
    else:  # in slices: a statement takes at most 65,535 parameters on PostgreSQL
        ids = list(ids)
        batches = [connection.execute(stmt.where(table.c.id.in_(ids[i:i + _SEAL_BATCH]))).all()
                   for i in range(0, len(ids), _SEAL_BATCH)]
    seal = table.update().where(table.c.id == bindparam("b_id")).values(row_seal=bindparam("b_seal"))
    written = 0
    for rows in batches:
        if rows:
            connection.execute(seal, [{"b_id": row.id, "b_seal": row_seal(spec, row.id, row)} for row in rows])
            written += len(rows)
    return written


_SEAL_BATCH = 10_000
