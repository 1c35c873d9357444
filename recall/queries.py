"""The read side of recalls: traces from a lot to its containers and patients, and back.

Every query here is set-based: a trace of any number of lots is one statement for
the lots, one for their containers and one for their doses, however many patients
received them (tests/integration/test_recall_trace.py guards the count). Doses are
read by the lot, patient and clinic each draw carries (copied at the draw, migration
0006_trace_draws), so a trace reads one index range of draws and no container or
treatment per dose. Rows come back as small dataclasses, so templates and
serialisers never lazy-load.

A container on its way between clinics keeps its source clinic and location until it arrives
(inventory/transfers/service.py), so its line also carries the open transfer it travels with
(``ContainerLine.transit``): one more statement for all of them, and none when nothing travels.
The clinic it travels to sees it too (inventory/transfers/scoping.py), as incoming stock
(``ContainerLine.is_incoming``): recalled stock about to arrive must be found there before it is unpacked.

Nothing here writes; recording who looked at patient data is ``services``' job.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Unpack

from sqlalchemy import ColumnElement, Row, Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased, joinedload

from inventory import lifecycle
from inventory.cart import service as cart
from inventory.errors import NotFound, ScanError, ValidationError
from inventory.models import (
    Clinic,
    Container,
    ContainerState,
    Draw,
    Location,
    Lot,
    Movement,
    Patient,
    Product,
    User,
)
from inventory.receiving import returns
from inventory.services.barcodes import ScannedCode, normalise_lot_number, parse_scan
from inventory.services.catalog import product_for_gtin
from inventory.services.clock import format_clinic_time, to_clinic_time
from inventory.services.permissions import Scope, get_in_scope
from inventory.services.container_history import LostInTransit
from inventory.transfers import scoping
from inventory.transfers import service as clinic_transfers
from inventory.transfers.models import Transfer, TransferItem
from inventory.words import listing

MAX_QUERY_LENGTH = 500
MAX_ID = 2**31 - 1

# A lot number copied from a recall notice by eye: a letter read as the digit it looks like (and case, spaces and
# dashes) is the usual slip, so the look-alike key writes each such letter as its digit.
LOOK_ALIKES = {"O": "0", "I": "1", "L": "1", "S": "5", "B": "8", "Z": "2"}
_LOOK_ALIKE_TABLE = str.maketrans(LOOK_ALIKES)
MAX_CANDIDATES = 5
ONE_EDIT_FROM = 5  # a shorter typed number is one edit away from too many lots to be a useful hint
MAX_CANDIDATE_ROWS = 200  # the rows the one-edit rule is judged on, look-alikes first


# --- rows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClinicRef:
    id: int
    code: str
    name: str
    timezone: str


@dataclass(frozen=True)
class PatientRef:
    id: int
    clinic_id: int
    external_ref: str
    name: str
    date_of_birth: dt.date | None


@dataclass(frozen=True)
class TransitRef:
    """The transfer a container is travelling with: sent, and not yet received or recorded back."""

    transfer_id: int
    status: str  # the transfer's: in_transit (on its way there), or refused (on its way back to the source)
    from_clinic: ClinicRef
    to_clinic: ClinicRef
    to_location: str  # where the sender asked for it to go
    sent_at: dt.datetime  # UTC
    quantity: Decimal  # what travels: the source's ledger holds 0 of it until it arrives

    @property
    def sent_local_at(self) -> dt.datetime:
        """The moment it was sent, on the sending clinic's wall clock."""
        return to_clinic_time(self.sent_at, self.from_clinic.timezone)

    @property
    def is_going_back(self) -> bool:
        """Refused by the destination: on the road back to the source."""
        return self.status == "refused"

    @property
    def words(self) -> str:
        """ "in transit LON → NYC, transfer #12, sent 15 Jun 2026 10:30" (the sender's time), for pages and exports."""
        sent = format_clinic_time(self.sent_at, self.from_clinic.timezone)
        if self.is_going_back:
            return (f"in transit back {self.to_clinic.code} → {self.from_clinic.code} (refused), "
                    f"transfer #{self.transfer_id}, sent {sent}")
        return f"in transit {self.from_clinic.code} → {self.to_clinic.code}, transfer #{self.transfer_id}, sent {sent}"

    @property
    def incoming_words(self) -> str:
        """As the receiving clinic reads it: "on its way to NYC from LON, transfer #12, sent 15 Jun 2026 10:30"
        (the sender's time), or "refused at NYC, on its way back to LON, ..."."""
        sent = format_clinic_time(self.sent_at, self.from_clinic.timezone)
        if self.is_going_back:
            where = f"refused at {self.to_clinic.code}, on its way back to {self.from_clinic.code}"
        else:
            where = f"on its way to {self.to_clinic.code} from {self.from_clinic.code}"
        return f"{where}, transfer #{self.transfer_id}, sent {sent}"


