"""SimCloud under the conformance suite: a fresh database, migrated, and one account with quick transitions."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

import adapters.simcloud as simcloud
from adapters.registry import AdapterContext
from kernel.migrations import migrate
from tests.conftest import make_pool
from tests.contract.cloud import ContractCloud

TIMINGS = {
    "boot_seconds": 0.2,
    "stop_seconds": 0.1,
    "start_seconds": 0.1,
    "reboot_seconds": 0.1,
    "terminate_seconds": 0.1,
}


@asynccontextmanager
async def open_cloud(request: pytest.FixtureRequest) -> AsyncIterator[ContractCloud]:
    url: str = request.getfixturevalue("database_url")
    await asyncio.to_thread(migrate, url, schema=simcloud.SCHEMA, location=simcloud.MIGRATIONS)
    pool = await make_pool(url, "public")
    adapter = await simcloud.connect(f"contract-{uuid.uuid4().hex[:8]}", TIMINGS, AdapterContext(pool=pool))
    try:
        yield ContractCloud(adapter=adapter, image_id="img-debian-12", flavor_id="sim.small", settle_seconds=5.0)
    finally:
        await adapter.close()
        await pool.close()
