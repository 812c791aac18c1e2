"""The inbox and outbox; health policies, the instances the service learned of from the provisioner's events, each
policy's view of their health, and instance refreshes."""

from alembic import op

from kernel.migrations import INBOX_DDL, OUTBOX_DDL

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.execute(OUTBOX_DDL)
    for statement in INBOX_DDL.split(";"):
        if statement.strip():
            op.execute(statement)
    op.execute("""
        CREATE TABLE policies (
            id uuid PRIMARY KEY,
            project_id text NOT NULL,
            name text NOT NULL,
            target jsonb NOT NULL,
            signals jsonb NOT NULL,
            grace_seconds integer NOT NULL,
            action text NOT NULL,
            address_id text,
            breaker jsonb NOT NULL,
            breaker_open boolean NOT NULL DEFAULT false,
            breaker_reason text NOT NULL DEFAULT '',
            correlation_id text NOT NULL,
            last_event_id uuid,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            UNIQUE (project_id, name)
        )""")
    op.execute("CREATE INDEX policies_by_project ON policies (project_id, created_at, id)")
    # What the provisioner's events told of each instance; never read from the provisioner's tables.
    op.execute("""
        CREATE TABLE members (
            instance_id text PRIMARY KEY,
            project_id text NOT NULL,
            cloud_id text NOT NULL,
            zone text,
            tags jsonb NOT NULL DEFAULT '{}',
            cluster_id text,
            cluster_role text,
            template_id text,
            template_version integer,
            state text NOT NULL,
            running_since timestamptz,
            address text,
            address_id text,
            last_metric_at timestamptz,
            last_heartbeat_at timestamptz,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""")
    op.execute("CREATE INDEX members_by_project ON members (project_id, created_at)")
    op.execute("""
        CREATE TABLE watches (
            policy_id uuid NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
            instance_id text NOT NULL REFERENCES members (instance_id) ON DELETE CASCADE,
            project_id text NOT NULL,
            health text NOT NULL DEFAULT 'unknown',
            reasons jsonb NOT NULL DEFAULT '[]',
            probe_successes integer NOT NULL DEFAULT 0,
            probe_failures integer NOT NULL DEFAULT 0,
            probed_at timestamptz,
            unhealthy_since timestamptz,
            remediation text,
            replacement_id text,
            remediated_at timestamptz,
            changed_at timestamptz NOT NULL,
            PRIMARY KEY (policy_id, instance_id)
        )""")
    op.execute("CREATE INDEX watches_by_instance ON watches (instance_id)")
    op.execute("CREATE INDEX watches_listing ON watches (project_id, changed_at, instance_id)")
    op.execute("""
        CREATE TABLE refreshes (
            id uuid PRIMARY KEY,
            project_id text NOT NULL,
            policy_id uuid NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
            template_id text,
            template_version integer NOT NULL,
            old_versions jsonb NOT NULL DEFAULT '{}',
            min_healthy_percent integer NOT NULL,
            checkpoint_percent integer,
            state text NOT NULL,
            reason text NOT NULL DEFAULT '',
            pending jsonb NOT NULL DEFAULT '{}',
            replaced jsonb NOT NULL DEFAULT '{}',
            correlation_id text NOT NULL,
            last_event_id uuid,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""")
    op.execute("CREATE INDEX refreshes_by_project ON refreshes (project_id, created_at, id)")
    # One refresh at a time per policy's target.
    op.execute("""CREATE UNIQUE INDEX refreshes_one_active ON refreshes (policy_id)
                  WHERE state IN ('running', 'paused')""")


def downgrade() -> None:
    for table in ("refreshes", "watches", "members", "policies", "inbox", "outbox"):
        op.execute(f"DROP TABLE {table}")
