"""Cloud account credentials, encrypted (envelope encryption), and account names unique per project.

`credentials` is a sealed secret (`kernel.crypto.Sealed.to_bytes`): the JSON object of the account's secret fields.
`credentials_key_id` repeats the key id inside it, so rows still sealed with an old key are found without opening
them; `credential_fields` names the fields it holds (the API shows names, never values). `source` is "api" for the
accounts a project adds, "configuration" for CLANAVI_PROVISIONER_CLOUDS and the built-in `sim` (every row so far).

Secret fields still in `config` are moved into `credentials` when the provisioner starts: sealing needs
CLANAVI_SECRET_KEY, which a migration does not have.
"""

from alembic import op
from alembic.util import CommandError
from sqlalchemy import text

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.execute("""
        ALTER TABLE clouds
            ADD COLUMN credentials bytea,
            ADD COLUMN credentials_key_id text,
            ADD COLUMN credential_fields text[] NOT NULL DEFAULT '{}',
            ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
            ADD COLUMN source text NOT NULL DEFAULT 'configuration' CHECK (source IN ('api', 'configuration')),
            ADD CONSTRAINT clouds_credentials_keyed CHECK ((credentials IS NULL) = (credentials_key_id IS NULL))""")
    # Names were not unique before: later duplicates get their id appended.
    op.execute("""
        UPDATE clouds SET name = clouds.name || ' (' || clouds.id || ')'
        FROM (SELECT id, row_number() OVER (PARTITION BY project_id, name ORDER BY created_at, id) AS n
              FROM clouds) AS ranked
        WHERE ranked.id = clouds.id AND ranked.n > 1""")
    op.execute("CREATE UNIQUE INDEX clouds_names ON clouds (project_id, name)")
    op.execute("CREATE INDEX clouds_by_key ON clouds (credentials_key_id) WHERE credentials IS NOT NULL")


def downgrade() -> None:
    sealed = op.get_bind().execute(text("SELECT count(*) FROM clouds WHERE credentials IS NOT NULL")).scalar()
    if sealed:
        raise CommandError(
            f"{sealed} cloud accounts hold encrypted credentials, which the previous schema has no place for; "
            "remove them (or their credentials) first"
        )
    op.execute("DROP INDEX clouds_by_key")
    op.execute("DROP INDEX clouds_names")
    op.execute("""
        ALTER TABLE clouds
            DROP CONSTRAINT clouds_credentials_keyed,
            DROP COLUMN credentials,
            DROP COLUMN credentials_key_id,
            DROP COLUMN credential_fields,
            DROP COLUMN updated_at,
            DROP COLUMN source""")
