"""The benchmark data generator (bench/generate.py) writes a history the project's own checks accept.

Behaviour only, never timing: a tiny history in a scratch PostgreSQL database must balance
(``vialog check``), verify (``vialog verify``: every movement chain and the audit chain), hold
no dangling foreign key (it is loaded with foreign-key triggers off), come out the same from
the same seed, and keep working with the application's own services on top.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import bindparam, select, text

from bench.generate import END, Scale, generate
from inventory.extensions import db
from inventory.models import Container, ContainerState, Draw, Lot, LotStatus, Product, Treatment, User
from inventory.services import audit_chain
from inventory.cart import service as cart
from inventory.services.ledger import find_balance_mismatches
from inventory.services.permissions import Scope
from tests.conftest import _postgres_database, make_test_app

TINY = Scale(clinics=2, days=100, kits_per_clinic=2, treatments_per_day=6, recalls=1)


def _generated_app(tmp_path: Path, name: str) -> Iterator[tuple[Flask, str]]:
    for url in _postgres_database():
        app = make_test_app(url, tmp_path / name)
        with app.app_context():
            upgrade(directory=app.extensions["migrate"].directory)
            db.engine.dispose()
        conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
        generate(conninfo, TINY, seed=7, workers=1, log=lambda *_: None)
        try:
            yield app, conninfo
        finally:
            with app.app_context():
                db.session.close()
                db.engine.dispose()


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    yield from (app for app, _ in _generated_app(tmp_path_factory.mktemp("bench"), "a"))


def test_generated_history_balances_and_every_chain_verifies(generated: Flask) -> None:
    with generated.app_context():
        session = db.session
        assert find_balance_mismatches(session) == []
        breaks, summary = audit_chain.find_chain_breaks(session)
        assert breaks == []
        assert audit_chain.missing_guards(session) == []
        assert summary.movements > 1000 and summary.containers > 100
        assert summary.audit_events == 3  # the recall: opened, lot recalled, closed


def test_generated_history_has_no_dangling_foreign_key(generated: Flask) -> None:
    with generated.app_context():
        session = db.session
        keys = session.execute(text(
            "SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, fa.attname "
            "FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1] "
            "WHERE c.contype = 'f' AND cardinality(c.conkey) = 1"
        )).all()
        assert len(keys) > 30
        for table, column, parent, parent_column in keys:
            dangling = session.scalar(text(
                f'SELECT count(*) FROM {table} t WHERE t."{column}" IS NOT NULL AND NOT EXISTS '
                f'(SELECT 1 FROM {parent} p WHERE p."{parent_column}" = t."{column}")'
            ))
            assert dangling == 0, f"{table}.{column} -> {parent}.{parent_column}"


def test_generated_history_follows_the_cart_rules(generated: Flask) -> None:
    with generated.app_context():
        session = db.session
        # Every draw is one DRAW movement of the same container and treatment, and about two per treatment.
        draws = session.scalar(select(text("count(*)")).select_from(Draw))
        treatments = session.scalar(select(text("count(*)")).select_from(Treatment))
        assert 1.5 < draws / treatments < 2.5
        mismatched = session.scalar(text(
            "SELECT count(*) FROM draws d JOIN movements m ON m.id = d.movement_id WHERE m.kind <> 'draw' "
            "OR m.container_id <> d.container_id OR m.treatment_id <> d.treatment_id OR m.quantity <> -d.quantity"
        ))
        assert mismatched == 0
        # A draw's copied trace keys are its container's lot and its treatment's patient and clinic.
        miscopied = session.scalar(text(
            "SELECT count(*) FROM draws d JOIN containers c ON c.id = d.container_id "
            "JOIN treatments t ON t.id = d.treatment_id "
            "WHERE d.lot_id <> c.lot_id OR d.patient_id <> t.patient_id OR d.clinic_id <> t.clinic_id"
        ))
        assert miscopied == 0
        # Single-patient containers (by the app's own rule, Product.is_single_patient) were opened for one patient only.
        single = [p.id for p in session.scalars(select(Product)) if p.is_single_patient]
        shared = session.scalar(text(
            "SELECT count(*) FROM (SELECT d.container_id FROM draws d JOIN treatments t ON t.id = d.treatment_id "
            "JOIN containers c ON c.id = d.container_id "
            "WHERE c.product_id IN :single GROUP BY d.container_id HAVING count(DISTINCT t.patient_id) > 1) x"
        ).bindparams(bindparam("single", expanding=True)), {"single": single})
        assert single and shared == 0
        # A recalled lot has nothing left in stock, and no draw after its recall.
        recalled = session.scalars(select(Lot).where(Lot.status == LotStatus.RECALLED)).all()
        assert len(recalled) == 1
        lot = recalled[0]
        left = session.scalar(text("SELECT coalesce(sum(remaining), 0) FROM containers WHERE lot_id = :l"),
                              {"l": lot.id})
        assert left == 0
        late = session.scalar(text(
            "SELECT count(*) FROM movements WHERE lot_id = :l AND kind = 'draw' AND at > :at"),
            {"l": lot.id, "at": lot.status_changed_at})
        assert late == 0
        # A reversal names a draw of the same container and puts back exactly what it took.
        wrong = session.scalar(text(
            "SELECT count(*) FROM movements r JOIN movements o ON o.id = r.reverses_id WHERE r.kind = 'reversal' "
            "AND (o.kind <> 'draw' OR o.container_id <> r.container_id OR r.quantity <> -o.quantity)"
        ))
        assert wrong == 0


def test_the_app_draws_on_top_of_a_generated_history(generated: Flask) -> None:
    """A generated open vial takes a new draw through the service, and the chain still verifies."""
    now = END + dt.timedelta(hours=1)
    with generated.app_context():
        session = db.session
        user = session.scalar(select(User).where(User.username == "bench"))
        product = session.scalar(select(Product).where(Product.name == "Xeomin 100 U"))
        vial = session.scalar(
            select(Container).where(Container.product_id == product.id, Container.clinic_id == 1,
                                    Container.state == ContainerState.SEALED).order_by(Container.id.desc()))
        patient_id = session.scalar(text("SELECT id FROM patients WHERE clinic_id = 1 LIMIT 1"))
        room = session.scalar(text("SELECT id FROM locations WHERE clinic_id = 1 AND kind = 'room' LIMIT 1"))
        scope = Scope.everything()
        treatment = cart.start_treatment(session, actor=user, scope=scope, patient_id=patient_id, location_id=room,
                                         now=now)
        cart.reconstitute(session, actor=user, scope=scope, container_id=vial.id, diluent_ml=Decimal("2.5"), now=now)
        cart.draw(session, actor=user, scope=scope, treatment_id=treatment.id, container_id=vial.id,
                  quantity=Decimal("4"), unit="U", area="glabella", now=now)
        session.commit()
        assert find_balance_mismatches(session) == []
        assert audit_chain.find_chain_breaks(session)[0] == []


def test_the_same_seed_gives_the_same_history(generated: Flask, tmp_path: Path) -> None:
    for app, _ in _generated_app(tmp_path, "b"):
        with app.app_context():
            last_id = db.session.scalar(text("SELECT max(id) FROM movements"))
            again = audit_chain.movements_digest(db.session, last_id)
    # Up to the last generated id: another test may have drawn on top of the first history.
    with generated.app_context():
        assert audit_chain.movements_digest(db.session, last_id) == again
