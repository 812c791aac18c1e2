"""Audit records name the rule their hash was made with: version 2 covers every stored column.

Version 1 (every record stored before this revision) hashed the envelope only, leaving `seq` and `received_at`
unprotected. Those records keep their hashes and verify by rule 1: hashing them again now would vouch for whatever
they hold today, and would change hashes that may have been copied elsewhere. Records written from now on use rule 2,
which also covers `seq`, `received_at` and `hash_version`, and chain to the last version 1 record as before.
"""

from alembic import op
from alembic.util import CommandError

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    # The default is what a writer that does not name a version does: a replica still running the previous release
    # during a rolling upgrade hashes by rule 1, and its records must say so to keep verifying. Adding a column with
    # a constant default rewrites no row, so the append-only triggers are not involved.
    op.execute("""
        ALTER TABLE events
            ADD COLUMN hash_version smallint NOT NULL DEFAULT 1
            CONSTRAINT events_hash_version_known CHECK (hash_version IN (1, 2))""")


def downgrade() -> None:
    # Without hash_version, records hashed by rule 2 would no longer verify: the trail's evidence would be lost.
    raise CommandError("the audit trail's hash versions are never dropped by a migration")
