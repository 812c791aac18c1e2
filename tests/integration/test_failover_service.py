"""The failover service on real PostgreSQL and RabbitMQ: the provisioner's facts published on the bus, the commands
it answers with caught there, its answers read over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from kernel.bus import Bus
from kernel.events import InstanceQuarantined, MetricPoint, MetricsSampled, new_event
from kernel.identity import Role
from kernel.settings import KernelSettings
from services.failover.app import create_app
from services.failover.settings import FailoverSettings
from tests.integration.failover_world import (
    PROJECT,
    Caught,
    associated,
    failed,
    listen,
    policy_body,
    publish,
    requested,
    running,
)
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

OWNER = identity_headers(PROJECT)


@pytest.fixture
async def app(kernel_settings: KernelSettings) -> AsyncIterator[FastAPI]:
    app = create_app(FailoverSettings(kernel=kernel_settings, watch_interval_seconds=0.05))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://failover", headers=OWNER
    ) as client:
        yield client


@pytest.fixture
async def bus(kernel_settings: KernelSettings, app: FastAPI) -> AsyncIterator[tuple[Bus, Caught]]:
    bus, caught = await listen(kernel_settings.amqp_url.get_secret_value(), kernel_settings.bus_prefix)
    yield bus, caught
    await bus.close()


async def health_of(client: httpx.AsyncClient, **params: Any) -> dict[str, dict[str, Any]]:
    answer = await client.get("/v1/instance-health", params={"limit": 500, **params})
    assert answer.status_code == 200, answer.text
    return {item["instance_id"]: item for item in answer.json()["items"]}


async def members_running(client: httpx.AsyncClient, bus: Bus, ids: list[str], zones: list[str]) -> None:
    """Launch `ids` (in `zones`) as the provisioner tells it, and wait until the service judged them healthy."""
    await publish(bus, *(requested(i, zone=z) for i, z in zip(ids, zones, strict=True)))
    await _until(client, lambda h: all(i in h for i in ids))
    await publish(bus, *(running(i) for i in ids))
    await _until(client, lambda h: all(h[i]["health"] == "healthy" for i in ids))


async def _until(client: httpx.AsyncClient, check: Any, within: float = 15.0, **params: Any) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        health = await health_of(client, **params)
        if check(health):
            return health
        assert time.monotonic() < deadline, health
        await asyncio.sleep(0.03)


async def test_a_failed_instance_is_replaced_once_with_the_id_recorded(
    client: httpx.AsyncClient, bus: tuple[Bus, Caught]
) -> None:
    publisher, caught = bus
    created = await client.post("/v1/health-policies", json=policy_body())
    assert created.status_code == 201, created.text
    policy = created.json()
    ids = ["i-1", "i-2", "i-3", "i-4"]
    await members_running(client, publisher, ids, ["zone-a", "zone-a", "zone-b", "zone-b"])

    sent = time.monotonic()
    (failure,) = await publish(publisher, failed("i-2"))
    (command,) = await caught.wait(lambda: caught.of("provisioner.replace_instance", instance_id="i-2"))
    latency = next(t for t, e in caught.messages if e.id == command.id) - sent
    assert latency < 2.0
    assert command.payload["requested_by"] == f"failover:{policy['id']}"
    assert command.payload["dispose"] == "terminate"
    assert command.causation_id == str(failure.id) and command.correlation_id == failure.correlation_id

    (remediated,) = await caught.wait(lambda: caught.of("failover.remediated", instance_id="i-2"))
    assert remediated.payload["new_instance_id"] == command.payload["new_instance_id"]
    assert remediated.payload["commands"] == [str(command.id)]
    assert remediated.payload["inputs"]["members"] == 4 and remediated.payload["inputs"]["zone"] == "zone-a"
    assert remediated.payload["reason"] == "the cloud reports the instance in error"
    changed = caught.of("health.changed", instance_id="i-2", health="unhealthy")
    assert changed and changed[0].payload["previous"] == "healthy"

    health = await health_of(client)
    assert health["i-2"]["health"] == "unhealthy" and health["i-2"]["remediation"] == "replace"
    assert health["i-2"]["replacement_id"] == command.payload["new_instance_id"]
    assert health["i-2"]["signals"]["cloud_state"] == "error"

    # The same failure delivered again (a redelivery) decides nothing new.
    await publisher.publish_many([(failure.routing_key, str(failure.id), failure.model_dump_json().encode())])
    await publish(publisher, failed("i-2"))  # and the cloud saying it again is no new decision either
    await asyncio.sleep(0.5)
    assert len(caught.distinct("provisioner.replace_instance")) == 1

    # The replacement keeps its predecessor's tags: it is watched as soon as it is requested.
    await publish(publisher, requested(command.payload["new_instance_id"], zone="zone-a"))
    await _until(client, lambda h: command.payload["new_instance_id"] in h)


async def test_an_older_event_delivered_late_does_not_undo_a_failure(
    client: httpx.AsyncClient, bus: tuple[Bus, Caught]
) -> None:
    """The provisioner's `instance.running` can reach the service after the `instance.failed` that followed it (two
    relays, a redelivery): the failure stands."""
    publisher, caught = bus
    assert (await client.post("/v1/health-policies", json=policy_body())).status_code == 201
    await publish(publisher, requested("i-late"))
    await _until(client, lambda h: "i-late" in h)
    earlier, later = (
        new_event(p, project_id=PROJECT, correlation_id="late") for p in (running("i-late"), failed("i-late"))
    )
    assert earlier.occurred_at < later.occurred_at
    await publisher.publish_many([(later.routing_key, str(later.id), later.model_dump_json().encode())])
    await _until(client, lambda h: h["i-late"]["health"] == "unhealthy")
    await publisher.publish_many([(earlier.routing_key, str(earlier.id), earlier.model_dump_json().encode())])
    # Nothing tells when an ignored event has been handled: watch for a second that it changes nothing.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        health = await health_of(client)
        assert health["i-late"]["health"] == "unhealthy" and health["i-late"]["signals"]["cloud_state"] == "error"
        await asyncio.sleep(0.05)
    assert len(caught.distinct("provisioner.replace_instance", instance_id="i-late")) == 1


async def test_a_zone_outage_trips_the_breaker_instead_of_replacing_every_server(
    client: httpx.AsyncClient, bus: tuple[Bus, Caught]
) -> None:
    publisher, caught = bus
    body = policy_body(breaker={"max_unhealthy_percent": 100, "zone_max_unhealthy_percent": 50, "window_seconds": 60})
    policy = (await client.post("/v1/health-policies", json=body)).json()
    ids = [f"i-{n}" for n in range(9)]
    zones = ["zone-a", "zone-b", "zone-c"] * 3
    await members_running(client, publisher, ids, zones)

    # zone-a goes down: its three servers fail together.
    down = [i for i, z in zip(ids, zones, strict=True) if z == "zone-a"]
    await publish(publisher, *(failed(i) for i in down))
    (tripped,) = await caught.wait(lambda: caught.of("failover.breaker_tripped"))
    assert tripped.payload["scope"] == "zone" and tripped.payload["zone"] == "zone-a"
    await caught.wait(lambda: len(caught.of("failover.held")) + len(caught.of("failover.remediated")) == 3)
    replaced = caught.distinct("provisioner.replace_instance")
    assert len(replaced) == 1, "one server of the zone replaced, the others held"
    await _until(client, lambda h: all(h[i]["health"] == "unhealthy" for i in down))
    state = (await client.get(f"/v1/health-policies/{policy['id']}")).json()
    assert state["breaker"]["open"] is True and "zone zone-a" in state["breaker"]["reason"]

    # Another zone's server failing meanwhile is held too: the breaker is open.
    await publish(publisher, failed("i-1"))
    await caught.wait(lambda: caught.of("failover.held", instance_id="i-1"))
    assert len(caught.distinct("provisioner.replace_instance")) == 1

    # The operator resets it: the window starts afresh and the servers left unhealthy are remediated, one by one
    # through the breaker again (so it trips again at the second of zone-a's).
    reset = await client.post(f"/v1/health-policies/{policy['id']}/breaker/reset")
    assert reset.status_code == 200, reset.text
    await caught.wait(lambda: caught.of("failover.breaker_closed", by="reset"))
    await caught.wait(lambda: len(caught.distinct("failover.breaker_tripped")) == 2)
    assert 2 <= len(caught.distinct("provisioner.replace_instance")) < 4


async def test_quarantine_keeps_the_server_and_lists_it(client: httpx.AsyncClient, bus: tuple[Bus, Caught]) -> None:
    publisher, caught = bus
    policy = (await client.post("/v1/health-policies", json=policy_body(action="quarantine"))).json()
    await members_running(client, publisher, ["q-1", "q-2"], ["zone-a", "zone-b"])
    await publish(publisher, failed("q-1"))
    (command,) = await caught.wait(lambda: caught.of("provisioner.quarantine_instance", instance_id="q-1"))
    assert command.payload["requested_by"] == f"failover:{policy['id']}"
    assert not caught.of("provisioner.replace_instance") and not caught.of("provisioner.terminate_instance")

    await publish(
        publisher,
        InstanceQuarantined(
            instance_id="q-1",
            cloud_id="sim",
            requested_by=command.payload["requested_by"],
            reason="kept",
            scaling_group_id="g1",
        ),
    )
    quarantined = await _until(client, lambda h: "q-1" in h, quarantined="true")
    assert list(quarantined) == ["q-1"] and quarantined["q-1"]["quarantined"] is True
    assert list(await health_of(client, quarantined="false")) == ["q-2"]


@contextlib.asynccontextmanager
async def http_server(port: int = 0) -> AsyncIterator[tuple[asyncio.Server, int]]:
    """A plain HTTP/1.1 server on 127.0.0.1 that answers every GET 200."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A TCP probe connects and closes without a request: its connection is closed here all the same.
        try:
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", port)
    try:
        yield server, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("kind", ["http", "tcp"])
