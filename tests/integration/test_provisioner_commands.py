"""Commands over the bus on the whole provisioner app with real PostgreSQL, RabbitMQ and SimCloud: each command
carried out with the API's use cases and kept on what it made (`requested_by`); a command delivered twice, or two
commands naming the same instance, launch it once; what the API would refuse is `command.refused` with nothing made;
a replacement disposes of the old instance only once the new one runs; a quarantine takes an instance out of its
scaling group and stops it."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from kernel.bus import Bus
from kernel.commands import (
    SCALING_GROUP_TAG,
    CommandPayload,
    LaunchInstance,
    MoveAddress,
    QuarantineInstance,
    RebootInstance,
    ReplaceInstance,
    StopInstance,
    TerminateInstance,
)
from kernel.events import Envelope, new_event
from kernel.settings import KernelSettings
from tests.integration.provisioner_world import SIM, ok, provisioner, use_secret_key
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

PROJECT = "alpha"
OWNER = identity_headers(PROJECT)
GROUP = "grp-1"
BY = f"scaler:{GROUP}"


@pytest.fixture(autouse=True)
def _secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    use_secret_key(monkeypatch)


@pytest.fixture
async def bus(kernel_settings: KernelSettings) -> AsyncIterator[Bus]:
    sender = Bus(kernel_settings.amqp_url.get_secret_value(), prefix=kernel_settings.bus_prefix, service="sender")
    await sender.connect()
    yield sender
    await sender.close()


def command(payload: CommandPayload, project: str = PROJECT) -> Envelope:
    return new_event(payload, project_id=project, correlation_id=f"corr-{uuid.uuid4().hex[:8]}")


async def send(bus: Bus, *envelopes: Envelope) -> None:
    await bus.publish_many([(e.routing_key, str(e.id), e.model_dump_json().encode()) for e in envelopes])


async def rows(database_url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "provisioner"})
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def events(database_url: str, type_: str) -> list[dict[str, Any]]:
    found = await rows(database_url, "SELECT body FROM outbox ORDER BY seq")
    return [b for b in (json.loads(r["body"]) for r in found) if b["type"] == type_]


async def until_events(database_url: str, type_: str, done: Callable[[list[dict[str, Any]]], bool]) -> Any:
    deadline = time.monotonic() + 30
    while True:
        found = await events(database_url, type_)
        if done(found):
            return found
        assert time.monotonic() < deadline, f"no {type_} as expected: {found}"
        await _pause()


async def until(client: httpx.AsyncClient, path: str, headers: dict[str, str], done: Callable[[Any], bool]) -> Any:
    """The record at `path` once `done` says so (it may not exist yet: a command is carried out after it arrives)."""
    deadline = time.monotonic() + 30
    while True:
        answer = await client.get(path, headers=headers)
        got = ok(answer, 200, 404)
        if answer.status_code == 200 and done(got):
            return got
        assert time.monotonic() < deadline, f"{path} never got there: {got}"
        await _pause()


async def _pause() -> None:
    await asyncio.sleep(0.05)


async def template(client: httpx.AsyncClient) -> tuple[str, str]:
    cloud = ok(
        await client.post("/v1/clouds", headers=OWNER, json={"name": "s", "driver": "simcloud", "config": SIM}), 201
    )["id"]
    script = {
        "name": "hello",
        "body": "#!/bin/sh\necho hello {{ who }}\n",
        "inputs": [{"name": "who", "type": "text", "required": True}],
    }
    script_id = ok(await client.post("/v1/scripts", headers=OWNER, json=script), 201)["script_id"]
    body = {
        "name": "web",
        "clouds": [{"cloud_id": cloud, "image_id": "img-debian-12", "flavor_id": "sim.small"}],
        "boot_scripts": [{"script_id": script_id}],
    }
    return cloud, ok(await client.post("/v1/templates", headers=OWNER, json=body), 201)["template_id"]


def launch(template_id: str, cloud: str | None = None, **more: Any) -> LaunchInstance:
    return LaunchInstance(
        instance_id=str(uuid.uuid4()),
        requested_by=BY,
        reason="scale out 1 -> 2",
        template_id=template_id,
        inputs={"who": "group"},
        cloud_id=cloud,
        tags={SCALING_GROUP_TAG: GROUP, "team": "web"},
        **more,
    )


def running(record: Any) -> bool:
    return record["state"] == "running" and record["pending_action"] is None


async def test_a_launch_by_command_is_an_ordinary_instance_made_once_however_often_it_is_sent(
    kernel_settings: KernelSettings, database_url: str, bus: Bus
) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        cloud, template_id = await template(client)
        first = launch(template_id, cloud)
        sent = command(first)
        # The same envelope twice (a redelivery), and another command naming the same instance.
        other = command(first)
        await send(bus, sent, sent, other)
        made = await until(client, f"/v1/instances/{first.instance_id}", OWNER, running)
        assert made["requested_by"] == BY and made["template_id"] == template_id
        # Sent again once the instance runs: handled (in the inbox) as a no-op, not refused.
        again = command(first)
        await send(bus, again)
        deadline = time.monotonic() + 30
        while not await rows(database_url, "SELECT 1 FROM inbox WHERE event_id = $1", again.id):
            assert time.monotonic() < deadline
            await _pause()
        assert await events(database_url, "command.refused") == []
        assert made["tags"] == {SCALING_GROUP_TAG: GROUP, "team": "web"}
        assert made["inputs"]["who"]["value"] == "group"
        # Placed among the allowed clouds when none is named.
        placed = launch(template_id, None, allowed_clouds=[cloud])
        await send(bus, command(placed))
        await until(client, f"/v1/instances/{placed.instance_id}", OWNER, running)

        listed = ok(await client.get("/v1/instances", headers=OWNER))["items"]
        assert sorted(i["id"] for i in listed) == sorted([first.instance_id, placed.instance_id])
        stored = await rows(database_url, "SELECT state FROM commands ORDER BY created_at")
        assert [r["state"] for r in stored] == ["done", "done"]
    requested = await events(database_url, "instance.requested")
    assert [e["subject"] for e in requested] == [first.instance_id, placed.instance_id]
    assert requested[0]["payload"]["requested_by"] == BY
    # Correlated with the command that made it: the consumer handles deliveries side by side, so either of the two
    # commands naming the instance may be the one.
    assert requested[0]["correlation_id"] in {sent.correlation_id, other.correlation_id}
    # Nothing else in the cloud: one launch each.
    launched = await events(database_url, "instance.launched")
    assert len(launched) == 2


async def test_what_the_api_would_refuse_is_refused_with_nothing_made(
    kernel_settings: KernelSettings, database_url: str, bus: Bus
) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        cloud, template_id = await template(client)
        no_version = launch(template_id, cloud, template_version=7)
        not_uuid = launch(template_id, cloud).model_copy(update={"instance_id": "my-server"})
        no_input = launch(template_id, cloud).model_copy(update={"inputs": {}})
        elsewhere = launch(template_id, cloud)
        stop_unknown = StopInstance(instance_id=str(uuid.uuid4()), requested_by=BY)
        await send(
            bus,
            command(no_version),
            command(not_uuid),
            command(no_input),
            command(elsewhere, project="beta"),
            command(stop_unknown),
        )
        refused = await until_events(database_url, "command.refused", lambda found: len(found) == 5)
        by_subject = {e["payload"]["subject_id"]: e["payload"] for e in refused}
        assert by_subject[no_version.instance_id]["status"] == 422, by_subject
        assert by_subject[no_input.instance_id]["status"] == 422
        assert "body.inputs.who" in [p["location"] for p in by_subject[no_input.instance_id]["errors"]]
        assert by_subject[not_uuid.instance_id]["status"] == 422
        assert by_subject[not_uuid.instance_id]["errors"][0]["location"] == "payload.instance_id"
        # Another project's template is an unknown one there: nothing of it is told.
        assert by_subject[elsewhere.instance_id]["status"] == 422
        assert by_subject[elsewhere.instance_id]["errors"] == [
            {"location": "body.template_id", "message": "unknown template"}
        ]
        assert by_subject[stop_unknown.instance_id]["status"] == 404
        assert all(p["requested_by"] == BY for p in by_subject.values())
        assert ok(await client.get("/v1/instances", headers=OWNER))["items"] == []
        assert ok(await client.get("/v1/instances", headers=identity_headers("beta")))["items"] == []
    assert await events(database_url, "instance.requested") == []


async def test_actions_quarantine_and_replacement_by_command(
    kernel_settings: KernelSettings, database_url: str, bus: Bus
) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        cloud, template_id = await template(client)
        servers = [launch(template_id, cloud) for _ in range(3)]
        await send(bus, *(command(s) for s in servers))
        for s in servers:
            await until(client, f"/v1/instances/{s.instance_id}", OWNER, running)
        old, sick, spare = (s.instance_id for s in servers)

        # Reboot, stop, terminate.
        await send(bus, command(RebootInstance(instance_id=spare, requested_by=BY)))
        await until_events(database_url, "instance.rebooted", lambda found: len(found) == 1)
        await send(bus, command(StopInstance(instance_id=spare, requested_by=BY)))
        await until(client, f"/v1/instances/{spare}", OWNER, lambda i: i["state"] == "stopped")
        await send(bus, command(TerminateInstance(instance_id=spare, requested_by=BY)))
        await until(client, f"/v1/instances/{spare}", OWNER, lambda i: i["state"] == "terminated")

        # Quarantine: out of the group, stopped, kept.
        why = "failed 3 health checks"
        await send(bus, command(QuarantineInstance(instance_id=sick, requested_by="failover:pol-1", reason=why)))
        kept = await until(client, f"/v1/instances/{sick}", OWNER, lambda i: i["state"] == "stopped")
        assert kept["tags"] == {"team": "web", "clanavi:quarantined": why}
        [quarantined] = await until_events(database_url, "instance.quarantined", lambda found: len(found) == 1)
        assert quarantined["payload"]["scaling_group_id"] == GROUP
        assert quarantined["payload"]["requested_by"] == "failover:pol-1"

        # Move an address from the quarantined server to another.
        made = ok(await client.post("/v1/addresses", headers=OWNER, json={"cloud_id": cloud}), 201, 202)["id"]
        await until(client, f"/v1/addresses/{made}", OWNER, lambda a: a["state"] == "available")
        associate = {"instance_id": sick}
        ok(await client.post(f"/v1/addresses/{made}/actions/associate", headers=OWNER, json=associate), 200, 202)
        await until(client, f"/v1/addresses/{made}", OWNER, lambda a: a["state"] == "associated")
        await send(bus, command(MoveAddress(address_id=made, instance_id=old, requested_by="failover:pol-1")))
        await until(
            client,
            f"/v1/addresses/{made}",
            OWNER,
            lambda a: a["state"] == "associated" and a["instance_id"] == old,
        )

        # Replace: the copy runs first, then the old one goes.
        new_id = str(uuid.uuid4())
        replace = ReplaceInstance(instance_id=old, new_instance_id=new_id, requested_by="failover:pol-1")
        await send(bus, command(replace), command(replace))
        new = await until(client, f"/v1/instances/{new_id}", OWNER, running)
        assert new["template_id"] == template_id and new["cloud_id"] == cloud
        assert new["tags"] == {SCALING_GROUP_TAG: GROUP, "team": "web"} and new["requested_by"] == "failover:pol-1"
        assert new["inputs"]["who"]["value"] == "group"
        await until(client, f"/v1/instances/{old}", OWNER, lambda i: i["state"] == "terminated")
        states = await rows(database_url, "SELECT type, state FROM commands ORDER BY created_at")
        assert [r["state"] for r in states] == ["done"] * len(states)
    ended = await events(database_url, "instance.terminated")
    running_new = [e for e in await events(database_url, "instance.running") if e["subject"] == new_id]
    # The old one ended only after its replacement ran.
    old_end = next(e for e in ended if e["subject"] == old)
    assert running_new and running_new[0]["occurred_at"] < old_end["occurred_at"]


async def test_a_replacement_that_fails_leaves_the_old_instance(
    kernel_settings: KernelSettings, database_url: str, bus: Bus
) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        cloud, template_id = await template(client)
        first = launch(template_id, cloud)
        await send(bus, command(first))
        await until(client, f"/v1/instances/{first.instance_id}", OWNER, running)
        # Every launch fails in this account from now on.
        patch = {"config": {**SIM, "launch_failure_rate": 1.0}}
        ok(await client.patch(f"/v1/clouds/{cloud}", headers=OWNER, json=patch))
        new_id = str(uuid.uuid4())
        await send(
            bus, command(ReplaceInstance(instance_id=first.instance_id, new_instance_id=new_id, requested_by=BY))
        )
        await until(client, f"/v1/instances/{new_id}", OWNER, lambda i: i["state"] == "error")
        await until_events(database_url, "instance.failed", lambda found: [e["subject"] for e in found] == [new_id])
        deadline = time.monotonic() + 10
        while (await rows(database_url, "SELECT state FROM commands WHERE makes_instance = $1", uuid.UUID(new_id)))[0][
            "state"
        ] != "done":
            assert time.monotonic() < deadline
            await _pause()
        assert ok(await client.get(f"/v1/instances/{first.instance_id}", headers=OWNER))["state"] == "running"


async def test_a_launch_by_command_can_make_a_member_of_a_running_clusters_role(
    kernel_settings: KernelSettings, database_url: str, bus: Bus
) -> None:
    async with provisioner(kernel_settings) as (_app, client):
        cloud, template_id = await template(client)
        spec = {
            "name": "shop",
            "on_failure": "degrade",
            "roles": [
                {"name": "web", "template_id": template_id, "cloud_id": cloud, "count": 1, "inputs": {"who": "c"}}
            ],
        }
        made = ok(await client.post("/v1/clusters", headers=OWNER, json=spec), 202)
        base = f"/v1/clusters/{made['id']}"
        await until(client, base, OWNER, lambda c: c["state"] == "running")

        joined = launch(template_id, None, cluster_id=made["id"], cluster_role="web")
        unknown_role = launch(template_id, None, cluster_id=made["id"], cluster_role="db")
        no_cluster = launch(template_id, None, cluster_id=str(uuid.uuid4()), cluster_role="web")
        await send(bus, command(joined), command(unknown_role), command(no_cluster))
        member = await until(client, f"/v1/instances/{joined.instance_id}", OWNER, running)
        assert member["name"] == "shop-web-2"
        assert member["tags"] == {SCALING_GROUP_TAG: GROUP, "team": "web"}
        detail = ok(await client.get(base, headers=OWNER))
        web = next(r for r in detail["roles"] if r["name"] == "web")
        assert web["count"] == 2 and web["members"] == 2
        ours = [m for m in detail["members"] if m["instance_id"] == joined.instance_id]
        assert [m["name"] for m in ours] == ["shop-web-2"] and detail["state"] == "running"

        refused = await until_events(database_url, "command.refused", lambda found: len(found) == 2)
        by_subject = {e["payload"]["subject_id"]: e["payload"] for e in refused}
        assert by_subject[unknown_role.instance_id]["status"] == 404
        assert by_subject[no_cluster.instance_id]["status"] == 404

        # Scaled in by command: the member leaves its role, which counts one less; the cluster stays running.
        await send(bus, command(TerminateInstance(instance_id=joined.instance_id, requested_by=BY)))
        after = await until(
            client,
            base,
            OWNER,
            lambda c: next(r for r in c["roles"] if r["name"] == "web")["count"] == 1,
        )
        assert [m["retired"] for m in after["members"] if m["instance_id"] == joined.instance_id] == [True]
        assert after["state"] == "running"
        await until(client, f"/v1/instances/{joined.instance_id}", OWNER, lambda r: r["state"] == "terminated")
        assert ok(await client.get(base, headers=OWNER))["state"] == "running"
        # A cluster that is not running takes no member by command.
        ok(await client.delete(base, headers=OWNER), 202)
        late = launch(template_id, None, cluster_id=made["id"], cluster_role="web")
        await send(bus, command(late))
        refused = await until_events(database_url, "command.refused", lambda found: len(found) == 3)
        assert {e["payload"]["subject_id"]: e["payload"]["status"] for e in refused}[late.instance_id] == 409
