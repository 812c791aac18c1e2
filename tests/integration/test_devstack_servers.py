"""The PostgreSQL and RabbitMQ servers devstack starts (for `make run`, the test session and the benchmarks) let in
no one without their generated passwords, keep those passwords where only their owner reads them, and convert the
servers of an older devstack (trust authentication, guest/guest) at their next start, data kept."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiormq
import asyncpg
import pytest

from devstack import PostgresServer, RabbitServer, free_port, private_dir
from devstack.postgres import PG_BIN
from tests.conftest import Servers

pytestmark = pytest.mark.integration

# What initdb --auth=trust wrote, as devstack had it before passwords.
TRUST_HBA = """\
local   all             all                                     trust
host    all             all             127.0.0.1/32            trust
host    all             all             ::1/128                 trust
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def root() -> Iterator[Path]:
    root = private_dir(Path(tempfile.mkdtemp(prefix="clanavi-devstack-")), passable=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)


async def refused_by_postgres(port: int, *, password: str | None, nowhere: Path) -> bool:
    """True when PostgreSQL refuses the superuser over TCP with this password (None: none at all)."""
    try:
        # No password file or PGPASSWORD may answer for us.
        conn = await asyncpg.connect(
            host="127.0.0.1", port=port, user="postgres", database="postgres", password=password, passfile=str(nowhere)
        )
    except (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InterfaceError):
        return True
    await conn.close()
    return False


async def refused_by_rabbitmq(url: str) -> bool:
    # aiormq itself: an aio-pika connection that failed to open schedules its close when it is collected, which
    # outside the event loop is a coroutine never awaited (and an error in whichever test runs then).
    try:
        connection = await asyncio.wait_for(aiormq.connect(url), timeout=30)
    except aiormq.exceptions.ProbableAuthenticationError:
        return True
    await connection.close()
    return False


async def assert_postgres_password_only(pg: PostgresServer, nowhere: Path) -> None:
    assert await refused_by_postgres(pg.port, password=None, nowhere=nowhere)
    assert await refused_by_postgres(pg.port, password="postgres", nowhere=nowhere)
    assert await refused_by_postgres(pg.port, password=pg.password + "x", nowhere=nowhere)
    conn = await asyncpg.connect(pg.admin_url())
    try:
        assert await conn.fetchval("SELECT current_user") == "postgres"
        # The rules the server runs with, not only the file: none trusts anyone.
        methods = {row["auth_method"] for row in await conn.fetch("SELECT auth_method FROM pg_hba_file_rules")}
        assert methods == {"peer", "scram-sha-256"}
    finally:
        await conn.close()


def assert_owner_only(*files: Path) -> None:
    for path in files:
        assert mode(path) == 0o600, f"{path} is {oct(mode(path))}"
        assert mode(path.parent) & 0o077 == 0, f"{path.parent} is {oct(mode(path.parent))}"


async def test_postgres_lets_in_only_with_its_password(servers: Servers, tmp_path: Path) -> None:
    pg = servers.postgres

    await assert_postgres_password_only(pg, tmp_path / "no-passfile")

    assert pg.url.startswith(f"postgresql://postgres:{pg.password}@127.0.0.1:{pg.port}/")
    assert len(pg.password) >= 32
    assert_owner_only(pg.password_file)
    assert "trust" not in (pg.data_dir / "pg_hba.conf").read_text()


