"""The answers to POST requests sent with an Idempotency-Key, kept per project."""

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE idempotency_keys (
            project_id text NOT NULL,
            key text NOT NULL,
            -- SHA-256 of method, path, query and body: the same key with another request is refused.
            fingerprint bytea NOT NULL,
            state text NOT NULL CHECK (state IN ('in_progress', 'completed')),
            -- Who holds an in-progress key, and until when; another gateway may take the key over after that.
            claim uuid NOT NULL,
            locked_until timestamptz,
            status smallint,
            headers jsonb,
            body bytea,
            created_at timestamptz NOT NULL DEFAULT now(),
            completed_at timestamptz,
            PRIMARY KEY (project_id, key),
            CHECK (state = 'in_progress' OR (status IS NOT NULL AND body IS NOT NULL))
        )
        """
    )
    op.execute("CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at)")


def downgrade() -> None:
    op.execute("DROP TABLE idempotency_keys")
