"""member portal: portal sign-in, one-time secrets, marketing consent per channel

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import loyalty.db
from sqlalchemy import Text  # noqa: F401 (JSONB renders astext_type=Text())
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('login_tokens',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('purpose', sa.String(length=24), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_tokens'))
    )
    with op.batch_alter_table('login_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_login_tokens_secret_hash', ['secret_hash'], unique=False)
        batch_op.create_index('ix_login_tokens_subject', ['subject_id', 'purpose'], unique=False)

    op.create_table('member_logins',
    sa.Column('member_id', sa.String(length=40), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('created_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('password_changed_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('failed_attempts', sa.Integer(), nullable=False),
    sa.Column('last_failed_at', loyalty.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_member_logins_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', name=op.f('pk_member_logins'))
    )
    op.create_table('marketing_consents',
    sa.Column('member_id', sa.String(length=40), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('granted', sa.Boolean(), nullable=False),
    sa.Column('changed_at', loyalty.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_marketing_consents_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', 'channel', name=op.f('pk_marketing_consents'))
    )


def downgrade():
    op.drop_table('marketing_consents')
    op.drop_table('member_logins')
    with op.batch_alter_table('login_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_login_tokens_subject')
        batch_op.drop_index('ix_login_tokens_secret_hash')

    op.drop_table('login_tokens')