def test_psql_without_a_password_is_refused(servers: Servers, tmp_path: Path) -> None:
    psql = shutil.which("psql") or str(PG_BIN / "psql")
    env = {**os.environ, "PGPASSFILE": str(tmp_path / "no-passfile")}
    env.pop("PGPASSWORD", None)
    answer = subprocess.run(  # noqa: S603 - the PostgreSQL client
        [psql, "-w", "-h", "127.0.0.1", "-p", str(servers.postgres.port), "-U", "postgres", "-c", "SELECT 1"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert answer.returncode != 0
    assert "password" in answer.stderr, answer.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="only root has an account other than the cluster's owner to try")
async def test_postgres_socket_is_for_the_cluster_owner_only(servers: Servers, tmp_path: Path) -> None:
    """As root the cluster belongs to `postgres`; root itself, without the password, is refused on the socket."""
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await asyncpg.connect(
            host=str(servers.postgres.home),
            port=servers.postgres.port,
            user="postgres",
            database="postgres",
            passfile=str(tmp_path / "no-passfile"),
        )
    assert mode(servers.postgres.home) == 0o700


async def test_rabbitmq_lets_in_only_with_its_password(servers: Servers) -> None:
    rabbit = servers.rabbit

    assert await refused_by_rabbitmq(f"amqp://guest:guest@127.0.0.1:{rabbit.port}/")
    assert await refused_by_rabbitmq(f"amqp://clanavi:{rabbit.password}x@127.0.0.1:{rabbit.port}/")
    assert not await refused_by_rabbitmq(rabbit.url)

    assert rabbit.url.startswith(f"amqp://clanavi:{rabbit.password}@127.0.0.1:{rabbit.port}/")
    users = rabbit.ctl("list_users", "--quiet", "--no-table-headers").stdout.split()
    assert "guest" not in users and "clanavi" in users
    assert_owner_only(rabbit.password_file, rabbit.definitions_file, rabbit.root / "rabbitmq.conf")
    assert rabbit.password not in rabbit.definitions_file.read_text(), "only the password's hash is written down"


def make_old_postgres(pg: PostgresServer) -> None:
    """Turn the running `pg` into what an older devstack left: no role password, trust rules, no password file."""
    pg.psql("ALTER ROLE postgres PASSWORD NULL")
    (pg.data_dir / "pg_hba.conf").write_text(TRUST_HBA)
    (pg.data_dir / "pg_ident.conf").write_text("")
    pg.password_file.unlink()
    pg.psql("SELECT pg_reload_conf()")


@pytest.mark.parametrize("running", [False, True], ids=["stopped", "still-running"])
async def test_an_older_postgres_cluster_is_converted_with_its_data(root: Path, running: bool) -> None:
    pg = PostgresServer(root / "postgres", free_port(), durable=False)
    try:
        pg.start()
        pg.psql("CREATE TABLE kept (value text); INSERT INTO kept VALUES ('before')", database=pg.database)
        make_old_postgres(pg)
        assert not await refused_by_postgres(pg.port, password=None, nowhere=root / "no-passfile")
        if not running:
            pg.stop()

        pg.start()

        await assert_postgres_password_only(pg, root / "no-passfile")
        assert_owner_only(pg.password_file)
        conn = await asyncpg.connect(pg.url)
        try:
            assert await conn.fetchval("SELECT value FROM kept") == "before"
        finally:
            await conn.close()
    finally:
        pg.stop()


def make_old_rabbitmq(rabbit: RabbitServer) -> None:
    """Turn the running `rabbit` into what an older devstack left: guest/guest, no other user, no password file."""
    for args in (
        ("add_user", "guest", "guest"),
        ("set_permissions", "-p", "/", "guest", ".*", ".*", ".*"),
        ("delete_user", "clanavi"),
    ):
        assert rabbit.ctl(*args).returncode == 0
    rabbit.password_file.unlink()
    rabbit.definitions_file.unlink()
    (rabbit.root / "rabbitmq.conf").write_text("loopback_users.guest = true\n")


async def assert_rabbitmq_password_only(rabbit: RabbitServer) -> None:
    assert await refused_by_rabbitmq(f"amqp://guest:guest@127.0.0.1:{rabbit.port}/")
    assert not await refused_by_rabbitmq(rabbit.url)
    assert_owner_only(rabbit.password_file, rabbit.definitions_file)


async def test_an_older_rabbitmq_node_is_converted(root: Path) -> None:
    rabbit = RabbitServer(root / "rabbitmq", free_port())
    try:
        rabbit.start()
        # Still running when the new devstack starts.
        make_old_rabbitmq(rabbit)
        assert not await refused_by_rabbitmq(f"amqp://guest:guest@127.0.0.1:{rabbit.port}/")
        rabbit.start()
        await assert_rabbitmq_password_only(rabbit)

        # Stopped, then started by the new devstack.
        make_old_rabbitmq(rabbit)
        rabbit.stop()
        rabbit.start()
        await assert_rabbitmq_password_only(rabbit)
    finally:
        rabbit.stop()


# --- where the cluster lives -------------------------------------------------------------------------------------


@pytest.fixture
def state_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Where clusters go that cannot live where they were asked to: a directory of this test's own."""
    path = private_dir(Path(tempfile.mkdtemp(prefix="clanavi-state-")), passable=True) / "clusters"
    monkeypatch.setenv("CLANAVI_DEV_STATE_DIR", str(path))
    yield path
    shutil.rmtree(path.parent, ignore_errors=True)


async def assert_cluster_keeps_data_elsewhere(pg: PostgresServer, state_dir: Path) -> None:
    """`pg` starts with its cluster under `state_dir`, `root` linking to it; data outlives a stop and a new object
    for the same root (as the next `make run` makes); `remove` leaves nothing."""
    try:
        pg.start()
        assert pg.root.is_symlink()
        assert pg.home.parent == state_dir
        assert (pg.home / "origin").read_text().strip() == str(pg.root)
        assert_owner_only(pg.password_file)
        pg.psql("CREATE TABLE kept (value text); INSERT INTO kept VALUES ('before')", database=pg.database)
        pg.stop()

        again = PostgresServer(pg.root, pg.port, durable=False)
        assert again.home == pg.home
        again.start()
        conn = await asyncpg.connect(again.url)
        try:
            assert await conn.fetchval("SELECT value FROM kept") == "before"
        finally:
            await conn.close()
    finally:
        pg.remove()
    assert not pg.root.exists() and not pg.root.is_symlink()
    assert list(state_dir.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="as root only: otherwise the cluster runs as the account that owns root")
async def test_a_cluster_the_postgres_account_cannot_reach_lives_elsewhere(root: Path, state_dir: Path) -> None:
    """As root with a checkout in /root (mode 0700): `postgres` cannot pass, so the cluster lives in the state dir."""
    checkout = root / "home"
    checkout.mkdir(mode=0o700)
    run_dir = private_dir(checkout / "clanavi" / ".run", passable=True)
    # What the start that failed before this fix left: a password file, no cluster.
    (run_dir / "postgres").mkdir()
    (run_dir / "postgres" / "password").write_text("left-over\n")

    pg = PostgresServer(run_dir / "postgres", free_port(), durable=False)
    await assert_cluster_keeps_data_elsewhere(pg, state_dir)
    assert mode(state_dir) == 0o711  # `postgres` passes through, nobody lists


async def test_a_cluster_whose_socket_path_would_be_too_long_lives_elsewhere(root: Path, state_dir: Path) -> None:
    deep = root / ("d" * 60) / ("e" * 60)
    pg = PostgresServer(private_dir(deep, passable=True) / "postgres", free_port(), durable=False)

    await assert_cluster_keeps_data_elsewhere(pg, state_dir)


# --- RabbitMQ listens on loopback only -----------------------------------------------------------------------------


def listening(ports: set[int]) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket listening on one of `ports`, from /proc/net/tcp and tcp6."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        with open(table) as lines:
            next(lines)
            for line in lines:
                local, _remote, state = line.split()[1:4]
                address, port = local.split(":")
                if state != "0A" or int(port, 16) not in ports:  # 0A: LISTEN
                    continue
                raw = bytes.fromhex(address)
                # The kernel prints each 32-bit word of the address in host order (little-endian here).
                packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                found.add((socket.inet_ntop(family, packed), int(port, 16)))
    return found


def test_rabbitmq_listens_on_loopback_only(servers: Servers) -> None:
    rabbit = servers.rabbit
    ports = {rabbit.port, rabbit.dist_port, rabbit.epmd_port}

    sockets = listening(ports)

    assert {port for _, port in sockets} == ports, sockets  # AMQP, the Erlang distribution and epmd
    assert all(ipaddress.ip_address(address).is_loopback for address, _ in sockets), sockets
    # rabbitmqctl's own short-lived nodes listen for the node's answer: on loopback too.
    assert "inet_dist_use_interface {127,0,0,1}" in rabbit.env()["RABBITMQ_CTL_ERL_ARGS"]
