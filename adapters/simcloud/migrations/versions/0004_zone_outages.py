"""Zone outages an operator injects (`ex_set_zone_state`): while one lasts, the zone's instances are in error and
launches there fail."""

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.execute("""
        CREATE TABLE zone_outages (
            account_id text NOT NULL,
            zone text NOT NULL,
            since timestamptz NOT NULL,
            PRIMARY KEY (account_id, zone)
        )""")


def downgrade() -> None:
    op.execute("DROP TABLE zone_outages")
