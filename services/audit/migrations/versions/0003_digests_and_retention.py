"""Signed digests over the hash chain, and retention.

A digest signs the chain's end (its last record's seq and hash, how many records it has held) and the digest before
it; digests are append-only like the events and are never removed.

Retention removes the oldest records, and only up to a record a digest signed: the oldest record kept then chains to
a hash that digest vouches for, so the trail still verifies. The append-only trigger lets a DELETE through only in a
transaction that says it is the retention job (`SET LOCAL clanavi.audit_retention = 'on'`), which the service does
only for records older than the configured retention, up to a digest. It guards against mistakes; whoever may set the
variable may also drop a trigger, which is what the digests exist to reveal.
"""

from alembic import op
from alembic.util import CommandError

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE digests (
            number bigint PRIMARY KEY,
            created_at timestamptz NOT NULL,
            last_seq bigint NOT NULL,
            last_hash bytea NOT NULL CHECK (length(last_hash) = 32),
            record_count bigint NOT NULL,
            previous_signature bytea,
            signature bytea NOT NULL,
            key_id text NOT NULL,
            public_key text NOT NULL
        )""")
    op.execute("CREATE INDEX digests_by_last_hash ON digests (last_hash)")
    op.execute("""CREATE TRIGGER digests_no_update_or_delete BEFORE UPDATE OR DELETE ON digests
                  FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()""")
    op.execute("""CREATE TRIGGER digests_no_truncate BEFORE TRUNCATE ON digests
                  FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()""")
    op.execute("""
        CREATE FUNCTION events_retention_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND current_setting('clanavi.audit_retention', true) = 'on' THEN
                RETURN NULL;
            END IF;
            RAISE EXCEPTION 'the audit trail is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME;
        END
        $$""")
    op.execute("DROP TRIGGER events_no_update_or_delete ON events")
    op.execute("""CREATE TRIGGER events_no_update_or_delete BEFORE UPDATE OR DELETE ON events
                  FOR EACH STATEMENT EXECUTE FUNCTION events_retention_only()""")
    # The API calls are searched by who made them, and the calls that failed.
    op.execute("""CREATE INDEX events_calls_by_actor ON events (project_id, (payload->>'principal'), occurred_at, seq)
                  WHERE type = 'api.called'""")


def downgrade() -> None:
    raise CommandError("the audit trail's digests are never dropped by a migration")
