"""0023_patient_ref_key on a database of its own: down, patients added the old way (no key); up again to exactly
the models, each patient with the key of its reference, so a look-alike of a patient on file before the upgrade
is refused and a reference typed loosely finds her; down drops the key and keeps the patients."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from inventory.cart import service as cart
from inventory.errors import PatientRefConflict
from inventory.extensions import db
from inventory.models import Base, Patient
from inventory.patient_refs import ref_key
from inventory.services.permissions import Scope
from tests import factories

OLD_REFS = ["P-1001", "Ｐ－2002", "p\u200b3003", "ﬃ-4004"]  # plain, fullwidth, a zero-width space, a ligature


def _columns() -> set[str]:
    return {c["name"] for c in sa.inspect(db.engine).get_columns("patients")}


def test_0023_keys_every_patient_on_file_and_goes_down_again(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        world = factories.build_world(db.session)
        clinic_id = world.clinic.id
        db.session.commit()
        db.session.close()

        downgrade(directory=directory, revision="0022_patient_reference_index")
        assert "ref_key" not in _columns()
        with db.engine.begin() as connection:  # what the old code wrote: no such column
            for ref in OLD_REFS:
                connection.execute(sa.text(
                    "INSERT INTO patients (clinic_id, external_ref, name, created_at) "
                    "VALUES (:clinic_id, :ref, 'Old Patient', CURRENT_TIMESTAMP)"), {"clinic_id": clinic_id, "ref": ref})

        upgrade(directory=directory)
        with db.engine.connect() as connection:
            keys = dict(connection.execute(sa.text("SELECT external_ref, ref_key FROM patients")).all())
            assert compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                    Base.metadata) == []
        assert keys == {ref: ref_key(ref) for ref in OLD_REFS}
        assert keys["Ｐ－2002"] == "p2002" and keys["p\u200b3003"] == "p3003" and keys["ﬃ-4004"] == "ffi4004"

        with pytest.raises(PatientRefConflict, match="looks like Ｐ－2002"):
            cart.find_or_create_patient(db.session, scope=Scope.everything(), clinic_id=clinic_id,
                                        external_ref="P 2002", name="New Patient")
        found = cart.find_patients(db.session, scope=Scope.everything(), external_ref="p-3003")
        assert [p.external_ref for p in found] == ["p\u200b3003"]
        db.session.rollback()
        db.session.close()

        downgrade(directory=directory, revision="0022_patient_reference_index")
        assert "ref_key" not in _columns()
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM patients")).scalar_one() == len(OLD_REFS)
        upgrade(directory=directory)


def test_patients_added_in_bulk_get_their_key(committed_app):
    """A bulk INSERT (the bench's, an import) names no key: the column's default computes each row's."""
    with committed_app.app_context():
        world = factories.build_world(db.session)
        db.session.execute(sa.insert(Patient), [
            {"clinic_id": world.clinic.id, "external_ref": ref, "name": "Bulk Patient"} for ref in ("B-1", "Ｂ－2")])
        keys = dict(db.session.execute(sa.select(Patient.external_ref, Patient.ref_key)).all())
        assert keys == {"B-1": "b1", "Ｂ－2": "b2"}
        db.session.rollback()
