"""What the benchmarks that run the whole platform share: the platform's services started as processes, as `make run`
starts them (SimCloud at its default timings, rate limits raised out of the way, a fresh admin token), and the CPU
each server process uses over a window, read from /proc (PostgreSQL's also by the client each backend serves)."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import _procfs
from bench._servers import Endpoints, bench_servers
from devstack import free_port
from devstack.processes import ServiceProcess, service_env

__all__ = [
    "ADMIN_EMAIL",
    "ADMIN_PASSWORD",
    "ADMIN_TOKEN",
    "QUIET_MARGIN_CORES",
    "SERVICES",
    "UNTHROTTLED",
    "CpuUse",
    "ServerCpu",
    "Servers",
    "platform_processes",
]

# Fresh for each run: the platform lives only as long as the benchmark.
ADMIN_TOKEN = secrets.token_hex(24)
INTERNAL_KEY = secrets.token_hex(32)
SECRET_KEY = secrets.token_hex(32)
ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = secrets.token_hex(16)
# Far above what a benchmark can send on two cores: the limiter runs, but never refuses.
UNTHROTTLED = "1000000"
SERVICES = ("provisioner", "audit", "scaler", "failover", "billing", "alerts", "gateway")
# The platform's processes, in the order their CPU is reported (any other server a benchmark counts follows).
PROCESSES = ("gateway", "provisioner", "audit", "postgres", "rabbitmq")
# Cores above its idle use at which the platform counts as busy still.
QUIET_MARGIN_CORES = 0.1


# --- where the CPU goes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Servers:
    """Every server process of the run: roots of the process trees by name, and PostgreSQL's postmaster and port
    (absent when the benchmark uses a server it did not start)."""

    pids: dict[str, int]
    postmaster: int | None = None
    postgres_port: int | None = None

    def window(self) -> ServerCpu:
        return ServerCpu(self)

    def platform_cores(self, seconds: float) -> float:
        """Cores the platform's processes (services, PostgreSQL, RabbitMQ) use over the next `seconds`."""
        window = self.window()
        time.sleep(seconds)
        used = window.use().cores()
        return sum(used.get(name) or 0.0 for name in (*SERVICES, "postgres", "rabbitmq"))

    def quiet(self, idle_cores: float, timeout: float) -> tuple[bool, float]:
        """Wait until the platform's processes are back near idle (work queued by a run's last requests done):
        whether they are, and the cores they used in the last second."""
        deadline = time.monotonic() + timeout
        while True:
            busy = self.platform_cores(1.0)
            if busy <= idle_cores + QUIET_MARGIN_CORES or time.monotonic() > deadline:
                return busy <= idle_cores + QUIET_MARGIN_CORES, busy


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds each server used over `wall` seconds (PostgreSQL's over every process of its cluster, also by the
    client each backend served), and the cores the whole machine was busy with, every tenant and wrk included."""

    wall: float
    seconds: dict[str, float | None]
    postgres_by_client: dict[str, float]
    machine_cores: float | None

    def cores(self) -> dict[str, float | None]:
        used = {name: None if v is None else round(v / self.wall, 3) for name, v in self.seconds.items()}
        return {**used, "machine": self.machine_cores}

    def per_request(self, requests: int, path: Sequence[str]) -> dict[str, Any]:
        """Milliseconds of CPU per request: of each server, of PostgreSQL by client, and of the servers on `path`
        (None unless every one of them was measured)."""

        def ms(seconds: float | None) -> float | None:
            return round(seconds / requests * 1000, 3) if seconds is not None and requests > 0 else None

        on_path = [self.seconds.get(name) for name in path]
        return {
            "cpu_ms_per_request": {name: ms(v) for name, v in self.seconds.items()},
            "postgres_cpu_ms_per_request_by_client": {
                name: ms(v) for name, v in sorted(self.postgres_by_client.items()) if v > 0
            },
            "server_cpu_ms_per_request": (
                ms(sum(v for v in on_path if v is not None)) if None not in on_path else None
            ),
        }


class ServerCpu:
    """Counts the CPU every server uses from its creation until `use()`, from one reading of /proc at each end."""

    def __init__(self, servers: Servers) -> None:
        self._pids = servers.pids
        self._postgres: _procfs.BackendCpu | None = None
        if servers.postmaster is not None and servers.postgres_port is not None:
            # Named so that a backend serving this process (row counts between runs) is not charged to a server.
            clients = {**{name: pid for name, pid in self._pids.items() if name != "rabbitmq"}, "bench": os.getpid()}
            self._postgres = _procfs.BackendCpu(servers.postmaster, servers.postgres_port, clients)
        self._began = time.perf_counter()
        self._machine = _procfs.machine_busy_seconds()
        stats = _procfs.all_stats()
        self._start = {name: _procfs.tree_seconds(pid, stats) for name, pid in self._pids.items()}

    def use(self) -> CpuUse:
        stats = _procfs.all_stats()
        wall = time.perf_counter() - self._began
        machine_now = _procfs.machine_busy_seconds()
        machine = (
            None if machine_now is None or self._machine is None else round((machine_now - self._machine) / wall, 2)
        )
        used: dict[str, float | None] = {}
        for name, pid in self._pids.items():
            before, now = self._start[name], _procfs.tree_seconds(pid, stats)
            used[name] = None if before is None or now is None else now - before
        by_client = self._postgres.seconds() if self._postgres is not None else {}
        used["postgres"] = sum(by_client.values()) if by_client else None
        names = [*PROCESSES, *(n for n in self._pids if n not in PROCESSES)]
        return CpuUse(wall, {n: used[n] for n in names if n in used}, by_client, machine)


# --- the platform -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoneService:
    """One service as a process on the benchmark's own servers, and what a benchmark needs to talk to it."""

    url: str
    endpoints: Endpoints
    bus_prefix: str
    internal_key: str


