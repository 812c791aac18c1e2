"""Inventory sync: runs, and instances discovered in or gone from their cloud."""

from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.execute("ALTER TABLE instances ADD COLUMN discovered boolean NOT NULL DEFAULT false")
    # A sync reads every record of one account at once.
    op.execute("CREATE INDEX instances_by_cloud ON instances (cloud_id)")
    op.execute("""
        CREATE TABLE sync_runs (
            id uuid PRIMARY KEY,
            cloud_id text NOT NULL REFERENCES clouds (id) ON DELETE CASCADE,
            project_id text NOT NULL,
            trigger text NOT NULL CHECK (trigger IN ('scheduled', 'manual')),
            status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
            started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            finished_at timestamptz,
            adopted integer NOT NULL DEFAULT 0,
            drifted integer NOT NULL DEFAULT 0,
            vanished integer NOT NULL DEFAULT 0,
            unchanged integer NOT NULL DEFAULT 0,
            listed integer NOT NULL DEFAULT 0,
            list_calls integer NOT NULL DEFAULT 0,
            error text,
            correlation_id text NOT NULL
        )""")
    op.execute("CREATE INDEX sync_runs_listing ON sync_runs (cloud_id, started_at DESC, id DESC)")
    # At most one run of an account at a time (the advisory lock decides which; this keeps the record honest).
    op.execute("CREATE UNIQUE INDEX sync_runs_running ON sync_runs (cloud_id) WHERE status = 'running'")


def downgrade() -> None:
    op.execute("DROP TABLE sync_runs")
    op.execute("DROP INDEX instances_by_cloud")
    op.execute("ALTER TABLE instances DROP COLUMN discovered")
