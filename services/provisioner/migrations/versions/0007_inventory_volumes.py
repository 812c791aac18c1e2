"""Inventory sync of volumes: resources discovered in their cloud, and a run's volume counts."""

from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.execute("ALTER TABLE resources ADD COLUMN discovered boolean NOT NULL DEFAULT false")
    # A sync reads every volume record of one account at once.
    op.execute("CREATE INDEX resources_by_cloud ON resources (cloud_id, kind)")
    op.execute("""
        ALTER TABLE sync_runs
            ADD COLUMN volumes_adopted integer NOT NULL DEFAULT 0,
            ADD COLUMN volumes_drifted integer NOT NULL DEFAULT 0,
            ADD COLUMN volumes_vanished integer NOT NULL DEFAULT 0,
            ADD COLUMN volumes_unchanged integer NOT NULL DEFAULT 0,
            ADD COLUMN volumes_listed integer NOT NULL DEFAULT 0""")


def downgrade() -> None:
    op.execute("""
        ALTER TABLE sync_runs
            DROP COLUMN volumes_adopted,
            DROP COLUMN volumes_drifted,
            DROP COLUMN volumes_vanished,
            DROP COLUMN volumes_unchanged,
            DROP COLUMN volumes_listed""")
    op.execute("DROP INDEX resources_by_cloud")
    op.execute("ALTER TABLE resources DROP COLUMN discovered")
