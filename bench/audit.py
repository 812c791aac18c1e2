"""The audit's costs: `python -m bench.audit [--events 20000] [--requests 4000] [--rounds 3]`.

1. The chain's append rate along the stored path: starts its own PostgreSQL (durable, fsync on) and RabbitMQ
   (`bench._servers`), publishes `--events` events to the audit's queue while the audit is stopped, then starts the
   audit service as a process (one uvicorn worker, `--prefetch` deliveries taken from the broker at once) and lets it
   drain them into the chain: records/s over the span of their `received_at` (the broker, the consumer, the inbox,
   the chain's lock and hashes, the commits), and how many records each transaction appended.
2. What recording API calls costs the gateway: one small route (a relay's answer, no upstream) served in process
   through httpx's ASGI transport, with and without the gateway's `RecordApiCalls` middleware, `--requests` requests
   at 32 at once, `--rounds` rounds each, their order swapped every round since the machine is shared: latency
   p50/p99 and requests/s side by side. The flush (an event built per call, its route found, the batch handed to a
   writer that keeps nothing) runs in the background as in the gateway; its cost per call is timed apart.

Prints one JSON object to stdout, a table to stderr.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench._cli import exit_on_sigterm, machine, positive, progress
from bench._servers import bench_servers
from devstack import free_port
from devstack.processes import ServiceProcess, service_env
from kernel.bus import Bus
from kernel.events import Envelope, InstanceRunning, new_event
from services.gateway.api_calls import ApiCall, ApiCallLog
from services.gateway.middleware.api_calls import RecordApiCalls, route_resolver

BATCH = 500
CONCURRENCY = 32


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 3),
    }


# --- 1. the chain through the bus ----------------------------------------------------------------------------------


async def _publish(amqp_url: str, prefix: str, events: int) -> None:
    bus = Bus(amqp_url, prefix=prefix, service="bench-audit")
    await bus.connect()
    try:
        for start in range(0, events, BATCH):
            batch = [
                new_event(
                    InstanceRunning(
                        instance_id=f"i-{n}",
                        cloud_id="bench",
                        provider_id=f"p-{n}",
                        flavor_id="f",
                        previous_state="pending",
                    ),
                    project_id="bench",
                    correlation_id=f"bench-{n}",
                )
                for n in range(start, min(events, start + BATCH))
            ]
            await bus.publish_many([(e.routing_key, str(e.id), e.model_dump_json().encode()) for e in batch])
    finally:
        await bus.close()


async def _drained(database_url: str, events: int) -> dict[str, Any]:
    conn = await asyncpg.connect(database_url)
    try:
        began = time.perf_counter()
        while await conn.fetchval("SELECT count(*) FROM audit.events") < events:  # noqa: ASYNC110
            await asyncio.sleep(0.02)  # the trail is in another process: polled
        wall = time.perf_counter() - began
        span = await conn.fetchrow(
            "SELECT extract(epoch FROM max(received_at) - min(received_at)) AS seconds,"
            " count(DISTINCT received_at) AS batches FROM audit.events"
        )
        valid = await conn.fetchval("SELECT count(*) FROM audit.events WHERE hash_version = 2")
    finally:
        await conn.close()
    assert span is not None
    seconds = float(span["seconds"])
    return {
        "events": events,
        "records_per_s": round((events - 1) / seconds) if seconds else None,
        "append_seconds": round(seconds, 2),
        "wall_seconds_from_ready": round(wall, 2),
        "transactions": span["batches"],
        "records_per_transaction": round(events / span["batches"], 1),
        "stored": valid,
    }


def measure_chain(events: int, prefetch: int) -> dict[str, Any]:
    """The events wait in the audit's queue before it starts, so that the chain, not the publisher, sets the pace."""
    root = Path(tempfile.mkdtemp(prefix="clanavi-bench-audit-"))
    try:
        with bench_servers() as servers:
            port = free_port()
            prefix = f"b{uuid.uuid4().hex[:8]}"
            env = service_env(
                env="test",
                database_url=servers.database_url,
                amqp_url=servers.amqp_url,
                bus_prefix=prefix,
                internal_key=secrets.token_hex(32),
                audit_port=str(port),
                log_format="text",
                log_level="WARNING",
                consumer_prefetch=str(prefetch),
            )
            process = ServiceProcess("audit", port, env, root / "audit.log")
            progress("starting the audit once, to declare its queue")
            process.start()
            try:
                process.wait_ready()
            finally:
                process.stop()
            progress(f"publishing {events} events to its queue in batches of {BATCH}")
            asyncio.run(_publish(servers.amqp_url, prefix, events))
            process.start()
            try:
                process.wait_ready()
                progress("the audit drains its queue into the chain")
                figures = asyncio.run(_drained(servers.database_url, events))
            finally:
                process.stop()
            return {**figures, "consumer_prefetch": prefetch}
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --- 2. the gateway's record of API calls --------------------------------------------------------------------------


