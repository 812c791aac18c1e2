"""Metric sampling on the whole provisioner app with real PostgreSQL and SimCloud: the running instances' samples
published as `metrics.sampled` (source cloud), each sample once, following the instance's SimCloud load profile; an
instance its cloud stops behind Clanavi's back is noticed within a round."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
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
            steady_cpu = {
                p["value"]
                for e in events
                for p in e["payload"]["samples"]
                if p["instance_id"] == steady and p["name"] == "cpu_utilization"
            }
            # The steady server runs later than the ramp began: on a busy machine the ramp may end before its first
            # sample.
            if cpu and cpu[-1]["value"] == 90.0 and steady_cpu:
                break
            assert time.monotonic() < deadline, (cpu, steady_cpu)
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
        assert steady_cpu == {35.0}

        # Stopped in the cloud, not through Clanavi: noticed by the next round.
        clouds: CloudDirectory = app.state.clouds
        shown = ok(await client.get(f"/v1/instances/{steady}", headers=BETA))
        await (await clouds.adapter(beta_cloud)).stop_instance(shown["provider_id"])
        await until(client, f"/v1/instances/{steady}", BETA, lambda i: i["state"] == "stopped")


async def test_pushed_samples_are_published_checked_against_the_project_and_rate_limited(
    kernel_settings: KernelSettings, database_url: str
) -> None:
    async with provisioner(kernel_settings, metrics_push_rate=0.5, metrics_push_burst=2) as (_app, client):
        _, mine = await launch(client, ALPHA, "steady:20")
        _, theirs = await launch(client, BETA, "steady:20")
        now = datetime.now(UTC)
        body = {
            "samples": [
                {"name": "cpu_utilization", "value": 97.5, "unit": "percent", "instance_id": mine},
                {
                    "name": "queue_depth",
                    "value": 12,
                    "at": (now - timedelta(minutes=1)).isoformat(),
                    "labels": {"q": "a"},
                },
            ]
        }
        answer = await client.post("/v1/metrics", headers=ALPHA, json=body)
        assert answer.status_code == 202 and answer.json() == {"accepted": 2}
        [event] = await sampled(database_url)
        assert event["project_id"] == "alpha" and event["payload"]["source"] == "agent"
        samples = event["payload"]["samples"]
        assert [(s["name"], s["value"], s["instance_id"]) for s in samples] == [
            ("cpu_utilization", 97.5, mine),
            ("queue_depth", 12.0, None),
        ]
        assert samples[1]["labels"] == {"q": "a"}

        # Another project's instance is an unknown one; a time too far off is named; nothing is published.
        bad = {
            "samples": [
                {"name": "x", "value": 1, "instance_id": theirs},
                {"name": "x", "value": 1, "at": (now + timedelta(minutes=10)).isoformat()},
            ]
        }
        refused = await client.post("/v1/metrics", headers=ALPHA, json=bad)
        assert refused.status_code == 422, refused.text
        assert [e["location"] for e in refused.json()["errors"]] == ["body.samples.0.instance_id", "body.samples.1.at"]
        assert theirs in refused.json()["errors"][0]["message"]
        # Beyond the project's rate (a burst of 2, the refused push counted): 429 with Retry-After.
        limited = await client.post("/v1/metrics", headers=ALPHA, json=body)
        assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        # Another project has a bucket of its own.
        assert (
            await client.post("/v1/metrics", headers=BETA, json={"samples": [{"name": "x", "value": 1}]})
        ).status_code == 202
        too_many = {"samples": [{"name": "x", "value": 1}] * 1001}
        oversize = await client.post("/v1/metrics", headers=BETA, json=too_many)
        assert oversize.status_code == 422 and oversize.json()["errors"][0]["location"] == "body.samples"
        assert len(await sampled(database_url)) == 2


async def failed_events(database_url: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "provisioner"})
    try:
        rows = await conn.fetch("SELECT body FROM outbox WHERE routing_key = 'instance.failed.v1' ORDER BY seq")
    finally:
        await conn.close()
    return [json.loads(r["body"]) for r in rows]


async def test_a_zone_outage_fails_its_instances_and_launches_until_it_ends(
    kernel_settings: KernelSettings, database_url: str
) -> None:
    async with provisioner(kernel_settings, metrics_interval=0.2) as (_app, client):
        cloud = ok(
            await client.post("/v1/clouds", headers=ALPHA, json={"name": "s", "driver": "simcloud", "config": SIM}),
            201,
        )["id"]

        async def launch_in(zone: str) -> str:
            body = {"cloud_id": cloud, "name": "w", "image_id": "img-debian-12", "flavor_id": "sim.small", "zone": zone}
            return str(ok(await client.post("/v1/instances", headers=ALPHA, json=body), 202)["id"])

        hit = [await launch_in("sim-1a"), await launch_in("sim-1a")]
        spared = await launch_in("sim-1b")
        for instance in (*hit, spared):
            await until(client, f"/v1/instances/{instance}", ALPHA, lambda i: i["state"] == "running")

        zone = f"/v1/clouds/{cloud}/simulation/zones/sim-1a"
        down = await client.put(zone, headers=ALPHA, json={"state": "down"})
        assert down.status_code == 200 and down.json() == {"cloud_id": cloud, "zone": "sim-1a", "state": "down"}
        for instance in hit:
            failed = await until(client, f"/v1/instances/{instance}", ALPHA, lambda i: i["state"] == "error")
            assert "zone sim-1a is down" in failed["reason"]
        assert {e["subject"] for e in await failed_events(database_url)} == set(hit)
        assert ok(await client.get(f"/v1/instances/{spared}", headers=ALPHA))["state"] == "running"
        doomed = await launch_in("sim-1a")
        await until(client, f"/v1/instances/{doomed}", ALPHA, lambda i: i["state"] == "error")

        assert (await client.put(zone, headers=ALPHA, json={"state": "up"})).status_code == 200
        back = await launch_in("sim-1a")
        await until(client, f"/v1/instances/{back}", ALPHA, lambda i: i["state"] == "running")

        # Only SimCloud simulates; a zone it does not have is not found; another project's cloud is unknown.
        unknown = await client.put(
            f"/v1/clouds/{cloud}/simulation/zones/nowhere", headers=ALPHA, json={"state": "down"}
        )
        assert unknown.status_code == 404
        assert (await client.put(zone, headers=BETA, json={"state": "down"})).status_code == 404
        lab = {"name": "lab", "driver": "libvirt", "config": {"uri": "test:///default", "pool": "default-pool"}}
        other = ok(await client.post("/v1/clouds", headers=ALPHA, json=lab), 201)["id"]
        refused = await client.put(f"/v1/clouds/{other}/simulation/zones/x", headers=ALPHA, json={"state": "down"})
        assert refused.status_code == 422 and refused.json()["errors"][0]["location"] == "path.cloud_id"

        # One instance's load, changed through the API: its samples follow.
        path = f"/v1/instances/{spared}/simulation/load"
        bad = await client.put(path, headers=ALPHA, json={"profile": "wobble:3"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["location"] == "body.profile"
        assert (await client.put(path, headers=ALPHA, json={"profile": "steady:77"})).status_code == 200
        deadline = time.monotonic() + 30
        while 77.0 not in {
            p["value"]
            for e in await sampled(database_url)
            for p in e["payload"]["samples"]
            if p["instance_id"] == spared and p["name"] == "cpu_utilization"
        }:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
