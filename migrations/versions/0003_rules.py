"""rules: earning rules and their versions, the rule-set counter, the member facts rules read,
and the operator's limits on merchants' rules

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 14:15:33.093721

"""
from alembic import op
import sqlalchemy as sa

import loyalty.db
from sqlalchemy import Text  # noqa: F401 (JSONB renders astext_type=Text())
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ruleset_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('token', sa.String(length=40), nullable=False),
    sa.Column('updated_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_ruleset_state_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ruleset_state'))
    )
    op.create_table('rules',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'active', 'paused')", name=op.f('ck_rules_status')),
    sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id'], name=op.f('fk_rules_merchant_id_merchants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rules'))
    )
    with op.batch_alter_table('rules', schema=None) as batch_op:
        batch_op.create_index('ix_rules_merchant', ['merchant_id', 'id'], unique=False)
        batch_op.create_index('ix_rules_status', ['status', 'id'], unique=False)

    op.create_table('rule_versions',
    sa.Column('rule_id', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('priority', sa.BigInteger(), nullable=False),
    sa.Column('stacking', sa.String(length=16), nullable=False),
    sa.Column('merchant_id', sa.String(length=40), nullable=True),
    sa.Column('starts_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ends_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('condition', sa.Text(), nullable=False),
    sa.Column('effect', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('limits', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_kind', sa.String(length=16), nullable=False),
    sa.Column('created_by_name', sa.String(length=200), nullable=False),
    sa.Column('created_by_role', sa.String(length=16), nullable=True),
    sa.Column('created_by_key_id', sa.String(length=40), nullable=True),
    sa.ForeignKeyConstraint(['rule_id'], ['rules.id'], name=op.f('fk_rule_versions_rule_id_rules')),
    sa.PrimaryKeyConstraint('rule_id', 'version', name=op.f('pk_rule_versions'))
    )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('purchase_count', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('last_purchase_at', loyalty.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('birth_month', sa.SmallInteger(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_members_birth_month'), 'birth_month BETWEEN 1 AND 12')

    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('merchants_may_write_rules', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('merchant_max_multiplier_percent', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('merchant_max_bonus_points', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('merchant_max_points_per_item', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('merchant_max_rate_points', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('merchant_max_rate_per_minor', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('merchant_max_budget_points', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('merchant_require_budget', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('merchant_allow_exclusive', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_check_constraint(
            op.f('ck_programs_merchant_rate_pair'),
            '(merchant_max_rate_points IS NULL) = (merchant_max_rate_per_minor IS NULL)',
        )


def downgrade():
    with op.batch_alter_table('programs', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_programs_merchant_rate_pair'), type_='check')
        batch_op.drop_column('merchant_allow_exclusive')
        batch_op.drop_column('merchant_require_budget')
        batch_op.drop_column('merchant_max_budget_points')
        batch_op.drop_column('merchant_max_rate_per_minor')
        batch_op.drop_column('merchant_max_rate_points')
        batch_op.drop_column('merchant_max_points_per_item')
        batch_op.drop_column('merchant_max_bonus_points')
        batch_op.drop_column('merchant_max_multiplier_percent')
        batch_op.drop_column('merchants_may_write_rules')

    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_members_birth_month'), type_='check')
        batch_op.drop_column('birth_month')
        batch_op.drop_column('last_purchase_at')
        batch_op.drop_column('purchase_count')

    op.drop_table('rule_versions')
    with op.batch_alter_table('rules', schema=None) as batch_op:
        batch_op.drop_index('ix_rules_status')
        batch_op.drop_index('ix_rules_merchant')

    op.drop_table('rules')
    op.drop_table('ruleset_state')
