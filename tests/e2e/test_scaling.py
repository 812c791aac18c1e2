"""Auto scaling on the platform as processes, with nothing standing in: SimCloud's load profiles drive the CPU the
provisioner samples every second, the scaler decides from those samples and commands the provisioner over the bus,
and the provisioner launches and terminates real SimCloud servers. A group scales out under load and back in when it
is gone, without passing its max; on a cloud that fails every launch the group never grows past max."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.platform import Platform, eventually

pytestmark = pytest.mark.e2e
# Its groups (one on a cloud that fails every launch) go on working after its tests: a platform of its own.
OWN_PLATFORM = True

FAST = {"boot_seconds": 0.3, "stop_seconds": 0.2, "terminate_seconds": 0.2, "metrics_period_seconds": 1}


async def _group_on(admin: httpx.AsyncClient, config: dict[str, Any], **group: Any) -> tuple[str, str]:
    """A SimCloud account of `config`, a template on it, and a scaling group over the template; (cloud, group)."""
    name = f"scale-{uuid.uuid4().hex[:6]}"
    cloud = (await admin.post("/v1/clouds", json={"name": name, "driver": "simcloud", "config": config})).json()["id"]
    machine = {"cloud_id": cloud, "image_id": "img-debian-12", "flavor_id": "sim.small"}
    template = await admin.post("/v1/templates", json={"name": name, "clouds": [machine]})
    assert template.status_code == 201, template.text
    body = {
        "name": name, "template_id": template.json()["template_id"], "template_version": 1,
        "allowed_clouds": [cloud], "cooldown_seconds": 0, **group,
    }  # fmt: skip

    async def made() -> dict[str, Any] | None:
        answer = await admin.post("/v1/scaling-groups", json=body)
        # Until the scaler has heard of the template, it is unknown there.
        assert answer.status_code in (201, 422), answer.text
        return answer.json() if answer.status_code == 201 else None

    return cloud, str((await eventually(made, what="the scaler to know the template"))["id"])


async def _members(admin: httpx.AsyncClient, group: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await admin.get(f"/v1/scaling-groups/{group}/instances")).json()["items"]
    return items


async def _in_cloud(admin: httpx.AsyncClient, cloud: str) -> list[dict[str, Any]]:
    """The cloud's instances not yet terminated, as the provisioner records them."""
    items = (await admin.get("/v1/instances", params={"cloud_id": cloud, "limit": 100})).json()["items"]
    return [i for i in items if i["state"] != "terminated"]


async def test_a_group_scales_out_under_load_and_back_in_when_it_is_gone(platform: Platform) -> None:
    async with platform.client() as admin:
        cloud, group = await _group_on(
            admin, FAST, min_size=1, max_size=3, stabilisation_seconds=2, tags={"simcloud:load": "steady:90"}
        )
        policy = {"name": "cpu", "kind": "target_tracking", "metric": "cpu_utilization", "target": 50,
                  "warmup_seconds": 0}  # fmt: skip
        added = await admin.post(f"/v1/scaling-groups/{group}/policies", json=policy)
        assert added.status_code == 201, added.text

        most = 0

        async def at(count: int) -> list[dict[str, Any]] | None:
            nonlocal most
            running = [i for i in await _in_cloud(admin, cloud) if i["state"] == "running"]
            most = max(most, len(await _in_cloud(admin, cloud)))
            return running if len(running) == count else None

        # CPU at 90 % against a target of 50 %: 1 -> 2 -> 3, the max.
        running = await eventually(lambda: at(3), within=60, what="three members running")
        assert all(i["requested_by"] == f"scaler:{group}" for i in running), running
        assert all(i["tags"].get("clanavi:scaling-group") == group for i in running)
        shown = (await admin.get(f"/v1/scaling-groups/{group}")).json()
        assert shown["desired"] == 3, shown
        activities = (await admin.get(f"/v1/scaling-groups/{group}/activities")).json()["items"]
        said = [a["description"] for a in activities]
        assert any("scaled out" in d and "cpu_utilization" in d for d in said), said

        # The load goes: 10 % on every member, so one server is enough (its min).
        for instance in running:
            changed = await admin.put(f"/v1/instances/{instance['id']}/simulation/load", json={"profile": "steady:10"})
            assert changed.status_code == 200, changed.text
        await eventually(lambda: at(1), within=60, what="back to one member")
        await asyncio.sleep(3)
        assert len(await _in_cloud(admin, cloud)) == 1, "no flapping: it stays at one once the load is gone"
        assert most <= 3, f"the group passed its max: {most} servers"
        assert len(await _members(admin, group)) == 1


