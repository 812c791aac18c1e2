"""Scripts and server templates, each with immutable numbered versions; an instance records the template version it
came from and the inputs it was launched with (secrets masked)."""

from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE scripts (
            id uuid PRIMARY KEY,
            project_id text NOT NULL,
            name text NOT NULL,
            latest_version integer NOT NULL,
            correlation_id text NOT NULL,
            last_event_id uuid,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            UNIQUE (project_id, name)
        )""")
    op.execute("CREATE INDEX scripts_listing ON scripts (project_id, created_at, id)")
    op.execute("""
        CREATE TABLE script_versions (
            script_id uuid NOT NULL REFERENCES scripts (id) ON DELETE CASCADE,
            version integer NOT NULL,
            body text NOT NULL,
            phase text NOT NULL,
            timeout_seconds integer NOT NULL,
            inputs jsonb NOT NULL,
            deprecated boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (script_id, version)
        )""")
    op.execute("""
        CREATE TABLE templates (
            id uuid PRIMARY KEY,
            project_id text NOT NULL,
            name text NOT NULL,
            latest_version integer NOT NULL,
            default_version integer NOT NULL,
            correlation_id text NOT NULL,
            last_event_id uuid,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            UNIQUE (project_id, name)
        )""")
    op.execute("CREATE INDEX templates_listing ON templates (project_id, created_at, id)")
    # `script_refs` ("<script id>:<version>") say which script versions a template version runs, so that a script
    # version in use is found without reading every spec.
    op.execute("""
        CREATE TABLE template_versions (
            template_id uuid NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
            version integer NOT NULL,
            spec jsonb NOT NULL,
            script_refs text[] NOT NULL DEFAULT '{}',
            sealed_values bytea,
            secret_names text[] NOT NULL DEFAULT '{}',
            deprecated boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL,
            PRIMARY KEY (template_id, version)
        )""")
    op.execute("CREATE INDEX template_versions_scripts ON template_versions USING gin (script_refs)")
    op.execute("""
        ALTER TABLE instances
            ADD COLUMN template_id uuid,
            ADD COLUMN template_version integer,
            ADD COLUMN inputs jsonb NOT NULL DEFAULT '{}'""")
    op.execute(
        "CREATE INDEX instances_template ON instances (template_id, template_version) WHERE template_id IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX instances_template")
    op.execute("ALTER TABLE instances DROP COLUMN template_id, DROP COLUMN template_version, DROP COLUMN inputs")
    for table in ("template_versions", "templates", "script_versions", "scripts"):
        op.execute(f"DROP TABLE {table}")
