"""tamper evident: a seal on every row a recall or an auditor relies on

Revision ID: 0011_tamper_evident
Revises: 0010_adverse_events_cold_chain
Create Date: 2026-12-03

Movements and audit events are hash-chained since 0003_audit_chain. The rows around them were not:
which patient a draw or a treatment belongs to, a patient's identity, a lot's state, a recall case and
its lots, patient and container lines could be changed in the database and still pass `vialog verify`.
Each of those tables gains ``row_seal``: SHA-256 over the canonical encoding of its traced fields
(inventory/services/audit_chain.py, "vialog-seal-v1"), which the app writes with every change and
`vialog verify` recomputes. Existing rows are sealed here with the app's own function, so a database
upgraded from 0007 verifies at once. One UPDATE per row: seconds for a clinic's history.

The columns are nullable: a row written outside the application has no seal, and verify reports it.
Downgrade drops the columns (SQLite: ALTER TABLE DROP COLUMN in place).
"""
from alembic import op
import sqlalchemy as sa

revision = '0011_tamper_evident'
down_revision = '0010_adverse_events_cold_chain'
branch_labels = None
depends_on = None

COMMENT = "SHA-256 over the row's traced fields (services/audit_chain.py): vialog verify recomputes it"
TABLES = ('patients', 'treatments', 'draws', 'lots', 'recall_cases', 'recall_lots', 'recall_patients',
          'recall_containers')


def _specs():
    from inventory.services.audit_chain import CORE_SEALS, SealSpec
    from recall import RECALL_SEALS, models as recall_models

    specs = [SealSpec(model, fields, with_id) for model, fields, with_id in CORE_SEALS]
    specs += [SealSpec(getattr(recall_models, name), fields, True) for name, fields in RECALL_SEALS.items()]
    return specs


def upgrade():
    for table in TABLES:
        op.add_column(table, sa.Column('row_seal', sa.String(length=64), nullable=True, comment=COMMENT))
    from inventory.services.audit_chain import seal_existing_rows

    bind = op.get_bind()
    for spec in _specs():
        seal_existing_rows(bind, spec)


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None, recreate='never') as batch_op:
            batch_op.drop_column('row_seal')
