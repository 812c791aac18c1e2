"""The inbox and outbox; the price catalog versions the provisioner published, the resources and lifecycle facts
learned from its events, and the cost lines rated from them."""

from alembic import op

from kernel.migrations import INBOX_DDL, OUTBOX_DDL

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.execute(OUTBOX_DDL)
    for statement in INBOX_DDL.split(";"):
        if statement.strip():
            op.execute(statement)
    # Which adapter module each account is of (its minimum billed time), from the provisioner's cloud events.
    op.execute("""
        CREATE TABLE clouds (
            cloud_id text PRIMARY KEY,
            project_id text NOT NULL,
            driver text NOT NULL
        )""")
    # A version is taken into use once every page of its prices arrived.
    op.execute("""
        CREATE TABLE catalogs (
            catalog_id text PRIMARY KEY,
            cloud_id text NOT NULL,
            version integer NOT NULL,
            effective_from timestamptz NOT NULL,
            currency text NOT NULL,
            source text NOT NULL,
            pages integer NOT NULL,
            pages_seen integer[] NOT NULL DEFAULT '{}',
            complete boolean NOT NULL DEFAULT false
        )""")
    op.execute("CREATE INDEX catalogs_by_cloud ON catalogs (cloud_id, effective_from, version)")
    op.execute("""
        CREATE TABLE prices (
            catalog_id text NOT NULL REFERENCES catalogs (catalog_id) ON DELETE CASCADE,
            page integer NOT NULL,
            kind text NOT NULL,
            region text NOT NULL,
            item text NOT NULL,
            amount numeric NOT NULL
        )""")
    op.execute("CREATE INDEX prices_by_catalog ON prices (catalog_id)")
    # What the provisioner's events told of each billed resource; never read from the provisioner's tables.
    op.execute("""
        CREATE TABLE resources (
            id text PRIMARY KEY,
            kind text NOT NULL,
            project_id text NOT NULL,
            cloud_id text NOT NULL,
            attributes jsonb NOT NULL DEFAULT '{}',
            -- Billed now with no end yet: the hourly pass rates its hours as they end.
            open boolean NOT NULL DEFAULT false,
            rated_until timestamptz
        )""")
    op.execute("CREATE INDEX resources_open ON resources (rated_until) WHERE open")
    # A fact is kept once, however often it is told (a replay under a new event id too).
    op.execute("""
        CREATE TABLE facts (
            resource_id text NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
            at timestamptz NOT NULL,
            change text NOT NULL,
            flavor_id text,
            event_id uuid NOT NULL,
            PRIMARY KEY (resource_id, at, change)
        )""")
    # Cost lines in FOCUS 1.2 terms; never changed once written: a fix is a Correction line beside them.
    op.execute("""
        CREATE TABLE costs (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            project_id text NOT NULL,
            resource_id text NOT NULL,
            resource_type text NOT NULL,
            resource_name text NOT NULL DEFAULT '',
            component text NOT NULL,
            key_start timestamptz NOT NULL,
            charge_period_start timestamptz NOT NULL,
            charge_period_end timestamptz NOT NULL,
            charge_class text,
            service_name text NOT NULL,
            region_id text,
            cloud_id text NOT NULL,
            pricing_unit text NOT NULL,
            pricing_quantity numeric NOT NULL,
            consumed_quantity numeric NOT NULL,
            list_unit_price numeric,
            cost numeric NOT NULL,
            currency text NOT NULL,
            price_version integer,
            tags jsonb NOT NULL DEFAULT '{}',
            cluster_id text,
            template_id text,
            scaling_group_id text,
            rated_at timestamptz NOT NULL,
            event_id uuid
        )""")
    op.execute("CREATE INDEX costs_by_resource ON costs (resource_id, component, key_start)")
    op.execute("CREATE INDEX costs_by_project ON costs (project_id, charge_period_start, id)")


def downgrade() -> None:
    for table in ("costs", "facts", "resources", "prices", "catalogs", "clouds", "inbox", "outbox"):
        op.execute(f"DROP TABLE {table}")