async def test_a_cloud_that_fails_every_launch_never_takes_a_group_past_max(platform: Platform) -> None:
    async with platform.client() as admin:
        cloud, group = await _group_on(admin, {**FAST, "launch_failure_rate": 1.0}, min_size=2, max_size=2)
        seen = 0
        deadline = asyncio.get_running_loop().time() + 12
        while asyncio.get_running_loop().time() < deadline:
            alive = await _in_cloud(admin, cloud)
            seen = max(seen, len(alive))
            assert len(alive) <= 2, f"the group passed its max: {[(i['id'], i['state']) for i in alive]}"
            await asyncio.sleep(0.2)
        failed = (await admin.get("/v1/instances", params={"cloud_id": cloud, "limit": 100})).json()["items"]
        assert failed and all(i["state"] in ("error", "terminated", "terminating") for i in failed), failed
        activities = (await admin.get(f"/v1/scaling-groups/{group}/activities")).json()["items"]
        assert any(a["kind"] in ("launch_failed", "backed_off") for a in activities), activities
        # Backing off: a few launches in 12 s, not one every reconcile pass.
        assert len(failed) <= 8, f"{len(failed)} launches in 12 s"


async def test_a_group_over_a_cluster_role_grows_and_shrinks_the_role(platform: Platform) -> None:
    async with platform.client() as admin:
        name = f"crole-{uuid.uuid4().hex[:6]}"
        cloud = (await admin.post("/v1/clouds", json={"name": name, "driver": "simcloud", "config": FAST})).json()["id"]
        machine = {"cloud_id": cloud, "image_id": "img-debian-12", "flavor_id": "sim.small"}
        template = await admin.post("/v1/templates", json={"name": name, "clouds": [machine]})
        assert template.status_code == 201, template.text
        role = {"name": "web", "template_id": template.json()["template_id"], "cloud_id": cloud, "count": 1}
        made = await admin.post("/v1/clusters", json={"name": name, "roles": [role]})
        assert made.status_code == 202, made.text
        base = f"/v1/clusters/{made.json()['id']}"

        async def web(count: int) -> dict[str, Any] | None:
            shown: dict[str, Any] = (await admin.get(base)).json()
            roles = {r["name"]: r for r in shown["roles"]}
            running = shown["state"] == "running" and roles["web"]["running"] == count
            return shown if running and roles["web"]["count"] == count else None

        await eventually(lambda: web(1), within=60, what="the cluster to run")
        body = {"name": name, "cluster_id": made.json()["id"], "cluster_role": "web", "min_size": 0, "max_size": 2,
                "desired": 1, "cooldown_seconds": 0}  # fmt: skip

        async def group_made() -> dict[str, Any] | None:
            answer = await admin.post("/v1/scaling-groups", json=body)
            # Until the scaler has heard of the cluster, its role is unknown there.
            assert answer.status_code in (201, 422), answer.text
            return answer.json() if answer.status_code == 201 else None

        group = (await eventually(group_made, what="the scaler to know the cluster role"))["id"]
        grown = await eventually(lambda: web(2), within=60, what="the group's member in the role")
        members = await _members(admin, group)
        joined = [m for m in grown["members"] if m["instance_id"] == members[0]["instance_id"]]
        assert [m["name"] for m in joined] == [f"{name}-web-2"], grown
        changed = await admin.patch(f"/v1/scaling-groups/{group}", json={"desired": 0})
        assert changed.status_code == 200, changed.text
        await eventually(lambda: web(1), within=60, what="the role to shrink back")
