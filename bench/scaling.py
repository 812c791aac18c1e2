"""The scaler's decision latency: `python -m bench.scaling [--groups 1000] [--seconds 30] [--per-event 50]`.

Starts its own PostgreSQL and RabbitMQ and the scaler as a process (as `make run` runs it), and makes `--groups`
scaling groups over one template, each with a target tracking policy (target 50) on a metric of the group itself
(samples labelled `scaling_group`). A stand-in for the provisioner answers each group's first launch with the events
of a server that runs, so every group has one member in service; later launches are left unanswered (they count
toward `desired`, never toward the capacity the policy reads), so each group's desired capacity follows its samples
exactly.

Then, for `--seconds`, every group receives one sample a second, published `--per-event` samples to a
`metrics.sampled` event (the provisioner's sampler sends a project's samples in events of up to 1,000; 1: one event per
sample, as many small agents pushing at once, the most work per sample for the scaler). Most samples hold the
group where it is (on target); each group steps up once every `--every` seconds (staggered across groups), which
makes the scaler decide to scale out by one and send `provisioner.launch_instance`. Latency = the moment the bench
published the sample that called for a launch -> the moment the bench received that launch command off the bus (its
commit, the outbox relay, the broker, both ways). Printed beside the loop periods of the peers: the Kubernetes HPA
evaluates every 15 s, AWS target tracking works on 60 s metric periods. One JSON object to stdout, a table to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aio_pika.abc import AbstractIncomingMessage

from bench import _procfs
from bench._cli import exit_on_sigterm, machine, positive, progress
from bench._servers import Endpoints, bench_servers
from devstack import free_port
from devstack.processes import ServiceProcess, service_env
from kernel.bus import Bus
from kernel.commands import SCALING_GROUP_TAG, LaunchInstance
from kernel.events import (
    Envelope,
    EventPayload,
    InstanceLaunched,
    InstanceRequested,
    InstanceRunning,
    MetricPoint,
    MetricsSampled,
    TemplateCreated,
    new_event,
)
from kernel.identity import IDENTITY_HEADER, Identity, IdentitySigner, Role

PROJECT = "bench"
TARGET = 50.0
INTERNAL_KEY = uuid.uuid4().hex * 2
PEERS_LOOP_SECONDS = {"kubernetes_hpa": 15, "aws_target_tracking": 60}
METHOD = (
    "scaler as its own process (`python -m services serve scaler`, its defaults: 2 consumer transactions of up to "
    "32 deliveries, prefetch 256) on "
    "its own PostgreSQL 15 (fsync on) and RabbitMQ; the bench publishes metrics.sampled events with confirms and "
    "consumes the scaler's commands on one uvloop-less asyncio loop; latency = perf_counter at the confirmed publish "
    "of the sample that calls for a launch -> perf_counter when its provisioner.launch_instance reaches the bench"
)


class Standin:
    """Answers each group's first launch as the provisioner would; records when each later launch arrives."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.first: dict[str, str] = {}
        self.launches: dict[str, list[float]] = defaultdict(list)
        self.seen: set[uuid.UUID] = set()
        # Set once `expected` later launches have arrived.
        self.expected = 0
        self.arrived = 0
        self.all_arrived = asyncio.Event()

    async def publish(self, *payloads: EventPayload) -> None:
        envelopes = [new_event(p, project_id=PROJECT, correlation_id="bench") for p in payloads]
        await self.bus.publish_many([(e.routing_key, str(e.id), e.model_dump_json().encode()) for e in envelopes])

    async def __call__(self, message: AbstractIncomingMessage) -> None:
        arrived = time.perf_counter()
        await message.ack()
        envelope = Envelope.model_validate_json(message.body)
        if envelope.type != LaunchInstance.TYPE or envelope.id in self.seen:
            return
        self.seen.add(envelope.id)
        launch = LaunchInstance.model_validate(envelope.payload)
        group = launch.tags[SCALING_GROUP_TAG]
        if group in self.first:
            self.launches[group].append(arrived)
            self.arrived += 1
            if self.expected and self.arrived >= self.expected:
                self.all_arrived.set()
            return
        self.first[group] = launch.instance_id
        iid = launch.instance_id
        await self.publish(
            InstanceRequested(
                instance_id=iid, cloud_id="sim", name=iid, image_id="img", flavor_id="small", tags=launch.tags
            ),
            InstanceLaunched(instance_id=iid, cloud_id="sim", provider_id=iid, flavor_id="small", image_id="img"),
            InstanceRunning(
                instance_id=iid, cloud_id="sim", provider_id=iid, flavor_id="small", previous_state="pending"
            ),
        )


