"""Cloud accounts, instance records, outbox."""

from alembic import op

from kernel.migrations import OUTBOX_DDL

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.execute(OUTBOX_DDL)
    op.execute("""
        CREATE TABLE clouds (
            id text PRIMARY KEY,
            name text NOT NULL,
            driver text NOT NULL,
            config jsonb NOT NULL DEFAULT '{}',
            enabled boolean NOT NULL DEFAULT true,
            created_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("""
        CREATE TABLE instances (
            id uuid PRIMARY KEY,
            project_id text NOT NULL,
            cloud_id text NOT NULL REFERENCES clouds (id),
            name text NOT NULL,
            image_id text NOT NULL,
            flavor_id text NOT NULL,
            provider_id text,
            state text NOT NULL,
            pending_action text,
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            reason text,
            private_ips text[] NOT NULL DEFAULT '{}',
            correlation_id text NOT NULL,
            last_event_id uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (cloud_id, provider_id)
        )""")
    op.execute("CREATE INDEX instances_listing ON instances (project_id, created_at, id)")
    op.execute("CREATE INDEX instances_actions ON instances (next_attempt_at) WHERE pending_action IS NOT NULL")
    op.execute("""CREATE INDEX instances_moving ON instances (cloud_id)
                  WHERE pending_action IS NULL
                    AND state IN ('pending', 'starting', 'stopping', 'rebooting', 'terminating')""")
