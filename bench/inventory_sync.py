"""Inventory sync benchmark: reconcile a SimCloud account holding N instances made outside Clanavi.

    python -m bench.inventory_sync [--instances 10000] [--changed 1000] [--page-size 1000]

How the instances are made: SimCloud's own `instances` table gets N running instances in one INSERT ... SELECT from
`generate_series` (what `launch_instance` writes, without its per-launch quota and catalogue checks, its phase history
and its load profile rows, none of which listing reads); launching them one by one through the adapter would only
measure SimCloud's launch path. The out-of-band changes before the third sync go through SimCloud's API: half of
`--changed` are stopped with `stop_instance`, half terminated with `terminate_instance` (SimCloud still lists a
terminated instance, as terminated, which a sync treats as gone).

What is timed, each end to end in one process (`Inventory.sync`: the account's advisory lock and run row, every list
page through the SimCloud adapter, the records read, the comparison, the chunked writes with their outbox events, the
run closed with `cloud.synced`):
1. the first sync, adopting all N;
2. a second sync with nothing changed;
3. a sync after the out-of-band changes.
One JSON object goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import adapters.simcloud
from adapters.simcloud import SimCloudAdapter, SimCloudConfig, SimStore
from bench._cli import machine, progress
from devstack import PostgresServer, free_port
from kernel import db
from kernel.migrations import migrate
from services.provisioner.app import MIGRATIONS, SCHEMA
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.clouds.domain import CONFIGURED_PROJECT, Cloud
from services.provisioner.inventory.domain import SyncRun
from services.provisioner.inventory.handlers import CHUNK_SIZE, Inventory
from services.provisioner.settings import SIM_CLOUD_ID, SIM_CLOUD_NAME
from services.provisioner.unit_of_work import on_postgres

CONCURRENCY = 16


class CountedSim(SimCloudAdapter):
    """SimCloud counting its list calls."""

    list_calls = 0

    async def list_instances(self, *, cursor: str | None = None, limit: int = 100) -> Any:
        self.list_calls += 1
        return await super().list_instances(cursor=cursor, limit=limit)


async def seed(pool: db.Pool, n: int) -> None:
    """N running instances in SimCloud's tables, in one statement."""
    await pool.execute(
        f"""INSERT INTO {adapters.simcloud.SCHEMA}.instances
                (account_id, id, client_token, name, image_id, flavor_id, state, created_at, private_ip, tags, zone,
                 security_group_ids)
            SELECT $1, 'sim-' || lpad(to_hex(g), 17, '0'), 'outside-' || g, 'outside-' || g, 'img-debian-12',
                   'sim.small', 'running', now(), '10.' || (g / 65536) % 256 || '.' || (g / 256) % 256 || '.'
                   || g % 256, jsonb_build_object('team', 'team-' || g % 7), 'sim-1a', '{{}}'
            FROM generate_series(1, $2) AS g""",
        SIM_CLOUD_ID,
        n,
    )


async def change_outside(sim: SimCloudAdapter, ids: list[str]) -> None:
    slots = asyncio.Semaphore(CONCURRENCY)
    half = len(ids) // 2

    async def act(n: int, instance_id: str) -> None:
        async with slots:
            if n < half:
                await sim.stop_instance(instance_id)
            else:
                await sim.terminate_instance(instance_id)

    await asyncio.gather(*(act(n, i) for n, i in enumerate(ids)))


async def _seconds(work: Awaitable[None]) -> float:
    started = time.perf_counter()
    await work
    return time.perf_counter() - started


async def outbox_rows(pool: db.Pool) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM outbox"))


async def timed_sync(inventory: Inventory, sim: CountedSim, pool: db.Pool, n: int) -> dict[str, Any]:
    sim.list_calls = 0
    events_before = await outbox_rows(pool)
    wall, cpu = time.perf_counter(), time.process_time()
    run: SyncRun = await inventory.sync(SIM_CLOUD_ID, trigger="manual", correlation_id=f"bench-{uuid.uuid4()}")
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    assert run.status == "succeeded", run.error
    counts = run.counts
    return {
        "seconds": round(seconds, 3),
        "instances_per_s": round(n / seconds, 1),
        "bench_process_cpu_seconds": round(cpu_seconds, 3),
        "listed": counts.listed,
        "list_calls": sim.list_calls,
        "adopted": counts.adopted,
        "drifted": counts.drifted,
        "vanished": counts.vanished,
        "unchanged": counts.unchanged,
        "events_written": await outbox_rows(pool) - events_before,
    }


