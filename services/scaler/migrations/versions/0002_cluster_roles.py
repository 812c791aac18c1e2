"""Scaling groups over a cluster role: the projects' cluster roles as the `cluster.*` events told them, and a group's
cluster and role."""

from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE cluster_roles (
            cluster_id text NOT NULL,
            role text NOT NULL,
            project_id text NOT NULL,
            template_id text NOT NULL,
            template_version integer NOT NULL,
            PRIMARY KEY (cluster_id, role)
        )""")
    op.execute("ALTER TABLE groups ADD COLUMN cluster_id text, ADD COLUMN cluster_role text")


def downgrade() -> None:
    op.execute("ALTER TABLE groups DROP COLUMN cluster_id, DROP COLUMN cluster_role")
    op.execute("DROP TABLE cluster_roles")
