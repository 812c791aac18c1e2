"""The scaler's schema: the outbox and inbox, the project's template versions as events told them, scaling groups,
their members, policies, activities and history."""

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
        CREATE TABLE template_versions (
            template_id text NOT NULL,
            version integer NOT NULL,
            project_id text NOT NULL,
            deprecated boolean NOT NULL DEFAULT false,
            PRIMARY KEY (template_id, version)
        )""")
    op.execute("""
        CREATE TABLE groups (
            id text PRIMARY KEY,
            project_id text NOT NULL,
            name text NOT NULL,
            template_id text NOT NULL,
            template_version integer NOT NULL,
            min_size integer NOT NULL,
            max_size integer NOT NULL,
            desired integer NOT NULL,
            allowed_clouds jsonb NOT NULL DEFAULT '[]',
            allowed_zones jsonb NOT NULL DEFAULT '[]',
            strategy text NOT NULL,
            tags jsonb NOT NULL DEFAULT '{}',
            inputs jsonb NOT NULL DEFAULT '{}',
            cooldown_seconds integer NOT NULL,
            stabilisation_seconds integer NOT NULL,
            termination_policies jsonb NOT NULL,
            hooks jsonb NOT NULL DEFAULT '[]',
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            last_scaled_at timestamptz,
            failures integer NOT NULL DEFAULT 0,
            backoff_until timestamptz,
            recent jsonb NOT NULL DEFAULT '[]',
            streaks jsonb NOT NULL DEFAULT '{}',
            readings jsonb NOT NULL DEFAULT '{}',
            charted_at timestamptz,
            correlation_id text NOT NULL,
            last_event_id text,
            UNIQUE (project_id, name)
        )""")
    op.execute("CREATE INDEX groups_by_project ON groups (project_id, created_at, id)")
    op.execute("""
        CREATE TABLE members (
            instance_id text PRIMARY KEY,
            group_id text NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
            project_id text NOT NULL,
            state text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            zone text,
            template_version integer,
            running_since timestamptz,
            protected boolean NOT NULL DEFAULT false,
            hook text,
            hook_deadline timestamptz
        )""")
    op.execute("CREATE INDEX members_by_group ON members (group_id)")
    op.execute("CREATE INDEX members_waiting ON members (hook_deadline) WHERE hook IS NOT NULL")
    op.execute("""
        CREATE TABLE policies (
            id text PRIMARY KEY,
            group_id text NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
            project_id text NOT NULL,
            name text NOT NULL,
            kind text NOT NULL,
            metric text,
            spec jsonb NOT NULL,
            next_run_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            UNIQUE (group_id, name)
        )""")
    op.execute("CREATE INDEX policies_by_group ON policies (group_id)")
    op.execute("CREATE INDEX policies_due ON policies (next_run_at) WHERE next_run_at IS NOT NULL")
    # The metric names the project's agents and applications have published (a policy on a name nobody publishes
    # is refused).
    op.execute("""
        CREATE TABLE published_metrics (
            project_id text NOT NULL,
            name text NOT NULL,
            PRIMARY KEY (project_id, name)
        )""")
    op.execute("""
        CREATE TABLE activities (
            id bigserial PRIMARY KEY,
            group_id text NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
            project_id text NOT NULL,
            at timestamptz NOT NULL DEFAULT clock_timestamp(),
            kind text NOT NULL,
            instance_id text,
            description text NOT NULL,
            details jsonb NOT NULL DEFAULT '{}'
        )""")
    op.execute("CREATE INDEX activities_by_group ON activities (group_id, at, id)")
    op.execute("""
        CREATE TABLE history (
            group_id text NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
            at timestamptz NOT NULL,
            desired integer NOT NULL,
            actual integer NOT NULL,
            metric text,
            value double precision
        )""")
    op.execute("CREATE INDEX history_by_group ON history (group_id, at)")


def downgrade() -> None:
    for table in ("history", "activities", "published_metrics", "policies", "members", "groups", "template_versions"):
        op.execute(f"DROP TABLE {table}")
    op.execute("DROP TABLE inbox")
    op.execute("DROP TABLE outbox")
