"""Every resource kind through the gateway on SimCloud: each lifecycle read back state by state, its events in the
audit, bad input refused with nothing half-done, and 501 for what a cloud's adapter does not declare."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devstack.processes import service_env
from tests.conftest import Servers
from tests.e2e.platform import INTERNAL_KEY, SECRET_KEY, Platform, audit_events, eventually, wait_for_state

pytestmark = pytest.mark.e2e

# Simulated time runs 30 times as fast (a metric sample every 2 s); transitions take 0.2 to 0.3 real seconds.
SIM_OPTIONS = {
    "speedup": 30,
    **{f"{t}_seconds": 9 for t in ("boot", "image", "volume", "snapshot")},
    **{f"{t}_seconds": 6 for t in ("stop", "start", "reboot", "terminate", "attach")},
}
# A second account whose adapter lacks several features; never connected (501 is decided from its class).
LAB = {"id": "lab", "name": "Lab", "driver": "libvirt", "config": {"uri": "test:///default"}}
LAUNCH = {"cloud_id": "sim", "image_id": "img-debian-12", "flavor_id": "sim.small", "zone": "sim-1a"}


@pytest.fixture(scope="module")
def platform(servers: Servers) -> Iterator[Platform]:
    name = f"e2e_{uuid.uuid4().hex[:10]}"
    servers.postgres.create_database(name)
    root = Path(tempfile.mkdtemp(prefix="clanavi-e2e-", dir=servers.root))
    timings = {"boot": "0.3", "stop": "0.2", "start": "0.2", "reboot": "0.2", "terminate": "0.2"}
    platform = Platform(root, servers.database_url(name), servers.rabbit.url, sim_timings=timings)
    extra = {
        "CLANAVI_PROVISIONER_SIM_OPTIONS": json.dumps(SIM_OPTIONS),
        "CLANAVI_PROVISIONER_CLOUDS": json.dumps([LAB]),
    }
    for process in platform.processes.values():
        process.env.update(extra)
    try:
        platform.start()
        yield platform
    finally:
        platform.stop()
        servers.postgres.drop_database(name)


def assert_problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = answer.json()
    assert body["status"] == status and body["code"] == code, body
    assert body["correlation_id"] == answer.headers["x-correlation-id"]
    return body


def ok(answer: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def wait_for(client: httpx.AsyncClient, path: str, state: str, within: float = 20.0) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = (await client.get(path)).json()
        return body if body.get("state") == state else None

    return await eventually(probe, within=within, what=f"{path} {state}")


async def trail(client: httpx.AsyncClient, resource_id: str, count: int) -> list[str]:
    """The types of the audit events about one resource, once there are at least `count`."""

    async def probe() -> list[dict[str, Any]] | None:
        events = await audit_events(client, resource_id=resource_id)
        return events if len(events) >= count else None

    events = await eventually(probe, what=f"{count} audit events of {resource_id}")
    return [e["type"] for e in events]


def public_key() -> str:
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + " me@host"


async def launch_running(client: httpx.AsyncClient, name: str, **extra: Any) -> dict[str, Any]:
    created = ok(await client.post("/v1/instances", json={**LAUNCH, "name": name, **extra}), 202)
    running: dict[str, Any] = await wait_for_state(client, created["id"], "running")
    return running


async def test_key_pairs_created_imported_deleted_and_the_private_key_shown_once(platform: Platform) -> None:
    async with platform.client() as client:
        created = ok(await client.post("/v1/key-pairs", json={"name": "deploy"}), 201)
        assert created["state"] == "available" and created["cloud_id"] == "sim"
        assert created["private_key"] and "PRIVATE KEY" in created["private_key"]
        assert created["fingerprint"] and created["provider_id"] == "deploy"
        private_key = created["private_key"]

        shown = ok(await client.get(f"/v1/key-pairs/{created['id']}"))
        assert "private_key" not in shown and shown["fingerprint"] == created["fingerprint"]

        imported = ok(
            await client.post("/v1/key-pairs/import", json={"name": "laptop", "public_key": public_key()}), 201
        )
        assert imported["state"] == "available" and imported["fingerprint"]

        taken = assert_problem(await client.post("/v1/key-pairs", json={"name": "deploy"}), 409, "conflict")
        assert "deploy" in taken["detail"]
        assert_problem(
            await client.post("/v1/key-pairs/import", json={"name": "bad", "public_key": "ssh-rsa not-base64!!"}),
            422,
            "validation_failed",
        )

        listed = ok(await client.get("/v1/key-pairs", params={"name": "laptop"}))["items"]
        assert [k["id"] for k in listed] == [imported["id"]]

        deleted = ok(await client.delete(f"/v1/key-pairs/{created['id']}"))
        assert deleted["state"] == "deleted"
        again = ok(await client.delete(f"/v1/key-pairs/{created['id']}"))
        assert again["state"] == "deleted"
        # The name is free again once deleted.
        ok(await client.post("/v1/key-pairs", json={"name": "deploy"}), 201)

        assert await trail(client, created["id"], 2) == ["key_pair.created", "key_pair.deleted"]
        assert await trail(client, imported["id"], 1) == ["key_pair.created"]
        events = await audit_events(client, type=["key_pair.created", "key_pair.deleted"])
        assert {e["payload"]["imported"] for e in events if e["type"] == "key_pair.created"} == {True, False}
        assert private_key not in json.dumps(events), "a private key reached the audit"
        assert_problem(await client.get(f"/v1/key-pairs/{uuid.uuid4()}"), 404, "not_found")


async def test_security_group_rules_authorized_and_revoked(platform: Platform) -> None:
    async with platform.client() as client:
        group = ok(await client.post("/v1/security-groups", json={"name": "web", "description": "web servers"}), 201)
        assert group["state"] == "available" and group["provider_id"]
        path = f"/v1/security-groups/{group['id']}"

        ssh = {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}
        after = ok(await client.post(f"{path}/rules", json=ssh))
        rule = next(r for r in after["rules"] if r["protocol"] == "tcp" and r["from_port"] == 22)
        assert rule["direction"] == "ingress" and rule["cidr"] == "0.0.0.0/0"
        # Granting it again changes nothing and emits nothing.
        same = ok(await client.post(f"{path}/rules", json=ssh))
        assert same["rules"] == after["rules"]

        bad = assert_problem(
            await client.post(f"{path}/rules", json={**ssh, "cidr": "300.1.2.3/8"}), 422, "validation_failed"
        )
        assert bad["errors"][0]["location"] == "body.cidr"
        assert_problem(
            await client.post(f"{path}/rules", json={"protocol": "tcp", "cidr": "10.0.0.0/8"}), 422, "validation_failed"
        )

        revoked = ok(await client.delete(f"{path}/rules/{rule['id']}"))
        assert rule["id"] not in {r["id"] for r in revoked["rules"]}
        assert_problem(await client.delete(f"{path}/rules/{rule['id']}"), 404, "not_found")

        assert ok(await client.delete(path))["state"] == "deleted"
        types = await trail(client, group["id"], 4)
        assert types == [
            "security_group.created",
            "security_group.rule_authorized",
            "security_group.rule_revoked",
            "security_group.deleted",
        ]


async def test_launch_with_key_pair_and_group_then_volume_snapshot_address_image(platform: Platform) -> None:
    async with platform.client() as client:
        key = ok(await client.post("/v1/key-pairs", json={"name": "ops"}), 201)
        group = ok(await client.post("/v1/security-groups", json={"name": "ops"}), 201)
        zones = ok(await client.get("/v1/clouds/sim/zones"))["items"]
        assert "sim-1a" in {z["id"] for z in zones}

        instance = await launch_running(
            client,
            "app-1",
            key_name="ops",
            security_group_ids=[group["id"]],
            user_data="#!/bin/sh\necho hello\n",
            tags={"team": "ops"},
        )
        assert instance["key_name"] == "ops" and instance["security_group_ids"] == [group["id"]]
        assert instance["zone"] == "sim-1a" and instance["tags"] == {"team": "ops"}
        requested = (await audit_events(client, resource_id=instance["id"], type="instance.requested"))[0]
        assert requested["payload"]["key_name"] == "ops" and requested["payload"]["user_data_bytes"] == 21
        assert "echo hello" not in json.dumps(requested)
        # The group is in use: it cannot go.
        assert_problem(await client.delete(f"/v1/security-groups/{group['id']}"), 409, "invalid_state")

        console = await client.get(f"/v1/instances/{instance['id']}/console")
        assert console.status_code == 200 and console.headers["content-type"].startswith("text/plain")

        async def cpu_samples() -> list[dict[str, Any]] | None:
            metrics = ok(await client.get(f"/v1/instances/{instance['id']}/metrics"))
            assert metrics["instance_id"] == instance["id"]
            cpu = [s for s in metrics["items"] if s["name"] == "cpu_utilization"]
            return cpu or None

        cpu = await eventually(cpu_samples, what="a CPU sample")
        assert all(0 <= s["value"] <= 100 and s["unit"] for s in cpu)

        # volume: created -> available -> attached -> detached -> deleted
        volume = ok(await client.post("/v1/volumes", json={"name": "data", "size_gb": 2, "zone": "sim-1a"}), 201)
        assert volume["state"] in ("creating", "available") and volume["size_gb"] == 2
        vpath = f"/v1/volumes/{volume['id']}"
        await wait_for(client, vpath, "available")
        attaching = ok(await client.post(f"{vpath}/actions/attach", json={"instance_id": instance["id"]}))
        assert attaching["state"] in ("attaching", "in-use")
        attached = await wait_for(client, vpath, "in-use")
        assert attached["instance_id"] == instance["id"] and attached["device"]
        on_instance = ok(await client.get("/v1/volumes", params={"instance_id": instance["id"]}))["items"]
        assert [v["id"] for v in on_instance] == [volume["id"]]
        assert_problem(await client.delete(vpath), 409, "invalid_state")

        # snapshot of the attached volume, and a volume made from it
        snapshot = ok(await client.post("/v1/snapshots", json={"volume_id": volume["id"], "name": "data-snap"}), 201)
        spath = f"/v1/snapshots/{snapshot['id']}"
        assert (await wait_for(client, spath, "available"))["volume_id"] == volume["id"]
        restored = ok(
            await client.post(
                "/v1/volumes", json={"name": "restored", "snapshot_id": snapshot["id"], "zone": "sim-1a"}
            ),
            201,
        )
        assert restored["snapshot_id"] == snapshot["id"] and restored["size_gb"] == 2
        await wait_for(client, f"/v1/volumes/{restored['id']}", "available")

        # address: allocated -> associated -> disassociated -> released
        address = ok(await client.post("/v1/addresses", json={"name": "front"}), 201)
        assert address["state"] == "available" and address["ip"]
        apath = f"/v1/addresses/{address['id']}"
        associated = ok(await client.post(f"{apath}/actions/associate", json={"instance_id": instance["id"]}))
        assert associated["state"] == "associated" and associated["instance_id"] == instance["id"]
        assert_problem(await client.delete(apath), 409, "invalid_state")
        assert ok(await client.post(f"{apath}/actions/disassociate"))["state"] == "available"
        assert ok(await client.delete(apath))["state"] == "released"
        assert ok(await client.delete(apath))["state"] == "released"

        # image from the instance: pending -> available, launchable by its provider id, then deregistered
        image = ok(await client.post("/v1/images", json={"instance_id": instance["id"], "name": "app-image"}), 201)
        ipath = f"/v1/images/{image['id']}"
        available = await wait_for(client, ipath, "available")
        catalogue = ok(await client.get("/v1/images", params={"cloud_id": "sim"}))["items"]
        assert available["provider_id"] in {i["id"] for i in catalogue}
        from_image = await launch_running(client, "from-image", image_id=available["provider_id"])
        custom = ok(await client.get("/v1/images/custom", params={"instance_id": instance["id"]}))["items"]
        assert [i["id"] for i in custom] == [image["id"]]
        assert ok(await client.delete(ipath))["state"] == "deregistered"

        detaching = ok(await client.post(f"{vpath}/actions/detach"))
        assert detaching["state"] in ("detaching", "available")
        assert (await wait_for(client, vpath, "available"))["instance_id"] is None
        assert ok(await client.delete(vpath))["state"] == "deleted"
        assert ok(await client.delete(f"/v1/volumes/{restored['id']}"))["state"] == "deleted"
        assert ok(await client.delete(spath))["state"] == "deleted"
        for instance_id in (instance["id"], from_image["id"]):
            ok(await client.delete(f"/v1/instances/{instance_id}"), 202)
            await wait_for_state(client, instance_id, "terminated")
        assert ok(await client.delete(f"/v1/security-groups/{group['id']}"))["state"] == "deleted"
        assert ok(await client.delete(f"/v1/key-pairs/{key['id']}"))["state"] == "deleted"

        expected = {
            volume["id"]: [
                "volume.created",
                "volume.available",
                "volume.attached",
                "volume.detached",
                "volume.deleted",
            ],
            restored["id"]: ["volume.created", "volume.available", "volume.deleted"],
            snapshot["id"]: ["snapshot.created", "snapshot.available", "snapshot.deleted"],
            address["id"]: ["address.allocated", "address.associated", "address.disassociated", "address.released"],
            image["id"]: ["image.created", "image.available", "image.deregistered"],
        }
        for resource_id, types in expected.items():
            assert await trail(client, resource_id, len(types)) == types
        # Each resource's events chain by causation and carry the correlation id of the request that caused them.
        events = await audit_events(client, resource_id=volume["id"])
        assert events[1]["causation_id"] == events[0]["id"]
        assert (await client.get("/v1/audit/verify")).json()["valid"] is True


async def test_bad_references_are_refused_and_nothing_is_made(platform: Platform) -> None:
    async with platform.client() as client:
        volumes_before = ok(await client.get("/v1/volumes", params={"limit": 500}))["items"]
        instances_before = ok(await client.get("/v1/instances", params={"limit": 500}))["items"]
        missing = str(uuid.uuid4())

        answer = await client.post("/v1/instances", json={**LAUNCH, "name": "x", "key_name": "nobody"})
        assert assert_problem(answer, 422, "validation_failed")["errors"][0]["location"] == "body.key_name"
        answer = await client.post("/v1/instances", json={**LAUNCH, "name": "x", "security_group_ids": [missing]})
        assert assert_problem(answer, 422, "validation_failed")["errors"][0]["location"] == "body.security_group_ids.0"
        answer = await client.post("/v1/instances", json={**LAUNCH, "name": "x", "zone": "moon-1"})
        assert assert_problem(answer, 422, "validation_failed")["errors"][0]["location"] == "body.zone"
        answer = await client.post("/v1/instances", json={**LAUNCH, "name": "x", "user_data": "#" * (16 * 1024 + 1)})
        assert_problem(answer, 422, "validation_failed")
        answer = await client.post("/v1/instances", json={**LAUNCH, "name": "x", "tags": {"clanavi:instance": "x"}})
        assert_problem(answer, 422, "validation_failed")

        answer = await client.post("/v1/volumes", json={"name": "v", "size_gb": 0})
        assert_problem(answer, 422, "validation_failed")
        answer = await client.post("/v1/volumes", json={"name": "v"})
        assert assert_problem(answer, 422, "validation_failed")["errors"][0]["location"] == "body.size_gb"
        answer = await client.post("/v1/volumes", json={"name": "v", "snapshot_id": missing})
        assert assert_problem(answer, 422, "validation_failed")["errors"][0]["location"] == "body.snapshot_id"
        answer = await client.post("/v1/volumes", json={"name": "v", "size_gb": 1, "cloud_id": "nowhere"})
        assert assert_problem(answer, 422, "validation_failed")["errors"][0]["location"] == "body.cloud_id"
        answer = await client.post("/v1/snapshots", json={"volume_id": missing, "name": "s"})
        assert assert_problem(answer, 422, "validation_failed")["errors"][0]["location"] == "body.volume_id"

        volume = ok(await client.post("/v1/volumes", json={"name": "lonely", "size_gb": 1, "zone": "sim-1b"}), 201)
        await wait_for(client, f"/v1/volumes/{volume['id']}", "available")
        answer = await client.post(f"/v1/volumes/{volume['id']}/actions/attach", json={"instance_id": missing})
        assert assert_problem(answer, 422, "validation_failed")["errors"][0]["location"] == "body.instance_id"
        assert_problem(await client.post(f"/v1/volumes/{volume['id']}/actions/detach"), 409, "invalid_state")
        # Another zone than the instance's: the cloud refuses, the volume is as it was, no event.
        instance = await launch_running(client, "zone-a")
        answer = await client.post(f"/v1/volumes/{volume['id']}/actions/attach", json={"instance_id": instance["id"]})
        assert answer.status_code in (409, 422), answer.text
        assert ok(await client.get(f"/v1/volumes/{volume['id']}"))["state"] == "available"
        assert_problem(await client.get("/v1/volumes", params={"state": "melted"}), 422, "validation_failed")
        assert_problem(await client.get("/v1/volumes", params={"cursor": "garbage"}), 422, "validation_failed")

        volumes_after = ok(await client.get("/v1/volumes", params={"limit": 500}))["items"]
        assert {v["id"] for v in volumes_after} == {v["id"] for v in volumes_before} | {volume["id"]}
        instances_after = ok(await client.get("/v1/instances", params={"limit": 500}))["items"]
        assert {i["id"] for i in instances_after} == {i["id"] for i in instances_before} | {instance["id"]}
        assert await trail(client, volume["id"], 2) == ["volume.created", "volume.available"]


async def test_pagination_and_filters_of_volumes(platform: Platform) -> None:
    async with platform.client() as client:
        ids = [
            ok(await client.post("/v1/volumes", json={"name": f"page-{n}", "size_gb": 1}), 201)["id"] for n in range(5)
        ]
        for volume_id in ids:
            await wait_for(client, f"/v1/volumes/{volume_id}", "available")
        walks: dict[str, list[str]] = {}
        for order in ("asc", "desc"):
            seen: list[str] = []
            cursor = None
            while True:
                params: dict[str, Any] = {"limit": 2, "order": order, **({"cursor": cursor} if cursor else {})}
                body = ok(await client.get("/v1/volumes", params=params))
                assert len(body["items"]) <= 2
                seen += [v["id"] for v in body["items"]]
                cursor = body["next_cursor"]
                if cursor is None:
                    break
            assert len(seen) == len(set(seen)) and set(ids) <= set(seen)
            walks[order] = seen
        # Newest first is the same walk backwards, page boundaries and all.
        assert walks["desc"] == walks["asc"][::-1]
        assert [i for i in walks["asc"] if i in ids] == ids
        named = ok(await client.get("/v1/volumes", params={"name": "page-3"}))["items"]
        assert [v["id"] for v in named] == [ids[3]]
        ok(await client.delete(f"/v1/volumes/{ids[0]}"))
        deleted = ok(await client.get("/v1/volumes", params={"state": "deleted", "cloud_id": "sim"}))["items"]
        assert ids[0] in {v["id"] for v in deleted} and all(v["state"] == "deleted" for v in deleted)
        assert ok(await client.get("/v1/volumes", params={"cloud_id": "nowhere"}))["items"] == []


# feature -> a request that needs that feature and nothing else in the cloud (`{cloud}` is the cloud's id)
_NEEDS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "zones": ("GET", "/v1/clouds/{cloud}/zones", None),
    "key_pairs": ("POST", "/v1/key-pairs", {"name": "k"}),
    "key_pair_import": ("POST", "/v1/key-pairs/import", {"name": "k", "public_key": public_key()}),
    "security_groups": ("POST", "/v1/security-groups", {"name": "g"}),
    "volumes": ("POST", "/v1/volumes", {"name": "v", "size_gb": 1}),
    "addresses": ("POST", "/v1/addresses", {}),
    "user_data": ("POST", "/v1/instances", {"name": "u", "image_id": "i", "flavor_id": "f", "user_data": "x"}),
}


async def test_an_operation_the_cloud_does_not_declare_is_501(platform: Platform) -> None:
    async with platform.client() as client:
        clouds = ok(await client.get("/v1/clouds"))["items"]
        assert {c["id"] for c in clouds} == {"sim", "lab"}
        lacking = [(c["id"], f) for c in clouds for f in _NEEDS if f not in c["features"]]
        assert lacking, f"every cloud declares every feature in {sorted(_NEEDS)}: nothing to refuse"
        for cloud_id, feature in lacking:
            method, path, body = _NEEDS[feature]
            payload = {**body, "cloud_id": cloud_id} if body is not None else None
            answer = await client.request(method, path.format(cloud=cloud_id), json=payload)
            problem = assert_problem(answer, 501, "unsupported_operation")
            assert cloud_id in problem["detail"], problem
        # Nothing was recorded for the refused requests.
        assert ok(await client.get("/v1/volumes", params={"cloud_id": "lab"}))["items"] == []
        assert ok(await client.get("/v1/key-pairs", params={"cloud_id": "lab"}))["items"] == []
        spec = (await client.get("/openapi.json")).json()
        assert {
            "/v1/key-pairs",
            "/v1/security-groups/{group_id}/rules/{rule_id}",
            "/v1/volumes/{volume_id}/actions/attach",
            "/v1/snapshots",
            "/v1/addresses/{address_id}/actions/associate",
            "/v1/images/custom",
            "/v1/instances/{instance_id}/console",
            "/v1/instances/{instance_id}/metrics",
            "/v1/clouds/{cloud_id}/zones",
        } <= set(spec["paths"])


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CLANAVI_PROVISIONER_CLOUDS", '[{"id": "x", "name": "X", "driver": "nope"}]', "unknown driver 'nope'"),
        ("CLANAVI_PROVISIONER_CLOUDS", '[{"id": "x",', "CLANAVI_PROVISIONER_CLOUDS is not valid JSON"),
        ("CLANAVI_PROVISIONER_SIM_OPTIONS", "{not json", "CLANAVI_PROVISIONER_SIM_OPTIONS is not valid JSON"),
    ],
)
def test_the_provisioner_refuses_to_start_with_bad_cloud_settings(variable: str, value: str, message: str) -> None:
    env = service_env(os.environ, provisioner_port="1")
    env[variable] = value
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "services", "serve", "provisioner"],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert message in done.stderr.decode(), done.stderr.decode()[-2000:]


def test_the_provisioner_refuses_to_start_with_an_unknown_simcloud_option(servers: Servers) -> None:
    name = f"e2e_{uuid.uuid4().hex[:10]}"
    servers.postgres.create_database(name)
    try:
        env = service_env(
            os.environ,
            database_url=servers.database_url(name),
            amqp_url=servers.rabbit.url,
            provisioner_port="1",
            provisioner_sim_options='{"boot_secondz": 1}',
            internal_key=INTERNAL_KEY,
            secret_key=SECRET_KEY,
        )
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "services", "serve", "provisioner"],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
    finally:
        servers.postgres.drop_database(name)
    assert done.returncode != 0
    assert "boot_secondz" in done.stderr.decode() + done.stdout.decode()
