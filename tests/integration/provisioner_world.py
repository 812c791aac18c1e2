"""A project's world on the whole provisioner app, for the tests of what a caller may see and do
(test_provisioner_scoping.py, test_provisioner_permissions.py): one record of every kind the provisioner keeps, in
the states that make its routes answer most differently (a security group in use, a volume attached, an address
associated, a cloud account holding live resources), each made through the provisioner's own routes with a
gateway-signed identity, as the gateway would send them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from kernel.settings import KernelSettings
from services.provisioner.app import create_app
from services.provisioner.settings import ProvisionerSettings
from tests.signing import identity_headers

SECRET_KEY = "world-secret-key-0123456789abcdef012345"
# Fast, so that a world is ready in a few seconds.
SIM = {"speedup": 1000}
# The role of every world's cluster.
CLUSTER_ROLE = "web"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl world@example.org"


def use_secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the provisioner its secret key through the environment, as in production: call it from an autouse
    fixture, which runs before `kernel_settings` reads the environment."""
    monkeypatch.setenv("CLANAVI_SECRET_KEY", SECRET_KEY)


@asynccontextmanager
async def provisioner(kernel_settings: KernelSettings, **more: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The whole app with its worker, no scheduled syncs nor metric sampling (a world changes only when a test
    changes it); `more` settings."""
    settings = ProvisionerSettings(
        kernel=kernel_settings,
        follow_interval=0.05,
        sync_interval_seconds=0,
        **{"metrics_interval": 0, "command_poll_seconds": 0.2, **more},
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://provisioner", timeout=30) as client:
            yield app, client


def routes(app: FastAPI) -> list[APIRoute]:
    """The app's `/v1` routes, as each declared itself."""
    found = [c.original_route for c in iter_route_contexts(app.routes)]
    return [r for r in found if isinstance(r, APIRoute) and r.path.startswith("/v1/")]


def ok(answer: httpx.Response, *statuses: int) -> Any:
    assert answer.status_code in (statuses or (200,)), answer.text
    return answer.json()


async def until(client: httpx.AsyncClient, path: str, headers: dict[str, str], done: Callable[[Any], bool]) -> Any:
    deadline = time.monotonic() + 30
    while True:
        got = ok(await client.get(path, headers=headers))
        if done(got):
            return got
        assert time.monotonic() < deadline, f"{path} never got there: {got}"
        await asyncio.sleep(0.05)


def in_state(*states: str) -> Callable[[Any], bool]:
    def check(record: Any) -> bool:
        return record.get("state") in states and record.get("pending_action") is None

    return check


@dataclass(frozen=True)
class World:
    """Ids of one project's records (and the name of its key pair)."""

    cloud: str
    key_pair: str
    key_name: str
    security_group: str  # used by `instance`
    rule: str  # of `security_group`
    instance: str  # running
    volume: str  # attached to `instance`
    spare_volume: str  # available
    snapshot: str  # of `volume`
    address: str  # associated with `instance`
    spare_address: str  # available
    image: str  # made from `instance`
    sync: str  # a finished sync run of `cloud`
    script: str  # a boot script `template` runs
    template: str  # on `cloud`, running `script`
    operational_script: str  # run by `run`
    run: str  # of `operational_script` on `instance`, ended
    batch: str  # runs of `operational_script` on `instance` and another instance, ended
    cluster: str  # of `template` on `cloud`: one role (`CLUSTER_ROLE`), one member, running
    cluster_member: str  # the instance of `cluster`'s member
    expiring: str  # running, with a lifetime of its own
    approval: str  # pending: its launch waits (the project's guard-rails have an approval threshold)

    def ids(self) -> dict[str, str]:
        return asdict(self)


async def build(client: httpx.AsyncClient, project: str) -> World:
    """Make a world in `project`, acting as its owner."""
    h = identity_headers(project)
    cloud = ok(
        await client.post(
            "/v1/clouds", headers=h, json={"name": f"{project}-sim", "driver": "simcloud", "config": SIM}
        ),
        201,
    )["id"]
    key_name = f"{project}-deploy-key"
    key_pair = ok(await client.post("/v1/key-pairs", headers=h, json={"cloud_id": cloud, "name": key_name}), 201)
    group = ok(
        await client.post("/v1/security-groups", headers=h, json={"cloud_id": cloud, "name": f"{project}-web"}), 201
    )
    rule = {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/8"}
    group = ok(await client.post(f"/v1/security-groups/{group['id']}/rules", headers=h, json=rule))
    launch = {
        "cloud_id": cloud,
        "name": f"{project}-web",
        "image_id": "img-debian-12",
        "flavor_id": "sim.small",
        "key_name": key_name,
        "security_group_ids": [group["id"]],
    }
    instance = ok(await client.post("/v1/instances", headers=h, json=launch), 202)["id"]
    await until(client, f"/v1/instances/{instance}", h, in_state("running"))

    volumes = []
    for name in ("data", "spare"):
        made = ok(
            await client.post("/v1/volumes", headers=h, json={"cloud_id": cloud, "name": name, "size_gb": 1}), 201, 202
        )
        volumes.append(made["id"])
        await until(client, f"/v1/volumes/{made['id']}", h, in_state("available"))
    volume, spare_volume = volumes
    ok(await client.post(f"/v1/volumes/{volume}/actions/attach", headers=h, json={"instance_id": instance}), 200, 202)
    await until(client, f"/v1/volumes/{volume}", h, in_state("in-use"))
    snapshot = ok(await client.post("/v1/snapshots", headers=h, json={"volume_id": volume, "name": "snap"}), 201, 202)
    await until(client, f"/v1/snapshots/{snapshot['id']}", h, in_state("available"))

    addresses = []
    for name in ("front", "spare"):
        made = ok(await client.post("/v1/addresses", headers=h, json={"cloud_id": cloud, "name": name}), 201, 202)
        addresses.append(made["id"])
        await until(client, f"/v1/addresses/{made['id']}", h, in_state("available"))
    address, spare_address = addresses
    associate = {"instance_id": instance}
    ok(await client.post(f"/v1/addresses/{address}/actions/associate", headers=h, json=associate), 200, 202)
    await until(client, f"/v1/addresses/{address}", h, in_state("associated"))

    image = ok(await client.post("/v1/images", headers=h, json={"instance_id": instance, "name": "golden"}), 201, 202)
    await until(client, f"/v1/images/{image['id']}", h, in_state("available"))
    sync = ok(await client.post(f"/v1/clouds/{cloud}/sync", headers=h), 202)["id"]
    await until(client, f"/v1/clouds/{cloud}/syncs/{sync}", h, lambda run: run["status"] == "succeeded")
    boot = {
        "name": f"{project}-hello",
        "body": "#!/bin/sh\necho hello {{ who }}\n",
        "inputs": [{"name": "who", "type": "text", "default": "world"}],
    }
    script = ok(await client.post("/v1/scripts", headers=h, json=boot), 201)["script_id"]
    template_body = {
        "name": f"{project}-web",
        "clouds": [{"cloud_id": cloud, "image_id": "img-debian-12", "flavor_id": "sim.small"}],
        "boot_scripts": [{"script_id": script}],
    }
    template = ok(await client.post("/v1/templates", headers=h, json=template_body), 201)["template_id"]
    # Runs that end at once: the account's guests show no host keys to pin.
    report = {"name": f"{project}-report", "body": "#!/bin/sh\necho report\n", "phase": "operational"}
    operational = ok(await client.post("/v1/scripts", headers=h, json=report), 201)["script_id"]
    run = ok(await client.post(f"/v1/instances/{instance}/runs", headers=h, json={"script_id": operational}), 202)["id"]
    other = ok(await client.post("/v1/instances", headers=h, json={**launch, "name": f"{project}-worker"}), 202)["id"]
    await until(client, f"/v1/instances/{other}", h, in_state("running"))
    bulk = {"script_id": operational, "instance_ids": [instance, other]}
    batch = ok(await client.post("/v1/runs", headers=h, json=bulk), 202)["batch_id"]
    ended = ("succeeded", "failed", "timed_out")
    await until(client, f"/v1/runs?batch_id={batch}", h, lambda page: all(r["state"] in ended for r in page["items"]))
    await until(client, f"/v1/runs/{run}", h, lambda r: r["state"] in ended)
    role = {"name": CLUSTER_ROLE, "template_id": template, "cloud_id": cloud, "count": 1}
    cluster = ok(await client.post("/v1/clusters", headers=h, json={"name": project, "roles": [role]}), 202)["id"]
    running = await until(client, f"/v1/clusters/{cluster}", h, lambda c: c["state"] == "running")
    brief = {**launch, "name": f"{project}-brief", "lifetime_hours": 1000}
    expiring = ok(await client.post("/v1/instances", headers=h, json=brief), 202)["id"]
    await until(client, f"/v1/instances/{expiring}", h, in_state("running"))
    ok(await client.put("/v1/guardrails", headers=h, json={"approval_threshold": "1", "currency": "USD"}))
    waiting = ok(await client.post("/v1/instances", headers=h, json={**launch, "name": f"{project}-big"}), 202)
    return World(
        cluster=cluster,
        cluster_member=running["members"][0]["instance_id"],
        expiring=expiring,
        approval=waiting["approval"]["id"],
        operational_script=operational,
        run=run,
        batch=batch,
        script=script,
        template=template,
        cloud=cloud,
        key_pair=key_pair["id"],
        key_name=key_name,
        security_group=group["id"],
        rule=group["rules"][0]["id"],
        instance=instance,
        volume=volume,
        spare_volume=spare_volume,
        snapshot=snapshot["id"],
        address=address,
        spare_address=spare_address,
        image=image["id"],
        sync=sync,
    )


async def everything(database_url: str) -> dict[str, Any]:
    """Every row the provisioner keeps, and how many events it ever queued: equal before and after means that
    nothing was changed, not even an event queued."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "provisioner"})
    try:
        found: dict[str, Any] = {}
        for table in (
            "clouds",
            "instances",
            "resources",
            "sync_runs",
            "modules",
            "scripts",
            "script_versions",
            "templates",
            "template_versions",
            "script_runs",
            "project_keys",
            "clusters",
            "cluster_members",
            "guardrails",
            "approvals",
            "commands",
        ):
            rows = await conn.fetch(f"SELECT to_jsonb(t) AS row FROM {table} t ORDER BY 1")  # noqa: S608 - constants
            found[table] = [json.loads(r["row"]) for r in rows]
        found["events queued"] = await conn.fetchval("SELECT last_value FROM outbox_seq_seq")
        return found
    finally:
        await conn.close()


__all__ = [
    "CLUSTER_ROLE",
    "PUBLIC_KEY",
    "SIM",
    "World",
    "build",
    "everything",
    "ok",
    "provisioner",
    "routes",
    "use_secret_key",
]
