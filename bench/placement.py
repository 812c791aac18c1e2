"""Placement decisions over 5 clouds x 4 zones x 20 flavors: `python -m bench.placement [--decisions 10000]
[--api-decisions 10000] [--concurrency 8]`.

In process: `services.provisioner.placement.domain.decide` over the 400 candidates of 5 clouds with 4 zones and 20
priced flavors each (half of them below the requirement, as a request for 2 vCPUs leaves them), the project's servers
spread over them, capacity known for 3 clouds; `--decisions` decisions, one server each, the strategies in turn
(cheapest, spread, pack, spread with anti-affinity in a group), timed with `time.perf_counter`: decisions/s, and
microseconds per decision and per candidate.

Through the API: the platform started as `make run` starts it (bench._platform: provisioner, audit, gateway as
processes on a PostgreSQL and RabbitMQ of their own), 15 flavors added to SimCloud's 5 (its catalogue's table: the
simulated cloud's own), 5 SimCloud accounts of 4 zones in one project, each with a price catalog for its 20 flavors;
then `--api-decisions` `POST /v1/placements` through the gateway with the admin API key, `--concurrency` at a time,
the strategies in turn: decisions/s, and each request's latency. Every decision, in process or not, must place its
server. Prints one JSON object to stdout, a table to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench._cli import exit_on_sigterm, machine, positive, progress
from bench._platform import ADMIN_TOKEN, platform_processes
from bench._servers import bench_servers
from services.provisioner.placement.domain import Candidate, Capacity, PlacementPolicy, Situation, decide

CLOUDS, ZONES, FLAVORS = 5, 4, 20
POLICIES = (
    PlacementPolicy(strategy="cheapest"),
    PlacementPolicy(strategy="spread"),
    PlacementPolicy(strategy="pack"),
    PlacementPolicy(strategy="spread", group="web", affinity="anti_affinity"),
)
# The flavors SimCloud has, and those the benchmark adds to its catalogue for 20.
SIM_FLAVORS = ("sim.nano", "sim.small", "sim.medium", "sim.large", "sim.xlarge")
EXTRA = [(f"sim.b{n:02d}", 1 + n % 8, 1024 * (1 + n), 10 * (1 + n)) for n in range(FLAVORS - len(SIM_FLAVORS))]


def _flavors() -> list[tuple[str, int, int, int]]:
    """20 flavors, every other one of 1 vCPU (below the requirement of 2)."""
    return [(f"f{n:02d}", 1 if n % 2 == 0 else 2 + n // 4, 1024 * (1 + n), 20 + 10 * n) for n in range(FLAVORS)]


def candidates(rng: random.Random) -> list[Candidate]:
    made = []
    for c in range(CLOUDS):
        for z in range(ZONES):
            for flavor, vcpus, ram, disk in _flavors():
                made.append(
                    Candidate(
                        cloud_id=f"cloud-{c}",
                        region=f"r{c}",
                        zone=f"z{c}{z}",
                        flavor_id=flavor,
                        vcpus=vcpus,
                        ram_mb=ram,
                        disk_gb=disk,
                        image_id="img",
                        hourly=Decimal(rng.randint(50, 5000)) / 10_000,
                        currency="USD",
                        rejected="below the requirements" if vcpus < 2 else None,
                    )
                )
    return made


def in_process(decisions: int) -> dict[str, Any]:
    rng = random.Random(7)
    cands = candidates(rng)
    situation = Situation(
        capacity={f"cloud-{c}": Capacity(instances=10_000, vcpus=100_000, ram_mb=None) for c in range(3)},
        project_servers={(f"cloud-{c}", f"z{c}{z}"): rng.randint(0, 20) for c in range(CLOUDS) for z in range(ZONES)},
        group_members={("cloud-0", "z00"): 1, ("cloud-3", "z31"): 2},
    )
    for policy in POLICIES:  # warm-up, and every strategy must place
        assert decide(cands, policy, situation).complete, policy
    started = time.perf_counter()
    for policy in itertools.islice(itertools.cycle(POLICIES), decisions):
        decision = decide(cands, policy, situation)
        if not decision.complete:
            raise SystemExit(f"a decision placed nothing: {decision.unplaced}")
    elapsed = time.perf_counter() - started
    return {
        "decisions": decisions,
        "candidates": len(cands),
        "seconds": round(elapsed, 3),
        "decisions_per_s": round(decisions / elapsed, 1),
        "us_per_decision": round(elapsed / decisions * 1e6, 1),
        "us_per_candidate": round(elapsed / decisions / len(cands) * 1e6, 3),
    }


def _price_file() -> dict[str, Any]:
    rng = random.Random(11)
    ids = [*SIM_FLAVORS, *(f[0] for f in EXTRA)]
    return {
        "currency": "USD",
        "prices": [{"kind": "flavor", "item": i, "price": str(Decimal(rng.randint(50, 5000)) / 10_000)} for i in ids],
    }


async def _set_up(client: httpx.AsyncClient, database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.executemany(
            "INSERT INTO simcloud.flavors VALUES ($1, $1, $2, $3, $4, 0.0100) ON CONFLICT DO NOTHING", EXTRA
        )
    finally:
        await conn.close()
    made = []
    for n in range(CLOUDS):
        body = {"name": f"bench-{n}", "driver": "simcloud", "config": {"zones": [f"z{n}{z}" for z in range(ZONES)]}}
        answer = await client.post("/v1/clouds", json=body)
        answer.raise_for_status()
        cloud_id = str(answer.json()["id"])
        (await client.post(f"/v1/clouds/{cloud_id}/prices", json=_price_file())).raise_for_status()
        made.append(cloud_id)
    return made


def _body(policy: PlacementPolicy, clouds: Sequence[str]) -> dict[str, Any]:
    # The benchmark's clouds only: the project also has the built-in SimCloud account.
    placed: dict[str, Any] = {"strategy": policy.strategy, "cloud_ids": list(clouds)}
    if policy.group is not None:
        placed |= {"group": policy.group, "affinity": policy.affinity}
    return {"image_id": "img-debian-12", "requirements": {"vcpus": 2}, "placement": placed}


async def _through_api(gateway: str, database_url: str, decisions: int, concurrency: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=gateway, headers=headers, timeout=60, limits=limits) as client:
        clouds = await _set_up(client, database_url)
        first = await client.post("/v1/placements", json=_body(POLICIES[0], clouds))
        first.raise_for_status()
        weighed = first.json()["candidate_count"]
        if weighed != CLOUDS * ZONES * FLAVORS:
            raise SystemExit(f"{weighed} candidates weighed, not {CLOUDS * ZONES * FLAVORS}")
        latencies: list[float] = []
        bodies = itertools.islice(itertools.cycle([_body(p, clouds) for p in POLICIES]), decisions)
        lock = asyncio.Lock()

        async def worker() -> None:
            while True:
                async with lock:
                    body = next(bodies, None)
                if body is None:
                    return
                began = time.perf_counter()
                answer = await client.post("/v1/placements", json=body)
                latencies.append(time.perf_counter() - began)
                if answer.status_code != 200:
                    raise SystemExit(f"a placement failed: {answer.status_code} {answer.text[:300]}")

        progress(f"{decisions} placements through the gateway, {concurrency} at a time")
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "decisions": decisions,
        "candidates": weighed,
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "decisions_per_s": round(decisions / elapsed, 1),
        "latency_ms": {
            "p50": round(statistics.median(ordered) * 1000, 1),
            "p90": round(ordered[int(len(ordered) * 0.9)] * 1000, 1),
            "p99": round(ordered[min(int(len(ordered) * 0.99), len(ordered) - 1)] * 1000, 1),
        },
    }


def through_api(decisions: int, concurrency: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="clanavi-bench-placement-"))
    try:
        with bench_servers() as endpoints, platform_processes(endpoints, root) as processes:
            gateway = f"http://127.0.0.1:{processes['gateway'].port}"
            return asyncio.run(_through_api(gateway, endpoints.database_url, decisions, concurrency))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def table(result: Mapping[str, Any]) -> str:
    local, api = result["in_process"], result["through_api"]
    lines = [
        f"{'placement decisions':36}{'decisions':>12}{'candidates':>12}{'decisions/s':>14}{'per decision':>16}",
        f"{'in process (domain.decide)':36}{local['decisions']:>12}{local['candidates']:>12}"
        f"{local['decisions_per_s']:>14}{str(local['us_per_decision']) + ' us':>16}",
    ]
    if api is not None:
        lines.append(
            f"{'through the API (POST /v1/placements)':36}{api['decisions']:>12}{api['candidates']:>12}"
            f"{api['decisions_per_s']:>14}{str(api['latency_ms']['p50']) + ' ms p50':>16}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.placement", description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=positive, default=10_000, help="decisions in process (10000)")
    parser.add_argument("--api-decisions", type=int, default=10_000, help="through the API; 0: none (10000)")
    parser.add_argument("--concurrency", type=positive, default=8, help="requests in flight (8)")
    args = parser.parse_args(argv)
    exit_on_sigterm()
    began = time.perf_counter()
    progress(f"{args.decisions} decisions in process")
    result: dict[str, Any] = {
        "benchmark": "placement",
        "method": (
            f"{CLOUDS} clouds x {ZONES} zones x {FLAVORS} flavors; one server per decision, the strategies in turn "
            "(cheapest, spread, pack, spread with anti-affinity); in process: domain.decide over the candidates "
            "(half of the flavors below the requirement of 2 vCPUs); through the API: POST /v1/placements with "
            "requirements (2 vCPUs) and an image, via the gateway, every service one uvicorn worker"
        ),
        "in_process": in_process(args.decisions),
        "through_api": through_api(args.api_decisions, args.concurrency) if args.api_decisions > 0 else None,
        "machine": machine(),
    }
    result["elapsed_s"] = round(time.perf_counter() - began, 1)
    print(json.dumps(result, indent=2))
    print(table(result), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
