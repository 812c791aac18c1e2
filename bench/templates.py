"""Launches from a server template beside plain launches: `python -m bench.templates [--launches 200] [--batch 25]
[--concurrency 8]`.

Starts its own PostgreSQL and RabbitMQ, then provisioner, audit and gateway as processes (as `make run` does, with
`bench._platform`'s settings: SimCloud at its default timings, rate limits raised out of the way), and makes through the
gateway five boot scripts, each declaring four inputs (a text with a pattern, a number with bounds, a choice or a
boolean, and a secret), and a template on the built-in SimCloud account that runs all five, sets some of the inputs
(two of the secrets among them, sealed) and leaves the others to each launch. Before anything is timed, one launch of
each kind must run, and the template's must print every boot script's output on its console.

Then `--launches` launches of each kind go through the gateway in batches of `--batch`, plain and template batches
alternating (the kind that starts a pair alternating too), so that the noise of the shared machine falls on both
alike. A batch is `--concurrency` POSTs at a time (each a launch of its own, with inputs of its own for a template);
the batch's time is from its first POST until every instance it launched is running (read from the provisioner's
table, so the polling costs the services nothing); its CPU, per process tree from /proc, from its first POST until
the boot follower has followed every boot it started to its end (read from the same table) and the platform is idle
again (every event recorded by the audit), so all a launch costs is charged to its own kind.
CPU per launch = (provisioner + gateway CPU of the kind's batches) / its launches; the ratio template / plain is the
figure the issue's target (at most 1.2) is judged on. Prints one JSON object to stdout, a table to stderr; exits
non-zero only when something fails, never because a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import asyncpg
import httpx

from bench import _procfs
from bench._cli import exit_on_sigterm, machine, positive, progress
from bench._platform import ADMIN_TOKEN, SERVICES, CpuUse, Servers, platform_processes
from bench._servers import bench_servers
from services.provisioner.settings import SIM_CLOUD_ID

Kind = Literal["plain", "template"]
KINDS: tuple[Kind, Kind] = ("plain", "template")
IMAGE, FLAVOR = "img-debian-12", "sim.small"
PLAIN = {"cloud_id": SIM_CLOUD_ID, "image_id": IMAGE, "flavor_id": FLAVOR, "tags": {"team": "bench"}}
# The processes a launch's CPU per launch is counted over (the figure), and those also reported.
COUNTED = ("provisioner", "gateway")
REPORTED = (*SERVICES, "postgres", "rabbitmq")
MAX_RATIO = 1.2
RUNNING_TIMEOUT_S = 180.0
SETTLE_TIMEOUT_S = 120.0
QUIET_MARGIN_CORES = 0.1
KEEPALIVE_S = 2.0


# --- what the benchmark launches ----------------------------------------------------------------------------------


def _input(name: str, type_: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **more}


# Five boot scripts as a server's set-up has them: each with a text, a number, a choice or boolean, and a secret.
SCRIPTS: tuple[dict[str, Any], ...] = (
    {
        "name": "bench-base",
        "body": "#!/bin/sh\nset -eu\nhostnamectl set-hostname '{{ base_host }}'\n"
        "timedatectl set-timezone '{{ base_zone }}'\nfallocate -l {{ base_swap_mb }}M /swapfile\n"
        "mkswap /swapfile && swapon /swapfile\necho 'root:{{ base_root_password }}' | chpasswd\n"
        "echo base ready on {{ base_host }}\n",
        "inputs": [
            _input("base_host", "text", required=True, pattern="[a-z][a-z0-9-]{0,40}"),
            _input("base_zone", "choice", choices=["UTC", "Europe/Paris", "America/New_York"], default="UTC"),
            _input("base_swap_mb", "number", minimum=0, maximum=8192, default=1024),
            _input("base_root_password", "secret", required=True, pattern=".{12,}"),
        ],
    },
    {
        "name": "bench-users",
        "body": "#!/bin/sh\nset -eu\nuseradd --uid {{ users_uid }} --create-home '{{ users_name }}'\n"
        "echo '{{ users_name }}:{{ users_password }}' | chpasswd\n"
        "if [ '{{ users_sudo }}' = true ]; then usermod -aG sudo '{{ users_name }}'; fi\n"
        "echo users ready: {{ users_name }}\n",
        "inputs": [
            _input("users_name", "text", default="deploy", pattern="[a-z_][a-z0-9_-]{0,31}"),
            _input("users_uid", "number", minimum=1000, maximum=60000, default=1001),
            _input("users_sudo", "boolean", default=True),
            _input("users_password", "secret", required=True),
        ],
    },
    {
        "name": "bench-packages",
        "body": "#!/bin/sh\nset -eu\necho 'deb {{ packages_mirror }} bookworm main' > /etc/apt/sources.list\n"
        "echo 'Acquire::http::Proxy \"http://bench:{{ packages_proxy_token }}@proxy:3128\";' "
        "> /etc/apt/apt.conf.d/01proxy\napt-get update\n"
        "if [ '{{ packages_upgrade }}' = true ]; then apt-get -y upgrade; fi\n"
        "apt-get install -y {{ packages_list }}\necho packages ready\n",
        "inputs": [
            _input("packages_mirror", "text", default="http://deb.debian.org/debian", pattern="https?://\\S+"),
            _input("packages_list", "text", default="nginx curl jq"),
            _input("packages_upgrade", "boolean", default=False),
            _input("packages_proxy_token", "secret", required=True),
        ],
    },
    {
        "name": "bench-app",
        "body": "#!/bin/sh\nset -eu\nmkdir -p /etc/app\ncat > /etc/app/env <<EOF\nSITE={{ app_site }}\n"
        "PORT={{ app_port }}\nAPP_ENV={{ app_env }}\nDB_PASSWORD={{ app_db_password }}\nEOF\n"
        "chmod 600 /etc/app/env\nsystemctl enable --now app\necho app serving {{ app_site }} on {{ app_port }}\n",
        "inputs": [
            _input("app_site", "text", required=True, pattern="[a-z0-9.-]{1,100}"),
            _input("app_port", "number", minimum=1, maximum=65535, default=8080),
            _input("app_env", "choice", choices=["production", "staging"], default="production"),
            _input("app_db_password", "secret", required=True, pattern=".{12,}"),
        ],
    },
    {
        "name": "bench-monitoring",
        "body": "#!/bin/sh\nset -eu\ncat > /etc/agent.yaml <<EOF\nendpoint: {{ mon_endpoint }}\n"
        "interval: {{ mon_interval }}\nlabels: {{ mon_labels }}\napi_key: {{ mon_api_key }}\nEOF\n"
        "systemctl restart agent\necho monitoring every {{ mon_interval }}s\n",
        "inputs": [
            _input("mon_endpoint", "text", default="https://metrics.example.org", pattern="https://\\S+"),
            _input("mon_interval", "number", minimum=5, maximum=3600, default=30),
            _input("mon_labels", "text", default="team=bench"),
            _input("mon_api_key", "secret", required=True),
        ],
    },
)
# What the template sets: two of the secrets (sealed with the template version) and some of the others.
TEMPLATE_VALUES = {
    "base_zone": "Europe/Paris",
    "packages_proxy_token": "proxy-token-0123456789",
    "packages_upgrade": True,
    "mon_api_key": "monitoring-key-0123456789",
    "mon_interval": 15,
}
SECRET_INPUTS = frozenset(i["name"] for script in SCRIPTS for i in script["inputs"] if i["type"] == "secret")
# What every script prints on the console once it ran (literal echo lines of the bodies, filled).
CONSOLE_MARKS = ("base ready on ", "users ready: ", "packages ready", "app serving ", "monitoring every 15s")


def server_inputs(n: int) -> dict[str, object]:
    """A launch's own inputs (three secrets among them), different for every launch."""
    return {
        "base_host": f"web-{n}",
        "base_root_password": f"root-password-{n:06d}",
        "users_password": f"user-password-{n:06d}",
        "app_site": f"shop-{n}.example.org",
        "app_port": 8000 + n % 1000,
        "app_db_password": f"db-password-{n:06d}",
    }