async def test_a_probe_that_stops_answering_makes_the_server_unhealthy(
    client: httpx.AsyncClient, bus: tuple[Bus, Caught], kind: str
) -> None:
    publisher, caught = bus
    async with http_server() as (server, port):
        probe = {
            "kind": kind,
            "port": port,
            "path": "/health",
            "interval_seconds": 0.2,
            "timeout_seconds": 0.2,
            "healthy_threshold": 1,
            "unhealthy_threshold": 2,
        }
        body = policy_body(action="reboot", signals={"probe": probe})
        assert (await client.post("/v1/health-policies", json=body)).status_code == 201
        await publish(publisher, requested("w-1"))
        await _until(client, lambda h: "w-1" in h)
        await publish(publisher, associated("w-1", "127.0.0.1"))
        await asyncio.sleep(0.2)
        await publish(publisher, running("w-1"))
        await _until(client, lambda h: h["w-1"]["signals"]["probe_successes"] >= 2 and h["w-1"]["health"] == "healthy")
    # The server is gone: connections are refused.
    health = await _until(client, lambda h: h["w-1"]["health"] == "unhealthy")
    assert f"{kind} probe on port {port} failed" in health["w-1"]["reasons"][0]
    (reboot,) = await caught.wait(lambda: caught.of("provisioner.reboot_instance", instance_id="w-1"))
    assert "probe" in reboot.payload["reason"]

    # It answers again after the reboot: healthy again once the probe passes.
    async with http_server(port):
        await _until(client, lambda h: h["w-1"]["health"] == "healthy")


