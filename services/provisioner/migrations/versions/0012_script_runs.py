"""Script runs over SSH (the engine's pending actions of kind `run`), their bounded output, and each project's SSH
key pair (the private half sealed)."""

from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE project_keys (
            project_id text PRIMARY KEY,
            public_key text NOT NULL,
            sealed_private bytea NOT NULL,
            created_at timestamptz NOT NULL
        )""")
    op.execute("""
        CREATE TABLE script_runs (
            id uuid PRIMARY KEY,
            seq bigserial,
            project_id text NOT NULL,
            cloud_id text NOT NULL,
            name text NOT NULL,
            instance_id uuid NOT NULL,
            provider_id text,
            script_id uuid NOT NULL,
            script_version integer NOT NULL,
            phase text NOT NULL,
            timeout_seconds integer NOT NULL,
            inputs jsonb NOT NULL DEFAULT '{}',
            sealed_script bytea,
            state text NOT NULL,
            pending_action text,
            attempts integer NOT NULL DEFAULT 0,
            throttled integer NOT NULL DEFAULT 0,
            pending_since timestamptz,
            reason text,
            problem text,
            exit_code integer,
            host_key text,
            batch_id uuid,
            batch_limit integer,
            started_at timestamptz,
            ended_at timestamptz,
            output bytea NOT NULL DEFAULT '',
            output_bytes bigint NOT NULL DEFAULT 0,
            correlation_id text NOT NULL,
            last_event_id uuid,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            claim_token uuid,
            claimed_until timestamptz
        )""")
    op.execute("CREATE INDEX script_runs_listing ON script_runs (project_id, created_at, id)")
    op.execute("CREATE INDEX script_runs_instance ON script_runs (instance_id, seq)")
    op.execute("CREATE INDEX script_runs_batch ON script_runs (batch_id) WHERE batch_id IS NOT NULL")
    op.execute("CREATE INDEX script_runs_due ON script_runs (next_attempt_at) WHERE pending_action IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP TABLE script_runs")
    op.execute("DROP TABLE project_keys")
