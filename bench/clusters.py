"""A 100-server, 3-role cluster beside 100 plain launches: `python -m bench.clusters [--rounds 2] [--concurrency 8]`.

Starts its own PostgreSQL and RabbitMQ, then provisioner, audit and gateway as processes (`bench._platform`: SimCloud
at its default timings, 3 s boot; rate limits out of the way), and makes through the gateway one small template (no
boot script) on the built-in SimCloud account. Each round then, the order alternating between rounds:

- plain: 100 launches through the gateway, `--concurrency` POSTs at a time; timed from the first POST until all 100
  run;
- cluster: one POST of a cluster `db` 10 -> `app` 40 -> `web` 50 from that template (each role launched once every
  member of the role it depends on runs, by the provisioner itself); timed from the POST until the cluster is
  `running` with its 100 members running, with the moment each role was all running.

States are read from the provisioner's tables, so the polling costs the services nothing; the CPU of provisioner and
gateway (process trees, /proc) is counted from the first POST until the last server runs. A cluster cannot be
faster than three boots one after another (each role waits for the one it depends on), so the figure to read beside
the times is `cluster_seconds_beyond_three_plain_boots`: its time less three times the plain launches' median
request-to-running. Prints one JSON object to stdout, a table to stderr; exits non-zero only when something fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import _procfs
from bench._cli import exit_on_sigterm, machine, positive, progress
from bench._platform import ADMIN_TOKEN, SERVICES, Servers, platform_processes
from bench._servers import bench_servers
from services.provisioner.settings import SIM_CLOUD_ID

IMAGE, FLAVOR = "img-debian-12", "sim.small"
ROLES = (("db", 10, ()), ("app", 40, ("db",)), ("web", 50, ("app",)))
SERVERS = sum(count for _, count, _ in ROLES)
COUNTED = ("provisioner", "gateway")
RUNNING_TIMEOUT_S = 300.0
KEEPALIVE_S = 2.0


@dataclass(frozen=True)
class Timed:
    kind: str
    seconds_to_all_running: float
    cpu_ms: dict[str, float | None]
    # An instance's created_at to its updated_at once running.
    request_to_running_s: list[float]
    # The cluster's: seconds from the POST until each role was all running.
    roles_running_s: dict[str, float]


async def make_template(client: httpx.AsyncClient) -> str:
    body = {"name": "bench-small", "clouds": [{"cloud_id": SIM_CLOUD_ID, "image_id": IMAGE, "flavor_id": FLAVOR}]}
    answer = await client.post("/v1/templates", json=body)
    if answer.status_code != 201:
        raise RuntimeError(f"the template answered {answer.status_code}: {answer.text[:300]}")
    template_id: str = answer.json()["template_id"]
    return template_id


async def _running(conn: asyncpg.Connection, where: str, arg: Any, count: int) -> list[float]:
    """Wait until `count` instances matching `where` run (None of them failed); their request-to-running times."""
    deadline = time.monotonic() + RUNNING_TIMEOUT_S
    while True:
        rows = await conn.fetch(
            "SELECT state, extract(epoch FROM updated_at - created_at) AS took FROM provisioner.instances "  # noqa: S608
            f"WHERE {where}",
            arg,
        )
        states = [r["state"] for r in rows]
        if "error" in states:
            raise RuntimeError(f"{states.count('error')} instances failed")
        if len(rows) == count and all(s == "running" for s in states):
            return [float(r["took"]) for r in rows]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{states.count('running')} of {count} instances running after the wait")
        await asyncio.sleep(0.05)


async def plain(
    client: httpx.AsyncClient, conn: asyncpg.Connection, servers: Servers, tag: str, concurrency: int
) -> Timed:
    slots = asyncio.Semaphore(concurrency)
    body = {"cloud_id": SIM_CLOUD_ID, "image_id": IMAGE, "flavor_id": FLAVOR}

    async def one(n: int) -> str:
        async with slots:
            answer = await client.post("/v1/instances", json={**body, "name": f"{tag}-{n}"})
        if answer.status_code != 202:
            raise RuntimeError(f"a launch answered {answer.status_code}: {answer.text[:300]}")
        instance_id: str = answer.json()["id"]
        return instance_id

    window = servers.window()
    began = time.perf_counter()
    ids = await asyncio.gather(*(one(n) for n in range(SERVERS)))
    took = await _running(conn, "id = ANY($1::uuid[])", [uuid.UUID(i) for i in ids], SERVERS)
    elapsed = time.perf_counter() - began
    cpu = window.use()
    return Timed("plain", elapsed, {n: _ms(cpu.seconds.get(n)) for n in COUNTED}, took, {})


async def cluster(
    client: httpx.AsyncClient, conn: asyncpg.Connection, servers: Servers, tag: str, template_id: str
) -> Timed:
    roles = [
        {"name": name, "template_id": template_id, "cloud_id": SIM_CLOUD_ID, "count": count, "depends_on": list(after)}
        for name, count, after in ROLES
    ]
    window = servers.window()
    began = time.perf_counter()
    answer = await client.post("/v1/clusters", json={"name": tag, "roles": roles})
    if answer.status_code != 202:
        raise RuntimeError(f"the cluster answered {answer.status_code}: {answer.text[:300]}")
    cluster_id = uuid.UUID(answer.json()["id"])
    roles_running: dict[str, float] = {}
    for name, count, _ in ROLES:
        await _running(conn, "cluster_id = $1 AND cluster_role = '" + name + "'", cluster_id, count)
        roles_running[name] = round(time.perf_counter() - began, 2)
    deadline = time.monotonic() + RUNNING_TIMEOUT_S
    while await conn.fetchval("SELECT state FROM provisioner.clusters WHERE id = $1", cluster_id) != "running":
        if time.monotonic() > deadline:
            raise RuntimeError("the cluster is not running after the wait")
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - began
    cpu = window.use()
    took = await _running(conn, "cluster_id = $1", cluster_id, SERVERS)
    return Timed("cluster", elapsed, {n: _ms(cpu.seconds.get(n)) for n in COUNTED}, took, roles_running)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


async def measure_platform(
    gateway: str, database_url: str, servers: Servers, rounds: int, concurrency: int
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    conn = await asyncpg.connect(database_url)
    timed: list[Timed] = []
    try:
        limits = httpx.Limits(keepalive_expiry=KEEPALIVE_S)
        async with httpx.AsyncClient(base_url=gateway, headers=headers, timeout=60, limits=limits) as client:
            template_id = await make_template(client)
            for n in range(1, rounds + 1):
                for kind in ("plain", "cluster") if n % 2 else ("cluster", "plain"):
                    progress(f"round {n} of {rounds}: {kind}")
                    tag = f"{kind}{n}"
                    if kind == "plain":
                        timed.append(await plain(client, conn, servers, tag, concurrency))
                    else:
                        timed.append(await cluster(client, conn, servers, tag, template_id))
    finally:
        await conn.close()
    return summary(timed)


def summary(timed: Sequence[Timed]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for kind in ("plain", "cluster"):
        mine = [t for t in timed if t.kind == kind]
        found[kind] = {
            "seconds_to_all_running": [round(t.seconds_to_all_running, 2) for t in mine],
            "median_seconds_to_all_running": round(statistics.median(t.seconds_to_all_running for t in mine), 2),
            "request_to_running_p50_s": round(statistics.median(x for t in mine for x in t.request_to_running_s), 2),
            "cpu_ms_provisioner_gateway": [
                None if None in t.cpu_ms.values() else round(sum(v or 0.0 for v in t.cpu_ms.values()), 1) for t in mine
            ],
        }
        if kind == "cluster":
            found[kind]["roles_all_running_s"] = [t.roles_running_s for t in mine]
    boot = found["plain"]["request_to_running_p50_s"]
    found["cluster_over_plain"] = round(
        found["cluster"]["median_seconds_to_all_running"] / found["plain"]["median_seconds_to_all_running"], 2
    )
    found["cluster_seconds_beyond_three_plain_boots"] = round(
        found["cluster"]["median_seconds_to_all_running"] - 3 * boot, 2
    )
    return found


def measure(rounds: int, concurrency: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="clanavi-bench-clusters-"))
    began = time.perf_counter()
    try:
        with bench_servers() as endpoints, platform_processes(endpoints, root) as processes:
            pids = {name: p.process.pid for name, p in processes.items() if p.process is not None}
            postgres_port = urllib.parse.urlsplit(endpoints.database_url).port
            servers = Servers(pids, endpoints.pids.get("postgres"), postgres_port)
            gateway = f"http://127.0.0.1:{processes['gateway'].port}"
            figures = asyncio.run(measure_platform(gateway, endpoints.database_url, servers, rounds, concurrency))
            memory = {name: _procfs.memory_mb(pid) for name, pid in pids.items() if name in SERVICES}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "benchmark": "cluster-launch",
        "method": (
            f"{rounds} rounds, the order alternating: {SERVERS} plain launches through the gateway ({concurrency} "
            "POSTs at a time) timed from the first POST until all run; a cluster db 10 -> app 40 -> web 50 from one "
            "small template (no boot script) timed from its POST until it is running with every member running; "
            "built-in SimCloud account at default timings (3 s boot); every service one uvicorn worker; states "
            "polled from the provisioner's tables; CPU of provisioner + gateway process trees from the first POST "
            "until all run"
        ),
        **figures,
        "memory_mb_after": memory,
        "machine": machine(),
        "elapsed_s": round(time.perf_counter() - began, 1),
    }


def table(result: dict[str, Any]) -> str:
    lines = [f"{'':40}{'plain x100':>16}{'cluster 10/40/50':>18}"]
    for label, key in (
        ("median seconds to all running", "median_seconds_to_all_running"),
        ("request to running p50 s", "request_to_running_p50_s"),
    ):
        lines.append(f"{label:40}{result['plain'][key]:>16}{result['cluster'][key]:>18}")
    cpu = [result[k]["cpu_ms_provisioner_gateway"] for k in ("plain", "cluster")]
    lines.append(f"{'CPU ms provisioner + gateway':40}{str(cpu[0]):>16}{str(cpu[1]):>18}")
    lines.append(f"cluster / plain: {result['cluster_over_plain']}x; beyond three boots one after another: "
                 f"{result['cluster_seconds_beyond_three_plain_boots']} s; roles all running at "
                 f"{result['cluster']['roles_all_running_s']}")  # fmt: skip
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.clusters", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=positive, default=2, help="rounds of each kind, order alternating (2)")
    parser.add_argument("--concurrency", type=positive, default=8, help="plain POSTs in flight at a time (8)")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    result = measure(args.rounds, args.concurrency)
    print(json.dumps(result, indent=2))
    print(table(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
