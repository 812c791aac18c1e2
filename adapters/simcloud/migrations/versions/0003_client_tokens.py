"""Client tokens of volumes, snapshots, images and addresses: a create repeated with its token finds what the first
one made. Rows made before have none."""

from alembic import op

revision = "0003"
down_revision = "0002"

_TABLES = ("volumes", "snapshots", "images", "addresses")


def upgrade() -> None:
    for table in _TABLES:
        op.execute(f"ALTER TABLE {table} ADD COLUMN client_token text")
        op.execute(
            f"CREATE UNIQUE INDEX {table}_client_token ON {table} (account_id, client_token) "
            "WHERE client_token IS NOT NULL"
        )


def downgrade() -> None:
    for table in _TABLES:
        op.execute(f"DROP INDEX {table}_client_token")
        op.execute(f"ALTER TABLE {table} DROP COLUMN client_token")
