"""clinical safety: molecules and label dose limits, typical dose ranges, dose warnings on draws, follow-ups

Revision ID: 0007_clinical_safety
Revises: 0006_trace_draws
Create Date: 2026-12-01

Units add up, and are limited, per molecule, never per product (DOMAIN.md "Dose and interval checks"):
products learn their molecule, their form (powder, liquid or gel), whether the label makes them
single-dose, and the label's limits (session maximum over some areas, cumulative maximum over a
window, re-treatment interval) and default follow-up. toxin_facts no longer demands reconstitution,
so a ready-to-use liquid toxin (Alluzience) can be catalogued; a new check ties form 'powder' to
requires_reconstitution instead. dose_ranges holds the typical range per molecule and area: the
chain's defaults (clinic_id NULL, one per molecule and area by a partial unique index) seeded with
DOMAIN.md's figures for onabotulinumtoxinA, and any clinic's own rows overriding them. Draws keep
the warnings shown and those the injector confirmed, with the reason; treatments a follow-up date
and the pre-treatment checklist.

Existing products are back-filled from what they already hold: a toxin's molecule is its generic
name without a parenthesis ("abobotulinumtoxinA (Speywood units)" is abobotulinumtoxinA); every
hyaluronidase is the molecule hyaluronidase and single-dose; a filler's molecule follows its
material; a product reconstituted before use is a powder, any other toxin or hyaluronidase a liquid,
any other filler a gel; supplies get no molecule and no form. The label limits are not guessed: an
admin sets them. The catalog is small, so this is one UPDATE per product (one executemany).

PostgreSQL changes every table in place (each new CHECK validated by one scan). SQLite must rebuild a
table to change its CHECK constraints: draws are rebuilt by batch mode as 0006 did (no foreign key
points at them); products, which lots, containers and movements point at, are rebuilt with their rows
set aside (_products_batch), which costs a scan of each referencing table per product: seconds on a
clinic's database. Treatments only gain or lose plain columns, in place. Downgrade refuses while a
ready-to-use liquid toxin is catalogued, since the older schema cannot hold one.
"""
import contextlib
from collections.abc import Iterator
from decimal import Decimal

from alembic import op
from alembic.operations import BatchOperations
import sqlalchemy as sa

from inventory.models import base as vt  # noqa: F401  (Vialog's column types)


# revision identifiers, used by Alembic.
revision = '0007_clinical_safety'
down_revision = '0006_trace_draws'
branch_labels = None
depends_on = None

OLD_TOXIN_FACTS = "kind <> 'neuromodulator' OR (beyond_use_hours IS NOT NULL AND requires_reconstitution)"
TOXIN_FACTS = "kind <> 'neuromodulator' OR beyond_use_hours IS NOT NULL"
POWDER_IS_RECONSTITUTED = "form IS NULL OR (form = 'powder') = requires_reconstitution"
CUMULATIVE_LIMIT_HAS_WINDOW = "(cumulative_max_units IS NULL) = (cumulative_window_days IS NULL)"
POSITIVE_DOSE_LIMITS = ("session_max_units > 0 AND cumulative_max_units > 0 AND cumulative_window_days > 0 "
                        "AND retreat_interval_days > 0 AND follow_up_days > 0")
CONFIRMATION_HAS_REASON = "confirmed_warnings IS NULL OR confirm_reason IS NOT NULL"
CHAIN_DEFAULT = "clinic_id IS NULL"
OLD_BEYOND_USE_COMMENT = 'usable hours after reconstitution'
BEYOND_USE_COMMENT = 'usable hours after reconstitution, or after first puncture of a ready-to-use liquid'

# Filler materials as catalogued (Product.material) -> their molecule.
MATERIAL_MOLECULES = {'HA': 'hyaluronic acid', 'CaHA': 'calcium hydroxylapatite', 'PLLA': 'poly-L-lactic acid'}
# DOMAIN.md "Neuromodulators": typical session totals in Botox units; crow's feet are per side.
CHAIN_RANGES = [
    ('onabotulinumtoxinA', 'forehead', 10, 30),
    ('onabotulinumtoxinA', 'glabella', 10, 25),
    ('onabotulinumtoxinA', 'crows_feet_left', 6, 16),
    ('onabotulinumtoxinA', 'crows_feet_right', 6, 16),
]

_PRODUCTS = sa.table(
    'products',
    sa.column('id', sa.Integer()), sa.column('name', sa.String()), sa.column('kind', sa.String()),
    sa.column('generic_name', sa.String()), sa.column('material', sa.String()),
    sa.column('requires_reconstitution', sa.Boolean()), sa.column('molecule', sa.String()),
    sa.column('form', sa.String()), sa.column('is_single_dose', sa.Boolean()),
)


