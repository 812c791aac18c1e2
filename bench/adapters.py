"""Adapter-layer benchmark: launch, describe and terminate N instances.

Contenders, measured in one run:
- Clanavi's SimCloud adapter (its own PostgreSQL);
- Clanavi's EC2 adapter (aioboto3) against a local moto server;
- Apache Libcloud's EC2 driver against the same moto server (reset in between), driven from a thread pool with the
  same concurrency, since it is synchronous.

Prints one JSON object. moto itself is the ceiling for both EC2 clients (one CPU-bound process), so the client CPU per
operation is reported beside the rates: it is the figure that separates the two clients.

    python -m bench.adapters [--instances 1000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from adapters import registry
from adapters.base import CloudAdapter, LaunchSpec
from adapters.registry import AdapterContext
from bench._cli import machine
from devstack import PostgresServer, free_port
from devstack.moto import MotoServer
from kernel import db
from kernel.migrations import migrate

EC2_FLAVOR = "t3.micro"
# Libcloud's list_nodes ignores nextToken and so sees at most one page (100) per call: both clients describe in
# batches that fit one page.
DESCRIBE_BATCH = 100
# moto is not EC2: the client-side buckets that keep a real account under EC2's throttles would only measure the
# bucket here, so the benchmark opens them wide. The same applies to Libcloud, which has none.
_WIDE_OPEN = {"capacity": 1_000_000, "refill_per_second": 1_000_000}
UNTHROTTLED = {
    "throttle": {"non_mutating": _WIDE_OPEN, "mutating": _WIDE_OPEN, "resources": {"RunInstances": _WIDE_OPEN}}
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Phase:
    seconds: float
    cpu_seconds: float
    count: int

    def figures(self) -> dict[str, float]:
        return {
            "seconds": round(self.seconds, 3),
            "instances_per_s": round(self.count / self.seconds, 1) if self.seconds else 0.0,
            "client_cpu_ms_per_instance": round(1000 * self.cpu_seconds / self.count, 3) if self.count else 0.0,
        }


async def _timed(count: int, work: Callable[[], Awaitable[None]]) -> Phase:
    wall, cpu = time.perf_counter(), time.process_time()
    await work()
    return Phase(time.perf_counter() - wall, time.process_time() - cpu, count)


async def _bounded(concurrency: int, jobs: Sequence[Callable[[], Awaitable[Any]]]) -> list[Any]:
    slots = asyncio.Semaphore(concurrency)

    async def run(job: Callable[[], Awaitable[Any]]) -> Any:
        async with slots:
            return await job()

    return await asyncio.gather(*(run(job) for job in jobs))


async def run_adapter(adapter: CloudAdapter, image_id: str, flavor_id: str, n: int, concurrency: int) -> dict[str, Any]:
    """Launch n, describe them all (batched, as the provisioner does), terminate n."""
    ids: list[str] = []

    async def launch() -> None:
        specs = [
            LaunchSpec(name=f"bench-{i}", image_id=image_id, flavor_id=flavor_id, client_token=uuid.uuid4().hex)
            for i in range(n)
        ]
        launched = await _bounded(concurrency, [partial(adapter.launch_instance, s) for s in specs])
        ids.extend(i.id for i in launched)

    seen: list[int] = []

    async def describe() -> None:
        batches = [ids[i : i + DESCRIBE_BATCH] for i in range(0, len(ids), DESCRIBE_BATCH)]
        results = await _bounded(concurrency, [partial(adapter.get_instances, b) for b in batches])
        seen.append(sum(len(r) for r in results))

    async def terminate() -> None:
        await _bounded(concurrency, [partial(adapter.terminate_instance, i) for i in ids])

    phases = {
        "launch": await _timed(n, launch),
        "describe": await _timed(n, describe),
        "terminate": await _timed(n, terminate),
    }
    assert len(set(ids)) == n and seen == [n], f"expected {n} distinct instances, saw {len(set(ids))} / {seen}"
    return _summary(phases, n)


def run_libcloud(endpoint_port: int, image_id: str, n: int, concurrency: int) -> dict[str, Any]:
    from libcloud.compute.drivers.ec2 import EC2Connection, EC2NodeDriver, EC2Response

    class MotoResponse(EC2Response):
        # moto 5 drops the trailing slash Libcloud expects on the EC2 XML namespace; without it every answer parses
        # as empty, silently.
        def parse_body(self) -> Any:
            if isinstance(self.body, str):
                self.body = self.body.replace(
                    'xmlns="http://ec2.amazonaws.com/doc/2016-11-15"',
                    'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"',
                )
            return super().parse_body()  # type: ignore[no-untyped-call]

    class MotoConnection(EC2Connection):
        responseCls = MotoResponse

    class MotoEC2Driver(EC2NodeDriver):
        connectionCls = MotoConnection

    driver_class: Any = MotoEC2Driver

    def driver() -> Any:
        # Signature v4: with Libcloud's default v2 moto cannot tell the request is for EC2 and answers as S3.
        return driver_class(
            "testing",
            "testing",
            region="us-east-1",
            host="127.0.0.1",
            port=endpoint_port,
            secure=False,
            signature_version="4",
        )

    main = driver()
    image = next(i for i in main.list_images(ex_image_ids=[image_id]))
    size = next(s for s in main.list_sizes() if s.id == EC2_FLAVOR)
    drivers = [driver() for _ in range(concurrency)]  # Libcloud connections are not shared between threads
    nodes: list[Any] = []

    def timed(work: Callable[[], None]) -> Phase:
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        return Phase(time.perf_counter() - wall, time.process_time() - cpu, n)

    def in_pool(calls: Sequence[Callable[[Any], Any]]) -> list[Any]:
        with ThreadPoolExecutor(concurrency) as pool:
            futures = [pool.submit(call, drivers[k % concurrency]) for k, call in enumerate(calls)]
            return [f.result() for f in futures]

    def launch() -> None:
        nodes.extend(in_pool([partial(_create_node, name=f"bench-{i}", image=image, size=size) for i in range(n)]))

    seen: list[int] = []

    def describe() -> None:
        ids = [node.id for node in nodes]
        batches = [ids[i : i + DESCRIBE_BATCH] for i in range(0, len(ids), DESCRIBE_BATCH)]
        seen.append(sum(len(r) for r in in_pool([partial(_list_nodes, ids=b) for b in batches])))

    def terminate() -> None:
        in_pool([partial(_destroy_node, node=node) for node in nodes])

    phases = {"launch": timed(launch), "describe": timed(describe), "terminate": timed(terminate)}
    assert len({node.id for node in nodes}) == n and seen == [n], f"libcloud: {len(nodes)} nodes, saw {seen}"
    return _summary(phases, n)


def _create_node(driver: Any, *, name: str, image: Any, size: Any) -> Any:
    return driver.create_node(name=name, image=image, size=size)


def _list_nodes(driver: Any, *, ids: list[str]) -> list[Any]:
    nodes: list[Any] = driver.list_nodes(ex_node_ids=ids)
    return nodes


def _destroy_node(driver: Any, *, node: Any) -> bool:
    return bool(driver.destroy_node(node))


def _summary(phases: dict[str, Phase], n: int) -> dict[str, Any]:
    total = sum(p.seconds for p in phases.values())
    return {
        **{name: phase.figures() for name, phase in phases.items()},
        "total_seconds": round(total, 3),
        "instances_per_s_end_to_end": round(n / total, 1),
    }


async def bench(pg: PostgresServer, moto: MotoServer, n: int, concurrency: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    await asyncio.to_thread(migrate, pg.url, schema="simcloud", location=_simcloud_migrations())
    pool = await db.create_pool(pg.url, schema="public", application="bench", min_size=2, max_size=concurrency + 4)
    try:
        timings = {
            "boot_seconds": 0,
            "stop_seconds": 0,
            "start_seconds": 0,
            "reboot_seconds": 0,
            "terminate_seconds": 0,
        }
        sim = await registry.connect("simcloud", "bench", timings, AdapterContext(pool=pool))
        log(f"SimCloud: {n} instances")
        results["simcloud_adapter"] = await run_adapter(sim, "img-debian-12", "sim.small", n, concurrency)
        await sim.close()
    finally:
        await pool.close()

    config = {
        "region": "us-east-1",
        "endpoint_url": moto.url,
        "access_key_id": "testing",
        "secret_access_key": "testing",
        **UNTHROTTLED,
    }
    ec2 = await registry.connect("ec2", "bench", config, AdapterContext(pool=None))
    image_id = await _linux_image(ec2)
    log(f"EC2 adapter (aioboto3) against moto: {n} instances")
    try:
        results["ec2_adapter_aioboto3"] = await run_adapter(ec2, image_id, EC2_FLAVOR, n, concurrency)
    finally:
        await ec2.close()

    moto.reset()
    log(f"Apache Libcloud EC2 driver against the same moto: {n} instances")
    results["ec2_libcloud"] = await asyncio.to_thread(run_libcloud, moto.port, image_id, n, concurrency)

    ours, theirs = results["ec2_adapter_aioboto3"], results["ec2_libcloud"]
    return {
        "benchmark": "adapter-layer-launch-describe-terminate",
        "method": (
            f"{n} instances: launch {concurrency} at a time, describe all in batches of {DESCRIBE_BATCH} ids, "
            "terminate "
            f"{concurrency} at a time; one process; SimCloud with zero transition times on its own PostgreSQL "
            "(fsync on); EC2 "
            "through a local moto_server (strict AMI/instance-type/key validation), reset before Libcloud; Libcloud "
            "driven from a thread pool of the same size; client CPU = process CPU time / instances"
        ),
        "instances": n,
        "concurrency": concurrency,
        "results": results,
        "ratios": {
            "ec2_adapter_over_libcloud_end_to_end_rate": round(
                ours["instances_per_s_end_to_end"] / theirs["instances_per_s_end_to_end"], 2
            ),
            "ec2_adapter_over_libcloud_launch_cpu": round(
                ours["launch"]["client_cpu_ms_per_instance"] / theirs["launch"]["client_cpu_ms_per_instance"], 2
            ),
            "simcloud_over_ec2_adapter_end_to_end_rate": round(
                results["simcloud_adapter"]["instances_per_s_end_to_end"] / ours["instances_per_s_end_to_end"], 2
            ),
        },
        "machine": machine(),
    }


async def _linux_image(ec2: Any) -> str:
    images = await ec2.ex_search_images("amzn2-ami-hvm-*-x86_64-gp2", ["amazon"])
    return str(sorted(images, key=lambda i: i.id)[0].id)


def _simcloud_migrations() -> Path:
    import adapters.simcloud

    return adapters.simcloud.MIGRATIONS


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.adapters", description=__doc__)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="clanavi-bench-adapters-"))
    root.chmod(0o755)
    pg = PostgresServer(root / "postgres", free_port(), durable=True)
    moto = MotoServer(free_port())
    try:
        log("starting PostgreSQL and moto")
        pg.start()
        moto.start()
        print(json.dumps(asyncio.run(bench(pg, moto, args.instances, args.concurrency)), indent=2))
    finally:
        moto.stop()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