@dataclass(frozen=True)
class ContainerLine:
    """Where one container of a lot is and what is left in it.

    A container in transit keeps its source clinic and location (``clinic``, ``location``) until it
    arrives, holding nothing there: ``transit`` says where it really is. ``is_incoming``: the viewer sees
    it only because it travels to one of their clinics (the source is not theirs).
    """

    id: int
    label_code: str
    lot_id: int
    clinic: ClinicRef
    location_id: int
    location: str
    state: ContainerState
    remaining: Decimal
    initial_quantity: Decimal
    base_unit: str
    patient_id: int | None
    transit: TransitRef | None = None
    is_incoming: bool = False
    # Never arrived where it was sent (declared missing on receipt, or with the whole box lost): written off at the
    # source, ``discarded`` on the shelf it left from, which ``location`` still names.
    lost_in_transit: LostInTransit | None = None
    # Gone back to the supplier (a RETURN movement emptied it: a receipt's return or a recall's), ``empty`` on the
    # shelf it left from: its state in words, "returned to Allergan Aesthetics (direct): wrong product"
    # (returns.returned_state, as the container page says it).
    returned: str | None = None

    @property
    def lost_with_transfer(self) -> int | None:
        """The transfer it was lost from, if it was."""
        return self.lost_in_transit.transfer_id if self.lost_in_transit else None

    @property
    def where_words(self) -> str:
        """Where it is, for an export: on the road, lost on it, gone back to the supplier from its location, or its
        location (the clinic is a column of its own)."""
        if self.transit:
            return self.transit.words
        if self.returned:
            return f"gone back to the supplier from {self.location}"
        return self.lost_in_transit.words if self.lost_in_transit else self.location

    @property
    def home(self) -> ClinicRef:
        """The viewer's clinic the line belongs under: the destination for incoming stock, else its clinic."""
        return self.transit.to_clinic if self.is_incoming and self.transit else self.clinic

    @property
    def is_in_transit(self) -> bool:
        return self.state is ContainerState.IN_TRANSIT

    @property
    def is_live(self) -> bool:
        """Still in stock: sealed, opened with something left, or on the road between clinics
        (what a recall must take back)."""
        return (
            self.state in lifecycle.HELD_STATES
            or self.remaining > 0
        )


@dataclass(slots=True)
class DoseLine:
    """One draw: the digital patient-record sticker, with whether it was reversed.

    Not frozen, unlike the other rows: a frozen dataclass sets each of its 22 fields through
    ``object.__setattr__`` (eight times slower to build), and a lot trace builds thousands. Treat
    it as read-only all the same.
    """

    draw_id: int
    movement_id: int
    treatment_id: int
    patient: PatientRef
    clinic: ClinicRef
    at: dt.datetime  # UTC
    area: str
    area_detail: str | None
    quantity: Decimal  # in the product's base unit
    quantity_ml: Decimal | None
    base_unit: str
    entered_unit: str
    reason: str | None
    injector_id: int
    injector: str
    container_id: int
    label_code: str
    lot_id: int
    lot_number: str
    product_id: int
    product: str
    is_reversed: bool

    @property
    def local_at(self) -> dt.datetime:
        """The moment as the clinic's wall clock showed it."""
        return to_clinic_time(self.at, self.clinic.timezone)


