"""The rest of the contract: private images, instance history and load, key pairs, security groups, volumes,
snapshots and addresses. Every row of an account's resource carries its account_id."""

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    # Catalogue images have no account; an account's own images (made from its instances) do.
    op.execute("""
        ALTER TABLE images
            ADD COLUMN account_id text,
            ADD COLUMN state text NOT NULL DEFAULT 'available',
            ADD COLUMN target_state text,
            ADD COLUMN due_at timestamptz,
            ADD COLUMN created_at timestamptz,
            ADD COLUMN source_instance_id text""")
    op.execute("CREATE UNIQUE INDEX images_account_name ON images (account_id, name) WHERE account_id IS NOT NULL")
    # An image may be deregistered while instances launched from it live on.
    op.execute("ALTER TABLE instances DROP CONSTRAINT instances_image_id_fkey")
    op.execute("""
        ALTER TABLE instances
            ADD COLUMN zone text,
            ADD COLUMN key_name text,
            ADD COLUMN security_group_ids text[] NOT NULL DEFAULT '{}'""")
    op.execute("CREATE INDEX instances_account_id ON instances (account_id, id)")

    # Each phase an action put the instance in, from which its past states are known (metrics, console).
    op.execute("""
        CREATE TABLE instance_phases (
            account_id text NOT NULL,
            instance_id text NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
            seq bigserial,
            at timestamptz NOT NULL,
            state text NOT NULL,
            target_state text,
            due_at timestamptz,
            PRIMARY KEY (instance_id, seq)
        )""")
    # Instances from before kept no history: assume each booted when launched (unless still booting) and was
    # put in its present phase when it began, or now if that is unknown.
    op.execute("""
        INSERT INTO instance_phases (account_id, instance_id, at, state, target_state, due_at)
        SELECT account_id, id, created_at, 'pending',
               CASE WHEN state = 'pending' THEN target_state ELSE 'running' END,
               CASE WHEN state = 'pending' THEN due_at ELSE created_at END
        FROM instances""")
    op.execute("""
        INSERT INTO instance_phases (account_id, instance_id, at, state, target_state, due_at)
        SELECT account_id, id, GREATEST(created_at, LEAST(now(), COALESCE(due_at, now()))), state, target_state, due_at
        FROM instances
        WHERE state <> 'pending' AND NOT (state = 'running' AND target_state IS NULL)""")
    op.execute("""
        CREATE TABLE instance_loads (
            account_id text NOT NULL,
            instance_id text NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
            seq bigserial,
            since timestamptz NOT NULL,
            profile text NOT NULL,
            PRIMARY KEY (instance_id, seq)
        )""")

    op.execute("""
        CREATE TABLE key_pairs (
            account_id text NOT NULL,
            name text NOT NULL,
            key_type text NOT NULL,
            fingerprint text NOT NULL,
            public_key text NOT NULL,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (account_id, name)
        )""")

    op.execute("""
        CREATE TABLE security_groups (
            account_id text NOT NULL,
            id text PRIMARY KEY,
            name text NOT NULL,
            description text NOT NULL,
            created_at timestamptz NOT NULL,
            UNIQUE (account_id, name)
        )""")
    op.execute("""
        CREATE TABLE security_rules (
            account_id text NOT NULL,
            group_id text NOT NULL REFERENCES security_groups (id) ON DELETE CASCADE,
            seq bigserial,
            direction text NOT NULL,
            protocol text NOT NULL,
            from_port integer,
            to_port integer,
            cidr text NOT NULL,
            PRIMARY KEY (group_id, seq)
        )""")
    op.execute("""
        CREATE UNIQUE INDEX security_rules_distinct ON security_rules
            (group_id, direction, protocol, coalesce(from_port, -1), coalesce(to_port, -1), cidr)""")

    op.execute("""
        CREATE TABLE volumes (
            account_id text NOT NULL,
            id text PRIMARY KEY,
            name text NOT NULL,
            size_gb integer NOT NULL,
            zone text NOT NULL,
            state text NOT NULL,
            target_state text,
            due_at timestamptz,
            created_at timestamptz NOT NULL,
            instance_id text,
            device text,
            snapshot_id text
        )""")
    op.execute("CREATE INDEX volumes_account ON volumes (account_id, created_at)")
    op.execute("CREATE INDEX volumes_instance ON volumes (account_id, instance_id) WHERE instance_id IS NOT NULL")

    op.execute("""
        CREATE TABLE snapshots (
            account_id text NOT NULL,
            id text PRIMARY KEY,
            volume_id text NOT NULL,
            name text NOT NULL,
            size_gb integer NOT NULL,
            state text NOT NULL,
            target_state text,
            due_at timestamptz,
            created_at timestamptz NOT NULL
        )""")
    op.execute("CREATE INDEX snapshots_account ON snapshots (account_id, created_at)")

    op.execute("""
        CREATE TABLE addresses (
            account_id text NOT NULL,
            id text PRIMARY KEY,
            ip text NOT NULL,
            instance_id text,
            created_at timestamptz NOT NULL,
            UNIQUE (account_id, ip)
        )""")
    op.execute("CREATE INDEX addresses_instance ON addresses (account_id, instance_id) WHERE instance_id IS NOT NULL")
