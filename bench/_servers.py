"""The servers a benchmark runs against: its own PostgreSQL (durable, fsync on) and RabbitMQ in a temporary
directory, or the ones named by CLANAVI_BENCH_DATABASE_URL / CLANAVI_BENCH_AMQP_URL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench._cli import progress
from devstack import PostgresServer, RabbitServer, free_port

DATABASE_ENV = "CLANAVI_BENCH_DATABASE_URL"
AMQP_ENV = "CLANAVI_BENCH_AMQP_URL"


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    amqp_url: str
    # True when the benchmark started the server itself (and so owns everything in it).
    own_database: bool
    own_broker: bool
    # Root process of each server the benchmark started ("postgres", "rabbitmq"), to account for their CPU.
    pids: dict[str, int] = field(default_factory=dict)


def _read_pid(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


@contextlib.contextmanager
def bench_servers() -> Iterator[Endpoints]:
    """Yield the endpoints; servers started here are stopped (and their directory removed) on the way out."""
    database_url = os.environ.get(DATABASE_ENV)
    amqp_url = os.environ.get(AMQP_ENV)
    if database_url and amqp_url:
        yield Endpoints(database_url, amqp_url, own_database=False, own_broker=False)
        return

    root = Path(tempfile.mkdtemp(prefix="clanavi-bench-"))
    root.chmod(0o755)  # the postgres user must reach its data directory inside
    pg = None if database_url else PostgresServer(root / "postgres", free_port(), durable=True)
    rabbit = None if amqp_url else RabbitServer(root / "rabbitmq", free_port())
    try:
        progress(f"starting {'PostgreSQL ' if pg else ''}{'RabbitMQ ' if rabbit else ''}in {root}")
        with ThreadPoolExecutor(max_workers=2) as pool:
            started = [pool.submit(server.start) for server in (pg, rabbit) if server is not None]
            for future in started:
                future.result()
        pids = {}
        if pg is not None:
            pids["postgres"] = _read_pid(pg.data_dir / "postmaster.pid")
        if rabbit is not None:
            pids["rabbitmq"] = _read_pid(rabbit.pid_file)
        yield Endpoints(
            database_url or (pg.url if pg else ""),
            amqp_url or (rabbit.url if rabbit else ""),
            own_database=pg is not None,
            own_broker=rabbit is not None,
            pids={name: pid for name, pid in pids.items() if pid > 0},
        )
    finally:
        progress("stopping the benchmark's servers")
        if rabbit is not None:
            with contextlib.suppress(Exception):
                rabbit.stop()
        if pg is not None:
            with contextlib.suppress(Exception):
                pg.stop()
        shutil.rmtree(root, ignore_errors=True)
