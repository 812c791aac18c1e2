"""Cloud accounts belong to a project; the accounts made from configuration belong to `default`."""

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.execute("ALTER TABLE clouds ADD COLUMN project_id text NOT NULL DEFAULT 'default'")
    op.execute("ALTER TABLE clouds ALTER COLUMN project_id DROP DEFAULT")
    op.execute("CREATE INDEX clouds_by_project ON clouds (project_id, created_at, id)")


def downgrade() -> None:
    op.execute("ALTER TABLE clouds DROP COLUMN project_id")