@contextlib.contextmanager
def lone_service(name: str, **settings: str) -> Iterator[LoneService]:
    """`name` alone as a process (one uvicorn worker) on fresh PostgreSQL and RabbitMQ, with a bus prefix and keys of
    its own; `settings` are more `CLANAVI_*` settings for it."""
    root = Path(tempfile.mkdtemp(prefix=f"clanavi-bench-{name}-"))
    key = secrets.token_hex(32)
    prefix = f"b{uuid.uuid4().hex[:10]}"
    try:
        with bench_servers() as endpoints:
            port = free_port()
            env = service_env(
                env="test",
                database_url=endpoints.database_url,
                amqp_url=endpoints.amqp_url,
                bus_prefix=prefix,
                internal_key=key,
                secret_key=secrets.token_hex(32),
                log_format="text",
                log_level="WARNING",
                **{f"{name}_port": str(port)},
                **settings,
            )
            process = ServiceProcess(name, port, env, root / f"{name}.log")
            process.start()
            try:
                process.wait_ready()
                yield LoneService(f"http://127.0.0.1:{port}", endpoints, prefix, key)
            finally:
                process.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def platform_processes(endpoints: Endpoints, root: Path, **settings: str) -> Iterator[dict[str, ServiceProcess]]:
    """The platform's services as processes; `settings` are more `CLANAVI_*` settings for all of them."""
    ports = {name: free_port() for name in SERVICES}
    env = service_env(
        env="test",
        database_url=endpoints.database_url,
        amqp_url=endpoints.amqp_url,
        bus_prefix=f"b{uuid.uuid4().hex[:10]}",
        admin_token=ADMIN_TOKEN,
        internal_key=INTERNAL_KEY,
        secret_key=SECRET_KEY,
        log_format="text",
        log_level="WARNING",
        gateway_provisioner_url=f"http://127.0.0.1:{ports['provisioner']}",
        gateway_audit_url=f"http://127.0.0.1:{ports['audit']}",
        gateway_scaler_url=f"http://127.0.0.1:{ports['scaler']}",
        gateway_failover_url=f"http://127.0.0.1:{ports['failover']}",
        gateway_billing_url=f"http://127.0.0.1:{ports['billing']}",
        gateway_alerts_url=f"http://127.0.0.1:{ports['alerts']}",
        gateway_rate_limit_per_ip=UNTHROTTLED,
        gateway_rate_limit_ip_burst=UNTHROTTLED,
        gateway_rate_limit_per_key=UNTHROTTLED,
        gateway_rate_limit_burst=UNTHROTTLED,
        gateway_login_rate_per_ip=UNTHROTTLED,
        gateway_login_rate_burst=UNTHROTTLED,
        gateway_bootstrap_admin_email=ADMIN_EMAIL,
        gateway_bootstrap_admin_password=ADMIN_PASSWORD,
        # SimCloud boots, and the worker follows, at the platform's default pace, so launches keep the worker as
        # busy as a user's would. A scheduled inventory sync would land in some timed run and be charged to it.
        provisioner_sync_interval_seconds="0",
        **{f"{name}_port": str(port) for name, port in ports.items()},
        **settings,
    )
    processes = {name: ServiceProcess(name, port, env, root / f"{name}.log") for name, port in ports.items()}
    try:
        for process in processes.values():
            process.start()
        for process in processes.values():
            process.wait_ready()
        yield processes
    finally:
        for process in processes.values():
            process.stop()
