"""Clusters: a cluster's roles (kept with it: they change only with it), its members (every instance it made, or
was about to make, whatever became of it), and the cluster an instance belongs to."""

from alembic import op

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE clusters (
            id uuid PRIMARY KEY,
            project_id text NOT NULL,
            name text NOT NULL,
            state text NOT NULL,
            on_failure text NOT NULL,
            roles jsonb NOT NULL,
            reason text,
            was_running boolean NOT NULL DEFAULT false,
            -- Members it took out still have instances in their cloud: followed until they end.
            tidying boolean NOT NULL DEFAULT false,
            correlation_id text NOT NULL,
            last_event_id uuid,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""")
    op.execute("CREATE INDEX clusters_listing ON clusters (project_id, created_at, id)")
    # The clusters the provisioner moves on by itself.
    op.execute(
        "CREATE INDEX clusters_active ON clusters (state) "
        "WHERE state IN ('launching', 'scaling', 'terminating') OR tidying"
    )
    op.execute("""
        CREATE TABLE cluster_members (
            cluster_id uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
            role text NOT NULL,
            n integer NOT NULL,
            name text NOT NULL,
            instance_id uuid UNIQUE,
            -- planned (no instance yet), launched, refused (its launch was refused: no instance was made).
            status text NOT NULL,
            reason text,
            -- Taken out of the cluster (scaled in, replaced, given up after a failure): its instance is terminated.
            retired boolean NOT NULL DEFAULT false,
            -- The member that replaces it; it is retired once that one runs.
            replaced_by integer,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (cluster_id, role, n)
        )""")
    op.execute("ALTER TABLE instances ADD COLUMN cluster_id uuid, ADD COLUMN cluster_role text")
    op.execute("CREATE INDEX instances_cluster ON instances (cluster_id) WHERE cluster_id IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX instances_cluster")
    op.execute("ALTER TABLE instances DROP COLUMN cluster_role, DROP COLUMN cluster_id")
    op.execute("DROP TABLE cluster_members")
    op.execute("DROP TABLE clusters")
