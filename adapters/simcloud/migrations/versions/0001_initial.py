"""SimCloud's catalogue and instances."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

IMAGES = [
    ("img-ubuntu-2404", "Ubuntu 24.04 LTS", "linux", 8),
    ("img-debian-12", "Debian 12", "linux", 4),
    ("img-rocky-9", "Rocky Linux 9", "linux", 10),
    ("img-windows-2022", "Windows Server 2022", "windows", 30),
]

FLAVORS = [
    ("sim.nano", "sim.nano", 1, 512, 10, "0.0050"),
    ("sim.small", "sim.small", 1, 2048, 20, "0.0200"),
    ("sim.medium", "sim.medium", 2, 4096, 40, "0.0400"),
    ("sim.large", "sim.large", 4, 8192, 80, "0.0800"),
    ("sim.xlarge", "sim.xlarge", 8, 16384, 160, "0.1600"),
]


def upgrade() -> None:
    op.execute("""
        CREATE TABLE images (
            id text PRIMARY KEY,
            name text NOT NULL,
            os text NOT NULL,
            min_disk_gb integer NOT NULL DEFAULT 0
        )""")
    op.execute("""
        CREATE TABLE flavors (
            id text PRIMARY KEY,
            name text NOT NULL,
            vcpus integer NOT NULL,
            ram_mb integer NOT NULL,
            disk_gb integer NOT NULL,
            hourly_price numeric(10, 4) NOT NULL
        )""")
    op.execute("""
        CREATE TABLE instances (
            account_id text NOT NULL,
            id text PRIMARY KEY,
            client_token text NOT NULL,
            name text NOT NULL,
            image_id text NOT NULL REFERENCES images (id),
            flavor_id text NOT NULL REFERENCES flavors (id),
            state text NOT NULL,
            target_state text,
            due_at timestamptz,
            created_at timestamptz NOT NULL,
            private_ip text NOT NULL,
            user_data text,
            tags jsonb NOT NULL DEFAULT '{}',
            reason text,
            UNIQUE (account_id, client_token)
        )""")
    op.execute("CREATE INDEX instances_account ON instances (account_id, created_at)")
    bind = op.get_bind()
    bind.execute(
        sa.text("INSERT INTO images VALUES (:id, :name, :os, :min_disk_gb)"),
        [dict(zip(("id", "name", "os", "min_disk_gb"), row, strict=True)) for row in IMAGES],
    )
    bind.execute(
        sa.text("INSERT INTO flavors VALUES (:id, :name, :vcpus, :ram_mb, :disk_gb, CAST(:price AS numeric))"),
        [dict(zip(("id", "name", "vcpus", "ram_mb", "disk_gb", "price"), row, strict=True)) for row in FLAVORS],
    )
