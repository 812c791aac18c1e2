"""The request paths at the speed of the stack: `python -m bench.gateway [--instances 60] [--duration 10]
[--post-duration 5] [--rounds 2]`.

Starts its own PostgreSQL and RabbitMQ, then provisioner, audit and gateway as processes (as `make run` does) with
SimCloud at its default timings, creates instances through the gateway, and drives three routes through the whole
platform with wrk (`-t2 -c64 --latency`, admin API key): `GET /v1/instances?limit=50`, `GET /v1/instances/{id}` and
`POST /v1/instances` (202, no Idempotency-Key, each request a launch with a name of its own, from a Lua script).

Each route is measured beside its anchor (`bench.anchor`): the simplest service a user could write for the same job,
one FastAPI app served with the same uvicorn settings (`kernel.http.serve`), reading the same rows of the same
PostgreSQL with asyncpg and answering the platform's own answer models, without authentication; its POST inserts one
row into a table of its own. Before any load, the anchor's answers are compared with the gateway's (the same list
items in the same order, the same record, the same fields in a launch's answer). A bare FastAPI hello endpoint,
served the same way, is the floor of the HTTP stack, and the list runs once more with a JWT access token.

Every target runs `--rounds` times, gateway and anchor side by side, their order swapped every round, since the
machine is shared. After each POST through the gateway the benchmark waits until every launched instance is running
and the platform is idle again, so the launches' background work (the worker, SimCloud, the outbox, the audit trail)
is charged to no other figure. During every run the CPU of each server process is read from /proc (PostgreSQL's
divided by the process each backend serves), and the resident memory of every server is read before the load and
after it. The gateway's rate limits are raised far above what wrk can send, so nothing is throttled while the
limiter still runs on every request. Prints one JSON object to stdout, a table to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import _procfs, anchor
from bench._cli import exit_on_sigterm, machine, positive, progress
from bench._platform import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    ADMIN_TOKEN,
    SERVICES,
    UNTHROTTLED,
    ServerCpu,
    Servers,
    platform_processes,
)
from bench._platform import PROCESSES as PLATFORM_PROCESSES
from bench._servers import bench_servers
from devstack import free_port
from devstack.processes import stop_process

INSTANCES_PATH = "/v1/instances"
LIST_PATH = f"{INSTANCES_PATH}?limit=50"
HELLO_PATH = anchor.HELLO_PATH
# On the built-in cloud by name: a launch without one is placed by the allocator, which is not what this measures.
LAUNCH = {"cloud_id": "sim", "image_id": "img-debian-12", "flavor_id": "sim.small", "tags": {"team": "bench"}}

ROUTES = ("list", "get", "post")
ROUTE_NAMES = {"list": f"GET {LIST_PATH}", "get": f"GET {INSTANCES_PATH}/{{id}}", "post": f"POST {INSTANCES_PATH}"}
# The processes a request of each kind goes through; their CPU makes its server_cpu_ms_per_request.
PATHS = {
    "gateway": ("gateway", "provisioner", "audit", "postgres", "rabbitmq"),
    "anchor": ("anchor", "postgres"),
    "hello": ("hello",),
}
# The processes whose CPU and memory the benchmark reports: the platform's, then the anchor's and the floor's.
PROCESSES = (*PLATFORM_PROCESSES, "anchor", "hello")
# The targets of the issue "The request and event paths at the speed of the stack".
MIN_RATE_OVER_ANCHOR = 0.5
MAX_LIST_P99_MS = 120.0
MAX_SERVICE_RSS_MB = 120.0
P99_TARGET = f"list_p99_at_most_{MAX_LIST_P99_MS:.0f}ms"
# How long the platform may take to finish the launches of a POST run before the benchmark goes on regardless.
SETTLE_TIMEOUT_S = 300.0


def rate_target(route: str) -> str:
    return f"{route}_rps_at_least_{MIN_RATE_OVER_ANCHOR}x_anchor"


def rss_target(service: str) -> str:
    return f"{service}_rss_at_most_{MAX_SERVICE_RSS_MB:.0f}MB"


# --- the anchor and the hello floor ----------------------------------------------------------------------------


@dataclass
class ChildServer:
    """A server of the benchmark's own (`python -m <args>`), ready once `ready_path` answers 200."""

    name: str
    args: Sequence[str]
    port: int
    ready_path: str
    log_path: Path
    env: Mapping[str, str] | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=None if self.env is None else dict(self.env),
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the {self.name} server exited; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{self.ready_path}", timeout=1) as answer:  # noqa: S310 - loopback
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise TimeoutError(f"the {self.name} server did not answer; see {self.log_path}")

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"the {self.name} server is not started")
        return self.process.pid

    def stop(self) -> None:
        stop_process(self.process)


