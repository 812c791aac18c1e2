"""The progress of an instance's boot scripts (`boot`, null for an instance that runs none), and when the boot
follower reads its console next (`boot_read_at`, null: as soon as it can); only boots still under way are indexed."""

from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.execute("ALTER TABLE instances ADD COLUMN boot jsonb, ADD COLUMN boot_read_at timestamptz")
    op.execute(
        "CREATE INDEX instances_booting ON instances (boot_read_at) WHERE boot->>'state' IN ('pending', 'running')"
    )


def downgrade() -> None:
    op.execute("DROP INDEX instances_booting")
    op.execute("ALTER TABLE instances DROP COLUMN boot, DROP COLUMN boot_read_at")
