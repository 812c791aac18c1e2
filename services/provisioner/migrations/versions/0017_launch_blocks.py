"""Launch blocks: the budgets (kept by the billing service) whose `block_launches` action forbids new launches within
a scope of a project, learned from its `budget.launches_blocked` / `budget.launches_unblocked` events."""

from alembic import op

revision = "0017"
down_revision = "0016"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE launch_blocks (
            project_id text NOT NULL,
            budget_id text NOT NULL,
            budget_name text NOT NULL,
            -- project, tag (tag_key = tag_value) or cluster (cluster_id).
            scope_kind text NOT NULL,
            tag_key text,
            tag_value text,
            cluster_id text,
            -- The budget's month ("2026-12") and the moment of the newest event applied: an older event is ignored.
            period text NOT NULL,
            reason text NOT NULL,
            blocked boolean NOT NULL,
            changed_at timestamptz NOT NULL,
            event_id text NOT NULL,
            PRIMARY KEY (project_id, budget_id)
        )""")
    # Every launch reads its project's blocks in force.
    op.execute("CREATE INDEX launch_blocks_in_force ON launch_blocks (project_id) WHERE blocked")


def downgrade() -> None:
    op.execute("DROP TABLE launch_blocks")