# --- the platform's answers ---------------------------------------------------------------------------------------


def _created(answer: httpx.Response, what: str) -> dict[str, Any]:
    if answer.status_code != 201:
        raise RuntimeError(f"creating {what} answered {answer.status_code}: {answer.text[:300]}")
    body: dict[str, Any] = answer.json()
    return body


async def make_template(client: httpx.AsyncClient) -> str:
    """The five scripts and the template that runs them; the template's id."""
    refs = []
    for script in SCRIPTS:
        made = _created(await client.post("/v1/scripts", json=script), f"script {script['name']}")
        refs.append({"script_id": made["script_id"]})
    template = {
        "name": "bench-web",
        "clouds": [{"cloud_id": SIM_CLOUD_ID, "image_id": IMAGE, "flavor_id": FLAVOR}],
        "boot_scripts": refs,
        "values": TEMPLATE_VALUES,
        "tags": {"team": "bench", "role": "web"},
    }
    template_id: str = _created(await client.post("/v1/templates", json=template), "the template")["template_id"]
    return template_id


def launch_body(kind: Kind, n: int, template_id: str) -> dict[str, object]:
    name = f"{kind}-{n}"
    if kind == "plain":
        return {"name": name, **PLAIN}
    return {"name": name, "cloud_id": SIM_CLOUD_ID, "template_id": template_id, "inputs": server_inputs(n)}


