"""merge recall, counts, transfers and audit chain

Revision ID: 0004_merge
Revises: 0003_audit_chain, 0003_counts, 0003_recall, 0003_transfers
Create Date: 2026-11-25 03:16:31.509103

"""

from inventory.models import base as vt  # noqa: F401  (Vialog's column types)


# revision identifiers, used by Alembic.
revision = '0004_merge'
down_revision = ('0003_audit_chain', '0003_counts', '0003_recall', '0003_transfers')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
