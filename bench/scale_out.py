"""A scale-out of 50 servers on SimCloud end to end, beside 50 plain launches: `python -m bench.scale_out [--rounds 1]
[--concurrency 8]`.

Starts its own PostgreSQL and RabbitMQ, then the whole platform as processes (`bench._platform`: gateway,
provisioner, audit, scaler, failover; the built-in SimCloud account at its default timings, 3 s boot; rate limits
out of the way), and makes through the gateway one small template (no boot script). Each round, the order
alternating between rounds:

- scale-out: a scaling group of min 1 / max 50 over the template with a target tracking policy (target 50, no
  warmup) on a custom metric of the group; once its first member runs, one `POST /v1/metrics` of a sample labelled
  `scaling_group: <group id>` with the value 2,500 (desired = ceil(1 x 2,500 / 50) = 50). Timed from that push to:
  the scaler's decision (its `decided` activity), the first and the last of the 49 launches it records in the same
  transaction (`launch` activities, committed with their `provisioner.launch_instance` commands), the first and the
  50th member's instance requested (the provisioner's row made when it takes the command), and all 50 running;
- plain: 50 launches of the same image and flavor through `POST /v1/instances`, `--concurrency` in flight; timed from
  the first POST to all 50 running.

Instants are read from the services' tables (PostgreSQL's clock, the same machine's as the benchmark's), so polling
costs the services nothing; "all running" is when the benchmark saw it (polled every 50 ms). Printed beside the
peers' loop periods: the Kubernetes HPA syncs every 15 s, AWS target tracking works on 60 s metric periods. One JSON
object to stdout, a table to stderr; exits non-zero only when something fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx

from bench._cli import exit_on_sigterm, machine, positive, progress
from bench._platform import ADMIN_TOKEN, platform_processes
from bench._servers import bench_servers
from services.provisioner.settings import SIM_CLOUD_ID

IMAGE, FLAVOR = "img-debian-12", "sim.small"
SERVERS = 50
TARGET = 50.0
METRIC = "bench_load"
# ceil(1 member x VALUE / TARGET) = SERVERS: one sample calls for the whole group.
VALUE = TARGET * SERVERS
PEERS_LOOP_SECONDS = {"kubernetes_hpa_sync": 15, "aws_target_tracking_metric_period": 60}
TIMEOUT_S = 300.0
POLL_S = 0.05
KEEPALIVE_S = 2.0

T = TypeVar("T")


@dataclass(frozen=True)
class ScaleOut:
    """Instants of one scale-out, as epoch seconds: the push, the decision, the launches recorded, the instances
    requested (every member's but the first, which ran before the push), and when all ran."""

    pushed: float
    decided: float
    launches: Sequence[float]
    requested: Sequence[float]
    all_running: float


def scale_out_figures(run: ScaleOut) -> dict[str, float]:
    """Seconds from the push to each step of the scale-out."""
    if not run.launches or not run.requested:
        raise ValueError("a scale-out without launches")

    def after(instant: float) -> float:
        return round(instant - run.pushed, 3)

    return {
        "push_to_decision_s": after(run.decided),
        "push_to_first_launch_s": after(min(run.launches)),
        "push_to_last_launch_s": after(max(run.launches)),
        "push_to_first_requested_s": after(min(run.requested)),
        "push_to_last_requested_s": after(max(run.requested)),
        "push_to_all_running_s": after(run.all_running),
    }


def desired_for(value: float, target: float, members: int) -> int:
    """The target tracking rule the scaler applies (the Kubernetes HPA's): ceil(members x value / target)."""
    return math.ceil(members * value / target)


def _figure(values: Sequence[float]) -> dict[str, Any]:
    return {"rounds": [round(v, 3) for v in values], "median": round(statistics.median(values), 3) if values else None}


def summary(scale_outs: Sequence[dict[str, float]], plains: Sequence[tuple[float, float]]) -> dict[str, Any]:
    """Each figure per round and its median; a plain round is (to all running, to the last instance requested)."""
    keys = list(scale_outs[0]) if scale_outs else []
    found: dict[str, Any] = {
        "scale_out": {key: _figure([s[key] for s in scale_outs]) for key in keys},
        "plain": {
            "first_post_to_all_running_s": _figure([p[0] for p in plains]),
            "first_post_to_last_requested_s": _figure([p[1] for p in plains]),
        },
    }
    if scale_outs and plains:
        found["scale_out_over_plain"] = round(
            found["scale_out"]["push_to_all_running_s"]["median"]
            / found["plain"]["first_post_to_all_running_s"]["median"],
            2,
        )
    return found


async def _until(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        found = await probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}")
        await asyncio.sleep(POLL_S)


def _created(answer: httpx.Response, what: str, status: int = 201) -> dict[str, Any]:
    if answer.status_code != status:
        raise RuntimeError(f"{what} answered {answer.status_code}: {answer.text[:300]}")
    body: dict[str, Any] = answer.json()
    return body


async def make_template(client: httpx.AsyncClient) -> str:
    body = {"name": "bench-scale", "clouds": [{"cloud_id": SIM_CLOUD_ID, "image_id": IMAGE, "flavor_id": FLAVOR}]}
    template_id: str = _created(await client.post("/v1/templates", json=body), "the template")["template_id"]
    return template_id


async def _push(client: httpx.AsyncClient, group: str, value: float) -> None:
    sample = {"name": METRIC, "value": value, "labels": {"scaling_group": group}}
    _created(await client.post("/v1/metrics", json={"samples": [sample]}), "the metrics push", 202)


async def _retry_422(send: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """What the scaler learns from events (the template, a metric's first sample) may be on its way still."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        answer = await send()
        if answer.status_code != 422 or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.2)


async def _epochs(conn: asyncpg.Connection, query: str, *args: Any) -> list[float]:
    return [float(r[0]) for r in await conn.fetch(query, *args)]


async def scale_out(client: httpx.AsyncClient, conn: asyncpg.Connection, template_id: str, tag: str) -> ScaleOut:
    group_body = {
        "name": tag, "template_id": template_id, "template_version": 1, "min_size": 1, "max_size": SERVERS,
        "allowed_clouds": [SIM_CLOUD_ID], "cooldown_seconds": 0,
    }  # fmt: skip
    answer = await _retry_422(lambda: client.post("/v1/scaling-groups", json=group_body))
    group = str(_created(answer, "the scaling group")["id"])

    async def first_running() -> bool | None:
        state = await conn.fetchval("SELECT state FROM scaler.members WHERE group_id = $1", group)
        return True if state == "running" else None

    await _until(first_running, "the group's first member to run")
    # At target: the metric is known to the scaler (a policy on a metric nobody publishes is refused), nothing moves.
    await _push(client, group, TARGET)
    policy = {"name": "load", "kind": "target_tracking", "metric": METRIC, "target": TARGET, "warmup_seconds": 0}
    answer = await _retry_422(lambda: client.post(f"/v1/scaling-groups/{group}/policies", json=policy))
    _created(answer, "the policy")
    await asyncio.sleep(1.0)  # the sample at target decided nothing; the next decision is the push's

    pushed = time.time()
    await _push(client, group, VALUE)

    async def decided() -> float | None:
        at = await conn.fetchval(
            "SELECT extract(epoch FROM at) FROM scaler.activities WHERE group_id = $1 AND kind = 'decided' "
            "AND (details->>'desired')::int = $2 ORDER BY at LIMIT 1",
            group,
            SERVERS,
        )
        return None if at is None else float(at)

    decision = await _until(decided, "the scaler's decision")

    async def all_running() -> float | None:
        states = [
            r["state"]
            for r in await conn.fetch(
                "SELECT i.state FROM provisioner.instances i JOIN scaler.members m ON m.instance_id = i.id::text "
                "WHERE m.group_id = $1",
                group,
            )
        ]
        if "error" in states:
            raise RuntimeError(f"{states.count('error')} members failed")
        return time.time() if len(states) == SERVERS and all(s == "running" for s in states) else None

    running = await _until(all_running, "all 50 members to run")
    launches = await _epochs(
        conn,
        "SELECT extract(epoch FROM at) FROM scaler.activities WHERE group_id = $1 AND kind = 'launch' AND at >= "
        "to_timestamp($2)",
        group,
        pushed,
    )
    requested = await _epochs(
        conn,
        "SELECT extract(epoch FROM i.created_at) FROM provisioner.instances i JOIN scaler.members m "
        "ON m.instance_id = i.id::text WHERE m.group_id = $1 AND i.created_at >= to_timestamp($2)",
        group,
        pushed,
    )
    if len(launches) != SERVERS - 1 or len(requested) != SERVERS - 1:
        raise RuntimeError(f"{len(launches)} launches and {len(requested)} instances for {SERVERS - 1} new members")
    return ScaleOut(pushed, decision, launches, requested, running)


async def plain(client: httpx.AsyncClient, conn: asyncpg.Connection, tag: str, concurrency: int) -> tuple[float, float]:
    """Seconds from the first POST to all running, and to the last instance requested."""
    slots = asyncio.Semaphore(concurrency)
    body = {"cloud_id": SIM_CLOUD_ID, "image_id": IMAGE, "flavor_id": FLAVOR}

    async def one(n: int) -> uuid.UUID:
        async with slots:
            answer = await client.post("/v1/instances", json={**body, "name": f"{tag}-{n}"})
        return uuid.UUID(_created(answer, "a launch", 202)["id"])

    began, began_epoch = time.perf_counter(), time.time()
    ids = await asyncio.gather(*(one(n) for n in range(SERVERS)))

    async def all_running() -> bool | None:
        states = [
            r["state"] for r in await conn.fetch("SELECT state FROM provisioner.instances WHERE id = ANY($1)", ids)
        ]
        if "error" in states:
            raise RuntimeError(f"{states.count('error')} instances failed")
        return True if len(states) == SERVERS and all(s == "running" for s in states) else None

    await _until(all_running, "all 50 plain launches to run")
    took = time.perf_counter() - began
    last = await conn.fetchval(
        "SELECT extract(epoch FROM max(created_at)) FROM provisioner.instances WHERE id = ANY($1)", ids
    )
    return took, float(last) - began_epoch


async def measure_platform(gateway: str, database_url: str, rounds: int, concurrency: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    conn = await asyncpg.connect(database_url)
    scale_outs: list[dict[str, float]] = []
    plains: list[tuple[float, float]] = []
    try:
        limits = httpx.Limits(keepalive_expiry=KEEPALIVE_S)
        async with httpx.AsyncClient(base_url=gateway, headers=headers, timeout=60, limits=limits) as client:
            template_id = await make_template(client)
            for n in range(1, rounds + 1):
                for kind in ("scale-out", "plain") if n % 2 else ("plain", "scale-out"):
                    progress(f"round {n} of {rounds}: {kind}")
                    tag = f"{kind}{n}"
                    if kind == "plain":
                        plains.append(await plain(client, conn, tag, concurrency))
                    else:
                        scale_outs.append(scale_out_figures(await scale_out(client, conn, template_id, tag)))
    finally:
        await conn.close()
    return summary(scale_outs, plains)


def measure(rounds: int, concurrency: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="clanavi-bench-scale-out-"))
    began = time.perf_counter()
    try:
        with bench_servers() as endpoints, platform_processes(endpoints, root) as processes:
            gateway = f"http://127.0.0.1:{processes['gateway'].port}"
            figures = asyncio.run(measure_platform(gateway, endpoints.database_url, rounds, concurrency))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "benchmark": "scale-out-50",
        "method": (
            f"{rounds} rounds, the order alternating: a scaling group min 1 / max {SERVERS} over one small template "
            f"(no boot script) with a target tracking policy (target {TARGET:g}, no warmup) on a custom metric of the "
            f"group, timed from one POST /v1/metrics of {VALUE:g} (desired {SERVERS}) to the scaler's decision, its "
            f"launches, the instances requested and all {SERVERS} running; {SERVERS} plain launches through the "
            f"gateway ({concurrency} POSTs in flight) timed from the first POST until all run; the whole platform as "
            "processes (one uvicorn worker each), built-in SimCloud account at default timings (3 s boot); instants "
            "from the services' tables, states polled every 50 ms"
        ),
        **figures,
        "peers_loop_seconds": PEERS_LOOP_SECONDS,
        "machine": machine(),
        "elapsed_s": round(time.perf_counter() - began, 1),
    }


def table(result: dict[str, Any]) -> str:
    lines = [f"{'seconds from the push to':44}{'median':>10}  rounds"]
    labels = {
        "push_to_decision_s": "the scaler's decision",
        "push_to_first_launch_s": "the first launch command",
        "push_to_last_launch_s": "the last (49th) launch command",
        "push_to_first_requested_s": "the first instance requested",
        "push_to_last_requested_s": "the 50th member's instance requested",
        "push_to_all_running_s": "all 50 running",
    }
    for key, label in labels.items():
        figure = result["scale_out"][key]
        lines.append(f"{label:44}{figure['median']:>10}  {figure['rounds']}")
    plain_figure = result["plain"]["first_post_to_all_running_s"]
    lines.append(f"{'50 plain launches: first POST to all running':44}{plain_figure['median']:>10}  "
                 f"{plain_figure['rounds']}")  # fmt: skip
    requested = result["plain"]["first_post_to_last_requested_s"]
    lines.append(f"{'  ... to the 50th instance requested':44}{requested['median']:>10}  {requested['rounds']}")
    lines.append(f"peers: the Kubernetes HPA syncs every {PEERS_LOOP_SECONDS['kubernetes_hpa_sync']} s, AWS target "
                 f"tracking on {PEERS_LOOP_SECONDS['aws_target_tracking_metric_period']} s metric periods")  # fmt: skip
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_out", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=positive, default=1, help="rounds of each kind, order alternating (1)")
    parser.add_argument("--concurrency", type=positive, default=8, help="plain POSTs in flight at a time (8)")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    result = measure(args.rounds, args.concurrency)
    print(json.dumps(result, indent=2))
    print(table(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