async def _make_groups(url: str, template_id: str, groups: int) -> list[str]:
    signer = IdentitySigner(INTERNAL_KEY.encode(), ttl=3600)
    headers = {IDENTITY_HEADER: signer.sign(Identity("user:bench", PROJECT, Role.OWNER))}
    made: list[str] = []
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:

        async def one(n: int) -> None:
            body = {
                "name": f"g{n:05d}",
                "template_id": template_id,
                "template_version": 1,
                "min_size": 1,
                "max_size": 10_000,
            }
            while True:
                answer = await client.post("/v1/scaling-groups", json=body)
                if answer.status_code != 422:
                    break
                await asyncio.sleep(0.2)  # the template's event is on its way
            if answer.status_code != 201:
                raise RuntimeError(f"a group answered {answer.status_code}: {answer.text[:300]}")
            gid = str(answer.json()["id"])
            policy = {"name": "load", "kind": "target_tracking", "metric": "bench_load", "target": TARGET}
            while True:
                answer = await client.post(f"/v1/scaling-groups/{gid}/policies", json={**policy, "warmup_seconds": 0})
                if answer.status_code != 422:
                    break
                await asyncio.sleep(0.2)  # the first sample of the metric is on its way
            if answer.status_code != 201:
                raise RuntimeError(f"a policy answered {answer.status_code}: {answer.text[:300]}")
            made.append(gid)

        semaphore = asyncio.Semaphore(8)

        async def bounded(n: int) -> None:
            async with semaphore:
                await one(n)

        await asyncio.gather(*(bounded(n) for n in range(groups)))
    return made


