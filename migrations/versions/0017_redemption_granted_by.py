"""rewards: a redemption remembers the campaign that gave it, so cancelling a gift returns no points

A campaign gives a reward by crediting its cost and redeeming it at once. A
cancellation gave that cost back as points the member never earned; it now
frees the stock only. Existing gifts are found by the idempotency key the
campaign used (``campaign:<campaign id>``, of a campaign that exists).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 16:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('granted_by_campaign_id', sa.String(length=40), nullable=True))
    op.execute(
        "UPDATE redemptions SET granted_by_campaign_id = substr(idempotency_key, 10) "
        "WHERE idempotency_key LIKE 'campaign:%' AND substr(idempotency_key, 10) IN (SELECT id FROM campaigns)"
    )


def downgrade():
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_column('granted_by_campaign_id')