async def bench(pg: PostgresServer, n: int, changed: int, page_size: int) -> dict[str, Any]:
    await asyncio.to_thread(migrate, pg.url, schema=adapters.simcloud.SCHEMA, location=adapters.simcloud.MIGRATIONS)
    await asyncio.to_thread(migrate, pg.url, schema=SCHEMA, location=MIGRATIONS)
    pool = await db.create_pool(pg.url, schema=SCHEMA, application="bench", min_size=2, max_size=CONCURRENCY + 4)
    try:
        uow = on_postgres(lambda: pool)
        sim_cloud = Cloud(SIM_CLOUD_ID, CONFIGURED_PROJECT, SIM_CLOUD_NAME, "simcloud", {}, True, datetime.now(UTC))
        async with uow.transaction() as tx:
            await tx.repos.clouds.add(sim_cloud)
        config = SimCloudConfig(stop_seconds=0, terminate_seconds=0)
        sim = CountedSim(SimStore(pool, SIM_CLOUD_ID), config)
        clouds = CloudDirectory(uow, connected={SIM_CLOUD_ID: sim})
        inventory = Inventory(uow, clouds, page_size=page_size)

        progress(f"seeding {n} instances into SimCloud's tables")
        seed_seconds = await _seconds(seed(pool, n))

        progress("sync 1: adopting every instance")
        first = await timed_sync(inventory, sim, pool, n)
        assert first["adopted"] == n, first
        progress("sync 2: nothing changed")
        second = await timed_sync(inventory, sim, pool, n)
        assert second["unchanged"] == n and second["events_written"] == 1, second

        ids = [r["id"] for r in await pool.fetch(f"SELECT id FROM {adapters.simcloud.SCHEMA}.instances ORDER BY id")]
        step = max(1, len(ids) // changed)
        chosen = ids[::step][:changed]
        progress(f"changing {len(chosen)} instances through SimCloud's API")
        change_seconds = await _seconds(change_outside(sim, chosen))
        progress("sync 3: after the changes")
        third = await timed_sync(inventory, sim, pool, n)
        assert third["drifted"] + third["vanished"] == len(chosen), third
        await clouds.close()
    finally:
        await pool.close()
    return {
        "benchmark": "inventory-sync",
        "method": (
            f"one SimCloud account with {n} instances inserted into SimCloud's own tables by one INSERT ... SELECT "
            f"(not launched through the adapter); Inventory.sync timed end to end in one process against its own "
            f"PostgreSQL 15 (fsync on): advisory lock + run row, list pages of {page_size} through the SimCloud "
            f"adapter, records read in one query, in-memory diff, writes in chunks of {CHUNK_SIZE} "
            "(jsonb_to_recordset INSERT/UPDATE + outbox rows, one transaction per chunk), run closed with "
            f"cloud.synced; before sync 3, {len(chosen) // 2} instances stopped and {len(chosen) - len(chosen) // 2} "
            "terminated through SimCloud's stop_instance/terminate_instance, 16 at a time"
        ),
        "instances": n,
        "page_size": page_size,
        "seed_seconds": round(seed_seconds, 3),
        "out_of_band_changes": {"count": len(chosen), "seconds": round(change_seconds, 3)},
        "first_sync_adopt_all": first,
        "second_sync_nothing_changed": second,
        "third_sync_after_changes": third,
        "machine": machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inventory_sync", description=__doc__)
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--changed", type=int, default=1_000)
    parser.add_argument("--page-size", type=int, default=1_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="clanavi-bench-inventory-"))
    root.chmod(0o755)  # the postgres user must reach its data directory inside
    pg = PostgresServer(root / "postgres", free_port(), durable=True)
    try:
        progress("starting PostgreSQL")
        pg.start()
        print(json.dumps(asyncio.run(bench(pg, args.instances, args.changed, args.page_size)), indent=2))
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
