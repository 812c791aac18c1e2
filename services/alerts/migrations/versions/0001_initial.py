"""The inbox and outbox; alert rules, what the service learned from the bus to judge them (instances, metric names
and series, recent events), alerts, notification channels with their groups and deliveries, and silences."""

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
        CREATE TABLE rules (
            id uuid PRIMARY KEY,
            project_id text NOT NULL,
            name text NOT NULL,
            kind text NOT NULL,
            severity text NOT NULL,
            spec jsonb NOT NULL,
            channel_ids jsonb NOT NULL DEFAULT '[]',
            routing jsonb NOT NULL,
            correlation_id text NOT NULL,
            last_event_id uuid,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            UNIQUE (project_id, name)
        )""")
    op.execute("CREATE INDEX rules_by_project ON rules (project_id, kind)")
    # What the provisioner's events told of each instance; never read from the provisioner's tables.
    op.execute("""
        CREATE TABLE instances (
            instance_id text PRIMARY KEY,
            project_id text NOT NULL,
            cloud_id text NOT NULL,
            tags jsonb NOT NULL DEFAULT '{}',
            template_id text,
            template_version integer,
            state text NOT NULL,
            updated_at timestamptz NOT NULL
        )""")
    # The alert specs of each template version, as the provisioner's template.version_created told them.
    op.execute("""
        CREATE TABLE template_alerts (
            template_id text NOT NULL,
            version integer NOT NULL,
            project_id text NOT NULL,
            name text NOT NULL,
            specs jsonb NOT NULL,
            PRIMARY KEY (template_id, version)
        )""")
    # The metric names pushed in each project: a rule may name a cloud metric or one of these.
    op.execute("""
        CREATE TABLE metric_names (
            project_id text NOT NULL,
            name text NOT NULL,
            first_seen timestamptz NOT NULL,
            PRIMARY KEY (project_id, name)
        )""")
    # When each series of a metric watched by a no-data rule last reported.
    op.execute("""
        CREATE TABLE series (
            project_id text NOT NULL,
            metric text NOT NULL,
            series_key text NOT NULL,
            instance_id text,
            labels jsonb NOT NULL DEFAULT '{}',
            last_at timestamptz NOT NULL,
            PRIMARY KEY (project_id, metric, series_key)
        )""")
    # The events an event-rate rule counts, kept for its window.
    op.execute("""
        CREATE TABLE event_hits (
            rule_id uuid NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
            event_id uuid NOT NULL,
            at timestamptz NOT NULL,
            PRIMARY KEY (rule_id, event_id)
        )""")
    op.execute("""
        CREATE TABLE alerts (
            id uuid PRIMARY KEY,
            project_id text NOT NULL,
            rule_id uuid NOT NULL,
            rule_name text NOT NULL,
            kind text NOT NULL,
            severity text NOT NULL,
            fingerprint text NOT NULL,
            group_key text NOT NULL,
            labels jsonb NOT NULL,
            state text NOT NULL,
            holds boolean NOT NULL,
            value double precision,
            summary text NOT NULL DEFAULT '',
            started_at timestamptz NOT NULL,
            firing_since timestamptz,
            last_true_at timestamptz NOT NULL,
            resolved_at timestamptz,
            -- When the newest sample or event judged was taken: an older one delivered late changes nothing.
            observed_at timestamptz,
            correlation_id text NOT NULL,
            last_event_id uuid,
            updated_at timestamptz NOT NULL
        )""")
    # One live alert per rule and label set: a second sample of the same series finds and updates it.
    op.execute("CREATE UNIQUE INDEX alerts_live ON alerts (rule_id, fingerprint) WHERE state <> 'resolved'")
    op.execute("CREATE INDEX alerts_listing ON alerts (project_id, started_at, id)")
    op.execute("CREATE INDEX alerts_by_group ON alerts (rule_id, group_key, state)")
    op.execute("""
        CREATE TABLE channels (
            id uuid PRIMARY KEY,
            project_id text NOT NULL,
            name text NOT NULL,
            kind text NOT NULL,
            url text,
            email_to jsonb NOT NULL DEFAULT '[]',
            secret bytea,
            enabled boolean NOT NULL DEFAULT true,
            disabled_reason text NOT NULL DEFAULT '',
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            UNIQUE (project_id, name)
        )""")
    op.execute("CREATE INDEX channels_listing ON channels (project_id, created_at, id)")
    # Alertmanager's aggregation groups, one per channel, rule and values of the rule's group_by labels.
    op.execute("""
        CREATE TABLE groups (
            channel_id uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
            rule_id uuid NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
            group_key text NOT NULL,
            project_id text NOT NULL,
            due_at timestamptz,
            last_sent_at timestamptz,
            flushed_at timestamptz,
            PRIMARY KEY (channel_id, rule_id, group_key)
        )""")
    op.execute("CREATE INDEX groups_due ON groups (due_at) WHERE due_at IS NOT NULL")
    op.execute("""
        CREATE TABLE deliveries (
            id uuid PRIMARY KEY,
            project_id text NOT NULL,
            channel_id uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
            body jsonb NOT NULL,
            state text NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz,
            last_status integer,
            last_error text NOT NULL DEFAULT '',
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""")
    op.execute("CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending'")
    op.execute("CREATE INDEX deliveries_listing ON deliveries (channel_id, created_at, id)")
    op.execute("""
        CREATE TABLE silences (
            id uuid PRIMARY KEY,
            project_id text NOT NULL,
            matchers jsonb NOT NULL,
            starts_at timestamptz NOT NULL,
            ends_at timestamptz NOT NULL,
            weekly jsonb,
            comment text NOT NULL DEFAULT '',
            created_by text NOT NULL,
            created_at timestamptz NOT NULL
        )""")
    op.execute("CREATE INDEX silences_listing ON silences (project_id, created_at, id)")


def downgrade() -> None:
    for table in (
        "silences",
        "deliveries",
        "groups",
        "channels",
        "alerts",
        "event_hits",
        "series",
        "metric_names",
        "template_alerts",
        "instances",
        "rules",
        "inbox",
        "outbox",
    ):
        op.execute(f"DROP TABLE {table}")