def upgrade():
    with _products_batch() as batch_op:
        batch_op.add_column(sa.Column('molecule', sa.String(length=60), nullable=True, comment="e.g. 'onabotulinumtoxinA': doses add up, and are limited, per molecule across products"))
        batch_op.add_column(sa.Column('form', sa.Enum('powder', 'liquid', 'gel', name='product_form', native_enum=False, create_constraint=True, length=24), nullable=True, comment='powder, liquid or gel; NULL for supplies'))
        batch_op.add_column(sa.Column('is_single_dose', sa.Boolean(), server_default=sa.false(), nullable=False, comment="the label's single-dose vial: one patient, one session"))
        batch_op.add_column(sa.Column('session_max_units', vt.Quantity(precision=14, scale=4), nullable=True, comment="the label's maximum in one session, over session_max_areas"))
        batch_op.add_column(sa.Column('session_max_areas', sa.String(length=300), nullable=True, comment='comma-separated area codes the session maximum covers; empty: all areas'))
        batch_op.add_column(sa.Column('cumulative_max_units', vt.Quantity(precision=14, scale=4), nullable=True, comment="the label's maximum over any cumulative_window_days"))
        batch_op.add_column(sa.Column('cumulative_window_days', sa.Integer(), nullable=True, comment='the window of cumulative_max_units'))
        batch_op.add_column(sa.Column('retreat_interval_days', sa.Integer(), nullable=True, comment="the label's shortest interval between two treatments with the molecule"))
        batch_op.add_column(sa.Column('follow_up_days', sa.Integer(), nullable=True, comment='default follow-up after a treatment with this product, e.g. 14 for toxins'))
        batch_op.alter_column('beyond_use_hours', existing_type=sa.Integer(), existing_nullable=True,
                              comment=BEYOND_USE_COMMENT, existing_comment=OLD_BEYOND_USE_COMMENT)
        batch_op.drop_constraint(batch_op.f('ck_products_toxin_facts'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_products_toxin_facts'), TOXIN_FACTS)
        batch_op.create_check_constraint(batch_op.f('ck_products_powder_is_reconstituted'), POWDER_IS_RECONSTITUTED)
        batch_op.create_check_constraint(batch_op.f('ck_products_cumulative_limit_has_window'),
                                         CUMULATIVE_LIMIT_HAS_WINDOW)
        batch_op.create_check_constraint(batch_op.f('ck_products_positive_dose_limits'), POSITIVE_DOSE_LIMITS)
    _backfill_products()

    ranges = op.create_table('dose_ranges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('clinic_id', sa.Integer(), nullable=True, comment="the clinic this range applies to; NULL: the chain's default"),
    sa.Column('molecule', sa.String(length=60), nullable=False, comment="as Product.molecule, e.g. 'onabotulinumtoxinA'"),
    sa.Column('area', sa.String(length=40), nullable=False, comment="an area code of the cart, e.g. 'glabella'"),
    sa.Column('low', vt.Quantity(precision=14, scale=4), nullable=False, comment="in the molecule's units"),
    sa.Column('high', vt.Quantity(precision=14, scale=4), nullable=False, comment='a session total above this draws a warning'),
    sa.CheckConstraint('low > 0 AND high >= low', name=op.f('ck_dose_ranges_ordered_range')),
    sa.ForeignKeyConstraint(['clinic_id'], ['clinics.id'], name=op.f('fk_dose_ranges_clinic_id_clinics')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dose_ranges')),
    sa.UniqueConstraint('clinic_id', 'molecule', 'area', name=op.f('uq_dose_ranges_clinic_id'))
    )
    op.create_index('uq_dose_ranges_chain_default', 'dose_ranges', ['molecule', 'area'], unique=True,
                    postgresql_where=sa.text(CHAIN_DEFAULT), sqlite_where=sa.text(CHAIN_DEFAULT))
    # Through the Quantity type, which stores ten-thousandths on SQLite.
    op.bulk_insert(ranges, [dict(clinic_id=None, molecule=molecule, area=area, low=Decimal(low),
                                 high=Decimal(high)) for molecule, area, low, high in CHAIN_RANGES])

    with op.batch_alter_table('draws', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dose_warnings', sa.String(length=200), nullable=True, comment='comma-separated codes of the dose warnings shown with this draw'))
        batch_op.add_column(sa.Column('confirmed_warnings', sa.String(length=200), nullable=True, comment='comma-separated codes the injector confirmed to draw anyway'))
        batch_op.add_column(sa.Column('confirm_reason', sa.Text(), nullable=True, comment='why the injector drew past those warnings'))
        batch_op.create_check_constraint(batch_op.f('ck_draws_confirmation_has_reason'), CONFIRMATION_HAS_REASON)

    with op.batch_alter_table('treatments', schema=None, recreate='never') as batch_op:  # see downgrade
        batch_op.add_column(sa.Column('follow_up_on', sa.Date(), nullable=True, comment='when to review the result (late effects such as ptosis or nodules show there)'))
        batch_op.add_column(sa.Column('checklist', sa.JSON(), nullable=True, comment='the pre-treatment questions and their answers: blood thinners, pregnancy, ...'))


@contextlib.contextmanager
def _products_batch() -> Iterator[BatchOperations]:
    """batch_alter_table('products'); on SQLite its rows step aside while the table is rebuilt.

    SQLite changes a table's CHECK constraints by rebuilding it: batch mode copies the table and drops
    the original, and dropping a table that lots, containers, movements, GTINs and kit requirements
    point at breaks their foreign keys, which cannot be switched off inside the migration's transaction.
    So the rows are copied aside and deleted first, with foreign keys checked only at commit
    (defer_foreign_keys, reset by the commit), the empty table is rebuilt, and the rows go back into the
    new table, which makes every reference whole again; the commit checks that it is.
    """
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        with op.batch_alter_table('products', schema=None) as batch_op:
            yield batch_op
        return
    op.execute('PRAGMA defer_foreign_keys = ON')
    op.execute('CREATE TEMP TABLE products_aside AS SELECT * FROM products')
    op.execute('DELETE FROM products')
    with op.batch_alter_table('products', schema=None, recreate='always') as batch_op:
        yield batch_op
    aside = {row[1] for row in bind.exec_driver_sql('PRAGMA temp.table_info(products_aside)')}
    kept = ', '.join(c['name'] for c in sa.inspect(bind).get_columns('products') if c['name'] in aside)
    op.execute(f'INSERT INTO products ({kept}) SELECT {kept} FROM products_aside')
    op.execute('DROP TABLE products_aside')


def _backfill_products():
    p = _PRODUCTS
    bind = op.get_bind()
    rows = bind.execute(sa.select(p.c.id, p.c.kind, p.c.generic_name, p.c.material, p.c.requires_reconstitution))
    facts = [dict(product_id=row.id, **_facts(row)) for row in rows]
    if facts:
        bind.execute(
            sa.update(p).where(p.c.id == sa.bindparam('product_id')).values(
                molecule=sa.bindparam('molecule'), form=sa.bindparam('form'),
                is_single_dose=sa.bindparam('is_single_dose'),
            ),
            facts,
        )


def _facts(product) -> dict:
    """What a product's existing columns say about its molecule, form and single-dose vials."""
    molecule, single_dose = None, False
    if product.kind == 'neuromodulator':
        molecule = product.generic_name.split('(')[0].strip() or None
    elif product.kind == 'hyaluronidase':
        molecule, single_dose = 'hyaluronidase', True  # DOMAIN.md: every hyaluronidase vial is single-dose
    elif product.kind == 'filler':
        molecule = MATERIAL_MOLECULES.get(product.material or '')
    if product.requires_reconstitution:
        form = 'powder'
    elif product.kind == 'filler':
        form = 'gel'
    else:
        form = None if product.kind == 'supply' else 'liquid'
    return dict(molecule=molecule, form=form, is_single_dose=single_dose)


def downgrade():
    p = _PRODUCTS
    liquid_toxins = op.get_bind().scalars(
        sa.select(p.c.name).where(p.c.kind == 'neuromodulator', sa.not_(p.c.requires_reconstitution))
    ).all()
    if liquid_toxins:
        raise RuntimeError(
            f"Ready-to-use toxins are catalogued ({', '.join(liquid_toxins)}); before 0007 every toxin is "
            "reconstituted, so this database cannot go below 0007_clinical_safety."
        )

    # SQLite drops these two in place (ALTER TABLE DROP COLUMN): rebuilding treatments would break the
    # foreign keys of draws, containers and movements (see _products_batch).
    with op.batch_alter_table('treatments', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('checklist')
        batch_op.drop_column('follow_up_on')

    with op.batch_alter_table('draws', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_draws_confirmation_has_reason'), type_='check')
        batch_op.drop_column('confirm_reason')
        batch_op.drop_column('confirmed_warnings')
        batch_op.drop_column('dose_warnings')

    op.drop_index('uq_dose_ranges_chain_default', table_name='dose_ranges',
                  postgresql_where=sa.text(CHAIN_DEFAULT), sqlite_where=sa.text(CHAIN_DEFAULT))
    op.drop_table('dose_ranges')

    with _products_batch() as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_products_positive_dose_limits'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_products_cumulative_limit_has_window'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_products_powder_is_reconstituted'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_products_product_form'), type_='check')
        batch_op.drop_constraint(batch_op.f('ck_products_toxin_facts'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_products_toxin_facts'), OLD_TOXIN_FACTS)
        batch_op.alter_column('beyond_use_hours', existing_type=sa.Integer(), existing_nullable=True,
                              comment=OLD_BEYOND_USE_COMMENT, existing_comment=BEYOND_USE_COMMENT)
        batch_op.drop_column('follow_up_days')
        batch_op.drop_column('retreat_interval_days')
        batch_op.drop_column('cumulative_window_days')
        batch_op.drop_column('cumulative_max_units')
        batch_op.drop_column('session_max_areas')
        batch_op.drop_column('session_max_units')
        batch_op.drop_column('is_single_dose')
        batch_op.drop_column('form')
        batch_op.drop_column('molecule')
