"""ledger: an index of each member's pending lots, so the pending sum reads those only

Every purchase and every balance sums the points of the member's lots not yet
available. The open-lots index led that sum through every lot with points
left, so a member who never spends made each purchase slower than the last.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 16:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_ledger_entries_pending',
        'ledger_entries',
        ['member_id', 'available_at'],
        unique=False,
        postgresql_include=['lot_remaining'],
        postgresql_where=sa.text('lot_remaining > 0'),
        sqlite_where=sa.text('lot_remaining > 0'),
    )


def downgrade():
    op.drop_index('ix_ledger_entries_pending', table_name='ledger_entries')