async def launch(client: httpx.AsyncClient, body: Mapping[str, object]) -> tuple[str, float]:
    """POST one launch: its instance id and how long the 202 took."""
    began = time.perf_counter()
    answer = await client.post("/v1/instances", json=body)
    took = time.perf_counter() - began
    if answer.status_code != 202:
        raise RuntimeError(f"launch {body['name']} answered {answer.status_code}: {answer.text[:300]}")
    instance_id: str = answer.json()["id"]
    return instance_id, took


async def launch_all(
    client: httpx.AsyncClient, bodies: Sequence[Mapping[str, object]], concurrency: int
) -> list[tuple[str, float]]:
    slots = asyncio.Semaphore(concurrency)

    async def one(body: Mapping[str, object]) -> tuple[str, float]:
        async with slots:
            return await launch(client, body)

    return list(await asyncio.gather(*(one(b) for b in bodies)))


async def wait_running(conn: asyncpg.Connection, ids: Sequence[str]) -> list[float]:
    """Wait until every instance runs; each one's seconds from its record's creation to its last change (running)."""
    keys = [uuid.UUID(i) for i in ids]
    deadline = time.monotonic() + RUNNING_TIMEOUT_S
    while True:
        rows = await conn.fetch(
            "SELECT state, extract(epoch FROM updated_at - created_at) AS took FROM provisioner.instances "
            "WHERE id = ANY($1::uuid[])",
            keys,
        )
        states = [r["state"] for r in rows]
        if len(rows) == len(keys) and all(s == "running" for s in states):
            return [float(r["took"]) for r in rows]
        failed = sum(1 for s in states if s == "error")
        if failed or time.monotonic() > deadline:
            running = states.count("running")
            raise RuntimeError(f"{running} of {len(keys)} instances running, {failed} failed, after the wait")
        await asyncio.sleep(0.05)


async def wait_boots_over(conn: asyncpg.Connection, ids: Sequence[str]) -> None:
    """Wait until the boot follower has followed every boot of the instances to its end, so that its readings are
    charged to the batch that launched them, not to the next one."""
    keys = [uuid.UUID(i) for i in ids]
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while await conn.fetchval(
        "SELECT count(*) FROM provisioner.instances WHERE id = ANY($1::uuid[]) AND boot->>'state' IN "
        "('pending', 'running')",
        keys,
    ):
        if time.monotonic() > deadline:
            raise RuntimeError("boots still followed after the wait")
        await asyncio.sleep(0.05)


