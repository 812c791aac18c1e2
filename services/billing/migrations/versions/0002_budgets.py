"""Budgets: a monthly amount over a scope, its thresholds, and what they crossed this month."""

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE budgets (
            id uuid PRIMARY KEY,
            project_id text NOT NULL,
            name text NOT NULL,
            scope jsonb NOT NULL,
            amount numeric NOT NULL,
            currency text NOT NULL,
            thresholds jsonb NOT NULL,
            period text NOT NULL DEFAULT '',
            crossed jsonb NOT NULL DEFAULT '[]',
            launches_blocked boolean NOT NULL DEFAULT false,
            correlation_id text NOT NULL,
            last_event_id uuid,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            UNIQUE (project_id, name)
        )""")
    op.execute("CREATE INDEX budgets_by_project ON budgets (project_id, created_at, id)")


def downgrade() -> None:
    op.execute("DROP TABLE budgets")
