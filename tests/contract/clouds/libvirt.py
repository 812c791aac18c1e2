"""libvirt under the conformance suite: the `test` driver, served by a private session libvirtd for the test run.

One daemon per pytest session (shared with tests/integration/test_libvirt_*.py through `hypervisor`); a connection
held open for the whole session keeps the test hypervisor's state from resetting between cases. The image the
cases launch from is a volume prepared in the test driver's pool before the first case.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libvirt
import pytest

import adapters.libvirt
from adapters.libvirt import DEFAULT_FLAVORS, LibvirtAdapter
from adapters.registry import AdapterContext
from devstack.libvirtd import LibvirtDaemon
from tests.contract.cloud import ContractCloud

# libvirt's test driver ships a pool and a network by these names.
POOL = "default-pool"
NETWORK = "default"
IMAGE = "image-contract"
GIB = 1024**3
# The test driver's pool holds 100 GiB, and every instance's root disk is a full copy: tests launch this size.
TINY = {"id": "lv.tiny", "name": "tiny", "vcpus": 1, "ram_mb": 256, "disk_gb": 1}
FLAVORS = [TINY, *(f.model_dump() for f in DEFAULT_FLAVORS)]

# The class `connect` answers for the test driver, which cannot hot-plug disks.
ADAPTER_CLASS = LibvirtAdapter


@dataclass
class Hypervisor:
    """The session's shared test hypervisor."""

    daemon: LibvirtDaemon
    keeper: Any  # a libvirt connection held open so the test driver keeps its state

    @property
    def uri(self) -> str:
        return self.daemon.uri

    def config(self, **overrides: Any) -> dict[str, Any]:
        """An account's settings for this hypervisor."""
        settings: dict[str, Any] = {
            "uri": self.uri,
            "pool": POOL,
            "network": NETWORK,
            "flavors": FLAVORS,
            "metrics_interval_seconds": 0.2,
            "shutdown_timeout_seconds": 5,
        }
        settings.update(overrides)
        return settings

    def ensure_image(self, name: str, size_gb: int = 1, fmt: str = "qcow2") -> str:
        """A volume in the pool (an image when `name` has the image prefix); made once."""
        pool = self.keeper.storagePoolLookupByName(POOL)
        if name not in pool.listVolumes():
            pool.createXML(
                f"<volume><name>{name}</name><capacity unit='bytes'>{size_gb * GIB}</capacity>"
                f"<target><format type='{fmt}'/></target></volume>",
                0,
            )
        return name

    def volume_names(self) -> list[str]:
        return [str(n) for n in self.keeper.storagePoolLookupByName(POOL).listVolumes()]


_KEY = pytest.StashKey[Hypervisor]()


def hypervisor(config: pytest.Config) -> Hypervisor:
    """The session's hypervisor, started on first use and stopped when the session ends (even after failures)."""
    found = config.stash.get(_KEY, None)
    if found is not None:
        return found
    root = Path(tempfile.mkdtemp(prefix="clanavi-lv-"))
    root.chmod(0o755)  # the daemon's user (nobody, when we are root) must reach its directory
    daemon = LibvirtDaemon(root / "d", idle_timeout=120)

    def stop() -> None:
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)

    config.add_cleanup(stop)
    daemon.start()
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    keeper = libvirt.open(daemon.uri)
    config.add_cleanup(keeper.close)  # cleanups run last-in first-out: the connection closes before the daemon
    found = Hypervisor(daemon, keeper)
    config.stash[_KEY] = found
    return found


async def connect(shared: Hypervisor, account_id: str | None = None, **overrides: Any) -> LibvirtAdapter:
    return await adapters.libvirt.LibvirtAdapter.connect(
        account_id or f"contract-{uuid.uuid4().hex[:8]}", shared.config(**overrides), AdapterContext(pool=None)
    )


@asynccontextmanager
async def open_cloud(request: pytest.FixtureRequest) -> AsyncIterator[ContractCloud]:
    shared = hypervisor(request.config)
    image = shared.ensure_image(IMAGE)
    adapter = await connect(shared)
    try:
        yield ContractCloud(adapter=adapter, image_id=image, flavor_id="lv.tiny", settle_seconds=5.0)
    finally:
        await adapter.close()


__all__ = ["ADAPTER_CLASS", "Hypervisor", "connect", "hypervisor", "open_cloud"]