async def console_of(client: httpx.AsyncClient, instance_id: str) -> str:
    answer = await client.get(f"/v1/instances/{instance_id}/console")
    if answer.status_code != 200:
        raise RuntimeError(f"the console answered {answer.status_code}: {answer.text[:300]}")
    return answer.text


# --- the run ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    launches: int
    batch: int
    concurrency: int


@dataclass
class Batch:
    kind: Kind
    launches: int
    # First POST to the last 202, and to the last instance running.
    accepted_s: float
    running_s: float
    # First POST until the platform is idle again.
    settled_s: float
    post_s: list[float]
    request_to_running_s: list[float]
    # Until every instance runs (the launch), and until the platform is idle again (the launch and the boots
    # followed); each with the CPU SimCloud spent simulating its guests' consoles over that span.
    launch_cpu: CpuUse
    cpu: CpuUse
    launch_simulation_s: float
    simulation_s: float


async def simulation_seconds(provisioner: httpx.AsyncClient) -> float:
    """CPU seconds SimCloud has spent simulating its guests in the provisioner (its own counter), so far."""
    answer = await provisioner.get("/metrics")
    answer.raise_for_status()
    return sum(
        float(line.rpartition(" ")[2])
        for line in answer.text.splitlines()
        if line.startswith("clanavi_simcloud_simulation_cpu_seconds_total{")
    )


