"""0028_patient_name_key on a database of its own: down, patients added the old way (no name key); up again to
exactly the models, each patient with the key of her name, so "elodie" finds an Élodie on file before the
upgrade; down drops the key and keeps the patients."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from inventory.clinical.queries import search_patients
from inventory.extensions import db
from inventory.models import Base
from inventory.patient_refs import name_search_key
from inventory.services.permissions import Scope
from tests import factories

BEFORE = "0027_supplier_name_key"
OLD_NAMES = {"O-1": "Élodie Dupont", "O-2": "ZOË ÅNGSTRÖM", "O-3": "Hélène Lefèvre", "O-4": "Amelia Hart"}


def _columns() -> set[str]:
    return {c["name"] for c in sa.inspect(db.engine).get_columns("patients")}


def test_0028_keys_every_patient_on_file_and_goes_down_again(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        world = factories.build_world(db.session)
        clinic_id = world.clinic.id
        db.session.commit()
        db.session.close()

        downgrade(directory=directory, revision=BEFORE)
        assert "name_key" not in _columns()
        with db.engine.begin() as connection:  # what the old code wrote: no such column
            for ref, name in OLD_NAMES.items():
                connection.execute(sa.text(
                    "INSERT INTO patients (clinic_id, external_ref, ref_key, name, created_at) "
                    "VALUES (:clinic_id, :ref, :ref, :name, CURRENT_TIMESTAMP)"),
                    {"clinic_id": clinic_id, "ref": ref, "name": name})

        upgrade(directory=directory)
        with db.engine.connect() as connection:
            keys = dict(connection.execute(sa.text("SELECT external_ref, name_key FROM patients")).all())
            assert compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                    Base.metadata) == []
        assert keys == {ref: name_search_key(name) for ref, name in OLD_NAMES.items()}
        assert keys["O-1"] == "elodie dupont" and keys["O-2"] == "zoe angstrom"

        for typed, ref in (("elodie", "O-1"), ("zoe", "O-2"), ("helene lefevre", "O-3"), ("AMELIA", "O-4")):
            matches = search_patients(db.session, scope=Scope.everything(), text=typed).matches
            assert [m.patient.external_ref for m in matches] == [ref], typed
        db.session.rollback()
        db.session.close()

        downgrade(directory=directory, revision=BEFORE)
        assert "name_key" not in _columns()
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM patients")).scalar_one() == len(OLD_NAMES)
        upgrade(directory=directory)
