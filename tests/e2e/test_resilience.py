"""Crashes and outages lose nothing and duplicate nothing: a provisioner killed mid-launch, a broker that goes away."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import Servers
from tests.e2e.platform import Platform, audit_events, eventually, wait_for_state

pytestmark = pytest.mark.e2e

LAUNCH = {"image_id": "img-ubuntu-2404", "flavor_id": "sim.nano"}
LIFECYCLE = ["instance.requested", "instance.launched", "instance.running"]


async def _launch(client: httpx.AsyncClient, count: int, prefix: str) -> list[str]:
    answers = await asyncio.gather(
        *(client.post("/v1/instances", json={**LAUNCH, "name": f"{prefix}-{n}"}) for n in range(count))
    )
    assert all(a.status_code == 202 for a in answers), [a.text for a in answers if a.status_code != 202]
    return [a.json()["id"] for a in answers]


async def _assert_trail_exactly_once(client: httpx.AsyncClient, ids: list[str]) -> None:
    """Each instance's audit trail is requested, launched, running: once each, in that order."""

    async def complete() -> list[dict[str, Any]] | None:
        events = await audit_events(client, type=LIFECYCLE)
        mine = [e for e in events if e["subject"] in ids]
        return mine if len(mine) >= len(ids) * len(LIFECYCLE) else None

    events = await eventually(complete, within=60, what="every lifecycle event in the audit")
    assert len(events) == len(ids) * len(LIFECYCLE)
    assert len({e["id"] for e in events}) == len(events), "an event was recorded twice"
    for instance_id in ids:
        assert [e["type"] for e in events if e["subject"] == instance_id] == LIFECYCLE
    assert (await client.get("/v1/audit/verify")).json()["valid"] is True


async def _cloud_instances(platform: Platform) -> Counter[str]:
    conn = await asyncpg.connect(platform.database_url)
    try:
        rows = await conn.fetch("SELECT client_token FROM simcloud.instances")
    finally:
        await conn.close()
    return Counter(r["client_token"] for r in rows)


async def test_provisioner_killed_mid_launch_recovers_without_loss_or_duplicates(own_platform: Platform) -> None:
    async with own_platform.client() as client:
        ids = await _launch(client, 20, "crash")
        own_platform.processes["provisioner"].kill()
        down = await client.get(f"/v1/instances/{ids[0]}")
        assert down.status_code == 503 and down.json()["code"] == "service_unavailable"

        own_platform.start("provisioner")
        for instance_id in ids:
            await wait_for_state(client, instance_id, "running", within=60)
        await _assert_trail_exactly_once(client, ids)
        assert await _cloud_instances(own_platform) == Counter(ids), "the cloud got a duplicate or missed one"


async def test_broker_outage_during_launches_loses_no_event(own_platform: Platform, servers: Servers) -> None:
    async with own_platform.client() as client:
        before = await _launch(client, 5, "before")
        servers.rabbit.stop_app()
        stopped_at = time.monotonic()
        try:
            during = await _launch(client, 10, "during")
            # Launching needs no broker: instances get to running while events wait in the outbox.
            for instance_id in during:
                await wait_for_state(client, instance_id, "running", within=30)
            await asyncio.sleep(max(0.0, 10 - (time.monotonic() - stopped_at)))
        finally:
            servers.rabbit.start_app()
        after = await _launch(client, 5, "after")
        ids = before + during + after
        for instance_id in ids:
            await wait_for_state(client, instance_id, "running", within=60)
        await _assert_trail_exactly_once(client, ids)