@dataclass
class Run:
    client: httpx.AsyncClient
    provisioner: httpx.AsyncClient
    conn: asyncpg.Connection
    servers: Servers
    template_id: str
    options: Options
    idle_cores: float
    batches: list[Batch] = field(default_factory=list)
    launched: int = 0

    def bodies(self, kind: Kind, count: int) -> list[dict[str, object]]:
        first, self.launched = self.launched, self.launched + count
        return [launch_body(kind, n, self.template_id) for n in range(first, first + count)]

    async def quiet(self) -> bool:
        """Wait until the platform's processes are back near idle (the launches' events recorded by the audit)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:
            window = self.servers.window()
            await asyncio.sleep(1.0)
            used = window.use().cores()
            busy = sum(used.get(name) or 0.0 for name in REPORTED)
            if busy <= self.idle_cores + QUIET_MARGIN_CORES:
                return True
            if time.monotonic() > deadline:
                return False

    async def batch(self, kind: Kind, count: int) -> Batch:
        bodies = self.bodies(kind, count)
        simulated = await simulation_seconds(self.provisioner)
        window = self.servers.window()
        began = time.perf_counter()
        launched = await launch_all(self.client, bodies, self.options.concurrency)
        accepted = time.perf_counter() - began
        took = await wait_running(self.conn, [i for i, _ in launched])
        running = time.perf_counter() - began
        launch_cpu = window.use()
        simulated_launching = await simulation_seconds(self.provisioner) - simulated
        await wait_boots_over(self.conn, [i for i, _ in launched])
        if not await self.quiet():
            progress(f"the platform was not idle {SETTLE_TIMEOUT_S:.0f} s after a {kind} batch; going on")
        cpu = window.use()
        return Batch(
            kind,
            count,
            accepted,
            running,
            cpu.wall,
            [t for _, t in launched],
            took,
            launch_cpu,
            cpu,
            simulated_launching,
            await simulation_seconds(self.provisioner) - simulated,
        )

    async def alternate(self) -> None:
        sizes = [self.options.batch] * (self.options.launches // self.options.batch)
        if self.options.launches % self.options.batch:
            sizes.append(self.options.launches % self.options.batch)
        for n, size in enumerate(sizes, start=1):
            # Which kind goes first alternates, so neither always follows the other's tail.
            order = KINDS if n % 2 else KINDS[::-1]
            for kind in order:
                progress(f"pair {n} of {len(sizes)}: {size} {kind} launches")
                self.batches.append(await self.batch(kind, size))


def _percentile(values: Sequence[float], p: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def summary(batches: Sequence[Batch]) -> dict[str, Any]:
    launches = sum(b.launches for b in batches)
    seconds: dict[str, float | None] = {}
    for name in REPORTED:
        used = [b.cpu.seconds.get(name) for b in batches]
        seconds[name] = None if None in used else sum(u or 0.0 for u in used)
    by_client: dict[str, float] = {}
    for b in batches:
        for name, used_s in b.cpu.postgres_by_client.items():
            by_client[name] = by_client.get(name, 0.0) + used_s
    counted = [seconds[name] for name in COUNTED]
    launching: list[float | None] = [sum(b.launch_cpu.seconds.get(name) or 0.0 for b in batches) for name in COUNTED]
    if any(b.launch_cpu.seconds.get(name) is None for b in batches for name in COUNTED):
        launching = [None]
    simulated = sum(b.simulation_s for b in batches)
    simulated_launching = sum(b.launch_simulation_s for b in batches)
    posts = [t for b in batches for t in b.post_s]
    to_running = [t for b in batches for t in b.request_to_running_s]

    def per_launch(value: float | None) -> float | None:
        return None if value is None else round(value / launches * 1000, 3)

    return {
        "launches": launches,
        "batches": len(batches),
        "seconds_to_all_running": round(sum(b.running_s for b in batches), 2),
        "seconds_accepting": round(sum(b.accepted_s for b in batches), 2),
        "seconds_until_idle": round(sum(b.settled_s for b in batches), 2),
        "batch_seconds_to_all_running": [round(b.running_s, 2) for b in batches],
        "post_202_ms": {"p50": _ms(_percentile(posts, 50)), "p90": _ms(_percentile(posts, 90)), "max": _ms(max(posts))},
        "request_to_running_ms": {
            "p50": _ms(_percentile(to_running, 50)),
            "p90": _ms(_percentile(to_running, 90)),
            "max": _ms(max(to_running)),
        },
        "cpu_ms_per_launch": per_launch(None if None in counted else sum(c or 0.0 for c in counted)),
        # The figures the target is judged on: the platform's own CPU, SimCloud's simulation of the guests left out.
        "platform_cpu_ms_per_launch": per_launch(
            None if None in counted else sum(c or 0.0 for c in counted) - simulated
        ),
        "platform_cpu_ms_per_launch_until_running": per_launch(
            None if None in launching else sum(c or 0.0 for c in launching) - simulated_launching
        ),
        "simcloud_simulation_cpu_ms_per_launch": per_launch(simulated),
        "cpu_ms_per_launch_by_process": {name: per_launch(seconds[name]) for name in REPORTED},
        "postgres_cpu_ms_per_launch_by_client": {
            name: per_launch(used_s) for name, used_s in sorted(by_client.items()) if used_s > 0
        },
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


async def checked_launches(client: httpx.AsyncClient, conn: asyncpg.Connection, template_id: str) -> dict[str, Any]:
    """One launch of each kind, run; the template's shows every boot script's output and no secret."""
    ids = [i for i, _ in await launch_all(client, [launch_body(k, 10**6, template_id) for k in KINDS], 2)]
    await wait_running(conn, ids)
    plain, from_template = ids
    record = (await client.get(f"/v1/instances/{from_template}")).json()
    if (record.get("template_id"), record.get("template_version")) != (template_id, 1):
        raise RuntimeError("the instance does not record the template version it came from")
    console = await console_of(client, from_template)
    missing = [mark for mark in CONSOLE_MARKS if mark not in console]
    if missing:
        raise RuntimeError(f"the console does not show the boot scripts' output: {missing}")
    values = {**TEMPLATE_VALUES, **server_inputs(10**6)}
    shown = json.dumps(record) + console
    if any(str(values[name]) in shown for name in SECRET_INPUTS):
        raise RuntimeError("a secret input shows in the instance or its console")
    plain_console = await console_of(client, plain)
    return {
        "template_instance_records_its_version": True,
        "template_console_shows_each_boot_script": list(CONSOLE_MARKS),
        "plain_console_shows_no_boot_script": not any(mark in plain_console for mark in CONSOLE_MARKS),
        "secrets_in_answer_or_console": False,
        "template_inputs_by_level": {name: value["level"] for name, value in sorted(record["inputs"].items())},
    }


async def measure_platform(
    gateway: str, provisioner_url: str, database_url: str, servers: Servers, options: Options
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    conn = await asyncpg.connect(database_url)
    try:
        # Idle connections are dropped well before uvicorn closes its side (5 s): a POST sent on a connection the
        # server is closing fails, and a launch must not be sent twice.
        limits = httpx.Limits(keepalive_expiry=KEEPALIVE_S)
        async with (
            httpx.AsyncClient(base_url=gateway, headers=headers, timeout=60, limits=limits) as client,
            httpx.AsyncClient(base_url=provisioner_url, timeout=60, limits=limits) as provisioner,
        ):
            progress("making the five boot scripts and the template through the gateway")
            template_id = await make_template(client)
            checks = await checked_launches(client, conn, template_id)
            progress("one launch of each kind ran; the template's console shows its five boot scripts")
            idle_window = servers.window()
            await asyncio.sleep(3.0)
            idle = idle_window.use().cores()
            run = Run(
                client,
                provisioner,
                conn,
                servers,
                template_id,
                options,
                idle_cores=sum(idle.get(name) or 0.0 for name in REPORTED),
            )
            progress(f"warm-up: {options.concurrency} launches of each kind")
            for kind in KINDS:
                await run.batch(kind, options.concurrency)
            run.batches.clear()
            await run.alternate()
    finally:
        await conn.close()
    kinds: dict[str, dict[str, Any]] = {kind: summary([b for b in run.batches if b.kind == kind]) for kind in KINDS}
    plain, template = kinds["plain"], kinds["template"]
    cpu_ratio = _ratio(template["platform_cpu_ms_per_launch"], plain["platform_cpu_ms_per_launch"])
    return {
        "checks": checks,
        "idle_cpu_cores": idle,
        **kinds,
        "ratios_template_over_plain": {
            "platform_cpu_per_launch": cpu_ratio,
            "platform_cpu_per_launch_until_running": _ratio(
                template["platform_cpu_ms_per_launch_until_running"], plain["platform_cpu_ms_per_launch_until_running"]
            ),
            "cpu_per_launch": _ratio(template["cpu_ms_per_launch"], plain["cpu_ms_per_launch"]),
            "cpu_per_launch_by_process": {
                name: _ratio(
                    template["cpu_ms_per_launch_by_process"][name], plain["cpu_ms_per_launch_by_process"][name]
                )
                for name in REPORTED
            },
            "seconds_to_all_running": _ratio(template["seconds_to_all_running"], plain["seconds_to_all_running"]),
            "seconds_accepting": _ratio(template["seconds_accepting"], plain["seconds_accepting"]),
            "post_202_p50": _ratio(template["post_202_ms"]["p50"], plain["post_202_ms"]["p50"]),
        },
        "target": {f"cpu_per_launch_at_most_{MAX_RATIO}x_plain": None if cpu_ratio is None else cpu_ratio <= MAX_RATIO},
    }


def measure(options: Options) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="clanavi-bench-templates-"))
    began = time.perf_counter()
    try:
        with bench_servers() as endpoints, platform_processes(endpoints, root) as processes:
            pids = {name: p.process.pid for name, p in processes.items() if p.process is not None}
            if "rabbitmq" in endpoints.pids:
                pids["rabbitmq"] = endpoints.pids["rabbitmq"]
            postgres_port = urllib.parse.urlsplit(endpoints.database_url).port
            servers = Servers(pids, endpoints.pids.get("postgres"), postgres_port)
            gateway = f"http://127.0.0.1:{processes['gateway'].port}"
            provisioner = f"http://127.0.0.1:{processes['provisioner'].port}"
            figures = asyncio.run(measure_platform(gateway, provisioner, endpoints.database_url, servers, options))
            memory = {name: _procfs.memory_mb(pid) for name, pid in pids.items() if name in SERVICES}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "benchmark": "template-launches",
        "method": (
            f"{options.launches} plain launches and {options.launches} launches from a template with 5 boot scripts "
            "(4 inputs each: text with a pattern, number with bounds, choice or boolean, secret; the template sets 5 "
            "values, 2 of them secrets sealed with its version; each launch sets 6, 3 of them secrets) on the "
            "built-in SimCloud account at default timings (3 s boot), through the gateway with the admin API key, "
            f"in alternating batches of {options.batch} ({options.concurrency} POSTs at a time), the kind going "
            "first alternating, after an unmeasured batch of each kind; every service one uvicorn worker; "
            "seconds_to_all_running: sum over the kind's batches of first POST to its last instance running (polled "
            "from the provisioner's table by the benchmark); request_to_running: an instance's created_at to its "
            "updated_at once running; cpu_ms_per_launch: provisioner + gateway CPU (process trees, /proc) from a "
            "batch's first POST until the platform is idle again, summed over the kind's batches, per launch; "
            "postgres: every process of its cluster, also by the client each backend serves"
        ),
        **figures,
        "memory_mb_after": memory,
        "machine": machine(),
        "elapsed_s": round(time.perf_counter() - began, 1),
    }


def _figure(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(result: Mapping[str, Any]) -> str:
    ratios = result["ratios_template_over_plain"]
    rows = (
        ("seconds to all running (sum of batches)", "seconds_to_all_running", ".2f"),
        ("seconds accepting the POSTs", "seconds_accepting", ".2f"),
        ("POST 202 p50 / p90 ms", None, ""),
        ("request to running p50 / p90 ms", None, ""),
        ("CPU ms per launch: provisioner + gateway", "cpu_ms_per_launch", ".3f"),
        ("  of it SimCloud simulating guests", "simcloud_simulation_cpu_ms_per_launch", ".3f"),
        ("  the platform's own (the target's figure)", "platform_cpu_ms_per_launch", ".3f"),
        ("  the platform's own until running", "platform_cpu_ms_per_launch_until_running", ".3f"),
    )
    lines = [f"{'':44}{'plain':>16}{'template':>16}{'template/plain':>16}"]
    for label, key, spec in rows:
        if key is not None:
            cells = [_figure(result[kind][key], spec) for kind in KINDS]
            ratio = ratios.get(key.replace("_ms", ""))
        else:
            figure = "post_202_ms" if label.startswith("POST") else "request_to_running_ms"
            cells = [f"{result[k][figure]['p50']} / {result[k][figure]['p90']}" for k in KINDS]
            ratio = ratios["post_202_p50"] if figure == "post_202_ms" else None
        lines.append(f"{label:44}{cells[0]:>16}{cells[1]:>16}{_figure(ratio, '.3f'):>16}")
    for name in REPORTED:
        cells = [_figure(result[k]["cpu_ms_per_launch_by_process"][name], ".3f") for k in KINDS]
        ratio = ratios["cpu_per_launch_by_process"][name]
        lines.append(f"{'  CPU ms per launch: ' + name:44}{cells[0]:>16}{cells[1]:>16}{_figure(ratio, '.3f'):>16}")
    held = next(iter(result["target"].values()))
    lines.append(
        f"target: template CPU per launch at most {MAX_RATIO}x a plain launch's: "
        + ("-" if held is None else "yes" if held else "NO")
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.templates", description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=positive, default=200, help="launches of each kind (200)")
    parser.add_argument("--batch", type=positive, default=25, help="launches per batch (25)")
    parser.add_argument("--concurrency", type=positive, default=8, help="POSTs in flight at a time (8)")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    result = measure(Options(launches=args.launches, batch=args.batch, concurrency=args.concurrency))
    print(json.dumps(result, indent=2))
    print(table(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
