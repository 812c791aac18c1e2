"""SimCloud under the conformance suite: a fresh database, migrated, and one account with quick transitions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

import adapters.simcloud as simcloud
from adapters.registry import AdapterContext
from kernel.migrations import migrate
from tests.conftest import make_pool
from tests.contract.cloud import ContractCloud

ADAPTER_CLASS = simcloud.SimCloudAdapter

# Every transition is quick but not instant, so cases meet the transitional states a real cloud shows.
TIMINGS: dict[str, Any] = {
    "boot_seconds": 0.2,
    "stop_seconds": 0.1,
    "start_seconds": 0.1,
    "reboot_seconds": 0.1,
    "terminate_seconds": 0.1,
    "image_seconds": 0.2,
    "volume_seconds": 0.1,
    "snapshot_seconds": 0.2,
    "attach_seconds": 0.1,
    # Metrics come every 60 simulated seconds: 600 times faster gives one sample every 0.1 s. The times above
    # are given in simulated seconds too, so they are scaled back up to stay as written.
    "speedup": 600.0,
}
TIMINGS.update({k: v * 600.0 for k, v in TIMINGS.items() if k.endswith("_seconds")})


@asynccontextmanager
async def open_cloud(request: pytest.FixtureRequest) -> AsyncIterator[ContractCloud]:
    url: str = request.getfixturevalue("database_url")
    await asyncio.to_thread(migrate, url, schema=simcloud.SCHEMA, location=simcloud.MIGRATIONS)
    pool = await make_pool(url, "public")
    adapter = await simcloud.SimCloudAdapter.connect(
        f"contract-{uuid.uuid4().hex[:8]}", TIMINGS, AdapterContext(pool=pool)
    )
    try:
        yield ContractCloud(
            adapter=adapter, image_id="img-debian-12", flavor_id="sim.small", settle_seconds=5.0, zone="sim-1a"
        )
    finally:
        await adapter.close()
        await pool.close()
