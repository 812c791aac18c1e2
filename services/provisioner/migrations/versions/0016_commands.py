"""Commands from other services (the scaler, failover): each recorded once, keyed by its envelope's id and, for one
that makes an instance, by that instance's id, then carried out by the command worker after the inbox transaction
committed. An instance keeps who asked for it (`requested_by`)."""

from alembic import op

from kernel.migrations import INBOX_DDL

revision = "0016"
down_revision = "0015"


def upgrade() -> None:
    # The provisioner's first consumer: its commands are recorded once, by envelope id.
    for statement in INBOX_DDL.split(";"):
        if statement.strip():
            op.execute(statement)
    op.execute("""
        CREATE TABLE commands (
            id uuid PRIMARY KEY,
            project_id text NOT NULL,
            type text NOT NULL,
            payload jsonb NOT NULL,
            requested_by text NOT NULL,
            correlation_id text NOT NULL,
            -- pending (to carry out), replacing (a replacement waits for its new instance to run), done, refused.
            state text NOT NULL,
            -- The instance a launch or a replacement makes: a second command naming it is a no-op.
            makes_instance uuid UNIQUE,
            attempts integer NOT NULL DEFAULT 0,
            -- A worker holds it until then; a killed worker's command is taken again after it.
            claimed_until timestamptz,
            reason text,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""")
    op.execute("CREATE INDEX commands_open ON commands (created_at) WHERE state IN ('pending', 'replacing')")
    op.execute("ALTER TABLE instances ADD COLUMN requested_by text")


def downgrade() -> None:
    op.execute("ALTER TABLE instances DROP COLUMN requested_by")
    op.execute("DROP TABLE commands")
    op.execute("DROP TABLE inbox")
