"""redemptions: the till's key for a code's use, so a retry after a lost answer replays

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25 17:40:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("redemptions") as batch_op:
        batch_op.add_column(sa.Column("used_key", sa.String(length=100), nullable=True))


def downgrade():
    with op.batch_alter_table("redemptions") as batch_op:
        batch_op.drop_column("used_key")
