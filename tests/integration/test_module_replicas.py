"""Two provisioner replicas on one database: a module an admin disables through one is disabled in the other within
moments (the database tells every replica at commit), and enabling it through the other brings it back in both."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from kernel.settings import KernelSettings
from tests.integration.provisioner_world import ok, provisioner, use_secret_key
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

ADMIN = identity_headers("default", admin=True)
LAUNCH = {"cloud_id": "sim", "name": "replicated", "image_id": "img-debian-12", "flavor_id": "sim.small"}


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    use_secret_key(monkeypatch)


async def launch_answers(client: httpx.AsyncClient, status: int) -> httpx.Response:
    """The first launch through `client` that answers `status`, trying for ten seconds."""
    deadline = time.monotonic() + 10
    while True:
        answer = await client.post("/v1/instances", json=LAUNCH, headers=ADMIN)
        if answer.status_code == status:
            return answer
        assert time.monotonic() < deadline, f"never answered {status}: {answer.status_code} {answer.text}"
        await asyncio.sleep(0.05)


async def test_a_module_switched_through_one_replica_is_switched_in_every_replica(
    kernel_settings: KernelSettings,
) -> None:
    async with provisioner(kernel_settings) as (_, first), provisioner(kernel_settings) as (_, second):
        ok(await second.post("/v1/instances", json=LAUNCH, headers=ADMIN), 202)

        ok(await first.put("/v1/modules/simcloud", json={"enabled": False}, headers=ADMIN))
        refused = await launch_answers(second, 409)
        assert refused.json()["code"] == "module_disabled"
        assert ok(await second.get("/v1/modules/simcloud", headers=ADMIN))["enabled"] is False

        ok(await second.put("/v1/modules/simcloud", json={"enabled": True}, headers=ADMIN))
        await launch_answers(first, 202)
        assert ok(await first.get("/v1/modules/simcloud", headers=ADMIN))["enabled"] is True
