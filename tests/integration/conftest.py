"""Fixtures shared by integration modules.

SimCloud (test_simcloud_*.py): one migrated SimCloud database per module, a pool on it, the clock the test moves, and
a factory of adapters on that clock. The names are the ones those tests ask for; other modules here that need a `pool`
of their own define it and so override this one.

Kernel (test_kernel_*.py): one empty database per module, in which each test makes a schema of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.simcloud import MIGRATIONS, SCHEMA, SimCloudAdapter, SimCloudConfig, SimStore
from kernel import db
from kernel.migrations import migrate
from tests.conftest import Servers, make_pool
from tests.integration.simcloud_harness import Make, SimClock


@pytest.fixture(scope="module")
async def simcloud_url(servers: Servers) -> AsyncIterator[str]:
    """One migrated SimCloud database for the module: each test works in an account of its own, which SimCloud keeps
    apart."""
    name = f"t_sim_{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(servers.postgres.create_database, name)
    url = servers.database_url(name)
    # Alembic runs its own event loop: keep it off the test loop's thread.
    await asyncio.to_thread(migrate, url, schema=SCHEMA, location=MIGRATIONS)
    yield url
    await asyncio.to_thread(servers.postgres.drop_database, name)


@pytest.fixture(scope="module")
async def pool(simcloud_url: str) -> AsyncIterator[db.Pool]:
    """A pool on the module's SimCloud database."""
    pool = await make_pool(simcloud_url, SCHEMA)
    yield pool
    await pool.close()


@pytest.fixture
def clock() -> SimClock:
    """The SimCloud clock this test moves."""
    return SimClock()


@pytest.fixture
def make(pool: db.Pool, clock: SimClock) -> Make:
    """A SimCloud adapter for this test's account (or another one) on the test's clock, with the settings given."""
    mine = f"acct-{uuid.uuid4().hex[:8]}"

    def make(account: str = mine, **config: Any) -> SimCloudAdapter:
        return SimCloudAdapter(SimStore(pool, account, clock), SimCloudConfig.model_validate(config))

    return make


@pytest.fixture(scope="module")
async def module_database(servers: Servers) -> AsyncIterator[str]:
    """One empty database for the module (the kernel tests make a schema of their own in it per test)."""
    name = f"t_kernel_{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(servers.postgres.create_database, name)
    yield servers.database_url(name)
    await asyncio.to_thread(servers.postgres.drop_database, name)
