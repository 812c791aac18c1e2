"""Launch options and throttling on instances; records of every other resource kind."""

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute("""
        ALTER TABLE instances
            ADD COLUMN key_name text,
            ADD COLUMN security_group_ids text[] NOT NULL DEFAULT '{}',
            ADD COLUMN zone text,
            ADD COLUMN tags jsonb NOT NULL DEFAULT '{}',
            ADD COLUMN launch_options jsonb NOT NULL DEFAULT '{}',
            ADD COLUMN throttled integer NOT NULL DEFAULT 0,
            ADD COLUMN pending_since timestamptz""")
    op.execute("DROP INDEX instances_moving")
    op.execute("""CREATE INDEX instances_moving ON instances (cloud_id)
                  WHERE pending_action IS NULL
                    AND state IN ('pending', 'starting', 'stopping', 'rebooting', 'terminating', 'suspending',
                                  'resuming')""")
    op.execute("""
        CREATE TABLE resources (
            id uuid PRIMARY KEY,
            kind text NOT NULL,
            project_id text NOT NULL,
            cloud_id text NOT NULL REFERENCES clouds (id),
            name text NOT NULL,
            provider_id text,
            state text NOT NULL,
            pending_action text,
            pending jsonb NOT NULL DEFAULT '{}',
            attempts integer NOT NULL DEFAULT 0,
            throttled integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            pending_since timestamptz,
            reason text,
            attrs jsonb NOT NULL DEFAULT '{}',
            correlation_id text NOT NULL,
            last_event_id uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("CREATE INDEX resources_listing ON resources (project_id, kind, created_at, id)")
    op.execute("CREATE INDEX resources_actions ON resources (next_attempt_at) WHERE pending_action IS NOT NULL")
    # The transitions the worker follows with the clouds (`resources.Rules.followed`, every kind together).
    op.execute("""CREATE INDEX resources_moving ON resources (cloud_id, kind)
                  WHERE pending_action IS NULL AND provider_id IS NOT NULL
                    AND state IN ('creating', 'attaching', 'detaching', 'deleting', 'pending', 'associating',
                                  'disassociating', 'releasing', 'deregistering')""")
    # One live record per resource in a cloud; names are the identity of key pairs and security groups there.
    op.execute("""CREATE UNIQUE INDEX resources_provider ON resources (cloud_id, kind, provider_id)
                  WHERE provider_id IS NOT NULL AND state NOT IN ('deleted', 'released', 'deregistered')""")
    op.execute("""CREATE UNIQUE INDEX resources_names ON resources (cloud_id, kind, name)
                  WHERE kind IN ('key_pair', 'security_group') AND state <> 'deleted'""")
    op.execute("""CREATE INDEX resources_attached ON resources ((attrs->>'instance_id'))
                  WHERE kind IN ('volume', 'address', 'image')""")
