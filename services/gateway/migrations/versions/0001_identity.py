"""Users, projects, memberships, API keys, refresh tokens, outbox."""

from alembic import op

from kernel.migrations import OUTBOX_DDL

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.execute(OUTBOX_DDL)


def downgrade() -> None:
    op.execute("DROP TABLE outbox")