@dataclass
class ClinicGroup:
    clinic: ClinicRef
    containers: list[ContainerLine] = field(default_factory=list)
    doses: list[DoseLine] = field(default_factory=list)

    @property
    def patients(self) -> list[PatientRef]:
        return patients_of(self.doses)


@dataclass
class LotTrace:
    """A lot, every container of it and every dose drawn from it, in the viewer's clinics."""

    lot: Lot
    containers: list[ContainerLine]
    doses: list[DoseLine]

    @property
    def patients(self) -> list[PatientRef]:
        """Who received this lot: patients with at least one draw that was not reversed."""
        return patients_of(self.doses)

    @property
    def live_containers(self) -> list[ContainerLine]:
        return [c for c in self.containers if c.is_live]

    @property
    def incoming_containers(self) -> list[ContainerLine]:
        """Containers on their way to the viewer's clinics from a clinic the viewer does not see."""
        return [c for c in self.containers if c.is_incoming]

    @property
    def arriving_containers(self) -> list[ContainerLine]:
        """Incoming containers heading to the viewer's clinics (not refused there and going back)."""
        return [c for c in self.incoming_containers if not (c.transit and c.transit.is_going_back)]

    @property
    def going_back_containers(self) -> dict[str, int]:
        """Incoming containers the viewer's clinics refused, on their way back: how many per source clinic code."""
        back: dict[str, int] = {}
        for c in self.incoming_containers:
            if c.transit and c.transit.is_going_back:
                back[c.transit.from_clinic.code] = back.get(c.transit.from_clinic.code, 0) + 1
        return dict(sorted(back.items()))

    def by_clinic(self) -> list[ClinicGroup]:
        """The viewer's clinics, each with its containers (incoming ones under the clinic they travel to)
        and doses."""
        groups: dict[int, ClinicGroup] = {}
        for line in self.containers:
            groups.setdefault(line.home.id, ClinicGroup(line.home)).containers.append(line)
        for dose in self.doses:
            groups.setdefault(dose.clinic.id, ClinicGroup(dose.clinic)).doses.append(dose)
        return sorted(groups.values(), key=lambda g: g.clinic.code)


@dataclass
class PatientLot:
    lot: Lot
    doses: list[DoseLine]

    @property
    def received(self) -> bool:
        return any(not d.is_reversed for d in self.doses)


@dataclass
class PatientTrace:
    """Every lot one patient received, each with its draws (reversed ones marked)."""

    patient: PatientRef
    clinic: ClinicRef
    lots: list[PatientLot]


def patients_of(doses: Iterable[DoseLine]) -> list[PatientRef]:
    seen: dict[int, PatientRef] = {}
    for dose in doses:
        if not dose.is_reversed:
            seen.setdefault(dose.patient.id, dose.patient)
    return sorted(seen.values(), key=lambda p: (p.clinic_id, p.name.casefold(), p.id))


# --- finding lots --------------------------------------------------------------------


def lots_by_ids(session: Session, lot_ids: Iterable[int], scope: Scope | None = None) -> list[Lot]:
    """Lots with their products, in the order asked; raises NotFound for an unknown id, or for a lot the
    ``scope``'s clinics neither hold, used nor have on its way to them (transfers.scoping.filter_lots)."""
    ids = list(dict.fromkeys(lot_ids))
    for lot_id in ids:
        _ensure_id(lot_id, "lot")
    found = {lot.id: lot for lot in session.scalars(scoping.filter_lots(scope or Scope.everything(),
        select(Lot).where(Lot.id.in_(ids)).options(joinedload(Lot.product)), Lot.id
    ))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"No lot with id {missing[0]}.", id=missing[0])
    return [found[i] for i in ids]


# A trace warning's code: the scanned code's expiry is not that of the lot on file (lifecycle.expiry_contradicts).
EXPIRY_DIFFERS = "expiry_differs"


@dataclass(frozen=True)
class TraceWarning:
    """What a scanned code says that contradicts the lot it names, said beside the lot's trace without refusing it:
    the safety lead tracing a suspect box still needs where its lot went. ``code`` is stable (``EXPIRY_DIFFERS``)."""

    code: str
    message: str
    lot_id: int
    expiry_given: dt.date
    expiry_on_file: dt.date
    expiry_raw: str | None


