"""Users, projects, memberships, API keys, refresh tokens, outbox."""

from alembic import op

from kernel.migrations import OUTBOX_DDL

revision = "0001"
down_revision = None

_ROLE = "CHECK (role IN ('owner', 'operator', 'viewer'))"


def upgrade() -> None:
    op.execute(OUTBOX_DDL)
    op.execute("""
        CREATE TABLE users (
            id uuid PRIMARY KEY,
            email text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
            name text NOT NULL,
            password_hash text NOT NULL,
            is_admin boolean NOT NULL DEFAULT false,
            disabled_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        )""")
    # Emails are unique whatever their case; logins look them up the same way.
    op.execute("CREATE UNIQUE INDEX users_email ON users (lower(email))")
    op.execute("CREATE INDEX users_page ON users (created_at, id)")
    op.execute("""
        CREATE TABLE projects (
            id text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
            name text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("CREATE INDEX projects_page ON projects (created_at, id)")
    # Resources made before projects existed belong to `default`, and an unconfigured client lands there.
    op.execute("INSERT INTO projects (id, name) VALUES ('default', 'Default')")
    op.execute(f"""
        CREATE TABLE memberships (
            project_id text NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            role text NOT NULL {_ROLE},
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (project_id, user_id)
        )""")
    op.execute("CREATE INDEX memberships_user ON memberships (user_id)")
    op.execute("CREATE INDEX memberships_page ON memberships (project_id, created_at, user_id)")
    # Only a key's SHA-256 is kept; `prefix` helps a person tell their keys apart. Admin keys are bound to no project.
    op.execute(f"""
        CREATE TABLE api_keys (
            id uuid PRIMARY KEY,
            name text NOT NULL,
            key_hash text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{{64}}$'),
            prefix text NOT NULL,
            user_id uuid REFERENCES users (id) ON DELETE CASCADE,
            project_id text REFERENCES projects (id) ON DELETE CASCADE,
            role text NOT NULL {_ROLE},
            is_admin boolean NOT NULL DEFAULT false,
            expires_at timestamptz,
            revoked_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("CREATE INDEX api_keys_page ON api_keys (project_id, created_at, id)")
    # A refresh token is used once; its successor joins the same family, and a reused token revokes the family.
    op.execute("""
        CREATE TABLE refresh_tokens (
            id uuid PRIMARY KEY,
            token_hash text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
            user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            family_id uuid NOT NULL,
            expires_at timestamptz NOT NULL,
            used_at timestamptz,
            revoked_at timestamptz,
            created_at timestamptz NOT NULL DEFAULT now()
        )""")
    op.execute("CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)")
    op.execute("CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id) WHERE revoked_at IS NULL")


def downgrade() -> None:
    for table in ("refresh_tokens", "api_keys", "memberships", "projects", "users", "outbox"):
        op.execute(f"DROP TABLE {table}")
