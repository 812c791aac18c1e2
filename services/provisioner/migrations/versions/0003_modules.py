"""Adapter modules an admin has enabled or disabled (a module without a row is enabled)."""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE modules (
            name text PRIMARY KEY,
            enabled boolean NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        )""")


def downgrade() -> None:
    op.execute("DROP TABLE modules")