@dataclass(frozen=True)
class FoundLots:
    """The lots a trace's query names (``find_lots``), and the warnings its scanned code gives about them."""

    lots: list[Lot]
    warnings: list[TraceWarning] = field(default_factory=list)


def find_traced(session: Session, text: str, scope: Scope) -> FoundLots:
    """``find_lots``, with a warning (``EXPIRY_DIFFERS``) when the text is a GS1 code whose expiry (AI 17) is not
    the expiry of the lot on file it names: receiving refuses such a box as a counterfeit sign, by the same rule
    (``lifecycle.expiry_contradicts``); a trace shows the lot all the same, and says so. Raises what ``find_lots``
    raises."""
    lots, code = _find_lots(session, text, scope)
    warnings = [
        TraceWarning(
            EXPIRY_DIFFERS,
            f"The code's expiry {code.expiry.isoformat()} differs from this lot's expiry on file, "
            f"{lot.expiry.isoformat()}: the box may not be genuine; check it and tell the safety lead.",
            lot_id=lot.id, expiry_given=code.expiry, expiry_on_file=lot.expiry, expiry_raw=code.expiry_raw)
        for lot in lots if code is not None and code.expiry is not None and lifecycle.expiry_contradicts(lot, code.expiry)
    ]
    return FoundLots(lots, warnings)


def find_lots(session: Session, text: str, scope: Scope) -> list[Lot]:
    """The lots a typed lot number or a scanned code names.

    A typed number matches regardless of case and surrounding spaces, and names every
    product's lot of that number (two manufacturers can print the same number). When
    no lot has that number, the text is read as a scan: a GS1 code names its product's
    lot, a Vialog label its container's lot. Raises ValidationError (nothing typed, or
    a bare GTIN that names no lot), UnreadableCode, BadCheckDigit, UnknownProduct or
    NotFound (a lot Vialog never received: the answer to "do we hold it?" is no; for a typed number,
    LotNotOnFile, naming the lots in ``scope`` it could be a slip for, which it never traces in its stead).
    """
    return _find_lots(session, text, scope)[0]


def _find_lots(session: Session, text: str, scope: Scope) -> tuple[list[Lot], ScannedCode | None]:
    """``find_lots``, and the GS1 code that named its lot (None for a typed number or a Vialog label)."""
    text = (text or "").strip()
    if not text:
        raise ValidationError("Scan the box or type a lot number.", field="lot")
    if len(text) > MAX_QUERY_LENGTH:
        raise ValidationError(f"At most {MAX_QUERY_LENGTH} characters.", field="lot")
    key = normalise_lot_number(text)
    by_number = list(session.scalars(scoping.filter_lots(scope,
        select(Lot).where(Lot.number_key == key).options(joinedload(Lot.product)).order_by(Lot.product_id, Lot.id),
        Lot.id,
    ))) if len(key) <= 20 else []
    if by_number:
        return by_number, None

    try:
        code = parse_scan(text)
        product = product_for_gtin(session, code.gtin) if code.kind == "gs1" and code.gtin else None
    except ScanError:
        if len(key) <= 20 and not text.startswith(("]", "(")):
            raise LotNotOnFile(text, lot_candidates(session, text, scope)) from None
        raise
    if code.kind == "container":
        assert code.label_code is not None
        # A box on its way to the caller's clinic is scanned on arrival, before it is received.
        found = session.scalar(scoping.filter_containers(scope,
            select(Lot).join(Container, Container.lot_id == Lot.id)
            .where(Container.label_code == code.label_code).options(joinedload(Lot.product)),
            Container.id, Container.clinic_id,
        ))
        if found is None:
            raise NotFound(f"No container with label {code.label_code}.", label_code=code.label_code)
        return [found], None
    if product is None or not code.lot:
        raise ValidationError(
            "This code names the product only, not its lot: scan the code with the lot, or type the lot number.",
            field="lot",
        )
    lot = session.scalar(scoping.filter_lots(scope,
        select(Lot).where(Lot.product_id == product.id, Lot.number_key == normalise_lot_number(code.lot))
        .options(joinedload(Lot.product)),
        Lot.id,
    ))
    if lot is None:
        raise NotFound(
            f"No lot {code.lot} of {product.name} on file: it was never received here.",
            lot=code.lot, product_id=product.id,
        )
    return [lot], code