async def test_policies_are_validated_scoped_and_guarded(client: httpx.AsyncClient) -> None:
    bad = await client.post("/v1/health-policies", json=policy_body(grace_seconds=-1))
    assert bad.status_code == 422 and bad.json()["errors"][0]["location"] == "body.grace_seconds"
    bad = await client.post("/v1/health-policies", json=policy_body(target={"kind": "cluster_role", "cluster_id": "c"}))
    assert bad.status_code == 422 and "role" in str(bad.json()["errors"])
    probe = {"kind": "http", "port": 70000}
    bad = await client.post("/v1/health-policies", json=policy_body(signals={"probe": probe}))
    assert bad.status_code == 422 and bad.json()["errors"][0]["location"] == "body.signals.probe.port"

    bad = await client.post("/v1/health-policies", json=policy_body(address_id="addr-1"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["location"] == "body.address_id"
    probe = {"kind": "tcp", "port": 22, "interval_seconds": 1, "timeout_seconds": 2}
    bad = await client.post("/v1/health-policies", json=policy_body(signals={"probe": probe}))
    assert bad.status_code == 422 and bad.json()["errors"][0]["location"] == "body.signals.probe.timeout_seconds"

    created = (await client.post("/v1/health-policies", json=policy_body())).json()
    again = await client.post("/v1/health-policies", json=policy_body())
    assert again.status_code == 409
    other = await client.get(f"/v1/health-policies/{created['id']}", headers=identity_headers("p2"))
    assert other.status_code == 404
    listed = await client.get("/v1/health-policies", headers=identity_headers("p2"))
    assert listed.json()["items"] == []

    viewer = identity_headers(PROJECT, Role.VIEWER)
    assert (await client.get(f"/v1/health-policies/{created['id']}", headers=viewer)).status_code == 200
    changed = await client.put(
        f"/v1/health-policies/{created['id']}", json=policy_body(action="reboot"), headers=viewer
    )
    assert changed.status_code == 403
    changed = await client.put(f"/v1/health-policies/{created['id']}", json=policy_body(action="reboot"))
    assert changed.status_code == 200 and changed.json()["action"] == "reboot"
    assert (await client.delete(f"/v1/health-policies/{created['id']}")).status_code == 204
    assert (await client.get(f"/v1/health-policies/{created['id']}")).status_code == 404


async def _refresh_state(client: httpx.AsyncClient, refresh_id: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        body: dict[str, Any] = (await client.get(f"/v1/refreshes/{refresh_id}")).json()
        if body["state"] == state:
            return body
        assert time.monotonic() < deadline, json.dumps(body)
        await asyncio.sleep(0.03)


async def _launch_replacements(bus: Bus, commands: list[Any]) -> None:
    """What the provisioner does with ReplaceInstance: the new server is requested with its predecessor's tags and
    the version asked for, then runs."""
    for command in commands:
        await publish(bus, requested(command.payload["new_instance_id"], version=command.payload["template_version"]))
    await asyncio.sleep(0.3)
    await publish(bus, *(running(c.payload["new_instance_id"]) for c in commands))


async def test_a_refresh_rolls_through_its_checkpoint_to_the_new_version(
    client: httpx.AsyncClient, bus: tuple[Bus, Caught]
) -> None:
    publisher, caught = bus
    policy = (await client.post("/v1/health-policies", json=policy_body())).json()
    ids = ["r-1", "r-2", "r-3", "r-4"]
    await members_running(client, publisher, ids, ["zone-a", "zone-b"] * 2)

    body = {"policy_id": policy["id"], "template_version": 2, "min_healthy_percent": 50, "checkpoint_percent": 50}
    started = await client.post("/v1/refreshes", json=body)
    assert started.status_code == 202, started.text
    refresh = started.json()
    assert len(refresh["replacing"]) == 2  # half may be out of service at once
    again = await client.post("/v1/refreshes", json=body)
    assert again.status_code == 409

    first = await caught.wait(
        lambda: (
            caught.distinct("provisioner.replace_instance")[:2]
            if len(caught.distinct("provisioner.replace_instance")) >= 2
            else None
        )
    )
    assert {c.payload["template_version"] for c in first} == {2}
    await _launch_replacements(publisher, first)
    paused = await _refresh_state(client, refresh["id"], "paused")
    assert len(paused["replaced"]) == 2
    (checkpoint,) = await caught.wait(lambda: caught.of("instance_refresh.checkpoint_reached"))
    assert checkpoint.payload["scaling_group_id"] == "g1" and checkpoint.payload["replaced"] == 2

    assert (await client.post(f"/v1/refreshes/{refresh['id']}/continue")).status_code == 202
    rest = await caught.wait(
        lambda: (
            caught.distinct("provisioner.replace_instance")[2:]
            if len(caught.distinct("provisioner.replace_instance")) >= 4
            else None
        )
    )
    assert {c.payload["instance_id"] for c in first + rest} == set(ids)
    await _launch_replacements(publisher, rest)
    done = await _refresh_state(client, refresh["id"], "completed")
    assert len(done["replaced"]) == 4
    (completed,) = await caught.wait(lambda: caught.of("instance_refresh.completed"))
    assert completed.payload == {
        "refresh_id": refresh["id"],
        "policy_id": policy["id"],
        "scaling_group_id": "g1",
        "template_id": "tpl-1",
        "template_version": 2,
        "replaced": 4,
    }


async def test_a_refresh_whose_new_server_fails_rolls_back_to_the_old_version(
    client: httpx.AsyncClient, bus: tuple[Bus, Caught]
) -> None:
    publisher, caught = bus
    policy = (await client.post("/v1/health-policies", json=policy_body())).json()
    ids = ["b-1", "b-2", "b-3", "b-4"]
    await members_running(client, publisher, ids, ["zone-a", "zone-b"] * 2)
    body = {"policy_id": policy["id"], "template_version": 3, "min_healthy_percent": 50}
    refresh = (await client.post("/v1/refreshes", json=body)).json()
    first = await caught.wait(
        lambda: (
            caught.distinct("provisioner.replace_instance")
            if len(caught.distinct("provisioner.replace_instance")) >= 2
            else None
        )
    )
    good, bad = (c.payload["new_instance_id"] for c in first)
    await publish(publisher, *(requested(c.payload["new_instance_id"], version=3) for c in first))
    await _until(client, lambda h: good in h and bad in h)
    await publish(publisher, running(good))
    await _until(client, lambda h: h[good]["health"] == "healthy")
    await publish(publisher, failed(bad))

    rolled = await _refresh_state(client, refresh["id"], "rolled_back")
    assert bad in rolled["reason"]
    (event,) = await caught.wait(lambda: caught.of("instance_refresh.rolled_back"))
    assert event.payload["template_version"] == 1 and event.payload["scaling_group_id"] == "g1"
    # The one that runs goes back to version 1; the one that failed is terminated (its predecessor was kept); the
    # failed server is the refresh's to answer, not a replacement of its own.
    back = await caught.wait(lambda: caught.of("provisioner.replace_instance", instance_id=good))
    assert back[0].payload["template_version"] == 1
    await caught.wait(lambda: caught.of("provisioner.terminate_instance", instance_id=bad))
    assert not caught.of("provisioner.replace_instance", instance_id=bad)
    assert not caught.of("failover.remediated", instance_id=bad)


async def test_promoting_a_standby_moves_the_public_address_to_it(
    client: httpx.AsyncClient, bus: tuple[Bus, Caught]
) -> None:
    publisher, caught = bus
    body = policy_body(action="promote_standby", address_id="addr-9")
    policy = (await client.post("/v1/health-policies", json=body)).json()
    await members_running(client, publisher, ["s-1"], ["zone-a"])
    await members_running(client, publisher, ["s-2", "s-3"], ["zone-a", "zone-b"])
    await publish(publisher, associated("s-1", "203.0.113.9", "addr-9"))
    await _until(client, lambda h: h["s-1"]["signals"]["address"] == "203.0.113.9")

    await publish(publisher, failed("s-1"))
    (move,) = await caught.wait(lambda: caught.of("provisioner.move_address"))
    assert move.payload["address_id"] == "addr-9" and move.payload["instance_id"] in {"s-2", "s-3"}
    assert move.payload["requested_by"] == f"failover:{policy['id']}"
    (replacement,) = await caught.wait(lambda: caught.of("provisioner.replace_instance", instance_id="s-1"))
    (remediated,) = await caught.wait(lambda: caught.of("failover.remediated", instance_id="s-1"))
    assert remediated.payload["commands"] == [str(move.id), str(replacement.id)]
    assert remediated.payload["address_id"] == "addr-9"


async def test_metrics_gone_quiet_make_a_server_unhealthy_and_a_sample_brings_it_back(
    client: httpx.AsyncClient, bus: tuple[Bus, Caught]
) -> None:
    publisher, caught = bus
    body = policy_body(action="reboot", signals={"metrics_quiet_seconds": 5})
    assert (await client.post("/v1/health-policies", json=body)).status_code == 201
    await members_running(client, publisher, ["m-1", "m-2"], ["zone-a", "zone-b"])

    def sample(instance_id: str) -> MetricsSampled:
        point = MetricPoint(name="cpu_utilization", value=12.5, unit="percent", at=datetime.now(UTC),
                            instance_id=instance_id)  # fmt: skip
        return MetricsSampled(source="cloud", samples=[point])

    # m-2 keeps reporting; m-1 says nothing after its boot.
    for _ in range(7):
        await publish(publisher, sample("m-2"))
        await asyncio.sleep(1)
    health = await _until(client, lambda h: h["m-1"]["health"] == "unhealthy")
    assert health["m-1"]["reasons"] == ["no metric sample for more than 5 s"] and health["m-2"]["health"] == "healthy"
    await caught.wait(lambda: caught.of("provisioner.reboot_instance", instance_id="m-1"))

    await publish(publisher, sample("m-1"))
    await _until(client, lambda h: h["m-1"]["health"] == "healthy" and h["m-1"]["remediation"] is None)
