"""Metric sampling on the whole provisioner app with real PostgreSQL and SimCloud: the running instances' samples
published as `metrics.sampled` (source cloud), each sample once, following the instance's SimCloud load profile; an
instance its cloud stops behind Clanavi's back is noticed within a round."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import asyncpg
import httpx
import pytest

from kernel.settings import KernelSettings
from services.provisioner.clouds.directory import CloudDirectory
from tests.integration.provisioner_world import SIM, ok, provisioner, until, use_secret_key
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

ALPHA = identity_headers("alpha")
BETA = identity_headers("beta")


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    use_secret_key(monkeypatch)


async def sampled(database_url: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "provisioner"})
    try:
        rows = await conn.fetch("SELECT body FROM outbox WHERE routing_key = 'metrics.sampled.v1' ORDER BY seq")
    finally:
        await conn.close()
    return [json.loads(r["body"]) for r in rows]


async def launch(client: httpx.AsyncClient, headers: dict[str, str], load: str) -> tuple[str, str]:
    cloud = ok(
        await client.post("/v1/clouds", headers=headers, json={"name": "s", "driver": "simcloud", "config": SIM}), 201
    )["id"]
    body = {
        "cloud_id": cloud,
        "name": "busy",
        "image_id": "img-debian-12",
        "flavor_id": "sim.small",
        "tags": {"simcloud:load": load},
    }
    instance = ok(await client.post("/v1/instances", headers=headers, json=body), 202)["id"]
    await until(client, f"/v1/instances/{instance}", headers, lambda i: i["state"] == "running")
    return cloud, instance


async def test_running_instances_are_sampled_once_each_and_a_stop_in_the_cloud_is_noticed(
    kernel_settings: KernelSettings, database_url: str
) -> None:
    async with provisioner(kernel_settings, metrics_interval=0.2) as (app, client):
        # At speedup 1000 a simulated minute (a sample period) is 60 ms, a 600 s ramp 0.6 s.
        _, ramping = await launch(client, ALPHA, "ramp:10:90:600")
        beta_cloud, steady = await launch(client, BETA, "steady:35")

        deadline = time.monotonic() + 30
        while True:
            events = await sampled(database_url)
            cpu = [
                p
                for e in events
                for p in e["payload"]["samples"]
                if p["instance_id"] == ramping and p["name"] == "cpu_utilization"
            ]
            if cpu and cpu[-1]["value"] == 90.0:
                break
            assert time.monotonic() < deadline, cpu
            await asyncio.sleep(0.1)
        assert all(e["payload"]["source"] == "cloud" for e in events)
        # Each event holds one project's samples, of its own instances.
        mine = {"alpha": {ramping}, "beta": {steady}}
        for e in events:
            assert {p["instance_id"] for p in e["payload"]["samples"]} <= mine[e["project_id"]]
        # The ramp climbs; each sample published once.
        values = [p["value"] for p in cpu]
        assert values == sorted(values) and values[0] < 90.0
        every = Counter((p["instance_id"], p["name"], p["at"]) for e in events for p in e["payload"]["samples"])
        assert every and max(every.values()) == 1
        beta_cpu = {p["value"] for e in events for p in e["payload"]["samples"] if p["name"] == "cpu_utilization"}
        assert 35.0 in beta_cpu

        # Stopped in the cloud, not through Clanavi: noticed by the next round.
        clouds: CloudDirectory = app.state.clouds
        shown = ok(await client.get(f"/v1/instances/{steady}", headers=BETA))
        await (await clouds.adapter(beta_cloud)).stop_instance(shown["provider_id"])
        await until(client, f"/v1/instances/{steady}", BETA, lambda i: i["state"] == "stopped")
