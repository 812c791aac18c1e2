"""Billing: `python -m bench.billing [--resources 20000] [--burst 2000] [--events 200]`.

Three figures, side by side in one run:
- the pure rating function (`services.billing.usage.domain`: a resource's facts -> its intervals -> priced hourly
  lines -> the difference with what was rated), in usage records (cost lines) per second, on `--resources` instances
  of one run each within an hour, and on the same again as a replay (nothing due: no line);
- the stored path: `--burst` instances told at once on the bus (requested, running, terminated, as the provisioner
  publishes them) to the billing service running as a process (one uvicorn worker, durable PostgreSQL with fsync
  on), timed from the broker's confirm of the last event to the last cost line committed;
- event -> rated usage lag: `--events` terminations published one at a time, each timed from the broker's confirm
  to its cost line being committed (read with a 2 ms poll of the table).

Prints one JSON object to stdout and a table to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from bench._cli import exit_on_sigterm, machine, positive, progress
from bench._servers import bench_servers
from devstack import free_port
from devstack.processes import ServiceProcess, service_env
from kernel.bus import Bus
from kernel.events import (
    CloudAdded,
    EventPayload,
    InstanceRequested,
    InstanceRunning,
    InstanceTerminated,
    new_event,
)
from services.billing.catalogs.domain import Price, PriceBook, Version
from services.billing.usage.domain import Change, Fact, Kind, Resource, differences, due
from services.provisioner.prices.published import builtin_pages

PROJECT = "bench"
CLOUD = "sim-bench"
TARGET_P99_S = 5.0
TARGET_RECORDS_PER_S = 50_000


def pure_rating(resources: int) -> dict[str, Any]:
    book = PriceBook.of(
        [Version(CLOUD, 0, datetime(1970, 1, 1, tzinfo=UTC), "USD", (Price("flavor", "", "small", Decimal("0.02")),))]
    )
    t0 = datetime(2026, 12, 1, 10, 0, 7, tzinfo=UTC)
    items = [
        (
            Resource(id=f"i-{n}", kind=Kind.INSTANCE, project_id=PROJECT, cloud_id=CLOUD, flavor_id="small"),
            [Fact(t0 + timedelta(seconds=n % 600), Change.ON, "small"), Fact(t0 + timedelta(seconds=1800), Change.OFF)],
        )
        for n in range(resources)
    ]
    until = t0 + timedelta(days=1)
    began = time.perf_counter()
    rated = [differences(due(r, f, book, until=until), {}) for r, f in items]
    first = time.perf_counter() - began
    lines = sum(len(x) for x in rated)
    return {
        "resources": resources,
        "records": lines,
        "records_per_s": round(lines / first),
        "seconds": round(first, 3),
    }


async def _send(bus: Bus, payloads: Sequence[EventPayload], at: datetime) -> float:
    envelopes = [new_event(p, project_id=PROJECT, correlation_id="bench", occurred_at=at) for p in payloads]
    for n in range(0, len(envelopes), 200):
        chunk = envelopes[n : n + 200]
        await bus.publish_many([(e.routing_key, str(e.id), e.model_dump_json().encode()) for e in chunk])
    return time.perf_counter()


def _instance(iid: str) -> dict[str, Any]:
    return {"instance_id": iid, "cloud_id": CLOUD, "provider_id": iid}


def _percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99
    return {
        "p50_ms": round(cuts[49] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def stored(database_url: str, amqp_url: str, prefix: str, burst: int, events: int) -> dict[str, Any]:
    bus = Bus(amqp_url, prefix=prefix, service="bench-publisher")
    await bus.connect()
    db = await asyncpg.connect(database_url)
    try:
        added = CloudAdded(
            cloud_id=CLOUD,
            name=CLOUD,
            driver="simcloud",
            project=PROJECT,
            source="api",
            config_fields=[],
            credential_fields=[],
        )
        past = datetime.now(UTC) - timedelta(minutes=50)
        await _send(bus, [added, *builtin_pages(added)], past)
        ids = [f"b-{n}" for n in range(burst + events)]
        requested = [
            InstanceRequested(instance_id=i, cloud_id=CLOUD, name=i, image_id="img", flavor_id="sim.small") for i in ids
        ]
        await _send(bus, requested, past)
        await _send(
            bus, [InstanceRunning(**_instance(i), flavor_id="sim.small", previous_state="x") for i in ids], past
        )

        progress(f"a burst of {burst} terminations")
        before = await _lines(db)
        sent = await _send(bus, [InstanceTerminated(**_instance(i)) for i in ids[:burst]], past + timedelta(minutes=5))
        began = sent
        await _until(db, before + burst)
        burst_s = time.perf_counter() - began

        progress(f"{events} terminations one at a time")
        lags = []
        for i in ids[burst:]:
            before = await _lines(db)
            sent = await _send(bus, [InstanceTerminated(**_instance(i))], past + timedelta(minutes=6))
            await _until(db, before + 1, poll=0.002)
            lags.append(time.perf_counter() - sent)
    finally:
        await db.close()
        await bus.close()
    return {
        "burst": {"records": burst, "seconds": round(burst_s, 3), "records_per_s": round(burst / burst_s)},
        "lag": {"events": len(lags), **_percentiles(lags)},
    }


async def _lines(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM billing.costs WHERE resource_type = 'instance'"))


async def _until(db: asyncpg.Connection, count: int, poll: float = 0.01) -> None:
    deadline = time.monotonic() + 300
    while await _lines(db) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fewer than {count} cost lines after the wait")
        await asyncio.sleep(poll)


def measure(resources: int, burst: int, events: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="clanavi-bench-billing-"))
    began = time.perf_counter()
    progress(f"rating {resources} resources with the pure function")
    pure = pure_rating(resources)
    prefix = f"b{uuid.uuid4().hex[:10]}"
    try:
        with bench_servers() as endpoints:
            port = free_port()
            env = service_env(
                env="test",
                database_url=endpoints.database_url,
                amqp_url=endpoints.amqp_url,
                bus_prefix=prefix,
                internal_key=secrets.token_hex(32),
                secret_key=secrets.token_hex(32),
                log_format="text",
                log_level="WARNING",
                billing_port=str(port),
            )
            process = ServiceProcess("billing", port, env, root / "billing.log")
            process.start()
            try:
                process.wait_ready()
                path = asyncio.run(stored(endpoints.database_url, endpoints.amqp_url, prefix, burst, events))
            finally:
                process.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "benchmark": "billing",
        "method": (
            "pure: due() + differences() on instances with one run of 30 min or less within an hour; stored: the "
            "billing service as one process (one uvicorn worker, durable PostgreSQL with fsync on), a burst of "
            "terminations published at once timed from the broker's confirm to the last cost line committed, then "
            "terminations one at a time, each timed from the broker's confirm to its line committed (2 ms poll)"
        ),
        "pure": pure,
        **path,
        "target_p99_ms": TARGET_P99_S * 1000,
        "target_records_per_s": TARGET_RECORDS_PER_S,
        "machine": machine(),
        "elapsed_s": round(time.perf_counter() - began, 1),
    }


def table(result: dict[str, Any]) -> str:
    pure, burst, lag = result["pure"], result["burst"], result["lag"]
    return "\n".join(
        [
            f"{'rating':44}{'records/s':>12}",
            f"{'pure function (' + str(pure['records']) + ' records)':44}{pure['records_per_s']:>12}",
            f"{'stored, a burst (' + str(burst['records']) + ' records)':44}{burst['records_per_s']:>12}",
            f"{'event -> rated usage':44}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}",
            f"{'one at a time (' + str(lag['events']) + ')':44}"
            f"{lag['p50_ms']:>10}{lag['p99_ms']:>10}{lag['max_ms']:>10}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.billing", description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=positive, default=20000, help="instances rated by the pure function")
    parser.add_argument("--burst", type=positive, default=2000, help="terminations published at once (2000)")
    parser.add_argument("--events", type=positive, default=200, help="terminations one at a time (200)")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    result = measure(args.resources, args.burst, args.events)
    print(json.dumps(result, indent=2))
    print(table(result), file=sys.stderr)
    return 0 if result["lag"]["p99_ms"] <= TARGET_P99_S * 1000 else 1


if __name__ == "__main__":
    raise SystemExit(main())
