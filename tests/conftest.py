"""Fixtures shared by every suite.

Real servers: one PostgreSQL cluster and one RabbitMQ node per test session, started on free ports in a temporary
directory (or the servers named by CLANAVI_TEST_DATABASE_URL / CLANAVI_TEST_AMQP_URL). Isolation per test: a fresh
database and a bus prefix of its own, so tests never see each other's rows or messages.

Settings have no server URLs by default: a test that reads settings from the environment without naming servers gets
URLs that reach nothing, never whatever the shell running the tests points at.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr

from devstack import PostgresServer, RabbitServer, SshServer, free_port, private_dir
from devstack.ports import RANGE_ENV
from kernel import db
from kernel.settings import KernelSettings

# Each worker of a run on several processes (pytest-xdist's gw0, gw1, ...) draws its servers' and platforms' ports
# from a range of its own, below the kernel's ephemeral ports: two workers never start servers on one port.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if _WORKER.startswith("gw") and _WORKER[2:].isdigit():
    _first = 20000 + 2500 * int(_WORKER[2:])
    os.environ.setdefault(RANGE_ENV, f"{_first}-{_first + 2499}")

# The key the tests' services trust gateway-signed identities with.
INTERNAL_KEY = "test-internal-key-0123456789abcdef0123456789"
# The key the tests' services encrypt secrets at rest with.
SECRET_KEY = "test-secret-key-0123456789abcdef0123456789ab"
# Valid URLs of servers that do not exist (nothing listens on port 9, "discard").
NOWHERE_DATABASE_URL = "postgresql://clanavi-tests@127.0.0.1:9/nowhere"
NOWHERE_AMQP_URL = "amqp://clanavi-tests@127.0.0.1:9/"


@pytest.fixture(autouse=True)
def servers_nowhere_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLANAVI_DATABASE_URL", NOWHERE_DATABASE_URL)
    monkeypatch.setenv("CLANAVI_AMQP_URL", NOWHERE_AMQP_URL)


@dataclass
class Servers:
    root: Path
    postgres: PostgresServer
    rabbit: RabbitServer

    def database_url(self, name: str) -> str:
        return self.postgres.admin_url(name)


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    # Not listable by other accounts; as root, passable for the postgres account to reach its cluster inside.
    root = private_dir(Path(tempfile.mkdtemp(prefix="clanavi-test-")), passable=True)
    pg = PostgresServer(root / "postgres", free_port(), durable=False)
    rabbit = RabbitServer(root / "rabbitmq", free_port())
    try:
        pg.start()
        rabbit.start()
        yield Servers(root, pg, rabbit)
    finally:
        rabbit.stop()
        if os.environ.get("CLANAVI_KEEP_TEST_DIR"):
            pg.stop()
        else:
            pg.remove()  # its cluster too, should it live outside `root` (see devstack.postgres)
            shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def ssh_server(directory: Path) -> Iterator[SshServer]:
    """An OpenSSH server as an unprivileged account, its files in `directory`, stopped afterwards."""
    server = SshServer(directory, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sshd(servers: Servers) -> Iterator[SshServer]:
    """One OpenSSH server for the session: the SSH side of SimCloud's guests."""
    with ssh_server(servers.root / "sshd") as server:
        yield server


@pytest.fixture
def database_url(servers: Servers) -> Iterator[str]:
    """A new, empty database for this test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    servers.postgres.create_database(name)
    yield servers.database_url(name)
    servers.postgres.drop_database(name)


@pytest.fixture
def bus_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def kernel_settings(servers: Servers, database_url: str, bus_prefix: str) -> KernelSettings:
    return KernelSettings(
        env="test",
        database_url=SecretStr(database_url),
        amqp_url=SecretStr(servers.rabbit.url),
        bus_prefix=bus_prefix,
        internal_key=SecretStr(INTERNAL_KEY),
        secret_key=SecretStr(SECRET_KEY),
    )


@pytest.fixture
async def raw_connection(database_url: str) -> AsyncIterator[asyncpg.Connection[asyncpg.Record]]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


async def make_pool(url: str, schema: str) -> db.Pool:
    return await db.create_pool(url, schema=schema, application="clanavi-tests", min_size=1, max_size=10)


@contextlib.asynccontextmanager
async def scratch_pool(url: str, *tables: str) -> AsyncIterator[db.Pool]:
    """A service's pool on a schema of its own holding `tables` (CREATE TABLE statements naming a table without its
    schema), dropped afterwards."""
    schema = f"k_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(url)
    await conn.execute(f"CREATE SCHEMA {schema}")
    for table in tables:
        await conn.execute(table.replace("CREATE TABLE ", f"CREATE TABLE {schema}.", 1))
    pool = await make_pool(url, schema)
    try:
        yield pool
    finally:
        await pool.close()
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()
