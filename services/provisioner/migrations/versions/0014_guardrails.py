"""Project guard-rails (quotas, required tags, lifetimes, the approval threshold), launches waiting for approval,
and what an instance's expiry needs: when it ends, what then happens to it, and the warnings already sent."""

from alembic import op

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE guardrails (
            project_id text PRIMARY KEY,
            version integer NOT NULL,
            max_instances integer CHECK (max_instances >= 0),
            max_vcpus integer CHECK (max_vcpus >= 0),
            max_monthly_cost numeric CHECK (max_monthly_cost >= 0),
            currency char(3),
            required_tags jsonb NOT NULL DEFAULT '{}',
            max_lifetime_hours integer CHECK (max_lifetime_hours > 0),
            expiry_action text NOT NULL DEFAULT 'stop',
            expiry_warnings jsonb NOT NULL DEFAULT '[]',
            approval_threshold numeric CHECK (approval_threshold >= 0),
            changed_by text NOT NULL,
            changed_at timestamptz NOT NULL,
            correlation_id text NOT NULL,
            last_event_id uuid
        )""")
    op.execute("""
        ALTER TABLE instances
            ADD COLUMN vcpus integer,
            ADD COLUMN expires_at timestamptz,
            ADD COLUMN expiry_action text,
            ADD COLUMN expiry_warnings jsonb NOT NULL DEFAULT '[]',
            ADD COLUMN warnings_sent integer NOT NULL DEFAULT 0,
            ADD COLUMN expired_at timestamptz""")
    op.execute(
        "CREATE INDEX instances_expiring ON instances (expires_at) WHERE expires_at IS NOT NULL AND expired_at IS NULL"
    )
    op.execute(
        "CREATE INDEX instances_counted ON instances (project_id) WHERE state NOT IN ('terminated', 'gone', 'rejected')"
    )
    op.execute("""
        CREATE TABLE approvals (
            id uuid PRIMARY KEY,
            project_id text NOT NULL,
            instance_id uuid NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
            state text NOT NULL,
            monthly numeric NOT NULL,
            currency char(3) NOT NULL,
            threshold numeric NOT NULL,
            requested_by text NOT NULL,
            decided_by text,
            reason text,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            decided_at timestamptz,
            correlation_id text NOT NULL,
            last_event_id uuid
        )""")
    op.execute("CREATE INDEX approvals_listing ON approvals (project_id, created_at, id)")
    op.execute("CREATE INDEX approvals_waiting ON approvals (created_at) WHERE state = 'pending'")


def downgrade() -> None:
    op.execute("DROP TABLE approvals")
    op.execute("DROP INDEX instances_counted")
    op.execute("""
        ALTER TABLE instances DROP COLUMN vcpus, DROP COLUMN expires_at, DROP COLUMN expiry_action,
            DROP COLUMN expiry_warnings, DROP COLUMN warnings_sent, DROP COLUMN expired_at""")
    op.execute("DROP TABLE guardrails")
