"""settlement: each statement keeps the newest ledger entry it counted, so the next close reads only what came after

Without it, every batch of a close looked for entries no statement had
counted with an anti-join that read every statement line ever written. The
existing statements get the newest entry among their own lines.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 12:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_entry_id', sa.String(length=40), nullable=True))
    op.execute(
        "UPDATE statements SET last_entry_id = "
        "(SELECT max(entry_id) FROM statement_lines WHERE statement_lines.statement_id = statements.id)"
    )


def downgrade():
    with op.batch_alter_table('statements', schema=None) as batch_op:
        batch_op.drop_column('last_entry_id')
