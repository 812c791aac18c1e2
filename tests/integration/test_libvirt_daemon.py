"""The private session libvirtd: one test hypervisor for several processes, started and stopped cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.base import CloudUnavailable, LaunchSpec
from devstack.libvirtd import LibvirtDaemon, LibvirtDaemonError
from tests.contract.clouds.libvirt import POOL, Hypervisor, connect, hypervisor

pytestmark = pytest.mark.integration

# Lists what another process sees on the hypervisor: a fresh connection of its own.
PEEK = """
import json, sys, libvirt
conn = libvirt.open(sys.argv[1])
pool = conn.storagePoolLookupByName(sys.argv[2])
print(json.dumps({"volumes": pool.listVolumes(), "domains": [d.UUIDString() for d in conn.listAllDomains(0)]}))
conn.close()
"""


def peek(uri: str) -> dict[str, list[str]]:
    answer = subprocess.run(
        [sys.executable, "-c", PEEK, uri, POOL], capture_output=True, text=True, check=True, timeout=60
    )
    seen: dict[str, list[str]] = json.loads(answer.stdout)
    return seen


@pytest.fixture
def root() -> Iterator[Path]:
    # Short (the socket path must fit a sockaddr_un) and reachable by the daemon's user.
    path = Path(tempfile.mkdtemp(prefix="clanavi-lvt-"))
    path.chmod(0o755)
    yield path / "d"
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def shared(request: pytest.FixtureRequest) -> Hypervisor:
    return hypervisor(request.config)


async def test_another_process_sees_what_this_one_made(shared: Hypervisor) -> None:
    volume = shared.ensure_image("image-it-peek")
    adapter = await connect(shared)
    try:
        instance = await adapter.launch_instance(
            LaunchSpec(name="peeked", image_id=volume, flavor_id="lv.tiny", client_token="peek-token")
        )
        seen = await asyncio.to_thread(peek, shared.uri)
        assert volume in seen["volumes"]
        assert instance.id in seen["domains"]
        assert f"clanavi-root-{instance.id}" in seen["volumes"]
        await adapter.terminate_instance(instance.id)
        seen = await asyncio.to_thread(peek, shared.uri)
        assert instance.id not in seen["domains"]
    finally:
        await adapter.close()


def test_start_and_stop_leave_nothing_running(root: Path) -> None:
    daemon = LibvirtDaemon(root)
    daemon.start()
    pid = int(daemon.pid_file.read_text())
    try:
        assert daemon.is_running()
        assert daemon.uri == f"test+unix:///default?socket={root}/run/libvirt/libvirt-sock"
        assert peek(daemon.uri)["volumes"] == [], "a fresh test hypervisor"
        if os.geteuid() == 0:
            assert Path(f"/proc/{pid}").stat().st_uid != 0, "as root, the daemon runs as an unprivileged user"
    finally:
        daemon.stop()
    assert not daemon.is_running()
    assert daemon.has_exited()
    assert not Path(f"/proc/{pid}").exists(), "the daemon process is gone (and reaped)"
    daemon.stop()  # stopping twice is harmless


def test_a_daemon_with_an_idle_timeout_exits_when_no_one_is_connected(root: Path) -> None:
    daemon = LibvirtDaemon(root, idle_timeout=1)
    daemon.start()
    try:
        deadline = time.monotonic() + 30
        while not daemon.has_exited():
            assert time.monotonic() < deadline, "libvirtd did not exit on its own"
            time.sleep(0.1)
    finally:
        daemon.stop()


def test_a_socket_path_too_long_is_refused_up_front(root: Path) -> None:
    with pytest.raises(LibvirtDaemonError, match="too long"):
        LibvirtDaemon(root / ("x" * 120)).start()


async def test_the_adapter_rides_out_a_daemon_restart(root: Path) -> None:
    daemon = LibvirtDaemon(root)
    daemon.start()
    try:
        own = Hypervisor(daemon, keeper=None)
        adapter = await connect(own)
        try:
            assert (await adapter.list_instances()).items == []
            daemon.stop()
            with pytest.raises(CloudUnavailable):
                await adapter.list_instances()
            with pytest.raises(CloudUnavailable):
                await adapter.list_volumes()
            daemon.start()
            assert (await adapter.list_instances()).items == [], "the adapter connects again by itself"
        finally:
            await adapter.close()
    finally:
        daemon.stop()
