"""The migrations build exactly the schema the models describe."""

from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from inventory.extensions import db
from inventory.models import Base, DoseRange
from inventory.models.base import Quantity
from inventory import demo
from tests import factories


def test_migrations_match_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_sqlite_runs_with_wal_full_sync_and_foreign_keys(app, backend):
    if backend != "sqlite":
        pytest.skip("SQLite pragmas")
    with app.app_context(), db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_postgresql_connections_compile_nothing_just_in_time(app, backend):
    """A plan estimated above jit_above_cost (the kit board's per-kit look-up) spent 280 ms compiling what
    then ran in 3 ms: Vialog's connections run without JIT (inventory/extensions.py)."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL's JIT")
    with app.app_context(), db.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW jit").scalar() == "off"
        # The setting is the connection's own, not a transaction's: it outlives a rollback.
        connection.rollback()
        assert connection.exec_driver_sql("SHOW jit").scalar() == "off"


def test_the_migrations_have_one_head(app):
    from alembic.script import ScriptDirectory

    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config(app.extensions["migrate"].directory)
        heads = ScriptDirectory.from_config(config).get_heads()
    assert len(heads) == 1, f"merge the Alembic branches: init-db upgrades to one head, not {heads}"


# --- 0007_clinical_safety, on a database of its own --------------------------------------------------------

# The products table as 0006 left it (the columns the demo catalog fills), to write rows from before 0007.
PRODUCTS_0006 = sa.table(
    "products", *(sa.column(name) for name in (
        "name", "brand", "generic_name", "manufacturer", "kind", "base_unit", "storage", "is_active",
        "requires_reconstitution", "beyond_use_hours", "labelled_diluent", "is_multi_patient", "gprime_category",
        "gprime_pa", "has_lidocaine", "material", "hyaluronidase_source", "label_source")),
    *(sa.column(name, Quantity()) for name in (
        "quantity_per_container", "labelled_diluent_ml", "usual_max_units_per_session", "strength_per_ml")),
)
NEW_PRODUCT_COLUMNS = {"molecule", "form", "is_single_dose", "session_max_units", "session_max_areas",
                       "cumulative_max_units", "cumulative_window_days", "retreat_interval_days", "follow_up_days"}


def test_0007_backfills_molecule_form_and_single_dose_seeds_the_chain_ranges_and_goes_down_again(committed_app):
    """The demo catalog as a 0006 database held it, with a draw: the back-fill gives each product the molecule,
    form and single-dose flag the demo sets by hand. Down again, the 0006 schema is back, every row kept."""
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        session = db.session
        world = factories.build_world(session)
        vial = factories.reconstitute(world, world.container("botox", lot="MIG0007"))
        factories.draw(world, factories.start_treatment(world, "P-0007"), vial, "20")
        in_world = {product.name for product in world.products.values()}
        session.commit()
        session.close()

        downgrade(directory=directory, revision="0006_trace_draws")
        old_catalog = [spec for spec in demo.PRODUCTS if spec is not _alluzience()]  # 0006 refuses a liquid toxin
        with db.engine.begin() as connection:
            connection.execute(sa.insert(PRODUCTS_0006),
                               [_row_0006(spec) for spec in old_catalog if spec["name"] not in in_world])

        upgrade(directory=directory, revision="0007_clinical_safety")
        with db.engine.connect() as connection:
            filled = {r.name: (r.molecule, r.form, r.is_single_dose) for r in connection.execute(
                sa.text("SELECT name, molecule, form, is_single_dose FROM products"))}
            ranges = connection.execute(sa.select(DoseRange.clinic_id, DoseRange.molecule, DoseRange.area,
                                                  DoseRange.low, DoseRange.high).order_by(DoseRange.area)).all()
            draws = connection.execute(sa.text("SELECT quantity, dose_warnings, confirmed_warnings FROM draws")).all()
        assert filled == {spec["name"]: (spec.get("molecule"), spec.get("form"), spec.get("is_single_dose", False))
                          for spec in old_catalog}
        assert filled["Azzalure 125 s.U"][0] == filled["Dysport 300 U"][0] == "abobotulinumtoxinA"
        assert filled["Hyalase 1500 IU"] == ("hyaluronidase", "powder", True)
        assert filled["Radiesse 1.5 mL"] == ("calcium hydroxylapatite", "gel", False)
        assert [tuple(r) for r in ranges] == [
            (None, "onabotulinumtoxinA", area, Decimal(low), Decimal(high)) for area, low, high in (
                ("crows_feet_left", 6, 16), ("crows_feet_right", 6, 16), ("forehead", 10, 30), ("glabella", 10, 25))]
        assert len(draws) == 1 and draws[0][1:] == (None, None)
        upgrade(directory=directory)  # the later revisions too, so the schema is the models' again
        table = sa.inspect(db.engine)
        for name in ("products", "draws", "dose_ranges"):  # autogenerate compares no CHECK constraints
            assert {c["name"] for c in table.get_check_constraints(name)} == {
                c.name for c in Base.metadata.tables[name].constraints if isinstance(c, sa.CheckConstraint)}
        upgrade(directory=directory)  # and on to any later head: the schema is the models'
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                    Base.metadata) == []
        downgrade(directory=directory, revision="0007_clinical_safety")

        # A ready-to-use toxin has no place below 0007: the downgrade says so and changes nothing.
        with db.engine.begin() as connection:
            connection.execute(sa.insert(PRODUCTS_0006), [_row_0006(_alluzience())])
        with pytest.raises(SystemExit):
            downgrade(directory=directory, revision="0006_trace_draws")
        assert "molecule" in {c["name"] for c in sa.inspect(db.engine).get_columns("products")}
        with db.engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM products WHERE name = :name"), {"name": _alluzience()["name"]})

        downgrade(directory=directory, revision="0006_trace_draws")
        table = sa.inspect(db.engine)
        assert not table.has_table("dose_ranges")
        assert NEW_PRODUCT_COLUMNS.isdisjoint(c["name"] for c in table.get_columns("products"))
        assert {"dose_warnings", "confirmed_warnings", "confirm_reason"}.isdisjoint(
            c["name"] for c in table.get_columns("draws"))
        assert {"follow_up_on", "checklist"}.isdisjoint(c["name"] for c in table.get_columns("treatments"))
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as connection:  # the old toxin_facts is back
            connection.execute(sa.insert(PRODUCTS_0006), [_row_0006(_alluzience())])
        with db.engine.connect() as connection:
            assert set(connection.scalars(sa.text("SELECT name FROM products"))) == {s["name"] for s in old_catalog}
            assert connection.scalar(sa.text("SELECT count(*) FROM draws")) == 1

        upgrade(directory=directory)


def _row_0006(spec: dict) -> dict:
    row = dict(manufacturer="", generic_name="", is_active=True, requires_reconstitution=False, is_multi_patient=False,
               beyond_use_hours=None, labelled_diluent=None, gprime_category=None, gprime_pa=None, has_lidocaine=None,
               material=None, hyaluronidase_source=None, labelled_diluent_ml=None, usual_max_units_per_session=None,
               strength_per_ml=None)
    return row | {key: value for key, value in spec.items() if key in PRODUCTS_0006.c}


def _alluzience() -> dict:
    return next(spec for spec in demo.PRODUCTS if spec["name"].startswith("Alluzience"))


# --- 0008_administration --------------------------------------------------------------------------------------


def test_0008_adds_its_columns_with_defaults_marks_fridges_temperature_sensitive_and_goes_down_again(committed_app):
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        session = db.session
        factories.build_world(session)
        session.commit()
        session.close()
        downgrade(directory=directory, revision="0007_clinical_safety")
        table = sa.inspect(db.engine)
        assert "session_version" not in {c["name"] for c in table.get_columns("users")}
        assert "temperature_sensitive" not in {c["name"] for c in table.get_columns("locations")}

        upgrade(directory=directory, revision="0008_administration")
        with db.engine.connect() as connection:
            places = dict(connection.execute(sa.text("SELECT name, temperature_sensitive FROM locations")).all())
            users = connection.execute(sa.text("SELECT session_version, must_change_password FROM users")).all()
            clinics = connection.execute(sa.text("SELECT kit_warning_days FROM clinics")).scalars().all()
        assert {name: bool(flag) for name, flag in places.items()} == {"Fridge": True, "Cart": False, "Room 1": False}
        assert {(version, bool(flag)) for version, flag in users} == {(1, False)}
        assert set(clinics) == {30}
        upgrade(directory=directory)


def test_0010_adds_holds_and_the_safety_tables_and_goes_down_again(committed_app):
    """Issue 20: down below 0008 and 0010, the hold and sensitivity columns and the new tables are gone, every
    location and container kept; up again, the fridges a clinic already has start temperature-sensitive."""
    directory = committed_app.extensions["migrate"].directory
    with committed_app.app_context():
        world = factories.build_world(db.session)
        world.container("botox", lot="MIG0010")
        db.session.commit()
        db.session.close()

        downgrade(directory=directory, revision="0007_clinical_safety")
        table = sa.inspect(db.engine)
        assert "temperature_sensitive" not in {c["name"] for c in table.get_columns("locations")}
        assert {"on_hold_since", "hold_reason"}.isdisjoint(c["name"] for c in table.get_columns("containers"))
        assert not {"adverse_events", "excursions", "container_holds"} & set(table.get_table_names())

        upgrade(directory=directory)
        with db.engine.connect() as connection:
            sensitive = {(kind, bool(flag)) for kind, flag in connection.execute(
                sa.text("SELECT kind, temperature_sensitive FROM locations"))}
            assert connection.scalar(sa.text("SELECT count(*) FROM containers WHERE on_hold_since IS NULL")) == 1
        assert sensitive == {("fridge", True), ("cart", False), ("room", False)}
