"""Adapters as modules, through the gateway: a third-party adapter installed for real as a Python distribution (from
`tests/plugins/clanavi-echo`) is listed and used; disabling SimCloud's module at runtime makes its accounts answer
409 `module_disabled` with nothing recorded, while the echo cloud keeps working and SimCloud's work in flight waits;
the disabled state survives a provisioner restart; enabling it again restores everything as it was."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Servers
from tests.e2e.platform import Platform, audit_events, eventually, wait_for_state
from tests.e2e.test_resources import assert_problem, ok

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "tests" / "plugins" / "clanavi-echo"
UV = REPO / ".cache" / "uv-venv" / "bin" / "uv"
PYTHON = REPO / ".venv" / "bin" / "python"
ECHO = {"id": "echo1", "name": "Echo (plugin)", "driver": "echo"}
SIM_LAUNCH = {"image_id": "img-debian-12", "flavor_id": "sim.small", "cloud_id": "sim"}
ECHO_LAUNCH = {"image_id": "echo-linux", "flavor_id": "echo.small", "cloud_id": "echo1"}
BOOT_SECONDS = 2.0


def install_plugin(target: Path) -> None:
    """Install the echo adapter's distribution into `target` (never into the virtual environment), building it from
    a copy of its source so the build leaves nothing in the repository."""
    source = target.parent / "echo-src"
    shutil.copytree(PLUGIN, source)
    subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [
            str(UV),
            "pip",
            "install",
            "--offline",
            "--no-deps",
            "--no-build-isolation",
            "--python",
            str(PYTHON),
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    assert (target / "clanavi_echo" / "__init__.py").is_file()


@pytest.fixture(scope="module")
def platform(servers: Servers) -> Iterator[Platform]:
    name = f"e2e_{uuid.uuid4().hex[:10]}"
    servers.postgres.create_database(name)
    root = Path(tempfile.mkdtemp(prefix="clanavi-e2e-", dir=servers.root))
    plugins = root / "site"
    install_plugin(plugins)
    timings = {"boot": str(BOOT_SECONDS), "stop": "0.2", "start": "0.2", "reboot": "0.2", "terminate": "0.2"}
    platform = Platform(root, servers.database_url(name), servers.rabbit.url, sim_timings=timings)
    provisioner = platform.processes["provisioner"]
    path = [str(plugins), provisioner.env.get("PYTHONPATH", "")]
    provisioner.env.update(
        {
            "PYTHONPATH": os.pathsep.join(p for p in path if p),
            "CLANAVI_PROVISIONER_CLOUDS": json.dumps([ECHO]),
        }
    )
    try:
        platform.start()
        yield platform
    finally:
        platform.stop()
        servers.postgres.drop_database(name)


async def modules(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in ok(await client.get("/v1/modules"))["items"]}


async def clouds(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in ok(await client.get("/v1/clouds"))["items"]}


async def sim_instances(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = ok(await client.get("/v1/instances", params={"cloud_id": "sim", "limit": 500}))[
        "items"
    ]
    return items


async def holds(check: Callable[[], Awaitable[None]], *, seconds: float) -> None:
    """Check an invariant again and again for `seconds`; any check that fails fails the test at once."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        await check()
        await asyncio.sleep(0.1)
    await check()


async def test_the_installed_plugin_is_listed_and_launches_through_the_gateway(platform: Platform) -> None:
    async with platform.client() as client:
        listed = await modules(client)
        sim = listed["simcloud"]
        assert sim["source"] == "builtin" and sim["distribution"] is None
        assert sim["enabled"] and sim["available"] and sim["cloud_ids"] == ["sim"]
        assert {"instances", "volumes", "instance_suspend"} <= set(sim["features"])
        assert {"ec2", "libvirt"} <= set(listed)

        echo = listed["echo"]
        assert echo["source"] == "plugin"
        assert (echo["distribution"], echo["version"]) == ("clanavi-echo", "0.1.0")
        assert echo["enabled"] and echo["available"] and echo["reason"] is None
        assert echo["features"] == ["flavors", "idempotent_launch", "images", "instances"]
        assert echo["cloud_ids"] == ["echo1"]
        assert ok(await client.get("/v1/modules/echo")) == echo

        account = (await clouds(client))["echo1"]
        assert account["driver"] == "echo" and account["module_enabled"]
        assert account["features"] == echo["features"]
        flavors = ok(await client.get("/v1/flavors", params={"cloud_id": "echo1"}))["items"]
        assert {f["id"] for f in flavors} == {"echo.small", "echo.large"}

        created = ok(await client.post("/v1/instances", json={**ECHO_LAUNCH, "name": "echo-1"}), 202)
        assert created["cloud_id"] == "echo1" and created["state"] == "requested"
        running = await wait_for_state(client, created["id"], "running")
        assert running["provider_id"].startswith("echo-echo1-") and running["private_ips"]

        # What the plugin does not declare is refused before anything is called.
        assert_problem(await client.post(f"/v1/instances/{created['id']}/actions/stop"), 501, "unsupported_operation")
        assert_problem(
            await client.post("/v1/key-pairs", json={"name": "k", "cloud_id": "echo1"}), 501, "unsupported_operation"
        )
        ok(await client.delete(f"/v1/instances/{created['id']}"), 202)
        await wait_for_state(client, created["id"], "terminated")

        assert_problem(await client.put("/v1/modules/nope", json={"enabled": False}), 404, "not_found")
        assert_problem(await client.get("/v1/modules/nope"), 404, "not_found")
        assert_problem(await client.put("/v1/modules/echo", json={"enabled": "maybe"}), 422, "validation_failed")
        assert_problem(await client.put("/v1/modules/echo", json={}), 422, "validation_failed")
        stranger = {"Authorization": "Bearer wrong-token-0123456789"}
        assert_problem(await client.get("/v1/modules", headers=stranger), 401, "unauthenticated")


