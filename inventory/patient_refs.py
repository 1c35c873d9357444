"""What a patient's reference reads as: the key that finds "p-1001", "P 1001", "P–1001" or "Ｐ-1001" for P-1001;
and what her name reads as to a search ("elodie" finds Élodie Dupont).

Stored with each patient (``Patient.ref_key``, indexed): the cart refuses a new reference whose key is already
on file at the clinic (it would split one patient's history, and her dose and interval checks, in two), and a
reference typed loosely finds its patient, both by one indexed look-up at any number of patients.
"""

from __future__ import annotations

import unicodedata

# Room for what a 64-character reference can read as: NFKC and case folding turn a ligature or a
# compatibility character into several ("ﬃ" is "ffi"). A key longer than this is refused, not cut.
MAX_REF_KEY = 192

_SEPARATORS = (" ", "-", ".", "/", "_")


def ref_key(ref: str) -> str:
    """NFKC (fullwidth "Ｐ－1001" is "P-1001"), case-folded, without invisible characters (Unicode Cf: a
    zero-width space, a soft hyphen) or separators (spaces, dots, slashes, underscores, every dash and the
    minus sign)."""
    visible = "".join(character for character in ref if unicodedata.category(character) != "Cf")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", visible).casefold())
    return "".join(character for character in folded if not _is_separator(character))


def _is_separator(character: str) -> bool:
    return character in _SEPARATORS or character == "\u2212" or unicodedata.category(character) in ("Pd", "Zs")


def name_search_key(name: str) -> str:
    """A name or a typed word as the Patients page compares them: compatibility forms decomposed (NFKD), case
    folded and accents (combining marks) dropped, so "elodie", "ELODIE" and "Élodie" read alike on every database,
    with no extension of PostgreSQL's (``Patient.name_key``). Migration 0028 keeps a frozen copy: change both, and
    re-key the table, or never. Pure."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", name).casefold())
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))
