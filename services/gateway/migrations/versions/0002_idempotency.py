"""The answers to POST requests sent with an Idempotency-Key, kept per project."""

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
