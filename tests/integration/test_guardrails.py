"""Guard-rails on the whole provisioner app with real PostgreSQL, RabbitMQ and SimCloud: launches at once never both
fit under a quota with room for one (the guard-rails row is locked while each counts), and the worker's expiry
statements find each warning and the end on PostgreSQL, moved by a clock instead of sleeping."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest

from kernel.settings import KernelSettings
from services.provisioner.guardrails.expiry import ExpiryFollower
from tests.integration.provisioner_world import SIM, ok, provisioner, use_secret_key
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

OWNER = identity_headers("alpha")
ACCOUNT = {"name": "s", "driver": "simcloud", "config": SIM}


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    use_secret_key(monkeypatch)


async def event_types(database_url: str, instance_id: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT body FROM provisioner.outbox ORDER BY seq")
    finally:
        await conn.close()
    bodies = [json.loads(r["body"]) for r in rows]
    return [b["type"] for b in bodies if b["payload"].get("instance_id") == instance_id]


async def test_launches_at_once_never_both_fit_under_a_quota(kernel_settings: KernelSettings) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        cloud = ok(await client.post("/v1/clouds", headers=OWNER, json=ACCOUNT), 201)
        ok(await client.put("/v1/guardrails", headers=OWNER, json={"max_instances": 2, "max_vcpus": 8}))
        launch = {"cloud_id": cloud["id"], "image_id": "img-debian-12", "flavor_id": "sim.small"}
        answers = await asyncio.gather(
            *(client.post("/v1/instances", headers=OWNER, json={**launch, "name": f"web-{n}"}) for n in range(6))
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [202, 202, 409, 409, 409, 409], [a.text for a in answers]
        refused: dict[str, Any] = next(a.json() for a in answers if a.status_code == 409)
        assert refused["code"] == "quota_exceeded"
        assert refused["quotas"] == [{"quota": "max_instances", "limit": "2", "used": "2", "adds": "1"}]
        listed = ok(await client.get("/v1/instances", headers=OWNER, params={"cloud_id": cloud["id"]}))
        assert len(listed["items"]) == 2


async def test_the_worker_warns_then_stops_an_instance_at_the_end_of_its_lifetime(
    kernel_settings: KernelSettings, database_url: str
) -> None:
    async with provisioner(kernel_settings) as (app, client):
        cloud = ok(await client.post("/v1/clouds", headers=OWNER, json=ACCOUNT), 201)
        rails = {"max_lifetime_hours": 10, "expiry_warnings": [5, 1], "expiry_action": "stop"}
        ok(await client.put("/v1/guardrails", headers=OWNER, json=rails))
        launch = {"cloud_id": cloud["id"], "name": "brief", "image_id": "img-debian-12", "flavor_id": "sim.small"}
        made = ok(await client.post("/v1/instances", headers=OWNER, json=launch), 202)
        end = datetime.fromisoformat(made["expires_at"])
        assert made["expiry_action"] == "stop"
        while ok(await client.get(f"/v1/instances/{made['id']}", headers=OWNER))["state"] != "running":
            await asyncio.sleep(0.05)
        now = {"at": end - timedelta(hours=6)}
        # The app's own worker runs on the real clock, which is hours before any of this.
        follower = ExpiryFollower(
            app.state.uow, app.state.clouds, approval_wait=timedelta(hours=72), clock=lambda: now["at"]
        )

        for at in (
            end - timedelta(hours=6),
            end - timedelta(hours=4),
            end - timedelta(hours=4),
            end - timedelta(minutes=1),
        ):
            now["at"] = at
            await follower.follow()
        assert await event_types(database_url, made["id"]) == [
            "instance.requested",
            "instance.launched",
            "instance.running",
            "instance.expiry_warned",
            "instance.expiry_warned",
        ]

        now["at"] = end
        await follower.follow()
        await follower.follow()
        stopping = ok(await client.get(f"/v1/instances/{made['id']}", headers=OWNER))
        assert stopping["state"] in ("stopping", "stopped")
        types = await event_types(database_url, made["id"])
        assert types.count("instance.expired") == 1 and types.count("instance.action_requested") == 1