async def create_anchor_schema(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await anchor.create_schema(conn)
    finally:
        await conn.close()


# --- wrk --------------------------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s, latency percentiles (ms), and errors from `wrk --latency` output."""
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if rate is None:
        raise ValueError(f"no Requests/sec in wrk output:\n{output}")
    result: dict[str, Any] = {"requests_per_s": float(rate.group(1))}
    distribution = output.split("Latency Distribution", 1)[-1]
    for percent in ("50", "75", "90", "99"):
        found = re.search(rf"^\s+{percent}(?:\.0+)?%\s+(\S+)", distribution, re.MULTILINE)
        if found is not None:
            result[f"p{percent}_ms"] = round(_ms(found.group(1)), 3)
    total = re.search(r"^\s+(\d+) requests in ([\d.]+\w+)", output, re.MULTILINE)
    if total is not None:
        result["requests"] = int(total.group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    result["non_2xx_3xx"] = int(non_2xx.group(1)) if non_2xx else 0
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    counts = [int(n) for n in sockets.groups()] if sockets else [0, 0, 0, 0]
    result["socket_errors"] = sum(counts[:3])
    # Requests still unanswered after wrk's 2 s timeout: a sign of saturation, not of failure.
    result["timeouts"] = counts[3]
    return result


def launch_script(prefix: str) -> str:
    """wrk's Lua script for launches: a POST of `LAUNCH`, each named `<prefix>-t<wrk thread>-<n>`."""
    fields = json.dumps(LAUNCH)[1:-1].replace("%", "%%")
    return f"""-- Each request a launch of its own, as users send them (no Idempotency-Key).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

local sent = 0
function request()
  sent = sent + 1
  local body = string.format('{{"name": "{prefix}-t%d-%d", {fields}}}', thread_number, sent)
  return wrk.format(nil, nil, nil, body)
end
"""


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("wrk is not installed: run `sudo apt-get install wrk` (or `make install`)")
    progress("wrk is not installed: installing the Debian package with apt-get")
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, stdout=subprocess.DEVNULL)  # noqa: S603,S607
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is still missing after apt-get install wrk")
    return found


def run_wrk(
    wrk: str,
    url: str,
    *,
    duration: int,
    token: str | None,
    servers: Servers,
    path: Sequence[str],
    script: Path | None = None,
) -> tuple[dict[str, Any], ServerCpu]:
    """One wrk run, with the CPU each server (and the whole machine, other tenants included) used meanwhile; and the
    CPU count begun with it, which goes on until read again."""
    command = [wrk, "-t2", "-c64", f"-d{duration}s", "--latency"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    if script is not None:
        command += ["-s", str(script)]
    window = servers.window()
    done = subprocess.run([*command, url], check=True, capture_output=True, text=True)  # noqa: S603
    use = window.use()
    result = parse_wrk(done.stdout)
    result["cpu_cores_used"] = use.cores()
    # Steadier than the rates on a shared machine: other tenants' load changes time, not CPU per request.
    result.update(use.per_request(result.get("requests", 0), path))
    return result, window


def memory(servers: Servers) -> dict[str, dict[str, float | int] | None]:
    roots = dict(servers.pids)
    if servers.postmaster is not None:
        roots["postgres"] = servers.postmaster
    return {name: _procfs.memory_mb(roots[name]) for name in PROCESSES if name in roots}


# --- the platform -----------------------------------------------------------------------------------------------


async def create_instances(base_url: str, count: int) -> dict[str, Any]:
    """Launch `count` instances, wait until they run, and return the page the benchmark lists."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        semaphore = asyncio.Semaphore(8)

        async def launch(n: int) -> str:
            async with semaphore:
                answer = await client.post(
                    INSTANCES_PATH,
                    json={"name": f"bench-{n}", **LAUNCH},
                    headers={"Idempotency-Key": f"bench-{n}-{uuid.uuid4().hex}"},
                )
                if answer.status_code != 202:
                    raise RuntimeError(f"launch answered {answer.status_code}: {answer.text}")
                instance_id: str = answer.json()["id"]
                return instance_id

        ids = await asyncio.gather(*(launch(n) for n in range(count)))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            page = (await client.get(INSTANCES_PATH, params={"limit": 500, "state": "running"})).json()
            if len(page["items"]) >= len(ids):
                break
            await asyncio.sleep(0.2)
        else:
            raise RuntimeError(f"instances not running after 120 s: {len(page['items'])} of {len(ids)}")
        listed = await client.get(LIST_PATH)
        if listed.status_code != 200 or len(listed.json()["items"]) != 50:
            raise RuntimeError(f"{LIST_PATH} answered {listed.status_code}: {listed.text[:300]}")
        answer: dict[str, Any] = listed.json()
        return answer


async def access_token(base_url: str) -> tuple[str | None, str]:
    """A JWT access token for the bootstrap admin, or None and why not."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        form = {"grant_type": "password", "username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
        answer = await client.post("/v1/auth/token", data=form)
        if answer.status_code in (415, 422):
            answer = await client.post("/v1/auth/token", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        if answer.status_code == 404:
            return None, "POST /v1/auth/token answered 404: no login yet"
        if answer.status_code != 200:
            return None, f"POST /v1/auth/token answered {answer.status_code}: {answer.text[:200]}"
        token = answer.json().get("access_token")
        if not isinstance(token, str):
            return None, "the login answer has no access_token"
        check = await client.get(LIST_PATH, headers={"Authorization": f"Bearer {token}"})
        if check.status_code != 200:
            return None, f"{LIST_PATH} with the access token answered {check.status_code}: {check.text[:200]}"
        return token, "ok"


async def compare_answers(gateway: str, anchor_url: str, instance_id: str) -> dict[str, Any]:
    """The anchor answers what the gateway answers: else the ratios would compare different work. Raises if not."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with (
        httpx.AsyncClient(base_url=gateway, headers=headers, timeout=30) as platform_client,
        httpx.AsyncClient(base_url=anchor_url, timeout=30) as anchor_client,
    ):
        answers = {}
        for name, client in (("gateway", platform_client), ("anchor", anchor_client)):
            listed = await client.get(LIST_PATH)
            one = await client.get(f"{INSTANCES_PATH}/{instance_id}")
            launched = await client.post(INSTANCES_PATH, json={"name": f"check-{name}", **LAUNCH})
            for what, answer, status in (("list", listed, 200), ("get", one, 200), ("post", launched, 202)):
                if answer.status_code != status:
                    raise RuntimeError(f"{name} {ROUTE_NAMES[what]} answered {answer.status_code}: {answer.text[:300]}")
            answers[name] = (listed, one, launched)
    (gw_list, gw_one, gw_post), (an_list, an_one, an_post) = answers["gateway"], answers["anchor"]
    gw_items, an_items = gw_list.json()["items"], an_list.json()["items"]
    if [i["id"] for i in gw_items] != [i["id"] for i in an_items]:
        raise RuntimeError("the anchor lists other instances, or in another order, than the gateway")
    if gw_items != an_items:
        differ = sorted({k for g, a in zip(gw_items, an_items, strict=True) for k in g if g.get(k) != a.get(k)})
        raise RuntimeError(f"the anchor's list items differ from the gateway's in {differ}")
    if gw_one.json() != an_one.json():
        raise RuntimeError("the anchor's GET of one instance differs from the gateway's")
    if set(gw_post.json()) != set(an_post.json()):
        raise RuntimeError("the anchor's launch answer has other fields than the gateway's")
    return {
        "list_items_equal": True,
        "list_ids_in_same_order": True,
        "list_answer_bytes": {"gateway": len(gw_list.content), "anchor": len(an_list.content)},
        "get_equal": True,
        "get_answer_bytes": {"gateway": len(gw_one.content), "anchor": len(an_one.content)},
        "post_fields_equal": True,
        "post_state": {
            "gateway": [gw_post.json()["state"], gw_post.json()["pending_action"]],
            "anchor": [an_post.json()["state"], an_post.json()["pending_action"]],
        },
    }


async def _fetchval(database_url: str, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


def count_rows(database_url: str, table: str, project_id: str) -> int:
    return int(asyncio.run(_fetchval(database_url, f"SELECT count(*) FROM {table} WHERE project_id = $1", project_id)))


def wait_for_launches(database_url: str, project_id: str, timeout: float) -> int:
    """Wait until no instance of the project is still launching (or in another transition); how many still are."""
    deadline = time.monotonic() + timeout
    while True:
        moving = int(
            asyncio.run(
                _fetchval(
                    database_url,
                    """SELECT count(*) FROM provisioner.instances
                       WHERE project_id = $1 AND (pending_action IS NOT NULL OR state NOT IN ('running', 'error'))""",
                    project_id,
                )
            )
        )
        if moving == 0 or time.monotonic() > deadline:
            return moving
        time.sleep(0.5)


def settle(database_url: str, project_id: str, servers: Servers, idle_cores: float) -> dict[str, Any]:
    """Wait until every instance of the project has finished its transition and the platform's CPU is back near
    idle (the launches' events have gone through the outbox, RabbitMQ and the audit trail)."""
    began = time.monotonic()
    moving = wait_for_launches(database_url, project_id, SETTLE_TIMEOUT_S)
    quiet, busy = servers.quiet(idle_cores, max(0.0, SETTLE_TIMEOUT_S - (time.monotonic() - began)))
    return {
        "settled": moving == 0 and quiet,
        "seconds": round(time.monotonic() - began, 1),
        "still_moving": moving,
        "platform_cores_at_end": round(busy, 2),
    }


# --- the run ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    instances: int
    duration: int
    post_duration: int
    rounds: int


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 3) if known and len(known) == len(values) else None


def _mean_by_key(maps: Sequence[Mapping[str, float | None]]) -> dict[str, float | None]:
    keys = sorted({k for m in maps for k in m})
    return {k: _mean([m.get(k, 0.0) for m in maps]) for k in keys}


def summary(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The mean of the runs' figures, and the runs."""
    result: dict[str, Any] = {
        "requests_per_s": round(float(_mean([r["requests_per_s"] for r in runs]) or 0.0), 1),
        "p50_ms": _mean([r.get("p50_ms") for r in runs]),
        "p99_ms": _mean([r.get("p99_ms") for r in runs]),
        "server_cpu_ms_per_request": _mean([r.get("server_cpu_ms_per_request") for r in runs]),
        "cpu_ms_per_request": _mean_by_key([r["cpu_ms_per_request"] for r in runs]),
        "postgres_cpu_ms_per_request_by_client": _mean_by_key(
            [r["postgres_cpu_ms_per_request_by_client"] for r in runs]
        ),
        "runs": list(runs),
    }
    if runs and all("until_settled" in r for r in runs):
        whole = [r["until_settled"] for r in runs]
        result["until_settled"] = {
            "seconds": _mean([w["seconds"] for w in whole]),
            "server_cpu_ms_per_request": _mean([w["server_cpu_ms_per_request"] for w in whole]),
            "cpu_ms_per_request": _mean_by_key([w["cpu_ms_per_request"] for w in whole]),
            "postgres_cpu_ms_per_request_by_client": _mean_by_key(
                [w["postgres_cpu_ms_per_request_by_client"] for w in whole]
            ),
        }
    return result


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def compare(gateway: dict[str, Any], anchor_: dict[str, Any]) -> dict[str, Any]:
    """Gateway over anchor, of the means of the rounds (the targets are judged on these) and of each round's pair."""
    pairs = zip(gateway["runs"], anchor_["runs"], strict=True)
    return {
        "rps_gateway_over_anchor": _ratio(gateway["requests_per_s"], anchor_["requests_per_s"]),
        "rps_gateway_over_anchor_by_round": [_ratio(g["requests_per_s"], a["requests_per_s"]) for g, a in pairs],
        "p50_gateway_over_anchor": _ratio(gateway["p50_ms"], anchor_["p50_ms"]),
        "p99_gateway_over_anchor": _ratio(gateway["p99_ms"], anchor_["p99_ms"]),
        "cpu_per_request_gateway_over_anchor": _ratio(
            gateway["server_cpu_ms_per_request"], anchor_["server_cpu_ms_per_request"]
        ),
    }


def targets(routes: Mapping[str, Mapping[str, Any]], memory_mb: Mapping[str, Any]) -> dict[str, bool | None]:
    """Each target of the issue, held or not (None: not measured)."""
    held: dict[str, bool | None] = {}
    for route in ROUTES:
        ratio = routes[route]["ratios"]["rps_gateway_over_anchor"]
        held[rate_target(route)] = None if ratio is None else ratio >= MIN_RATE_OVER_ANCHOR
    p99 = routes["list"]["gateway"]["p99_ms"]
    held[P99_TARGET] = None if p99 is None else p99 <= MAX_LIST_P99_MS
    for service in SERVICES:
        seen = [memory_mb[when].get(service) for when in ("idle", "after")]
        held[rss_target(service)] = (
            None if None in seen else all(s["rss_mb"] <= MAX_SERVICE_RSS_MB for s in seen if s is not None)
        )
    return held


def _url(route: str, instance_id: str) -> str:
    return {"list": LIST_PATH, "get": f"{INSTANCES_PATH}/{instance_id}", "post": INSTANCES_PATH}[route]


@dataclass
class Rounds:
    """The timed runs, once every server is up and the anchor has been checked against the gateway."""

    wrk: str
    options: Options
    servers: Servers
    database_url: str
    project_id: str
    instance_id: str
    # Base URLs of "gateway", "anchor" and "hello".
    urls: dict[str, str]
    jwt: str | None
    script: Path
    platform_idle_cores: float
    runs: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {
            **{f"{route}_{side}": [] for route in ROUTES for side in ("gateway", "anchor")},
            "hello": [],
            "list_gateway_jwt": [],
        }
    )
    settled: list[dict[str, Any]] = field(default_factory=list)

    def _wrk(
        self, url: str, path: Sequence[str], *, token: str | None, post: bool = False
    ) -> tuple[dict[str, Any], ServerCpu]:
        return run_wrk(
            self.wrk,
            url,
            duration=self.options.post_duration if post else self.options.duration,
            token=token,
            servers=self.servers,
            path=path,
            script=self.script if post else None,
        )

    def _quiet(self) -> None:
        # The servers may still be answering the requests queued when wrk stopped: that CPU is the last run's.
        self.servers.quiet(self.platform_idle_cores, timeout=10.0)

    def route(self, round_: int, route: str, side: str) -> None:
        progress(f"round {round_}: {side} {ROUTE_NAMES[route]}")
        url, token = self.urls[side] + _url(route, self.instance_id), ADMIN_TOKEN if side == "gateway" else None
        if route != "post":
            self.runs[f"{route}_{side}"].append(self._wrk(url, PATHS[side], token=token)[0])
            self._quiet()
            return
        table = "provisioner.instances" if side == "gateway" else f"{anchor.SCHEMA}.instances"
        self.script.write_text(launch_script(f"r{round_}-{side}"))
        before = count_rows(self.database_url, table, self.project_id)
        result, since_start = self._wrk(url, PATHS[side], token=token, post=True)
        created = result["created"] = count_rows(self.database_url, table, self.project_id) - before
        self.runs[f"post_{side}"].append(result)
        if side == "anchor":
            self._quiet()
            return
        progress(f"round {round_}: waiting until the {created} launches are done")
        self.settled.append(settle(self.database_url, self.project_id, self.servers, self.platform_idle_cores))
        # A launch goes on after its 202 (the worker, SimCloud, the outbox, the audit trail): its whole cost.
        whole = since_start.use()
        result["until_settled"] = {"seconds": round(whole.wall, 1), **whole.per_request(created, PATHS[side])}

    def round(self, round_: int) -> None:
        # Swapped every round, so neither side always runs on a machine the other has just warmed.
        sides = ("gateway", "anchor") if round_ % 2 else ("anchor", "gateway")
        for route in ROUTES:
            for side in sides:
                self.route(round_, route, side)
        progress(f"round {round_}: hello")
        self.runs["hello"].append(self._wrk(self.urls["hello"] + HELLO_PATH, PATHS["hello"], token=None)[0])
        if self.jwt is not None:
            progress(f"round {round_}: gateway {ROUTE_NAMES['list']} (JWT access token)")
            self.runs["list_gateway_jwt"].append(
                self._wrk(self.urls["gateway"] + LIST_PATH, PATHS["gateway"], token=self.jwt)[0]
            )
            self._quiet()


def measure(options: Options) -> dict[str, Any]:
    wrk = ensure_wrk()
    root = Path(tempfile.mkdtemp(prefix="clanavi-bench-gw-"))
    began = time.perf_counter()
    try:
        with bench_servers() as endpoints, platform_processes(endpoints, root) as processes:
            gateway = f"http://127.0.0.1:{processes['gateway'].port}"
            # Before any request: what starting alone costs (a peak later than this is the requests').
            memory_ready = {
                name: _procfs.memory_mb(p.process.pid) for name, p in processes.items() if p.process is not None
            }
            progress(f"creating {options.instances} SimCloud instances through the gateway")
            page = asyncio.run(create_instances(gateway, options.instances))
            project_id, instance_id = page["items"][0]["project_id"], page["items"][0]["id"]
            token, jwt_note = asyncio.run(access_token(gateway))
            progress(f"JWT access token: {jwt_note}")
            asyncio.run(create_anchor_schema(endpoints.database_url))
            anchor_env = {**os.environ, anchor.DATABASE_ENV: endpoints.database_url, anchor.PROJECT_ENV: project_id}
            ports = {"anchor": free_port(), "hello": free_port()}
            children = [
                ChildServer(
                    "anchor",
                    ["bench.anchor", "anchor", str(ports["anchor"])],
                    ports["anchor"],
                    LIST_PATH,
                    root / "anchor.log",
                    anchor_env,
                ),
                ChildServer(
                    "hello",
                    ["bench.anchor", "hello", str(ports["hello"])],
                    ports["hello"],
                    HELLO_PATH,
                    root / "hello.log",
                ),
            ]
            try:
                for child in children:
                    child.start()
                urls = {"gateway": gateway, **{name: f"http://127.0.0.1:{port}" for name, port in ports.items()}}
                checks = asyncio.run(compare_answers(gateway, urls["anchor"], instance_id))
                progress("the anchor answers the same list items, record and launch fields as the gateway")
                pids = {name: p.process.pid for name, p in processes.items() if p.process is not None}
                pids.update({child.name: child.pid for child in children})
                if "rabbitmq" in endpoints.pids:
                    pids["rabbitmq"] = endpoints.pids["rabbitmq"]
                postgres_port = urllib.parse.urlsplit(endpoints.database_url).port
                servers = Servers(pids, endpoints.pids.get("postgres"), postgres_port)

                # The checks launched an instance: the platform is idle once it runs.
                wait_for_launches(endpoints.database_url, project_id, SETTLE_TIMEOUT_S)
                time.sleep(1.0)
                idle_window = servers.window()
                time.sleep(3.0)
                idle_cores = idle_window.use().cores()
                memory_idle = memory(servers)
                rounds = Rounds(
                    wrk=wrk,
                    options=options,
                    servers=servers,
                    database_url=endpoints.database_url,
                    project_id=project_id,
                    instance_id=instance_id,
                    urls=urls,
                    jwt=token,
                    script=root / "launch.lua",
                    platform_idle_cores=sum(
                        idle_cores.get(name) or 0.0 for name in (*SERVICES, "postgres", "rabbitmq")
                    ),
                )
                for round_ in range(1, options.rounds + 1):
                    rounds.round(round_)
                memory_after = memory(servers)
            finally:
                for child in children:
                    child.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    runs = rounds.runs
    routes: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        gw, an = summary(runs[f"{route}_gateway"]), summary(runs[f"{route}_anchor"])
        routes[route] = {"request": ROUTE_NAMES[route], "gateway": gw, "anchor": an, "ratios": compare(gw, an)}
    routes["post"]["created"] = {
        "gateway_instances_launched": sum(run["created"] for run in runs["post_gateway"]),
        "anchor_rows_inserted": sum(run["created"] for run in runs["post_anchor"]),
        "after_each_gateway_run": rounds.settled,
    }
    hello = summary(runs["hello"])
    memory_mb = {"ready": memory_ready, "idle": memory_idle, "after": memory_after}
    every_run = [run for series in runs.values() for run in series]
    output: dict[str, Any] = {
        "benchmark": "gateway-request-paths",
        "method": (
            f"wrk -t2 -c64 --latency, {options.duration} s per GET run and {options.post_duration} s per POST run, "
            f"{options.rounds} rounds, gateway and anchor side by side (order swapped every round); gateway: "
            f"Authorization: Bearer <admin API key>, {options.instances} SimCloud instances at default boot times, "
            "every service one uvicorn worker (kernel.http.serve: uvloop, httptools); anchor: bench.anchor, one "
            "FastAPI app with one asyncpg pool (2-10 connections), same serve, the provisioner's rows and answer "
            "models, no authentication, its POST one INSERT into anchor.instances; hello: bare FastAPI GET of a "
            "small dict, same serve; POST bodies: a launch of its own per request, no Idempotency-Key; after each "
            "gateway POST run the benchmark waits until the launches are running and the platform is idle; figures "
            "are the mean of the rounds; cpu_ms_per_request per process tree from /proc (postgres: every process "
            "of the cluster, also by the client each backend serves); server_cpu_ms_per_request: the processes on "
            "the request's path (gateway: gateway, provisioner, audit, postgres, rabbitmq; anchor: anchor, "
            "postgres; hello: hello); post until_settled: the CPU from the start of a gateway POST run until the "
            "platform is idle again, per instance launched; cpu_cores_used.machine counts every tenant of the "
            "machine, wrk included; "
            "memory_mb: VmRSS of each server's process tree when the services are ready (before any request), "
            "idle before the load and after it; peak_rss_mb its VmHWM; pss_mb shares memory among processes"
        ),
        "rate_limits": f"raised to {UNTHROTTLED}/s with burst {UNTHROTTLED} (per IP, per key, login) so nothing is "
        "throttled; the limiter still runs on every request",
        "checks": checks,
        "routes": routes,
        "hello": hello,
        "gateway_list_jwt": summary(runs["list_gateway_jwt"]) if runs["list_gateway_jwt"] else {"skipped": jwt_note},
        "ratios_to_hello": {
            f"{route}_{side}_rps_over_hello": _ratio(routes[route][side]["requests_per_s"], hello["requests_per_s"])
            for route in ROUTES
            for side in ("gateway", "anchor")
        },
        "idle_cpu_cores": idle_cores,
        "memory_mb": memory_mb,
        "targets": targets(routes, memory_mb),
        "errors_or_non_2xx": sum(run["non_2xx_3xx"] + run["socket_errors"] for run in every_run),
        "wrk_timeouts_over_2s": sum(run["timeouts"] for run in every_run),
        "machine": machine(),
        "elapsed_s": round(time.perf_counter() - began, 1),
    }
    return output


def _figure(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _yes(held: bool | None) -> str:
    return "-" if held is None else ("yes" if held else "NO")


def table(result: dict[str, Any]) -> str:
    held = result["targets"]
    width = max(len(name) for name in ROUTE_NAMES.values()) + 2
    lines = [f"{'':{width}}{'':16}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/req':>12}"]

    def row(request: str, label: str, figures: Mapping[str, Any], spec: tuple[str, str] = (".1f", ".2f")) -> None:
        lines.append(
            f"{request:{width}}{label:16}{_figure(figures.get('requests_per_s'), spec[0]):>9}"
            f"{_figure(figures.get('p50_ms'), spec[1]):>9}{_figure(figures.get('p99_ms'), spec[1]):>9}"
            f"{_figure(figures.get('server_cpu_ms_per_request'), '.3f'):>12}"
        )

    for route, figures in result["routes"].items():
        ratios = figures["ratios"]
        row(figures["request"], "gateway", figures["gateway"])
        row("", "anchor", figures["anchor"])
        as_figures = {
            "requests_per_s": ratios["rps_gateway_over_anchor"],
            "p50_ms": ratios["p50_gateway_over_anchor"],
            "p99_ms": ratios["p99_gateway_over_anchor"],
            "server_cpu_ms_per_request": ratios["cpu_per_request_gateway_over_anchor"],
        }
        row("", "gateway/anchor", as_figures, (".3f", ".2f"))
        note = f"req/s >= {MIN_RATE_OVER_ANCHOR}x anchor: {_yes(held[rate_target(route)])}"
        if route == "list":
            note += f"; p99 <= {MAX_LIST_P99_MS:.0f} ms: {_yes(held[P99_TARGET])}"
        by_round = ", ".join(_figure(r, ".2f") for r in ratios["rps_gateway_over_anchor_by_round"])
        lines[-1] += f"   target {note} (rounds: {by_round})"
        if "until_settled" in figures["gateway"]:
            whole = figures["gateway"]["until_settled"]
            lines.append(
                f"{'':{width}}{'':16}gateway CPU per launch until it runs and its events are recorded: "
                f"{_figure(whole['server_cpu_ms_per_request'], '.3f')} ms"
            )
    if "requests_per_s" in result["gateway_list_jwt"]:
        row(ROUTE_NAMES["list"], "gateway (JWT)", result["gateway_list_jwt"])
    else:
        lines.append(f"JWT run skipped: {result['gateway_list_jwt']['skipped']}")
    row(f"GET {HELLO_PATH}", "hello", result["hello"])
    to_hello = result["ratios_to_hello"]
    lines.append(
        "req/s over hello's: "
        + ", ".join(
            f"{route} gateway {_figure(to_hello[f'{route}_gateway_rps_over_hello'], '.3f')} / "
            f"anchor {_figure(to_hello[f'{route}_anchor_rps_over_hello'], '.3f')}"
            for route in ROUTES
        )
    )

    lines.append("")
    lines.append("CPU ms per request, by process (postgres: every process of its cluster)")
    lines.append(f"{'':30}" + "".join(f"{name:>12}" for name in PROCESSES))
    series = [(f"{route} {side}", result["routes"][route][side]) for route in ROUTES for side in ("gateway", "anchor")]
    if "until_settled" in result["routes"]["post"]["gateway"]:
        series.append(("post gateway, until settled", result["routes"]["post"]["gateway"]["until_settled"]))
    for label, figures in [*series, ("hello", result["hello"])]:
        cpu = figures["cpu_ms_per_request"]
        lines.append(f"{label:30}" + "".join(f"{_figure(cpu.get(name), '.3f'):>12}" for name in PROCESSES))
    lines.append("PostgreSQL's CPU ms per request, by the process its backends serve")
    for label, figures in series:
        by_client = figures["postgres_cpu_ms_per_request_by_client"]
        lines.append(f"{label:30}" + ", ".join(f"{k} {_figure(v, '.3f')}" for k, v in by_client.items() if v))

    lines.append("")
    lines.append(
        f"{'memory, MB':30}{'RSS ready':>10}{'peak':>8}{'RSS idle':>10}{'RSS after':>10}{'peak':>8}{'PSS after':>10}"
    )
    for name in result["memory_mb"]["idle"]:
        idle, after = result["memory_mb"]["idle"][name] or {}, result["memory_mb"]["after"][name] or {}
        ready = result["memory_mb"]["ready"].get(name) or {}
        target = held.get(rss_target(name))
        processes = after.get("processes", 1)
        lines.append(
            f"{name:30}{_figure(ready.get('rss_mb'), '.1f'):>10}{_figure(ready.get('peak_rss_mb'), '.1f'):>8}"
            f"{_figure(idle.get('rss_mb'), '.1f'):>10}{_figure(after.get('rss_mb'), '.1f'):>10}"
            f"{_figure(after.get('peak_rss_mb'), '.1f'):>8}{_figure(after.get('pss_mb'), '.1f'):>10}"
            + (f"   RSS <= {MAX_SERVICE_RSS_MB:.0f} MB: {_yes(target)}" if target is not None else "")
            + (f"   ({processes} processes: RSS counts shared memory in each)" if processes > 1 else "")
        )

    lines.append("")
    created = result["routes"]["post"]["created"]
    waits = [f"{s['seconds']} s" + ("" if s["settled"] else " (not idle)") for s in created["after_each_gateway_run"]]
    lines.append(
        f"POST runs: the gateway launched {created['gateway_instances_launched']} instances, the anchor inserted "
        f"{created['anchor_rows_inserted']} rows; the platform was done after {', '.join(waits)}"
    )
    checks = result["checks"]
    lines.append(
        f"checked before the load: the same list items in the same order ({checks['list_answer_bytes']['gateway']} / "
        f"{checks['list_answer_bytes']['anchor']} bytes), the same record, launch answers with the same fields"
    )
    lines.append(f"rate limits: {result['rate_limits']}")
    lines.append(
        f"errors or non-2xx: {result['errors_or_non_2xx']}, wrk timeouts (> 2 s): {result['wrk_timeouts_over_2s']}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=positive, default=60, help="instances to create and list (60)")
    parser.add_argument("--duration", type=positive, default=10, help="seconds per GET run (10)")
    parser.add_argument("--post-duration", type=positive, default=5, help="seconds per POST run (5)")
    parser.add_argument("--rounds", type=positive, default=2, help="runs per target, alternating (2)")
    args = parser.parse_args(argv)
    if args.instances < 50:
        parser.error("--instances must be at least 50: the listed page holds 50")
    exit_on_sigterm()
    options = Options(
        instances=args.instances, duration=args.duration, post_duration=args.post_duration, rounds=args.rounds
    )
    result = measure(options)
    print(json.dumps(result, indent=2))
    print(table(result), file=sys.stderr)
    return 0 if result["errors_or_non_2xx"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
