"""The send page's box in the making: the containers scanned onto its list, where it goes and the note, kept in the
page session between the scans that build it.

Each scan posts the form and is answered with a redirect to the page (Post/Redirect/Get), so a reload or Back
shows the list again instead of asking to send the form anew, and the list lives on the server's side of the
request rather than in the page. Each send form has a box key of its own (a hidden field, then ``?box=`` in the
page's address once something was scanned): two tabs build two boxes. Nothing is written to the database until
Send; the session is cleared at sign-in and sign-out, so a box is its user's.

The page session is a signed cookie (a few kilobytes at most): it holds container ids, not labels, and the few most
recent boxes only, oldest dropped first.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field

from flask import session as page_session

SESSION_KEY = "vialog_transfer_boxes"
MAX_BOXES = 3  # boxes being built at once in one session (tabs); an older one is dropped
# What the boxes may take of the cookie, as JSON: older boxes are dropped to keep within it (the cookie is
# compressed when that helps; a browser drops one over 4 kB).
BUDGET = 2500
_KEY_SHAPE = re.compile(r"[A-Za-z0-9_-]{16}")


def new_box_key() -> str:
    return secrets.token_urlsafe(12)


def is_box_key(value: str | None) -> bool:
    return value is not None and _KEY_SHAPE.fullmatch(value) is not None


@dataclass
class Box:
    """One send form's box: ``container_ids`` in the order scanned (the first one's clinic is the box's)."""

    key: str
    container_ids: list[int] = field(default_factory=list)
    to_location_id: int = 0
    note: str = ""


def load(key: str) -> Box:
    """The box kept under ``key``, or an empty one (a new form, a key of a box sent or dropped, a tampered one)."""
    for entry in _entries():
        if entry[0] == key:
            return Box(key, list(entry[1]), entry[2], entry[3])
    return Box(key)


def save(box: Box) -> None:
    """Keeps ``box`` as the most recent one."""
    entries = [entry for entry in _entries() if entry[0] != box.key]
    entries.append([box.key, box.container_ids, box.to_location_id, box.note])
    entries = entries[-MAX_BOXES:]
    while len(entries) > 1 and len(json.dumps(entries)) > BUDGET:
        entries.pop(0)
    page_session[SESSION_KEY] = entries


def drop(key: str) -> None:
    """Forgets the box (sent)."""
    if any(entry[0] == key for entry in _entries()):
        page_session[SESSION_KEY] = [entry for entry in _entries() if entry[0] != key]


def _entries() -> list[list]:
    """The kept boxes, as [key, container ids, destination id, note], oldest first; anything else is no box."""
    saved = page_session.get(SESSION_KEY)
    if not isinstance(saved, list):
        return []
    return [entry for entry in saved
            if isinstance(entry, list) and len(entry) == 4 and isinstance(entry[0], str)
            and isinstance(entry[1], list) and all(isinstance(i, int) for i in entry[1])
            and isinstance(entry[2], int) and isinstance(entry[3], str)]
