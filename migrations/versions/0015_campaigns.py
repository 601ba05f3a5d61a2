"""campaigns: a campaign's members drawn without foreign-key checks or secondary indexes

The draw inserts every member of an audience in one INSERT ... SELECT from
members. At a million members, checking each row's two foreign keys (which
also locks each member row drawn) took three quarters of its time, and the two
secondary indexes more than half of the rest; the primary key serves every read.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 08:30:00

"""
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('campaign_members', schema=None) as batch_op:
        batch_op.drop_index('ix_campaign_members_member')
        batch_op.drop_index('ix_campaign_members_campaign_group')
        batch_op.drop_constraint('fk_campaign_members_campaign_id_campaigns', type_='foreignkey')
        batch_op.drop_constraint('fk_campaign_members_member_id_members', type_='foreignkey')


def downgrade():
    with op.batch_alter_table('campaign_members', schema=None) as batch_op:
        batch_op.create_foreign_key('fk_campaign_members_member_id_members', 'members', ['member_id'], ['id'])
        batch_op.create_foreign_key('fk_campaign_members_campaign_id_campaigns', 'campaigns', ['campaign_id'], ['id'])
        batch_op.create_index('ix_campaign_members_campaign_group', ['campaign_id', 'group', 'status'], unique=False)
        batch_op.create_index('ix_campaign_members_member', ['member_id', 'campaign_id'], unique=False)
