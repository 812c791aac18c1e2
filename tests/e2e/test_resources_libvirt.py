"""The same API on libvirt (the `test` hypervisor behind a private session libvirtd): launch, volumes, snapshots and
images from instances work and are audited; what the libvirt adapter declares unsupported is refused with 501."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

from devstack.libvirtd import LibvirtDaemon
from tests.conftest import Servers
from tests.e2e.conftest import _platform
from tests.e2e.platform import Platform, wait_for_state
from tests.e2e.test_resources import assert_problem, ok, trail, wait_for

pytestmark = pytest.mark.e2e

# libvirt's test driver ships a pool and a network by these names.
POOL = "default-pool"
NETWORK = "default"
IMAGE = "image-e2e"
TINY = {"id": "lv.tiny", "name": "tiny", "vcpus": 1, "ram_mb": 256, "disk_gb": 1}


@pytest.fixture(scope="module")
def daemon() -> Iterator[LibvirtDaemon]:
    root = Path(tempfile.mkdtemp(prefix="clanavi-lv-"))
    root.chmod(0o755)  # the daemon's user (nobody, when we are root) must reach its directory
    daemon = LibvirtDaemon(root / "d", idle_timeout=300)
    try:
        daemon.start()
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        # Held open for the module: the test driver keeps its state while a connection is open.
        keeper = libvirt.open(daemon.uri)
        try:
            pool = keeper.storagePoolLookupByName(POOL)
            if IMAGE not in pool.listVolumes():
                pool.createXML(
                    f"<volume><name>{IMAGE}</name><capacity unit='bytes'>{1024**3}</capacity>"
                    "<target><format type='qcow2'/></target></volume>",
                    0,
                )
            yield daemon
        finally:
            keeper.close()
    finally:
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def platform(servers: Servers, daemon: LibvirtDaemon) -> Iterator[Platform]:
    lab = {
        "id": "lab",
        "name": "Lab (libvirt test driver)",
        "driver": "libvirt",
        "config": {
            "uri": daemon.uri,
            "pool": POOL,
            "network": NETWORK,
            "flavors": [TINY],
            "metrics_interval_seconds": 0.2,
            "shutdown_timeout_seconds": 5,
        },
    }
    yield from _platform(servers, env={"CLANAVI_PROVISIONER_CLOUDS": json.dumps([lab])}, boot="0.3")


async def test_launch_volume_snapshot_and_image_on_libvirt_and_501_for_the_rest(platform: Platform) -> None:
    async with platform.client() as client:
        lab = ok(await client.get("/v1/clouds/lab"))
        features = set(lab["features"])
        assert lab["driver"] == "libvirt" and {"instances", "volumes", "snapshots"} <= features

        created = ok(
            await client.post(
                "/v1/instances", json={"cloud_id": "lab", "name": "vm-1", "image_id": IMAGE, "flavor_id": "lv.tiny"}
            ),
            202,
        )
        instance = await wait_for_state(client, created["id"], "running", within=60)
        assert instance["provider_id"]

        volume = ok(await client.post("/v1/volumes", json={"cloud_id": "lab", "name": "data", "size_gb": 1}), 201)
        await wait_for(client, f"/v1/volumes/{volume['id']}", "available", within=30)
        snapshot = ok(await client.post("/v1/snapshots", json={"volume_id": volume["id"], "name": "snap"}), 201)
        await wait_for(client, f"/v1/snapshots/{snapshot['id']}", "available", within=30)
        expected: dict[str, list[str]] = {
            volume["id"]: ["volume.created", "volume.available"],
            snapshot["id"]: ["snapshot.created", "snapshot.available"],
        }
        if "volume_from_snapshot" in features:
            restored = ok(
                await client.post(
                    "/v1/volumes", json={"cloud_id": "lab", "name": "copy", "snapshot_id": snapshot["id"]}
                ),
                201,
            )
            await wait_for(client, f"/v1/volumes/{restored['id']}", "available", within=30)
            expected[restored["id"]] = ["volume.created", "volume.available"]

        # Whatever the adapter does not declare is refused before anything is recorded.
        refusals: dict[str, tuple[str, str, dict[str, Any] | None]] = {
            "key_pairs": ("POST", "/v1/key-pairs", {"cloud_id": "lab", "name": "k"}),
            "security_groups": ("POST", "/v1/security-groups", {"cloud_id": "lab", "name": "g"}),
            "addresses": ("POST", "/v1/addresses", {"cloud_id": "lab"}),
            "volume_attach": (
                "POST",
                f"/v1/volumes/{volume['id']}/actions/attach",
                {"instance_id": instance["id"]},
            ),
            "console_output": ("GET", f"/v1/instances/{instance['id']}/console", None),
        }
        lacking = [f for f in refusals if f not in features]
        for feature in lacking:
            method, path, body = refusals[feature]
            assert_problem(await client.request(method, path, json=body), 501, "unsupported_operation")
        assert ok(await client.get(f"/v1/volumes/{volume['id']}"))["state"] == "available"

        assert ok(await client.delete(f"/v1/snapshots/{snapshot['id']}"))["state"] == "deleted"
        assert ok(await client.delete(f"/v1/volumes/{volume['id']}"))["state"] == "deleted"
        expected[snapshot["id"]].append("snapshot.deleted")
        expected[volume["id"]].append("volume.deleted")
        ok(await client.delete(f"/v1/instances/{instance['id']}"), 202)
        await wait_for_state(client, instance["id"], "terminated", within=60)
        for resource_id, types in expected.items():
            assert await trail(client, resource_id, len(types)) == types
        assert (await client.get("/v1/audit/verify")).json()["valid"] is True
