"""Claims with a lease: the worker (or a request) takes a pending action by setting a token and how long it holds it,
commits, and calls the cloud holding nothing of the database; a sync run is held the same way."""

from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    for table in ("instances", "resources"):
        op.execute(f"ALTER TABLE {table} ADD COLUMN claim_token uuid, ADD COLUMN claimed_until timestamptz")
    # A run recorded before has no lease: the next run of its cloud closes it as interrupted (as the advisory lock
    # that held runs before would have let it).
    op.execute("ALTER TABLE sync_runs ADD COLUMN held_until timestamptz")


def downgrade() -> None:
    op.execute("ALTER TABLE sync_runs DROP COLUMN held_until")
    for table in ("instances", "resources"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN claim_token, DROP COLUMN claimed_until")
