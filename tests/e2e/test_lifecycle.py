"""A user's whole instance lifecycle through the gateway, and what the audit shows of it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.platform import Platform, audit_events, eventually, wait_for_state, walk

pytestmark = pytest.mark.e2e
# Expects project `default` to hold only the configured `sim` cloud: a platform of its own.
OWN_PLATFORM = True

LAUNCH = {"name": "web-1", "image_id": "img-debian-12", "flavor_id": "sim.small"}


async def _act(client: httpx.AsyncClient, instance_id: str, action: str) -> tuple[dict[str, Any], str]:
    answer = await client.post(f"/v1/instances/{instance_id}/actions/{action}")
    assert answer.status_code == 202, answer.text
    return answer.json(), answer.headers["x-correlation-id"]


async def test_launch_stop_start_reboot_terminate_with_audit(platform: Platform) -> None:
    async with platform.client() as client:
        clouds = (await client.get("/v1/clouds")).json()["items"]
        assert [c["id"] for c in clouds] == ["sim"] and clouds[0]["driver"] == "simcloud"

        answer = await client.post("/v1/instances", json=LAUNCH)
        assert answer.status_code == 202, answer.text
        created = answer.json()
        launch_cid = answer.headers["x-correlation-id"]
        instance_id = created["id"]
        assert created["state"] == "requested" and created["pending_action"] == "launch"

        running = await wait_for_state(client, instance_id, "running")
        assert running["provider_id"].startswith("sim-") and running["private_ips"]

        accepted, stop_cid = await _act(client, instance_id, "stop")
        assert accepted["state"] == "stopping"
        await wait_for_state(client, instance_id, "stopped")

        _, start_cid = await _act(client, instance_id, "start")
        await wait_for_state(client, instance_id, "running")

        accepted, reboot_cid = await _act(client, instance_id, "reboot")
        assert accepted["state"] == "rebooting"
        await wait_for_state(client, instance_id, "running")

        answer = await client.delete(f"/v1/instances/{instance_id}")
        assert answer.status_code == 202 and answer.json()["state"] == "terminating"
        terminate_cid = answer.headers["x-correlation-id"]
        await wait_for_state(client, instance_id, "terminated")

        expected = [
            ("instance.requested", launch_cid),
            ("instance.launched", launch_cid),
            ("instance.running", launch_cid),
            ("instance.action_requested", stop_cid),
            ("instance.stopped", stop_cid),
            ("instance.action_requested", start_cid),
            ("instance.running", start_cid),
            ("instance.action_requested", reboot_cid),
            ("instance.rebooted", reboot_cid),
            ("instance.action_requested", terminate_cid),
            ("instance.terminated", terminate_cid),
        ]

        async def trail() -> list[dict[str, Any]] | None:
            events = await audit_events(client, resource_id=instance_id)
            return events if len(events) >= len(expected) else None

        events = await eventually(trail, what="the audit trail of the instance")
        assert [(e["type"], e["correlation_id"]) for e in events] == expected
        # Every event after the first was caused by the one before it.
        assert all(b["causation_id"] == a["id"] for a, b in zip(events, events[1:], strict=False))
        by_request = await audit_events(client, correlation_id=stop_cid)
        assert [e["type"] for e in by_request] == ["instance.action_requested", "instance.stopped"]
        assert (await client.get("/v1/audit/verify")).json()["valid"] is True


async def test_list_pagination_and_filters(platform: Platform) -> None:
    async with platform.client() as client:
        ids = []
        for n in range(5):
            answer = await client.post("/v1/instances", json={**LAUNCH, "name": f"page-{n}"})
            ids.append(answer.json()["id"])
        for instance_id in ids:
            await wait_for_state(client, instance_id, "running")
        await client.post(f"/v1/instances/{ids[0]}/actions/stop")
        await wait_for_state(client, ids[0], "stopped")

        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            body = (await client.get("/v1/instances", params=params)).json()
            assert len(body["items"]) <= 2
            seen += [i["id"] for i in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) and set(ids) <= set(seen)

        stopped = (await client.get("/v1/instances", params={"state": "stopped"})).json()["items"]
        assert ids[0] in [i["id"] for i in stopped] and all(i["state"] == "stopped" for i in stopped)
        named = (await client.get("/v1/instances", params={"name": "page-3"})).json()["items"]
        assert [i["id"] for i in named] == [ids[3]]
        several = (await client.get("/v1/instances", params=[("state", "stopped"), ("state", "running")])).json()
        assert set(ids) <= {i["id"] for i in several["items"]}
        assert (await client.get("/v1/instances", params={"cloud_id": "nowhere"})).json()["items"] == []


async def test_terminate_before_launch_withdraws_and_is_idempotent(platform: Platform) -> None:
    async with platform.client() as client:
        created = (await client.post("/v1/instances", json={**LAUNCH, "name": "short-lived"})).json()
        first = await client.delete(f"/v1/instances/{created['id']}")
        second = await client.delete(f"/v1/instances/{created['id']}")
        assert first.status_code == second.status_code == 202
        await wait_for_state(client, created["id"], "terminated")
        stop = await client.post(f"/v1/instances/{created['id']}/actions/stop")
        assert stop.status_code == 409 and stop.json()["code"] == "invalid_state"


async def test_images_flavors_and_openapi(platform: Platform) -> None:
    async with platform.client() as client:
        images = (await client.get("/v1/images")).json()["items"]
        assert {"img-debian-12", "img-ubuntu-2404"} <= {i["id"] for i in images}
        flavors = (await client.get("/v1/flavors", params={"cloud_id": "sim"})).json()["items"]
        small = next(f for f in flavors if f["id"] == "sim.small")
        assert (small["vcpus"], small["ram_mb"]) == (1, 2048)
        missing = await client.get("/v1/flavors", params={"cloud_id": "nowhere"})
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"

        spec = (await client.get("/openapi.json")).json()
        assert {"/v1/instances", "/v1/instances/{instance_id}", "/v1/audit/events", "/v1/clouds"} <= set(spec["paths"])
        assert "Problem" in spec["components"]["schemas"]
        ready = await client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {
            "database": True,
            "broker": True,
            "provisioner": True,
            "audit": True,
            "scaler": True,
            "failover": True,
            "billing": True,
            "alerts": True,
        }


async def test_lists_sort_by_what_the_caller_chooses_through_every_page(platform: Platform) -> None:
    async with platform.client() as client:
        names = ["sort-delta", "sort-alpha", "sort-echo", "sort-alpha", "sort-charlie"]
        for name in names:
            answer = await client.post("/v1/instances", json={**LAUNCH, "name": name})
            assert answer.status_code == 202, answer.text

        ours = [
            i for i in await walk(client, "/v1/instances", sort="name", order="desc", limit=2) if i["name"] in names
        ]
        assert [i["name"] for i in ours] == sorted(names, reverse=True)
        # Equal names are ordered by id, the same way in every walk.
        alphas = [i["id"] for i in ours if i["name"] == "sort-alpha"]
        assert alphas == sorted(alphas, reverse=True)

        newest_first = await walk(client, "/v1/instances", order="desc", limit=3)
        stamps = [i["created_at"] for i in newest_first]
        assert stamps == sorted(stamps, reverse=True) and len(newest_first) >= len(names)

        events = await walk(client, "/v1/audit/events", order="desc", limit=7, type="instance.requested")
        assert [e["occurred_at"] for e in events] == sorted((e["occurred_at"] for e in events), reverse=True)
        assert len({e["id"] for e in events}) == len(events) >= len(names)

        users = await walk(client, "/v1/users", sort="email", limit=1)
        assert [u["email"] for u in users] == sorted(u["email"] for u in users)

        refused = await client.get("/v1/instances", params={"sort": "provider_id"})
        assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
        assert [e["location"] for e in refused.json()["errors"]] == ["query.sort"]