@dataclass(frozen=True)
class LotCandidate:
    """A lot on file that a typed lot number could be a slip for (``lot_candidates``)."""

    id: int
    number: str
    product: str
    expiry: dt.date

    def words(self) -> str:
        return f"{self.number} ({self.product}, exp. {self.expiry.isoformat()})"


class LotNotOnFile(NotFound):
    """No lot of a typed number is on file (in the caller's clinics). With ``candidates``, the lots it could be a
    slip for, named in the message and in ``details.did_you_mean``: never chosen for the caller, as a recall must
    name the exact lot."""

    def __init__(self, text: str, candidates: Sequence[LotCandidate] = ()) -> None:
        self.text, self.candidates = text, list(candidates)
        if not self.candidates:
            super().__init__(f"No lot {text} on file: it was never received here.", lot=text)
            return
        named = [c.words() for c in self.candidates]
        either = listing(named, "or")
        super().__init__(f"No lot {text} on file. Did you mean {either}?", lot=text,
                         did_you_mean=[{"id": c.id, "number": c.number, "product": c.product}
                                       for c in self.candidates])


def look_alike_key(text: str) -> str:
    """A lot number as it reads by eye: NFKC, upper case, no spaces or dashes, and each letter that looks like a
    digit written as that digit (``LOOK_ALIKES``), so ``vm88b2l``, ``VM88-B21`` and ``VM 88 821`` are all
    ``VM88821``. For suggesting lots only: never to key or match one (``normalise_lot_number`` does)."""
    text = unicodedata.normalize("NFKC", text)
    kept = "".join(c for c in text if not c.isspace() and unicodedata.category(c) != "Pd")
    return kept.upper().translate(_LOOK_ALIKE_TABLE)


def one_edit_apart(a: str, b: str) -> bool:
    """Whether ``b`` is ``a`` with exactly one character substituted, added or dropped."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) > len(b):
        a, b = b, a
    start = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), len(a))
    return a[start + (len(a) == len(b)):] == b[start + 1:]


def could_be(typed: str, number: str) -> bool:
    """Whether a typed lot number could be a slip for lot ``number``: the same look-alike key, or (for a typed
    key of ``ONE_EDIT_FROM`` characters or more) keys one edit apart."""
    a, b = look_alike_key(typed), look_alike_key(number)
    return bool(a) and (a == b or (len(a) >= ONE_EDIT_FROM and one_edit_apart(a, b)))


def lot_candidates(session: Session, text: str, scope: Scope) -> list[LotCandidate]:
    """The lots in ``scope`` (transfers.scoping.filter_lots) a typed lot number on file nowhere could be a slip
    for (``could_be``): those of the same look-alike key first, then those one edit away, by number; at most
    ``MAX_CANDIDATES``.

    One statement: the database folds ``lots.number_key`` (already upper case and without spaces) the same way
    and keeps the lots of the same key, or, for the one-edit rule, of a length within one that share the key's
    first half or its last half (one edit leaves one of them whole); ``one_edit_apart`` then judges at most
    ``MAX_CANDIDATE_ROWS`` of them in Python."""
    key = look_alike_key(text)
    if not key:
        return []
    folded: ColumnElement[str] = func.replace(Lot.number_key, "-", "")
    for letter, digit in LOOK_ALIKES.items():
        folded = func.replace(folded, letter, digit)
    same = folded == key
    near: ColumnElement[bool] = same
    if len(key) >= ONE_EDIT_FROM:
        half = len(key) // 2
        near = or_(same, and_(func.length(folded).between(len(key) - 1, len(key) + 1),
                              or_(folded.startswith(key[:half], autoescape=True),
                                  folded.endswith(key[half:], autoescape=True))))
    rows = session.execute(scoping.filter_lots(scope,
        select(Lot.id, Lot.number, Lot.number_key, Lot.expiry, Product.name)
        .join(Product, Product.id == Lot.product_id).where(near)
        .order_by(case((same, 0), else_=1), Lot.number_key, Product.name, Lot.id).limit(MAX_CANDIDATE_ROWS),
        Lot.id,
    )).all()
    return [LotCandidate(row.id, row.number, row.name, row.expiry)
            for row in rows if could_be(text, row.number_key)][:MAX_CANDIDATES]


# --- traces -------------------------------------------------------------------------------


def lot_traces(session: Session, lots: Sequence[Lot], scope: Scope) -> list[LotTrace]:
    """Each lot's containers and doses in the caller's clinics: two statements for any number of lots."""
    ids = [lot.id for lot in lots]
    containers = container_lines(session, scope, Container.lot_id.in_(ids))
    doses = dose_lines(session, scope, Draw.lot_id.in_(ids), lots=lots,
                       labels={line.id: line.label_code for line in containers})
    traces = {lot.id: LotTrace(lot, [], []) for lot in lots}
    for line in containers:
        traces[line.lot_id].containers.append(line)
    for dose in doses:
        traces[dose.lot_id].doses.append(dose)
    return [traces[i] for i in ids]


def patient_trace(session: Session, patient_id: int, scope: Scope) -> PatientTrace:
    """Every lot a patient received; raises NotFound for a patient outside the caller's clinics."""
    _ensure_id(patient_id, "patient")
    patient = get_in_scope(session, Patient, patient_id, scope, "patient")
    clinic = session.get(Clinic, patient.clinic_id)
    assert clinic is not None
    doses = dose_lines(session, scope, Draw.patient_id == patient.id)
    lot_ids = list(dict.fromkeys(d.lot_id for d in doses))
    lots = {lot.id: lot for lot in session.scalars(
        select(Lot).where(Lot.id.in_(lot_ids)).options(joinedload(Lot.product))
    )} if lot_ids else {}
    grouped: dict[int, PatientLot] = {}
    for dose in doses:
        grouped.setdefault(dose.lot_id, PatientLot(lots[dose.lot_id], [])).doses.append(dose)
    return PatientTrace(_patient_ref(patient), _clinic_ref(clinic), list(grouped.values()))


