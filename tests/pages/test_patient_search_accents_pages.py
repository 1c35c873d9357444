"""The Patients page finds a name whatever its accents and case, on SQLite and PostgreSQL alike: "elodie" finds
Élodie Dupont as "Dupont" does. Each word typed is compared with the name's stored key (Patient.name_key); the
reference search keeps its own key."""

from __future__ import annotations

import re
import unicodedata

import sqlalchemy as sa

from inventory.models import Patient
from inventory.patient_refs import name_search_key
from tests.factories import patient

_ROW = re.compile(r'<tr data-patient="(\d+)">')


def found(client, typed: str) -> list[int]:
    page = client.get("/patients", query_string={"q": typed}).get_data(as_text=True)
    return sorted(int(i) for i in _ROW.findall(page))


def test_a_name_is_found_whatever_its_accents_and_case(browser_client, world, session):
    elodie = patient(world, "P-1001", name="Élodie Dupont")
    zoe = patient(world, "P-1002", name="Zoë Ångström")
    # Stored decomposed (E + combining acute), as some keyboards and imports write it.
    decomposed = patient(world, "P-1003", name=unicodedata.normalize("NFD", "Hélène Lefèvre"))
    other = patient(world, "P-1004", name="Elena Dumont")
    session.flush()
    admin = browser_client("admin")

    for typed in ("elodie", "ELODIE", "Elodie", "élodie", "ÉLODIE DUPONT", "dupont elodie", "E\u0301lodie",
                  "lodie"):
        assert found(admin, typed) == [elodie.id], typed
    assert found(admin, "Dupont") == [elodie.id]
    assert found(admin, "zoe angstrom") == [zoe.id]
    assert found(admin, "ZOË") == [zoe.id]
    for typed in ("helene", "Hélène", "LEFEVRE", "lefèvre"):
        assert found(admin, typed) == [decomposed.id], typed
    assert found(admin, "el") == sorted([elodie.id, decomposed.id, other.id])  # "Él", "él", "El"
    # Nothing is found that the words do not spell, and LIKE's wildcards are letters like any other.
    assert found(admin, "elodie dumont") == []
    assert found(admin, "%") == [] and found(admin, "_lodie") == []
    # A lone accent names no letter: it finds nobody rather than everybody.
    assert found(admin, "\u0301") == []
    # The reference search is as it was.
    assert found(admin, "p 1001") == [elodie.id]


def test_the_key_is_kept_with_the_name_and_given_by_a_bulk_insert(world, session):
    """The ORM sets the key with the name; a Core INSERT that names no key (the bench's, an import) gets the
    column's default, computed from each row's name."""
    elodie = patient(world, "P-1001", name="Élodie Dupont")
    session.flush()
    assert elodie.name_key == "elodie dupont"
    session.execute(sa.insert(Patient), [{"clinic_id": world.clinic.id, "external_ref": ref, "name": name}
                                         for ref, name in (("B-1", "Chloé Müller"), ("B-2", "ZOË"))])
    keys = dict(session.execute(sa.select(Patient.external_ref, Patient.name_key)
                                .where(Patient.external_ref.in_(["B-1", "B-2"]))).all())
    assert keys == {"B-1": "chloe muller", "B-2": "zoe"}
    assert name_search_key("Straße") == "strasse" and name_search_key("ﬁona") == "fiona"
