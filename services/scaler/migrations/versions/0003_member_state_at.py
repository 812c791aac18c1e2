"""When the event that told each member's state happened, so that an older event delivered late is recognised."""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute("ALTER TABLE members ADD COLUMN state_at timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE members DROP COLUMN state_at")