def find_patients(session: Session, external_ref: str, scope: Scope) -> list[PatientRef]:
    """Patients of the caller's clinics whose reference reads as ``external_ref`` whatever the case, spaces or
    punctuation, the exact one first: the cart's look-up (``cart.find_patients``), so one key rules both."""
    return [_patient_ref(p) for p in cart.find_patients(session, scope=scope, external_ref=external_ref or "")]


def container_lines(session: Session, scope: Scope, where: ColumnElement[bool]) -> list[ContainerLine]:
    """Containers matching ``where`` in the caller's clinics or on their way to them (``is_incoming`` when the
    source is not the caller's), with clinic, location, unit and the return that sent one back to its supplier
    (``returned``): one statement, and one more for the transfers of those in transit (``transit``), if any."""
    stmt = (
        select(
            Container.id, Container.label_code, Container.lot_id, Container.location_id, Container.state,
            Container.remaining, Container.initial_quantity, Container.patient_id, Location.name,
            Product.base_unit, Clinic.id, Clinic.code, Clinic.name, Clinic.timezone,
            returns.RETURNED.id, returns.RETURNED.reason, returns.RETURNED.note,
        )
        .join(Location, Container.location_id == Location.id)
        .join(Clinic, Container.clinic_id == Clinic.id)
        .join(Product, Container.product_id == Product.id)
        # Sent back to the supplier, a container reads ``empty``: the RETURN that took it (returns.returned_on).
        .outerjoin(returns.RETURNED, returns.returned_on(Container.id, Container.state))
        .where(where)
        .order_by(Clinic.code, Location.name, Container.label_code)
    )
    lines = [
        ContainerLine(
            id=r[0], label_code=r[1], lot_id=r[2], location_id=r[3], state=r[4], remaining=r[5],
            initial_quantity=r[6], patient_id=r[7], location=r[8], base_unit=r[9],
            clinic=ClinicRef(r[10], r[11], r[12], r[13]), is_incoming=not scope.allows(r[10]),
            returned=returns.returned_state(r[15], r[16]) if r[14] is not None else None,
        )
        for r in _plain_rows(session, scoping.filter_containers(scope, stmt, Container.id, Container.clinic_id))
    ]
    travelling = [line.id for line in lines if line.is_in_transit]
    if travelling:
        transits = open_transfers(session, travelling)
        lines = [replace(line, transit=transits.get(line.id)) if line.is_in_transit else line for line in lines]
    # Written off at the source, a container lost in transit reads ``discarded`` there: the trace says what happened.
    discarded = [line.id for line in lines if line.state is ContainerState.DISCARDED]
    lost = clinic_transfers.lost_in_transit(session, discarded)
    return [replace(line, lost_in_transit=lost[line.id]) if line.id in lost else line for line in lines]


