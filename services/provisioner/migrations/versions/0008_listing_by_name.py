"""Lists sorted by name walk an index, as lists in creation order do."""

from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.execute("CREATE INDEX instances_by_name ON instances (project_id, name, id)")
    op.execute("CREATE INDEX resources_by_name ON resources (project_id, kind, name, id)")


def downgrade() -> None:
    op.execute("DROP INDEX resources_by_name")
    op.execute("DROP INDEX instances_by_name")
