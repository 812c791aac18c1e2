"""The scaler app on real PostgreSQL and RabbitMQ: events published on the bus, commands read off it and answered by
the stand-in of the provisioner's commands consumer (tests/integration/scaler_standin.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI

from kernel.bus import Bus
from kernel.commands import SCALING_GROUP_TAG, LaunchInstance
from kernel.events import (
    ClusterCreated,
    ClusterTerminated,
    InstanceFailed,
    InstanceRunning,
    MetricPoint,
    MetricsSampled,
    RoleCount,
    TemplateCreated,
    new_event,
)
from kernel.identity import Role
from kernel.settings import KernelSettings
from services.scaler.app import create_app
from services.scaler.settings import ScalerSettings
from tests.integration.scaler_standin import BINDINGS, Cloud, eventually
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

P1 = identity_headers("p1")
T = TypeVar("T")


@pytest.fixture
def settings(kernel_settings: KernelSettings) -> ScalerSettings:
    return ScalerSettings(
        kernel=kernel_settings, reconcile_seconds=0.2, backoff_base_seconds=0.3, backoff_max_seconds=1.0
    )


@pytest.fixture
async def app(settings: ScalerSettings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://scaler") as client:
        yield client


@pytest.fixture
async def cloud(settings: ScalerSettings, app: FastAPI) -> AsyncIterator[Cloud]:
    kernel = settings.kernel
    bus = Bus(kernel.amqp_url.get_secret_value(), prefix=kernel.bus_prefix, service="provisioner-standin")
    await bus.connect()
    cloud = Cloud(bus)
    await bus.subscribe(bindings=BINDINGS, callback=cloud, max_deliveries=5, prefetch=50)
    await cloud.publish(TemplateCreated(template_id="tpl", name="web"))
    yield cloud
    await bus.close()


async def make_group(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    fields = {"name": "web", "template_id": "tpl", "template_version": 1, "min_size": 1, "max_size": 6}

    async def known() -> dict[str, Any] | None:
        answer = await client.post("/v1/scaling-groups", json={**fields, **body}, headers=P1)
        if answer.status_code == 422 and "template" in answer.text:
            return None  # the template's event is still on its way
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        return created

    return await eventually(known, what="the template to be known")


async def members(client: httpx.AsyncClient, group_id: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/v1/scaling-groups/{group_id}/instances", headers=P1)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["items"]
    return found


async def running(client: httpx.AsyncClient, group_id: str, count: int) -> list[dict[str, Any]] | None:
    found = [m for m in await members(client, group_id) if m["state"] == "running" and m["hook"] is None]
    return found if len(found) == count else None


def cpu(instance_ids: list[str], value: float) -> MetricsSampled:
    now = datetime.now(UTC)
    return MetricsSampled(
        source="cloud",
        samples=[
            MetricPoint(name="cpu_utilization", value=value, unit="%", at=now, instance_id=i) for i in instance_ids
        ],
    )


async def test_bad_input_is_422_naming_the_field(client: httpx.AsyncClient, cloud: Cloud) -> None:
    group = await make_group(client)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "x", "min_size": 5, "max_size": 2}, "body.min_size"),
        ({"name": "x", "min_size": 1, "max_size": 3, "desired": 4}, "body.desired"),
        ({"name": "x", "template_version": 9}, "body.template_version"),
        ({"name": "x", "lifecycle_hooks": [{"name": "h", "transition": "launching"}]}, "timeout_seconds"),
    ]
    for body, location in cases:
        answer = await client.post(
            "/v1/scaling-groups",
            json={"template_id": "tpl", "template_version": 1, "min_size": 0, "max_size": 2, **body},
            headers=P1,
        )
        assert answer.status_code == 422, answer.text
        assert location in str(answer.json()["errors"]), answer.json()
    policies = f"/v1/scaling-groups/{group['id']}/policies"
    for body, location in [
        ({"name": "p", "kind": "target_tracking", "metric": "nobody_publishes_this", "target": 5}, "body.metric"),
        ({"name": "p", "kind": "scheduled", "cron": "0 0 30 2 *", "desired": 2}, "body.cron"),
        (
            {"name": "p", "kind": "scheduled", "cron": "0 8 * * *", "time_zone": "Mars/Olympus", "desired": 2},
            "body.time_zone",
        ),
    ]:
        answer = await client.post(policies, json=body, headers=P1)
        assert answer.status_code == 422, answer.text
        assert location in str(answer.json()["errors"]), answer.json()
    # A viewer reads but does not change; another project does not see the group at all.
    viewer = identity_headers("p1", Role.VIEWER)
    assert (await client.get(f"/v1/scaling-groups/{group['id']}", headers=viewer)).status_code == 200
    answer = await client.patch(f"/v1/scaling-groups/{group['id']}", json={"desired": 2}, headers=viewer)
    assert answer.status_code == 403
    assert (await client.get(f"/v1/scaling-groups/{group['id']}", headers=identity_headers("p2"))).status_code == 404
    listed = await client.get("/v1/scaling-groups", headers=identity_headers("p2"))
    assert listed.json()["items"] == []


async def test_a_ramp_scales_out_and_back_in_without_flapping(client: httpx.AsyncClient, cloud: Cloud) -> None:
    group = await make_group(client, stabilisation_seconds=2)
    gid = group["id"]
    policy = {"name": "cpu", "kind": "target_tracking", "metric": "cpu_utilization", "target": 60, "warmup_seconds": 0}
    answer = await client.post(f"/v1/scaling-groups/{gid}/policies", json=policy, headers=P1)
    assert answer.status_code == 201, answer.text
    first = await eventually(lambda: running(client, gid, 1), what="the first member running")
    ids = [m["instance_id"] for m in first]
    # 1 x 180 / 60: 3
    await cloud.publish(cpu(ids, 180))
    three = await eventually(lambda: running(client, gid, 3), what="three members")
    ids = [m["instance_id"] for m in three]
    # on target for a while: nothing moves
    for _ in range(5):
        await cloud.publish(cpu(ids, 62))
        await asyncio.sleep(0.1)
    assert len(cloud.launched()) == 3 and cloud.terminated() == []
    # the load falls: no scale-in before the window (2 s) has passed with lower recommendations
    await cloud.publish(cpu(ids, 20))
    await asyncio.sleep(0.5)
    assert cloud.terminated() == []

    async def scaled_in() -> bool:
        await cloud.publish(cpu(ids, 20))
        await asyncio.sleep(0.2)
        return len(cloud.terminated()) == 2

    await eventually(scaled_in, what="the scale-in")
    assert len(cloud.launched()) == 3  # no flapping: nothing launched again
    activities = (await client.get(f"/v1/scaling-groups/{gid}/activities", headers=P1)).json()["items"]
    reasons = [a["description"] for a in activities if a["kind"] == "decided"]
    assert "scaled out 1 -> 3: cpu_utilization 180 % > target 60 % for 1 sample" in reasons
    assert any(r.startswith("scaled in 3 -> 1: cpu_utilization 20 % < target 60 %") for r in reasons), reasons
    decided = [e for e in cloud.scaling if e.type == "scaling.decided"]
    assert decided[0].payload["inputs"]["policies"][answer.json()["id"]]["value"] == 180
    history = (await client.get(f"/v1/scaling-groups/{gid}/history", headers=P1)).json()["points"]
    assert {p["desired"] for p in history} >= {1, 3} and history[0]["metric"] == "cpu_utilization"


async def test_a_cloud_that_fails_every_launch_never_passes_max(client: httpx.AsyncClient, cloud: Cloud) -> None:
    cloud.fail = True
    group = await make_group(client, min_size=3, max_size=3)

    async def backed_off_three_times() -> bool:
        return sum(1 for e in cloud.scaling if e.type == "scaling.backed_off") >= 6

    await eventually(backed_off_three_times, within=20, what="several backoffs")
    assert cloud.most_alive <= 3
    failed = [e for e in cloud.scaling if e.type == "scaling.launch_failed"]
    assert failed and all(e.payload["group_id"] == group["id"] for e in failed)
    # Each failure in a row backs off until later than the one before (events may arrive out of that order).
    backoffs = sorted(
        (e.payload["failures"], e.payload["until"]) for e in cloud.scaling if e.type == "scaling.backed_off"
    )
    assert [f for f, _ in backoffs] == list(range(1, len(backoffs) + 1))
    assert [u for _, u in backoffs] == sorted(u for _, u in backoffs)
    answer = (await client.get(f"/v1/scaling-groups/{group['id']}", headers=P1)).json()
    assert answer["failures"] >= 3 and answer["backoff_until"] is not None
    # Every launch command named its group, and every instance it made was terminated or is among the three.
    assert all(
        e.payload["tags"][SCALING_GROUP_TAG] == group["id"] for e in cloud.commands if e.type == LaunchInstance.TYPE
    )
    assert len(await members(client, group["id"])) <= 3


async def test_a_protected_member_is_never_chosen_for_scale_in(client: httpx.AsyncClient, cloud: Cloud) -> None:
    group = await make_group(client, min_size=0, desired=3)
    gid = group["id"]
    three = await eventually(lambda: running(client, gid, 3), what="three members")
    kept = three[0]["instance_id"]
    answer = await client.put(
        f"/v1/scaling-groups/{gid}/instances/{kept}/protection", json={"protected": True}, headers=P1
    )
    assert answer.status_code == 200 and answer.json()["protected"] is True
    answer = await client.patch(f"/v1/scaling-groups/{gid}", json={"desired": 0}, headers=P1)
    assert answer.status_code == 200, answer.text
    await eventually(lambda: asyncio.sleep(0, result=len(cloud.terminated()) == 2), what="two terminated")

    async def only_kept() -> bool:
        # Terminated members leave once their `instance.terminated` is handled, after the commands are seen.
        return [m["instance_id"] for m in await members(client, gid)] == [kept]

    await eventually(only_kept, what="the unprotected members gone")
    assert kept not in cloud.terminated()
    answer = await client.delete(f"/v1/scaling-groups/{gid}", headers=P1)
    assert answer.status_code == 409  # the protected member is still in it


async def test_a_hook_that_times_out_follows_its_default(client: httpx.AsyncClient, cloud: Cloud) -> None:
    hooks = [
        {"name": "warm", "transition": "launching", "timeout_seconds": 1, "default_result": "CONTINUE"},
        {"name": "drain", "transition": "terminating", "timeout_seconds": 60, "default_result": "CONTINUE"},
    ]
    group = await make_group(client, min_size=0, desired=2, lifecycle_hooks=hooks)
    gid = group["id"]

    async def waiting(hook: str, count: int) -> list[dict[str, Any]] | None:
        found = [m for m in await members(client, gid) if m["hook"] == hook]
        return found if len(found) == count else None

    async def both_waited() -> bool:
        warm = [e for e in cloud.scaling if e.type == "scaling.hook_waiting" and e.payload["hook"] == "warm"]
        return len(warm) == 2

    await eventually(both_waited, what="members waiting in the launching hook")
    # Nobody answers: after its timeout each enters service (CONTINUE).
    await eventually(lambda: running(client, gid, 2), what="the launching hook timed out")

    async def both_completed() -> list[Any] | None:
        # The events leave through the outbox, so they may reach the bus after the members read as running.
        done = [e for e in cloud.scaling if e.type == "scaling.hook_completed"]
        return done if len(done) == 2 else None

    completed = await eventually(both_completed, what="both hooks reported completed")
    assert {(e.payload["result"], e.payload["timed_out"]) for e in completed} == {("CONTINUE", True)}
    # A scale-in waits in the terminating hook until it is answered.
    assert (await client.patch(f"/v1/scaling-groups/{gid}", json={"desired": 1}, headers=P1)).status_code == 200
    [draining] = await eventually(lambda: waiting("drain", 1), what="a member draining")
    assert cloud.terminated() == []
    hook_url = f"/v1/scaling-groups/{gid}/hooks/drain"
    assert (
        await client.post(f"{hook_url}/heartbeat", json={"instance_id": draining["instance_id"]}, headers=P1)
    ).status_code == 204
    answer = await client.post(
        f"{hook_url}/complete", json={"instance_id": draining["instance_id"], "result": "CONTINUE"}, headers=P1
    )
    assert answer.status_code == 204, answer.text
    await eventually(lambda: asyncio.sleep(0, result=cloud.terminated() == [draining["instance_id"]]), what="drained")


async def test_an_older_event_delivered_late_does_not_override_a_newer_one(
    client: httpx.AsyncClient, cloud: Cloud
) -> None:
    # A member waiting in its launching hook is not cleared when it fails, so a late `instance.running` could revive it.
    hooks = [{"name": "warm", "transition": "launching", "timeout_seconds": 600, "default_result": "CONTINUE"}]
    group = await make_group(client, min_size=0, desired=1, lifecycle_hooks=hooks)
    gid = group["id"]

    async def waiting() -> dict[str, Any] | None:
        found = [m for m in await members(client, gid) if m["hook"] == "warm"]
        return found[0] if found else None

    iid = (await eventually(waiting, what="the member waiting in its hook"))["instance_id"]
    failed_at = datetime.now(UTC)
    failed = InstanceFailed(instance_id=iid, cloud_id="sim", provider_id=iid, reason="the host died")
    running_before = InstanceRunning(
        instance_id=iid, cloud_id="sim", provider_id=iid, flavor_id="small", previous_state="pending"
    )
    first = new_event(failed, project_id="p1", correlation_id="c", occurred_at=failed_at)
    late = new_event(running_before, project_id="p1", correlation_id="c", occurred_at=failed_at - timedelta(seconds=5))

    async def in_error() -> bool:
        return any(m["instance_id"] == iid and m["state"] == "error" for m in await members(client, gid))

    await cloud.bus.publish_many([(first.routing_key, str(first.id), first.model_dump_json().encode())])
    await eventually(in_error, what="the member in error")
    await cloud.bus.publish_many([(late.routing_key, str(late.id), late.model_dump_json().encode())])
    # Give the late event time to be handled: it must leave the member in error.
    await asyncio.sleep(1.0)
    [member] = [m for m in await members(client, gid) if m["instance_id"] == iid]
    assert member["state"] == "error"


async def test_a_redelivered_sample_batch_launches_nothing_twice(client: httpx.AsyncClient, cloud: Cloud) -> None:
    group = await make_group(client)
    gid = group["id"]
    policy = {"name": "cpu", "kind": "target_tracking", "metric": "cpu_utilization", "target": 50, "warmup_seconds": 0}
    assert (await client.post(f"/v1/scaling-groups/{gid}/policies", json=policy, headers=P1)).status_code == 201
    [only] = await eventually(lambda: running(client, gid, 1), what="the first member running")
    batch = new_event(cpu([only["instance_id"]], 100), project_id="p1", correlation_id=str(uuid.uuid4()))
    body = batch.model_dump_json().encode()
    await cloud.bus.publish_many([(batch.routing_key, str(batch.id), body)] * 3)
    await eventually(lambda: running(client, gid, 2), what="one scale-out")
    await asyncio.sleep(0.5)
    assert len(cloud.launched()) == 2


async def test_a_group_over_a_cluster_role_launches_members_of_that_role(
    client: httpx.AsyncClient, cloud: Cloud
) -> None:
    roles = [
        RoleCount(role="web", desired=1, members=1, running=1, template_id="tpl-web", template_version=4),
        RoleCount(role="db", desired=1, members=1, running=1, template_id="tpl-db", template_version=2),
    ]
    await cloud.publish(ClusterCreated(cluster_id="c-1", name="shop", on_failure="degrade", roles=roles))
    body = {"name": "shop-web", "cluster_id": "c-1", "cluster_role": "web", "min_size": 1, "max_size": 3}

    async def known() -> dict[str, Any] | None:
        answer = await client.post("/v1/scaling-groups", json=body, headers=P1)
        if answer.status_code == 422 and "body.cluster_role" in answer.text:
            return None  # the cluster's event is still on its way
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        return created

    group = await eventually(known, what="the cluster role to be known")
    assert (group["cluster_id"], group["cluster_role"]) == ("c-1", "web")
    assert (group["template_id"], group["template_version"]) == ("tpl-web", 4)
    wrongs: list[tuple[dict[str, Any], str]] = [
        ({"cluster_role": "cache"}, "body.cluster_role"),
        ({"template_id": "tpl-web", "template_version": 4}, "body.cluster_id"),
        ({"cluster_id": None, "cluster_role": None}, "body.template_id"),
    ]
    for wrong, location in wrongs:
        answer = await client.post("/v1/scaling-groups", json={**body, "name": "x", **wrong}, headers=P1)
        assert answer.status_code == 422, answer.text
        assert location in str(answer.json()["errors"]), answer.json()
    other = identity_headers("p2")
    answer = await client.post("/v1/scaling-groups", json=body, headers=other)
    assert answer.status_code == 422 and "body.cluster_role" in answer.text

    launched = await eventually(lambda: running(client, group["id"], 1), what="the group's first member")
    sent = next(e for e in cloud.commands if e.payload["instance_id"] == launched[0]["instance_id"])
    command = LaunchInstance.model_validate(sent.payload)
    assert (command.cluster_id, command.cluster_role) == ("c-1", "web")
    assert (command.template_id, command.template_version) == ("tpl-web", 4)
    answer = await client.patch(f"/v1/scaling-groups/{group['id']}", json={"template_version": 5}, headers=P1)
    assert answer.status_code == 422 and "body.template_version" in answer.text
    # The cluster ended: no new group over its roles.
    await cloud.publish(ClusterTerminated(cluster_id="c-1", name="shop", roles=roles))

    async def forgotten() -> bool | None:
        answer = await client.post("/v1/scaling-groups", json={**body, "name": "late"}, headers=P1)
        return True if answer.status_code == 422 else None

    assert await eventually(forgotten, what="the ended cluster to be forgotten")