_FROM_CLINIC = aliased(Clinic, name="from_clinic")
_TO_CLINIC = aliased(Clinic, name="to_clinic")


def open_transfers(session: Session, container_ids: Sequence[int]) -> dict[int, TransitRef]:
    """The transfer each of these containers travels with, by container id: one statement.

    An item is open until its container arrives (received, or back at the source after a call-back or
    a refusal): then its TRANSFER_IN is recorded (``in_movement_id``). A container travels with one
    transfer at a time (sending refuses one in transit); the newest wins all the same.
    """
    stmt = (
        select(
            TransferItem.container_id, TransferItem.quantity, Transfer.id, Transfer.status, Transfer.sent_at,
            _FROM_CLINIC.id, _FROM_CLINIC.code, _FROM_CLINIC.name, _FROM_CLINIC.timezone,
            _TO_CLINIC.id, _TO_CLINIC.code, _TO_CLINIC.name, _TO_CLINIC.timezone, Location.name,
        )
        .join(Transfer, TransferItem.transfer_id == Transfer.id)
        .join(_FROM_CLINIC, Transfer.from_clinic_id == _FROM_CLINIC.id)
        .join(_TO_CLINIC, Transfer.to_clinic_id == _TO_CLINIC.id)
        .join(Location, Transfer.to_location_id == Location.id)
        .where(TransferItem.container_id.in_(list(container_ids)), TransferItem.in_movement_id.is_(None))
        .order_by(Transfer.id)
    )
    return {
        r[0]: TransitRef(transfer_id=r[2], status=str(r[3]), from_clinic=ClinicRef(r[5], r[6], r[7], r[8]),
                         to_clinic=ClinicRef(r[9], r[10], r[11], r[12]), to_location=r[13], sent_at=r[4],
                         quantity=r[1])
        for r in _plain_rows(session, stmt)
    }