async def _wait_running(database_url: str, groups: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + 300
        while True:
            running = await conn.fetchval("SELECT count(*) FROM scaler.members WHERE state = 'running'")
            if running >= groups:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {running} of {groups} first members run")
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(endpoints: Endpoints, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    port = free_port()
    prefix = f"b{uuid.uuid4().hex[:10]}"
    env = service_env(
        env="test",
        database_url=endpoints.database_url,
        amqp_url=endpoints.amqp_url,
        bus_prefix=prefix,
        internal_key=INTERNAL_KEY,
        log_format="text",
        log_level="WARNING",
        scaler_port=str(port),
    )
    scaler = ServiceProcess("scaler", port, env, root / "scaler.log")
    scaler.start()
    bus = Bus(endpoints.amqp_url, prefix=prefix, service="bench-provisioner")
    try:
        scaler.wait_ready()
        await bus.connect()
        standin = Standin(bus)
        await bus.subscribe(
            bindings=("provisioner.#", "scaling.#", "scaling_group.#", "scaling_policy.#"),
            callback=standin,
            max_deliveries=5,
            prefetch=500,
        )
        template_id = str(uuid.uuid4())
        # The template, and a first sample of the metric (a policy on a metric nobody publishes is refused).
        first = MetricPoint(name="bench_load", value=TARGET, at=datetime.now(UTC))
        await standin.publish(
            TemplateCreated(template_id=template_id, name="bench"), MetricsSampled(source="agent", samples=[first])
        )
        progress(f"making {args.groups} groups")
        groups = await _make_groups(f"http://127.0.0.1:{port}", template_id, args.groups)
        await _wait_running(endpoints.database_url, args.groups)
        progress(f"{args.groups} groups with a member in service; {args.seconds} s of samples")
        # level[g]: the step group g is at (its value is TARGET x level, so its desired capacity is `level`)
        level = dict.fromkeys(groups, 1)
        asked: dict[str, list[float]] = defaultdict(list)
        cpu_before = _procfs.tree_seconds(scaler.process.pid, _procfs.all_stats()) if scaler.process else None
        started = time.perf_counter()
        for second in range(args.seconds):
            tick = started + second
            await asyncio.sleep(max(0.0, tick - time.perf_counter()))
            stepping = {g for i, g in enumerate(groups) if (i + second) % args.every == 0 and second > 0}
            now = datetime.now(UTC)
            points: list[MetricPoint] = []
            for g in groups:
                if g in stepping:
                    level[g] += 1
                value = TARGET * level[g]
                points.append(MetricPoint(name="bench_load", value=value, at=now, labels={"scaling_group": g}))
            # The samples of a second go out over the second, in events of `--per-event`, a tenth of them every
            # 100 ms (published together, their confirms awaited together); a sample's time is taken before it is
            # sent, so the latency includes its publishing.
            events = [
                new_event(
                    MetricsSampled(source="agent", samples=points[i : i + args.per_event]),
                    project_id=PROJECT,
                    correlation_id="b",
                )
                for i in range(0, len(points), args.per_event)
            ]
            slices = 10
            for n in range(slices):
                await asyncio.sleep(max(0.0, tick + n / slices - time.perf_counter()))
                part = events[n * len(events) // slices : (n + 1) * len(events) // slices]
                sent = time.perf_counter()
                for event in part:
                    for sample in event.payload["samples"]:
                        g = sample["labels"]["scaling_group"]
                        if g in stepping:
                            asked[g].append(sent)
                await bus.publish_many([(e.routing_key, str(e.id), e.model_dump_json().encode()) for e in part])
        elapsed = time.perf_counter() - started
        progress("waiting for the last decisions")
        standin.expected = sum(len(v) for v in asked.values())
        if standin.arrived >= standin.expected:
            standin.all_arrived.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(standin.all_arrived.wait(), timeout=60)
        await asyncio.sleep(1.0)  # a launch sent twice would arrive by now
        cpu_after = _procfs.tree_seconds(scaler.process.pid, _procfs.all_stats()) if scaler.process else None
        latencies: list[float] = []
        missing = 0
        for g in groups:
            got = standin.launches[g]
            for k, t0 in enumerate(asked[g]):
                if k < len(got):
                    latencies.append(got[k] - t0)
                else:
                    missing += 1
        extra = sum(max(0, len(standin.launches[g]) - len(asked[g])) for g in groups)
    finally:
        await bus.close()
        scaler.stop()
    if not latencies:
        raise RuntimeError("no decision was measured")
    return {
        "benchmark": "scaling_decision_latency",
        "method": METHOD,
        "machine": machine(),
        "groups": args.groups,
        "seconds": args.seconds,
        "samples_per_second": round(args.groups * args.seconds / elapsed, 1),
        "samples_per_event": args.per_event,
        "decisions": len(latencies),
        "decisions_missing": missing,
        "launches_beyond_decisions": extra,
        "latency_ms": {
            "p50": round(statistics.median(latencies) * 1000, 1),
            "p99": round(_percentile(latencies, 0.99) * 1000, 1),
            "max": round(max(latencies) * 1000, 1),
        },
        "scaler_cpu_cores": None
        if cpu_before is None or cpu_after is None
        else round((cpu_after - cpu_before) / (time.perf_counter() - started), 2),
        "peers_loop_seconds": PEERS_LOOP_SECONDS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=positive, default=1000)
    parser.add_argument("--seconds", type=positive, default=30)
    parser.add_argument("--every", type=positive, default=10, help="each group steps up once every this many seconds")
    parser.add_argument("--per-event", type=positive, default=50, help="samples per metrics.sampled event")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    root = Path(tempfile.mkdtemp(prefix="clanavi-bench-scaling-"))
    try:
        with bench_servers() as endpoints:
            result = asyncio.run(run(endpoints, args, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    latency = result["latency_ms"]
    print(
        f"scaling: {result['groups']} groups, {result['samples_per_second']} samples/s, {result['decisions']} "
        f"decisions: sample -> launch command p50 {latency['p50']} ms, p99 {latency['p99']} ms (max "
        f"{latency['max']} ms); peers decide every {PEERS_LOOP_SECONDS['kubernetes_hpa']} s (HPA), "
        f"{PEERS_LOOP_SECONDS['aws_target_tracking']} s (AWS target tracking)",
        file=sys.stderr,
    )
    print(json.dumps(result))
    return 0 if result["decisions_missing"] == 0 and result["launches_beyond_decisions"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
