"""The audit trail as the admin pages read it: what was done, by whom, when, and what changed, in words.

An audit event keeps what the change recorded (action codes, ids, JSON values: the API, exports and the hash chain
read them as they are). The words are made here, once, for every admin page that shows a trail: "Deactivated",
"by admin, 5 Dec 2026 12:50 GMT", "Active: yes → no"; "Clinics: LON → LON, NYC". An action or a field this module
does not know yet still reads as words (``user.locked_out`` reads "Locked out"), never as a crash.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from inventory.admin.service import LOOSENED_LABELS
from inventory.cart.service import AREA_LABELS, AREA_VALUES
from inventory.models import AuditEvent, Clinic, Role, User
from inventory.models.base import plain_quantity
from inventory.services import catalog
from inventory.services.clock import format_clinic_time
from inventory.services.permissions import ROLE_LABELS

# Every action the admin services record on users, clinics, locations and products.
ACTION_WORDS: dict[str, str] = {
    "user.created": "Account created",
    "user.changed": "Changed",
    "user.deactivated": "Deactivated",
    "user.reactivated": "Reactivated",
    "user.password_reset": "Password reset by an admin",
    "user.password_changed": "Changed their own password",
    "clinic.created": "Clinic opened",
    "clinic.settings_changed": "Settings changed",
    "clinic.dose_range_changed": "Typical dose range changed",
    "location.created": "Location added",
    "location.changed": "Location changed",
    "location.retired": "Location retired",
    "location.restored": "Location back in use",
    "product.created": "Product added",
    "product.changed": "Changed",
    "product.retired": "Retired",
    "product.restored": "Back in use",
    "product.sharing_changed": "Sharing between patients changed",
}

# What each recorded field is called on the forms that change it.
FIELD_WORDS: dict[str, str] = {
    # users
    "username": "Username",
    "display_name": "Name shown",
    "role": "Role",
    "clinic_ids": "Clinics",
    "chain_level": "Every clinic (chain level)",
    "is_active": "Active",
    # clinics
    "code": "Code",
    "name": "Name",
    "timezone": "Time zone",
    "filler_hold_days": "Days an opened filler is held for the same patient",
    "kit_warning_days": "Kit warning horizon (days)",
    "receipts_need_supplier": "Every receipt names its supplier",
    # locations
    "kind": "Kind",
    "temperature_sensitive": "Temperature-sensitive",
    # products
    "brand": "Brand",
    "generic_name": "Generic name",
    "manufacturer": "Manufacturer",
    "base_unit": "Base unit",
    "quantity_per_container": "Units or mL per container",
    "storage": "Storage",
    "molecule": "Molecule",
    "form": "Form",
    "strength_per_ml": "Concentration per mL",
    "volume_ml": "Volume per container (mL)",
    "is_single_dose": "Single-dose",
    "is_multi_patient": "Multi-patient within beyond-use time",
    "session_max_units": "Session maximum",
    "session_max_areas": "Areas the session maximum covers",
    "cumulative_max_units": "Cumulative maximum",
    "cumulative_window_days": "Cumulative window (days)",
    "retreat_interval_days": "Re-treatment interval (days)",
    "beyond_use_hours": "Beyond-use hours",
    "labelled_diluent": "Labelled diluent",
    "labelled_diluent_ml": "Labelled diluent (mL)",
    "gprime_category": "G′ category",
    "gprime_pa": "G′ (Pa)",
    "has_lidocaine": "With lidocaine",
    "material": "Material",
    "hyaluronidase_source": "Hyaluronidase source",
    "usual_max_units_per_session": "Usual maximum a session",
    "follow_up_days": "Follow-up (days)",
    "label_source": "Label source",
    "gtins": "GTINs",
    # what a change says of itself
    "reason": "Why",
    "loosened": "Loosened",
    "also_set_on": "Also set on",
    "limits_from": "Dose limits taken from",
    "set_through": "Set through",
    # a typical dose range
    "area": "Area",
    "low": "Low",
    "high": "High",
}

# Quantities the trail keeps as text ("64.0000"): said as a nurse writes them ("64").
QUANTITY_FIELDS = frozenset({
    "quantity_per_container", "strength_per_ml", "volume_ml", "session_max_units", "cumulative_max_units",
    "labelled_diluent_ml", "usual_max_units_per_session", "low", "high",
})

NONE = "(none)"


@dataclass(frozen=True)
class TrailLine:
    """One audit event in words: ``what`` was done (``action`` keeps its code), ``who`` did it ("by admin"),
    ``when`` on the page's clock with the zone named, and each change ("Active: yes → no")."""

    action: str
    what: str
    who: str
    when: str
    changes: tuple[str, ...]


@dataclass(frozen=True)
class _Known:
    """What the words need beyond the events: people's labels and clinics' codes and clocks, read once."""

    people: Mapping[int, str]
    clinics: Mapping[int, tuple[str, str]]  # id: (code, timezone)


def user_timezone(user: User) -> str:
    """The clock a page about ``user`` speaks on: their clinic's (or their clinics', when all keep one clock);
    UTC for a chain-level user or one whose clinics keep different clocks, as there is no one clinic to speak of."""
    zones = set() if user.is_chain_level else {clinic.timezone for clinic in user.clinics}
    return zones.pop() if len(zones) == 1 else "UTC"