async def _discard(events: Sequence[Envelope]) -> None:
    return None


def _app(record: bool) -> tuple[Starlette, ApiCallLog]:
    async def instance(request: Request) -> JSONResponse:
        return JSONResponse({"id": request.path_params["instance_id"], "state": "running"})

    app = Starlette(routes=[Route("/v1/instances/{instance_id}", instance)])
    calls = ApiCallLog(_discard, resolve=route_resolver(lambda: app.router.routes))
    if record:
        app.add_middleware(RecordApiCalls, calls=calls)
    return app, calls


async def _drive(record: bool, requests: int) -> tuple[list[float], float]:
    app, calls = _app(record)
    flusher = asyncio.create_task(calls.run())
    latencies: list[float] = []
    transport = httpx.ASGITransport(app=app, client=("192.0.2.1", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        queue = iter(range(requests))

        async def worker() -> None:
            for n in queue:
                started = time.perf_counter()
                answer = await client.get(f"/v1/instances/i-{n}", params={"token": "x", "limit": "5"})
                latencies.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - began
    flusher.cancel()
    await calls.flush()
    return latencies, requests / elapsed


def _flush_cost(calls_count: int = 20_000) -> float:
    """Microseconds per call of what the flush does for it: the event built and its route found."""
    app, log = _app(True)
    calls = [
        ApiCall(
            occurred_at=time.time(),
            project_id="bench",
            correlation_id=f"c-{n}",
            principal="key:bench",
            method="GET",
            path=f"/v1/instances/i-{n}",
            query="limit=5",
            client_address="192.0.2.1",
            status=200,
            duration_ms=0.5,
            user_agent="bench",
        )
        for n in range(calls_count)
    ]
    began = time.perf_counter()
    for call in calls:
        call.event(log.resolve)
    return (time.perf_counter() - began) / calls_count * 1e6


def measure_gateway(requests: int, rounds: int) -> dict[str, Any]:
    figures: dict[str, dict[str, list[float]]] = {
        "without": {"latency": [], "rate": []},
        "with": {"latency": [], "rate": []},
    }
    for round_ in range(rounds):
        order = (False, True) if round_ % 2 == 0 else (True, False)
        for record in order:
            progress(f"round {round_ + 1}: {requests} requests {'with' if record else 'without'} the record")
            latencies, rate = asyncio.run(_drive(record, requests))
            key = "with" if record else "without"
            figures[key]["latency"] += latencies
            figures[key]["rate"].append(rate)
    result: dict[str, Any] = {}
    for key, values in figures.items():
        result[key] = {**_percentiles(values["latency"]), "requests_per_s": round(statistics.median(values["rate"]))}
    result["overhead_p50_ms"] = round(result["with"]["p50_ms"] - result["without"]["p50_ms"], 3)
    result["throughput_ratio"] = round(result["with"]["requests_per_s"] / result["without"]["requests_per_s"], 3)
    result["flush_us_per_call"] = round(_flush_cost(), 1)
    return result


def table(result: dict[str, Any]) -> str:
    chain, gateway = result["chain"], result["gateway"]
    lines = [
        f"audit chain via the bus: {chain['records_per_s']} records/s ({chain['events']} events, "
        f"{chain['records_per_transaction']} per transaction)",
        f"{'gateway route':28}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>10}",
    ]
    for key in ("without", "with"):
        row = gateway[key]
        lines.append(
            f"{key + ' the API-call record':28}{row['p50_ms']:>10}{row['p99_ms']:>10}{row['requests_per_s']:>10}"
        )
    lines.append(
        f"throughput with/without {gateway['throughput_ratio']}; flush {gateway['flush_us_per_call']} us per call, "
        "off the request's path"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=positive, default=20_000, help="events published for the chain (20000)")
    parser.add_argument("--requests", type=positive, default=4_000, help="requests per gateway round (4000)")
    parser.add_argument("--rounds", type=positive, default=3, help="gateway rounds each way (3)")
    parser.add_argument(
        "--prefetch", type=positive, default=256, help="the audit's CLANAVI_CONSUMER_PREFETCH (256; the default is 32)"
    )
    args = parser.parse_args(argv)
    exit_on_sigterm()
    began = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "audit",
        "method": (
            "chain: events queued on the bus, then drained by one audit process (one uvicorn worker, durable "
            "PostgreSQL, fsync on), records/s over their received_at span; gateway: one route in process over httpx's "
            f"ASGI transport, {CONCURRENCY} requests at once, with and without RecordApiCalls, rounds alternated"
        ),
        "chain": measure_chain(args.events, args.prefetch),
        "gateway": measure_gateway(args.requests, args.rounds),
        "machine": machine(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    result["elapsed_s"] = round(time.perf_counter() - began, 1)
    print(json.dumps(result, indent=2))
    print(table(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