def dose_lines(
    session: Session,
    scope: Scope,
    where: ColumnElement[bool],
    *,
    lots: Iterable[Lot] | None = None,
    labels: Mapping[int, str] | None = None,
) -> list[DoseLine]:
    """Draws matching ``where`` with patient, clinic, injector, lot and reversal: one statement.

    ``where`` is a condition on the draw's own columns: ``Draw.lot_id.in_(...)`` for a lot
    trace, ``Draw.patient_id == ...`` for a patient's. Each draw carries its lot, patient and
    clinic, so no container or treatment is joined per dose. What a caller already holds is
    not read again: ``lots`` (with their products) must be every lot ``where`` can reach, and
    ``labels`` maps container ids to label codes (a lot trace's container lines); without them
    the statement joins lots and products, or containers, per dose, which suits a patient's
    few doses. A label ``labels`` lacks (a container since sent to a clinic the viewer does not
    see) is read in one more small statement.

    A draw is reversed when a REVERSAL movement names its movement (``reverses_id`` is
    unique, so the outer join adds at most one row per draw).
    """
    stmt = (
        select(*_DOSE_COLUMNS)
        .join(Patient, Draw.patient_id == Patient.id)
        .join(Clinic, Draw.clinic_id == Clinic.id)
        .join(User, Draw.injector_id == User.id)
        .outerjoin(_REVERSAL, _REVERSAL.reverses_id == Draw.movement_id)
        .where(where)
        .order_by(Clinic.code, Draw.at, Draw.id)
    )
    if lots is None:
        stmt = stmt.add_columns(Lot.number, Product.id, Product.name, Product.base_unit).join(
            Lot, Draw.lot_id == Lot.id).join(Product, Lot.product_id == Product.id)
    if labels is None:
        stmt = stmt.add_columns(Container.label_code).join(Container, Draw.container_id == Container.id)
    rows = _plain_rows(session, scope.filter(stmt, Draw.clinic_id))

    width = len(_DOSE_COLUMNS)
    if lots is None:
        products = {r[14]: (r[width], r[width + 1], r[width + 2], r[width + 3]) for r in rows}
    else:
        products = {lot.id: (lot.number, lot.product_id, lot.product.name, lot.product.base_unit) for lot in lots}
    if labels is None:
        codes = {r[13]: r[-1] for r in rows}
    else:
        codes = dict(labels)
        missing = {r[13] for r in rows} - codes.keys()
        if missing:
            codes.update(_plain_rows(session, select(Container.id, Container.label_code).where(
                Container.id.in_(missing))))

    # Clinics and patients recur across doses: one ref object each.
    clinics: dict[int, ClinicRef] = {}
    patients: dict[int, PatientRef] = {}
    lines = []
    for (draw_id, movement_id, treatment_id, at, area, area_detail, quantity, quantity_ml, entered_unit, reason,
         injector_id, username, display_name, container_id, lot_id, patient_id, patient_clinic_id, external_ref,
         name, date_of_birth, clinic_id, clinic_code, clinic_name, timezone, reversal_id,
         ) in (rows if lots is not None and labels is not None else (r[:width] for r in rows)):
        clinic = clinics.get(clinic_id)
        if clinic is None:
            clinic = clinics[clinic_id] = ClinicRef(clinic_id, clinic_code, clinic_name, timezone)
        patient = patients.get(patient_id)
        if patient is None:
            patient = patients[patient_id] = PatientRef(patient_id, patient_clinic_id, external_ref, name,
                                                        date_of_birth)
        number, product_id, product, base_unit = products[lot_id]
        lines.append(DoseLine(
            draw_id, movement_id, treatment_id, patient, clinic, at, area, area_detail, quantity, quantity_ml,
            base_unit, entered_unit, reason, injector_id, display_name or username, container_id,
            codes[container_id], lot_id, number, product_id, product, reversal_id is not None,
        ))
    return lines


def _plain_rows(session: Session, stmt: Select[Unpack[tuple[Any, ...]]]) -> Sequence[Row[Unpack[tuple[Any, ...]]]]:
    """The statement's rows, read through the session's connection: the ORM's per-row handling of a
    column select costs more than a trace's statements. Pending changes are flushed first, as
    ``session.execute`` would (unless inside ``no_autoflush``)."""
    if session.autoflush:
        session.flush()
    return session.connection().execute(stmt).all()


# Built once: aliasing the 17-column movements table costs more than some statements that use it.
_REVERSAL = aliased(Movement, name="reversal")
# dose_lines unpacks its rows in this order (DoseLine is built positionally: a trace builds thousands).
_DOSE_COLUMNS = (
    Draw.id, Draw.movement_id, Draw.treatment_id, Draw.at, Draw.area, Draw.area_detail, Draw.quantity,
    Draw.quantity_ml, Draw.entered_unit, Draw.reason, Draw.injector_id, User.username, User.display_name,
    Draw.container_id, Draw.lot_id, Patient.id, Patient.clinic_id, Patient.external_ref, Patient.name,
    Patient.date_of_birth, Clinic.id, Clinic.code, Clinic.name, Clinic.timezone, _REVERSAL.id,
)


def _patient_ref(patient: Patient) -> PatientRef:
    return PatientRef(patient.id, patient.clinic_id, patient.external_ref, patient.name, patient.date_of_birth)


def _clinic_ref(clinic: Clinic) -> ClinicRef:
    return ClinicRef(clinic.id, clinic.code, clinic.name, clinic.timezone)


def _ensure_id(value: int, what: str) -> None:
    # Ids are INTEGER on PostgreSQL: a larger number names nothing and must not reach the database.
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"No {what} with id {value}.", id=value)