def lines(session: Session, events: Sequence[AuditEvent], *, timezone: str) -> list[TrailLine]:
    """``events`` in words, in their order. An event recorded at a clinic is said on that clinic's clock; any other
    on ``timezone`` (the page's). Two statements, whatever the number of events."""
    if not events:
        return []
    known = _Known(people=_people(session, {e.actor_id for e in events if e.actor_id is not None}),
                   clinics=_clinics(session))
    return [_line(event, known, timezone) for event in events]


def _people(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(User.id, User.display_name, User.username).where(User.id.in_(sorted(ids))))
    return {user_id: display_name or username for user_id, display_name, username in rows}


def _clinics(session: Session) -> dict[int, tuple[str, str]]:
    # A chain has a handful of clinics: all of them, rather than the ids found in every event's details.
    return {clinic_id: (code, zone) for clinic_id, code, zone in session.execute(
        select(Clinic.id, Clinic.code, Clinic.timezone))}


def _line(event: AuditEvent, known: _Known, timezone: str) -> TrailLine:
    clinic = known.clinics.get(event.clinic_id) if event.clinic_id is not None else None
    zone = clinic[1] if clinic is not None else timezone
    return TrailLine(action=event.action, what=action_words(event.action), who=_who(event, known),
                     when=format_clinic_time(event.at, zone, zone=True), changes=_changes(event, known))


def action_words(action: str) -> str:
    """ "Deactivated" for user.deactivated; an action not listed reads as its last word ("Locked out")."""
    if action in ACTION_WORDS:
        return ACTION_WORDS[action]
    return _words(action.rsplit(".", 1)[-1]) or "Changed"


def _words(code: str) -> str:
    """ "receipts_need_supplier" -> "Receipts need supplier". """
    return code.replace("_", " ").strip().capitalize()


def _who(event: AuditEvent, known: _Known) -> str:
    if event.actor_id is None or event.actor_id not in known.people:
        return "by someone not on record"
    label = known.people[event.actor_id]
    if event.object_type == "user" and event.object_id == str(event.actor_id):
        return f"by {label}, the user themself"
    return f"by {label}"


def _changes(event: AuditEvent, known: _Known) -> tuple[str, ...]:
    details = event.details
    if not details:
        return ()
    if not isinstance(details, Mapping):
        return (_value(known, "", details),)
    if event.action == "clinic.dose_range_changed":
        return _dose_range(details)
    return tuple(_change(known, str(name), value) for name, value in details.items())


def _change(known: _Known, name: str, value: Any) -> str:
    label = FIELD_WORDS.get(name) or _words(name)
    if isinstance(value, Mapping) and set(value) == {"from", "to"}:
        return f"{label}: {_value(known, name, value['from'])} → {_value(known, name, value['to'])}"
    return f"{label}: {_value(known, name, value)}"


def _value(known: _Known, name: str, value: Any) -> str:
    """One recorded value in words, as the field it belongs to says it."""
    if value is None or value == "" or value == []:
        return "every area" if name == "session_max_areas" else NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name == "clinic_ids" and isinstance(value, list):
        return ", ".join(_clinic_code(known, clinic_id) for clinic_id in value)
    if name == "role":
        return _role(value)
    if name == "area":
        return AREA_LABELS.get(str(value), str(value))
    if name == "session_max_areas":
        codes = catalog.area_codes(value)
        return ", ".join(AREA_LABELS[a] for a in AREA_VALUES if a in codes) or ", ".join(sorted(codes))
    if name == "loosened" and isinstance(value, Mapping):
        return "; ".join(f"{LOOSENED_LABELS.get(str(f), _words(str(f)).lower())} {words}"
                         for f, words in value.items())
    if name in QUANTITY_FIELDS:
        return _quantity(value)
    if isinstance(value, Mapping):
        return _mapping(known, value)
    if isinstance(value, list):
        return ", ".join(_value(known, "", item) for item in value)
    return str(value)


def _clinic_code(known: _Known, clinic_id: Any) -> str:
    clinic = known.clinics.get(clinic_id) if isinstance(clinic_id, int) else None
    return clinic[0] if clinic is not None else f"clinic #{clinic_id}"


def _role(value: Any) -> str:
    try:
        return ROLE_LABELS[Role(value)]
    except (ValueError, KeyError):
        return str(value)


def _quantity(value: Any) -> str:
    try:
        return plain_quantity(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return str(value)


def _mapping(known: _Known, value: Mapping[str, Any]) -> str:
    """A product named in the trail ({"product_id": 3, "name": "Dysport 300 U", ...}) reads as its name, and
    its molecule; any other record as its fields."""
    if "name" in value:
        molecule = value.get("molecule")
        return f"{value['name']} ({molecule})" if molecule else str(value["name"])
    return ", ".join(f"{FIELD_WORDS.get(str(k)) or _words(str(k))}: {_value(known, str(k), v)}"
                     for k, v in value.items())


def _dose_range(details: Mapping[str, Any]) -> tuple[str, ...]:
    """ "onabotulinumtoxinA, Glabella (frown lines): 10 to 25 → 10 to 30" and why."""
    def span(value: Any) -> str:
        if not isinstance(value, Mapping):
            return "(none of its own)"
        return f"{_quantity(value.get('low'))} to {_quantity(value.get('high'))}"

    area = str(details.get("area", ""))
    said = [f"{details.get('molecule', '')}, {AREA_LABELS.get(area, area)}: "
            f"{span(details.get('from'))} → {span(details.get('to'))}"]
    if details.get("reason"):
        said.append(f"Why: {details['reason']}")
    return tuple(said)