async def test_disabling_simcloud_holds_its_clouds_and_enabling_restores_them(platform: Platform) -> None:
    async with platform.client() as client:
        before = ok(await client.post("/v1/instances", json={**SIM_LAUNCH, "name": "kept"}), 202)
        kept = await wait_for_state(client, before["id"], "running", within=30)

        # An instance booting in SimCloud when the module is disabled: its transition must wait, not fail.
        moving = ok(await client.post("/v1/instances", json={**SIM_LAUNCH, "name": "in-flight"}), 202)
        await wait_for_state(client, moving["id"], "pending")
        disabled = ok(await client.put("/v1/modules/simcloud", json={"enabled": False}))
        disabled_at = time.monotonic()
        assert disabled["enabled"] is False and disabled["cloud_ids"] == ["sim"]
        assert (await modules(client))["simcloud"]["enabled"] is False
        accounts = await clouds(client)
        assert accounts["sim"]["module_enabled"] is False and accounts["echo1"]["module_enabled"] is True

        # Anything that calls SimCloud answers 409 problem JSON, and nothing is recorded.
        recorded = await sim_instances(client)
        body = assert_problem(
            await client.post("/v1/instances", json={**SIM_LAUNCH, "name": "refused"}), 409, "module_disabled"
        )
        assert "simcloud" in body["detail"]
        for answer in (
            await client.post(f"/v1/instances/{kept['id']}/actions/stop"),
            await client.post(f"/v1/instances/{kept['id']}/actions/reboot"),
            await client.delete(f"/v1/instances/{kept['id']}"),
            await client.get(f"/v1/instances/{kept['id']}/console"),
            await client.get("/v1/flavors", params={"cloud_id": "sim"}),
            await client.get("/v1/clouds/sim/zones"),
            await client.post("/v1/key-pairs", json={"name": "held", "cloud_id": "sim"}),
            await client.post("/v1/volumes", json={"name": "held", "size_gb": 1, "zone": "sim-1a"}),
        ):
            assert_problem(answer, 409, "module_disabled")
        assert await sim_instances(client) == recorded
        assert ok(await client.get("/v1/key-pairs", params={"cloud_id": "sim"}))["items"] == []
        assert ok(await client.get("/v1/volumes", params={"cloud_id": "sim"}))["items"] == []
        # Reads of what Clanavi recorded still work.
        assert ok(await client.get(f"/v1/instances/{kept['id']}")) == kept

        # The other cloud keeps working, and the catalogue of every cloud leaves the disabled one out.
        images = ok(await client.get("/v1/images"))["items"]
        assert {i["cloud_id"] for i in images} == {"echo1"}
        other = ok(await client.post("/v1/instances", json={**ECHO_LAUNCH, "name": "echo-2"}), 202)
        await wait_for_state(client, other["id"], "running")

        # The booting instance waits in `pending` well past SimCloud's boot time: it is neither followed nor failed.
        async def still_pending() -> None:
            current = ok(await client.get(f"/v1/instances/{moving['id']}"))
            assert current["state"] == "pending" and current["reason"] is None, current

        await holds(still_pending, seconds=max(0.0, disabled_at + BOOT_SECONDS + 1.0 - time.monotonic()))

        # The disabled state survives a restart of the provisioner.
        platform.processes["provisioner"].stop()
        platform.start("provisioner")
        assert (await modules(client))["simcloud"]["enabled"] is False
        assert_problem(
            await client.post("/v1/instances", json={**SIM_LAUNCH, "name": "refused"}), 409, "module_disabled"
        )
        await still_pending()

        enabled = ok(await client.put("/v1/modules/simcloud", json={"enabled": True}))
        assert enabled["enabled"] is True and (await clouds(client))["sim"]["module_enabled"] is True

        # The work in flight completes; what was launched before is intact and answers again.
        resumed = await wait_for_state(client, moving["id"], "running", within=30)
        assert resumed["provider_id"] == ok(await client.get(f"/v1/instances/{moving['id']}"))["provider_id"]
        again = ok(await client.get(f"/v1/instances/{kept['id']}"))
        assert again["state"] == "running" and again["provider_id"] == kept["provider_id"]
        ok(await client.post(f"/v1/instances/{kept['id']}/actions/stop"), 202)
        await wait_for_state(client, kept["id"], "stopped")
        fresh = ok(await client.post("/v1/instances", json={**SIM_LAUNCH, "name": "after"}), 202)
        await wait_for_state(client, fresh["id"], "running", within=30)
        assert {f["id"] for f in ok(await client.get("/v1/flavors", params={"cloud_id": "sim"}))["items"]}

        # Both changes are facts in the audit, and no instance failed along the way.
        async def module_events() -> list[str] | None:
            types = [e["type"] for e in await audit_events(client, resource_id="simcloud", scope="platform")]
            return types if len(types) >= 2 else None

        assert await eventually(module_events, what="module events") == ["module.disabled", "module.enabled"]
        failed = await audit_events(client, type="instance.failed")
        assert [e for e in failed if e["subject"] in {kept["id"], moving["id"]}] == []

        # Enabling an enabled module changes nothing and publishes nothing.
        ok(await client.put("/v1/modules/simcloud", json={"enabled": True}))
