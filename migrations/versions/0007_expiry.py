"""expiry: warnings of points about to expire, manual adjustments, rule simulations, and the
indexes the expiry job and simulations read

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-25 14:45:27.727473

"""
from alembic import op
import sqlalchemy as sa

import loyalty.db
from sqlalchemy import Text  # noqa: F401 (JSONB renders astext_type=Text())
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rule_simulations',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=True),
    sa.Column('rule', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('from_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('to_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('total', sa.BigInteger(), nullable=False),
    sa.Column('done', sa.BigInteger(), nullable=False),
    sa.Column('purchases_matched', sa.BigInteger(), nullable=True),
    sa.Column('members_affected', sa.BigInteger(), nullable=True),
    sa.Column('points', sa.BigInteger(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by_kind', sa.String(length=16), nullable=False),
    sa.Column('created_by_name', sa.String(length=200), nullable=False),
    sa.Column('created_by_role', sa.String(length=16), nullable=True),
    sa.Column('created_by_key_id', sa.String(length=40), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name=op.f('ck_rule_simulations_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_simulations'))
    )
    with op.batch_alter_table('rule_simulations', schema=None) as batch_op:
        batch_op.create_index('ix_rule_simulations_merchant', ['merchant_id', 'id'], unique=False)

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

    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.create_index('ix_purchases_member_occurred', ['member_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_purchases_occurred', ['occurred_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('purchases', schema=None) as batch_op:
        batch_op.drop_index('ix_purchases_occurred')
        batch_op.drop_index('ix_purchases_member_occurred')

    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_entries_expiring', postgresql_where=sa.text('lot_remaining > 0'), sqlite_where=sa.text('lot_remaining > 0'))

    op.drop_table('expiry_warnings')
    op.drop_table('adjustments')
    with op.batch_alter_table('rule_simulations', schema=None) as batch_op:
        batch_op.drop_index('ix_rule_simulations_merchant')

    op.drop_table('rule_simulations')
