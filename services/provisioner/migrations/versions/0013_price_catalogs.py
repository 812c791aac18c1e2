"""Price catalogs: each cloud account's versions of its prices, and the prices of each version. Rows are only ever
added: a version, once written, is never changed."""

from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE price_catalogs (
            id uuid PRIMARY KEY,
            project_id text NOT NULL,
            cloud_id text NOT NULL REFERENCES clouds (id) ON DELETE CASCADE,
            version integer NOT NULL,
            effective_from timestamptz NOT NULL,
            currency char(3) NOT NULL,
            source text NOT NULL,
            source_updated_at timestamptz,
            price_count integer NOT NULL,
            warnings jsonb NOT NULL DEFAULT '[]',
            warning_count integer NOT NULL DEFAULT 0,
            correlation_id text NOT NULL,
            last_event_id uuid,
            created_at timestamptz NOT NULL,
            UNIQUE (cloud_id, version)
        )""")
    op.execute("CREATE INDEX price_catalogs_in_force ON price_catalogs (cloud_id, effective_from DESC, version DESC)")
    op.execute("""
        CREATE TABLE catalog_prices (
            catalog_id uuid NOT NULL REFERENCES price_catalogs (id) ON DELETE CASCADE,
            kind text NOT NULL,
            region text NOT NULL,
            item text NOT NULL,
            -- Unconstrained numeric keeps an amount as written ("0.0300" stays 0.0300).
            amount numeric NOT NULL CHECK (amount >= 0),
            PRIMARY KEY (catalog_id, kind, region, item)
        )""")


def downgrade() -> None:
    op.execute("DROP TABLE catalog_prices")
    op.execute("DROP TABLE price_catalogs")
