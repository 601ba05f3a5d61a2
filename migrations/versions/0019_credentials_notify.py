"""credentials: a notification whenever a commit changes what API requests are judged on

Each web process keeps the credentials it has read (loyalty.credentials_cache)
and listens on the channel ``loyalty_credentials``: these statement-level
triggers send to it from every change to a key, a merchant's standing, a
terminal, its signing secrets or the program's settings, whoever makes it
(the service, a command, SQL typed by hand). PostgreSQL delivers a notification
when the transaction commits, and never for one rolled back. A key's last use
(``last_used_at``), written once a minute, sends nothing. SQLite has no
notifications: there, nothing is cached.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 18:00:00

"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

# table -> the change that counts ("UPDATE" alone: any column)
WATCHED = {
    "api_keys": "UPDATE OF name, role, secret_hash, merchant_id, store_id, terminal_id, revoked_at",
    "merchants": "UPDATE OF status, require_signed_requests",
    "terminals": "UPDATE OF status, merchant_id",
    "terminal_secrets": "UPDATE",
    "programs": "UPDATE",
}


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION loyalty_credentials_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('loyalty_credentials', TG_TABLE_NAME);
            RETURN NULL;
        END
        $$
        """
    )
    for table, update in WATCHED.items():
        op.execute(
            f"CREATE TRIGGER {table}_credentials_changed AFTER INSERT OR {update} OR DELETE OR TRUNCATE"
            f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION loyalty_credentials_changed()"
        )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in WATCHED:
        op.execute(f"DROP TRIGGER {table}_credentials_changed ON {table}")
    op.execute("DROP FUNCTION loyalty_credentials_changed()")
