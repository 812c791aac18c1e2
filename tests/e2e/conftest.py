from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Servers
from tests.e2e.platform import Platform

pytestmark = pytest.mark.e2e


def _platform(servers: Servers, **timings: str) -> Iterator[Platform]:
    name = f"e2e_{uuid.uuid4().hex[:10]}"
    servers.postgres.create_database(name)
    root = Path(tempfile.mkdtemp(prefix="clanavi-e2e-", dir=servers.root))
    platform = Platform(root, servers.database_url(name), servers.rabbit.url, sim_timings=timings)
    try:
        platform.start()
        yield platform
    finally:
        platform.stop()
        servers.postgres.drop_database(name)


@pytest.fixture(scope="module")
def platform(servers: Servers) -> Iterator[Platform]:
    """One platform shared by a module's tests (each test makes its own instances)."""
    yield from _platform(servers, boot="0.3", stop="0.2", start="0.2", reboot="0.2", terminate="0.2")


@pytest.fixture
def own_platform(servers: Servers) -> Iterator[Platform]:
    """A platform for one test that kills or restarts parts of it."""
    yield from _platform(servers, boot="1.0", stop="0.2", start="0.2", reboot="0.2", terminate="0.2")
