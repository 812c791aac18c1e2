"""The inbox and the append-only, hash-chained events table."""

from alembic import op
from alembic.util import CommandError

from kernel.migrations import INBOX_DDL

revision = "0001"
down_revision = None


def upgrade() -> None:
    for statement in INBOX_DDL.split(";"):
        if statement.strip():
            op.execute(statement)
    op.execute("""
        CREATE TABLE events (
            seq bigserial PRIMARY KEY,
            id uuid NOT NULL UNIQUE,
            type text NOT NULL,
            version integer NOT NULL,
            occurred_at timestamptz NOT NULL,
            project_id text NOT NULL,
            correlation_id text NOT NULL,
            causation_id text,
            subject text,
            payload jsonb NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            prev_hash bytea NOT NULL CHECK (length(prev_hash) = 32),
            hash bytea NOT NULL CHECK (length(hash) = 32)
        )""")
    # Every query is scoped to one project and pages by (occurred_at, seq).
    op.execute("CREATE INDEX events_timeline ON events (project_id, occurred_at, seq)")
    op.execute("CREATE INDEX events_by_type ON events (project_id, type, occurred_at, seq)")
    op.execute("""CREATE INDEX events_by_subject ON events (project_id, subject, occurred_at, seq)
                  WHERE subject IS NOT NULL""")
    op.execute("CREATE INDEX events_by_correlation ON events (project_id, correlation_id, occurred_at, seq)")
    # Statement-level triggers refuse even an UPDATE or DELETE that matches no row: only INSERT is allowed.
    op.execute("""
        CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit trail is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME;
        END
        $$""")
    op.execute("""CREATE TRIGGER events_no_update_or_delete BEFORE UPDATE OR DELETE ON events
                  FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()""")
    op.execute("""CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
                  FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()""")


def downgrade() -> None:
    # Dropping the trail would destroy the evidence it exists to keep; that takes a deliberate manual step.
    raise CommandError("the audit trail is never dropped by a migration")
