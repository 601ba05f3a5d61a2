"""expiry: warnings of points about to expire, the index of lots by expiry date, and manual
adjustments

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-25 14:45:27.727473

"""
from alembic import op
import sqlalchemy as sa

import loyalty.db
from sqlalchemy import Text  # noqa: F401 (JSONB renders astext_type=Text())
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('adjustments',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('member_id', sa.String(length=40), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('entry_id', sa.String(length=40), nullable=True),
    sa.Column('receipt', sa.Text(), nullable=False),
    sa.Column('actor_kind', sa.String(length=16), nullable=False),
    sa.Column('actor_name', sa.String(length=200), nullable=False),
    sa.Column('actor_key_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_adjustments_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adjustments')),
    sa.UniqueConstraint('member_id', 'idempotency_key', name=op.f('uq_adjustments_member_id_idempotency_key'))
    )
    op.create_table('expiry_warnings',
    sa.Column('member_id', sa.String(length=40), nullable=False),
    sa.Column('expires_on', sa.Date(), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('notification_id', sa.String(length=40), nullable=True),
    sa.Column('created_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_expiry_warnings_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', 'expires_on', name=op.f('pk_expiry_warnings'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entries_expiring', ['expires_at'], unique=False, postgresql_where=sa.text('lot_remaining > 0'), sqlite_where=sa.text('lot_remaining > 0'))


def downgrade():
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_entries_expiring', postgresql_where=sa.text('lot_remaining > 0'), sqlite_where=sa.text('lot_remaining > 0'))

    op.drop_table('expiry_warnings')
    op.drop_table('adjustments')
