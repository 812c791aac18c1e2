"""Inventory sync through the provisioner's HTTP API, on the whole app with real PostgreSQL, RabbitMQ and SimCloud:
202 with the run at once, the run and its list afterwards, the `discovered` filter, 404 for another project's
account, 409 while the account's module is disabled, and the schedule syncing by itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters.base import LaunchSpec
from adapters.simcloud import SimCloudAdapter, SimCloudConfig, SimStore
from kernel import db
from kernel.settings import KernelSettings
from services.provisioner.app import create_app
from services.provisioner.settings import ProvisionerSettings
from tests.conftest import make_pool
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

KEY = "integration-secret-key-0123456789abcdef"
DEFAULT = identity_headers("default")
ADMIN = identity_headers("default", admin=True)


@asynccontextmanager
async def provisioner(kernel_settings: KernelSettings, **more: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = ProvisionerSettings(
        kernel=kernel_settings.model_copy(update={"secret_key": SecretStr(KEY)}),
        follow_interval=0.05,
        sim_boot_seconds=0,
        **more,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://provisioner", timeout=30) as client:
            yield client


@pytest.fixture
async def sim_pool(database_url: str) -> AsyncIterator[db.Pool]:
    pool = await make_pool(database_url, "simcloud")
    yield pool
    await pool.close()


def ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


async def poll(probe: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        found = await probe()
        if found:
            return found
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.05)


async def finished(client: httpx.AsyncClient, run_id: str) -> Any:
    async def probe() -> Any:
        got = ok(await client.get(f"/v1/clouds/sim/syncs/{run_id}", headers=DEFAULT))
        return got if got["status"] != "running" else None

    return await poll(probe)


async def test_a_sync_through_the_api(kernel_settings: KernelSettings, sim_pool: db.Pool) -> None:
    async with provisioner(kernel_settings, sync_interval_seconds=0) as client:
        # Made in SimCloud directly, beside one launched through Clanavi.
        sim = SimCloudAdapter(SimStore(sim_pool, "sim"), SimCloudConfig(boot_seconds=0))
        made = await sim.launch_instance(
            LaunchSpec(name="outside", image_id="img-debian-12", flavor_id="sim.small", client_token="outside-1")
        )
        launch = {"name": "inside", "image_id": "img-debian-12", "flavor_id": "sim.small"}
        inside = ok(await client.post("/v1/instances", json=launch, headers=DEFAULT), 202)

        async def launched() -> bool:
            got = ok(await client.get(f"/v1/instances/{inside['id']}", headers=DEFAULT))
            return bool(got["state"] == "running")

        await poll(launched)

        run = ok(await client.post("/v1/clouds/sim/sync", headers=DEFAULT), 202)
        assert (run["cloud_id"], run["project_id"], run["trigger"]) == ("sim", "default", "manual")
        assert run["status"] in ("running", "succeeded")
        done = await finished(client, run["id"])
        assert (done["status"], done["adopted"], done["unchanged"], done["error"]) == ("succeeded", 1, 1, None)
        assert done["listed"] == 2 and done["list_calls"] == 1 and done["finished_at"] is not None

        discovered = ok(await client.get("/v1/instances", params={"discovered": "true"}, headers=DEFAULT))["items"]
        assert [(i["provider_id"], i["name"], i["discovered"]) for i in discovered] == [(made.id, "outside", True)]
        launched_here = ok(await client.get("/v1/instances", params={"discovered": "false"}, headers=DEFAULT))
        assert [i["id"] for i in launched_here["items"]] == [inside["id"]]

        # Terminated outside Clanavi: gone, and actions on it are refused like on a terminated instance.
        await sim.terminate_instance(made.id)
        second = ok(await client.post("/v1/clouds/sim/sync", headers=DEFAULT), 202)
        assert (await finished(client, second["id"]))["vanished"] == 1
        gone = ok(await client.get("/v1/instances", params={"state": "gone"}, headers=DEFAULT))["items"]
        assert [i["id"] for i in gone] == [discovered[0]["id"]]
        refused = await client.post(f"/v1/instances/{gone[0]['id']}/actions/start", headers=DEFAULT)
        assert refused.status_code == 409 and refused.json()["code"] == "invalid_state"
        assert ok(await client.delete(f"/v1/instances/{gone[0]['id']}", headers=DEFAULT), 202)["state"] == "gone"

        runs = ok(await client.get("/v1/clouds/sim/syncs", params={"limit": 1}, headers=DEFAULT))
        assert [r["id"] for r in runs["items"]] == [second["id"]] and runs["next_cursor"]
        older = ok(await client.get("/v1/clouds/sim/syncs", params={"cursor": runs["next_cursor"]}, headers=DEFAULT))
        assert [r["id"] for r in older["items"]] == [run["id"]] and older["next_cursor"] is None

        # Another project's account, an unknown one, an unknown run: 404.
        other = identity_headers("other")
        assert (await client.post("/v1/clouds/sim/sync", headers=other)).status_code == 404
        assert (await client.get("/v1/clouds/sim/syncs", headers=other)).status_code == 404
        assert (await client.get(f"/v1/clouds/sim/syncs/{run['id']}", headers=other)).status_code == 404
        assert (await client.post("/v1/clouds/nowhere/sync", headers=DEFAULT)).status_code == 404
        assert (await client.get("/v1/clouds/sim/syncs/not-a-run", headers=DEFAULT)).status_code == 404

        # A disabled module: 409 module_disabled, and no run.
        ok(await client.put("/v1/modules/simcloud", json={"enabled": False}, headers=ADMIN))
        refused = await client.post("/v1/clouds/sim/sync", headers=DEFAULT)
        assert refused.status_code == 409 and refused.json()["code"] == "module_disabled"
        ok(await client.put("/v1/modules/simcloud", json={"enabled": True}, headers=ADMIN))
        assert len(ok(await client.get("/v1/clouds/sim/syncs", headers=DEFAULT))["items"]) == 2


async def test_the_schedule_syncs_every_account_by_itself(kernel_settings: KernelSettings, sim_pool: db.Pool) -> None:
    async with provisioner(kernel_settings, sync_interval_seconds=0.5) as client:
        sim = SimCloudAdapter(SimStore(sim_pool, "sim"), SimCloudConfig(boot_seconds=0))
        made = await sim.launch_instance(
            LaunchSpec(name="outside", image_id="img-debian-12", flavor_id="sim.small", client_token="outside-2")
        )

        async def adopted() -> Any:
            items = ok(await client.get("/v1/instances", params={"discovered": "true"}, headers=DEFAULT))["items"]
            return items

        [instance] = await poll(adopted)
        assert instance["provider_id"] == made.id

        async def two_scheduled() -> Any:
            runs = ok(await client.get("/v1/clouds/sim/syncs", headers=DEFAULT))["items"]
            done = [r for r in runs if r["status"] == "succeeded"]
            return done if len(done) >= 2 else None

        runs = await poll(two_scheduled)
        assert {r["trigger"] for r in runs} == {"scheduled"}
        assert runs[0]["adopted"] == 0 and runs[-1]["adopted"] == 1
