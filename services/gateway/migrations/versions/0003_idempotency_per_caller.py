"""Idempotency keys belong to the caller as well as the project, and stored answers are sealed.

A stored answer is replayed only to the principal that sent the first request, with the role it had then; its headers
and body are encrypted (they may carry a new API key or a generated private key). The keys stored before this
revision are dropped: they are a 24-hour cache, and they hold answers in clear.
"""

from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute("DELETE FROM idempotency_keys")
    op.execute("ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey")
    op.execute("ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_check")
    op.execute("ALTER TABLE idempotency_keys DROP COLUMN headers, DROP COLUMN body")
    op.execute(
        """
        ALTER TABLE idempotency_keys
            ADD COLUMN principal text NOT NULL,
            -- The caller's role (and admin flag) when it sent the first request: a caller whose rights changed since
            -- gets no replay of what it was allowed then.
            ADD COLUMN authority text NOT NULL,
            -- Status line, headers and body, sealed with the gateway's keyring (kernel.crypto), bound to the row.
            ADD COLUMN answer bytea,
            ADD PRIMARY KEY (project_id, principal, key),
            ADD CONSTRAINT idempotency_keys_answered
                CHECK (state = 'in_progress' OR (status IS NOT NULL AND answer IS NOT NULL))
        """
    )


def downgrade() -> None:
    op.execute("DELETE FROM idempotency_keys")
    op.execute("ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey")
    op.execute("ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_answered")
    op.execute("ALTER TABLE idempotency_keys DROP COLUMN principal, DROP COLUMN authority, DROP COLUMN answer")
    op.execute(
        """
        ALTER TABLE idempotency_keys
            ADD COLUMN headers jsonb,
            ADD COLUMN body bytea,
            ADD PRIMARY KEY (project_id, key),
            ADD CONSTRAINT idempotency_keys_check
                CHECK (state = 'in_progress' OR (status IS NOT NULL AND body IS NOT NULL))
        """
    )
