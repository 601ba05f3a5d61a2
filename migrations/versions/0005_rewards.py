"""rewards: the catalog with its stock, and redemptions (reward codes and points as payment)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 14:44:34.647384

"""
from alembic import op
import sqlalchemy as sa

import loyalty.db
from sqlalchemy import Text  # noqa: F401 (JSONB renders astext_type=Text())

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rewards',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('points_cost', sa.BigInteger(), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=True),
    sa.Column('stock', sa.BigInteger(), nullable=True),
    sa.Column('issued', sa.BigInteger(), nullable=False),
    sa.Column('per_member_limit', sa.Integer(), nullable=True),
    sa.Column('min_tier', sa.String(length=32), nullable=True),
    sa.Column('starts_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ends_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('valid_days', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('issued >= 0 AND (stock IS NULL OR issued <= stock)', name=op.f('ck_rewards_within_stock')),
    sa.CheckConstraint('points_cost > 0', name=op.f('ck_rewards_points_cost_positive')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_rewards_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rewards'))
    )
    with op.batch_alter_table('rewards', schema=None) as batch_op:
        batch_op.create_index('ix_rewards_merchant', ['merchant_id', 'id'], unique=False)

    op.create_table('redemptions',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('member_id', sa.String(length=40), nullable=False),
    sa.Column('reward_id', sa.String(length=40), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('idempotency_key', sa.String(length=100), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('points', sa.BigInteger(), nullable=False),
    sa.Column('value_minor', sa.BigInteger(), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('code', sa.String(length=20), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('expires_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('points_expire_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('merchant_id', sa.String(length=40), nullable=True),
    sa.Column('store_id', sa.String(length=40), nullable=True),
    sa.Column('used_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('used_merchant_id', sa.String(length=40), nullable=True),
    sa.Column('used_store_id', sa.String(length=40), nullable=True),
    sa.Column('cancelled_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('receipt', sa.Text(), nullable=False),
    sa.Column('created_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('points > 0', name=op.f('ck_redemptions_points_positive')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_redemptions_member_id_members')),
    sa.ForeignKeyConstraint(['reward_id'], ['rewards.id'], name=op.f('fk_redemptions_reward_id_rewards')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemptions')),
    sa.UniqueConstraint('code', name=op.f('uq_redemptions_code')),
    sa.UniqueConstraint('member_id', 'idempotency_key', name=op.f('uq_redemptions_member_id_idempotency_key'))
    )
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_redemptions_member', ['member_id', 'id'], unique=False)
        batch_op.create_index('ix_redemptions_merchant', ['merchant_id', 'id'], unique=False)
        batch_op.create_index('ix_redemptions_reward_member', ['reward_id', 'member_id'], unique=False)
        batch_op.create_index('ix_redemptions_used_merchant', ['used_merchant_id', 'used_at'], unique=False)


def downgrade():
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_index('ix_redemptions_used_merchant')
        batch_op.drop_index('ix_redemptions_reward_member')
        batch_op.drop_index('ix_redemptions_merchant')
        batch_op.drop_index('ix_redemptions_member')

    op.drop_table('redemptions')
    with op.batch_alter_table('rewards', schema=None) as batch_op:
        batch_op.drop_index('ix_rewards_merchant')

    op.drop_table('rewards')
