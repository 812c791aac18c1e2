"""Tenancy through every route of the gateway (OWASP API1/API3/API5): two projects, each with its owner; every object of
project alpha is invisible and untouchable to beta's owner, by id and in lists; a viewer cannot change anything; only
admins reach the platform's routes. The routes are read from `/openapi.json`, so a route added without a case here
fails the coverage test."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import Servers
from tests.e2e.conftest import _platform
from tests.e2e.platform import Platform, eventually, wait_for_state

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
SIM_CONFIG = {"boot_seconds": 0.2, "stop_seconds": 0.1, "start_seconds": 0.1, "terminate_seconds": 0.1}
# Routes anyone may call (they authenticate the caller themselves) and routes every caller may call on their own
# account; neither holds another project's objects.
PUBLIC = {("POST", "/v1/auth/token"), ("POST", "/v1/auth/logout"), ("GET", "/v1/me")}


@pytest.fixture(scope="module")
def platform(servers: Servers) -> Iterator[Platform]:
    yield from _platform(servers, boot="0.2", stop="0.1", start="0.1", reboot="0.1", terminate="0.1")


@dataclass
class Tenant:
    """A project, its owner's client, and the ids of everything made in it."""

    project: str
    client: httpx.AsyncClient
    ids: dict[str, str] = field(default_factory=dict)


async def login(platform: Platform, email: str, project: str) -> httpx.AsyncClient:
    async with platform.client(token=None) as anonymous:
        answer = await anonymous.post(
            "/v1/auth/token", data={"grant_type": "password", "username": email, "password": PASSWORD}
        )
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    return httpx.AsyncClient(
        base_url=platform.gateway_url,
        headers={"Authorization": f"Bearer {token}", "X-Clanavi-Project": project},
        timeout=30,
    )


def created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code in (200, 201, 202), answer.text
    body: dict[str, Any] = answer.json()
    return body


async def user_in(admin: httpx.AsyncClient, email: str, project: str, role: str) -> str:
    user = created(
        await admin.post("/v1/users", json={"email": email, "name": email.split("@")[0], "password": PASSWORD})
    )
    member = await admin.put(f"/v1/members/{user['id']}", json={"role": role}, headers={"X-Clanavi-Project": project})
    assert member.status_code in (200, 201), member.text
    return str(user["id"])


async def populate(tenant: Tenant) -> None:
    """One of every kind of object, made by the project's owner in a SimCloud account of the project's own."""
    c, ids = tenant.client, tenant.ids
    cloud = created(
        await c.post("/v1/clouds", json={"name": f"sim-{tenant.project}", "driver": "simcloud", "config": SIM_CONFIG})
    )
    ids["cloud_id"] = cloud["id"]
    launch = {"cloud_id": cloud["id"], "image_id": "img-debian-12", "flavor_id": "sim.small"}
    instance = created(await c.post("/v1/instances", json={**launch, "name": f"web-{tenant.project}"}))
    ids["instance_id"] = instance["id"]
    await wait_for_state(c, instance["id"], "running")
    ids["key_pair_id"] = created(await c.post("/v1/key-pairs", json={"cloud_id": cloud["id"], "name": "deploy"}))["id"]
    group = created(await c.post("/v1/security-groups", json={"cloud_id": cloud["id"], "name": "web"}))
    port = 22 if tenant.project == "alpha" else 2222
    ids["group_id"] = group["id"]
    rule = created(
        await c.post(
            f"/v1/security-groups/{group['id']}/rules",
            # rule ids derive from the rule, so each project's rule is its own
            json={"protocol": "tcp", "from_port": port, "to_port": port, "cidr": "10.0.0.0/8"},
        )
    )
    ids["rule_id"] = rule["rules"][0]["id"] if "rules" in rule else rule["id"]
    volume = created(await c.post("/v1/volumes", json={"cloud_id": cloud["id"], "name": "data", "size_gb": 1}))
    ids["volume_id"] = volume["id"]
    await eventually(lambda: _state_is(c, f"/v1/volumes/{volume['id']}", "available"), what="volume available")
    snapshot = created(await c.post("/v1/snapshots", json={"volume_id": volume["id"], "name": "nightly"}))
    ids["snapshot_id"] = snapshot["id"]
    ids["address_id"] = created(await c.post("/v1/addresses", json={"cloud_id": cloud["id"], "name": "front"}))["id"]
    image = created(await c.post("/v1/images", json={"instance_id": instance["id"], "name": "golden"}))
    ids["image_id"] = image["id"]
    key = created(await c.post("/v1/api-keys", json={"name": "ci", "role": "operator"}))
    ids["key_id"] = key["id"]
    ids["sync_id"] = created(await c.post(f"/v1/clouds/{cloud['id']}/sync"))["id"]


async def _state_is(client: httpx.AsyncClient, path: str, state: str) -> bool:
    return bool((await client.get(path)).json().get("state") == state)


@dataclass
class World:
    admin: httpx.AsyncClient
    alpha: Tenant
    beta: Tenant
    viewer: httpx.AsyncClient  # a viewer of alpha
    operations: list[tuple[str, str]]
    user_ids: dict[str, str]


@pytest.fixture(scope="module")
async def world(platform: Platform) -> AsyncIterator[World]:
    async with platform.client() as admin:
        for project in ("alpha", "beta"):
            answer = await admin.post("/v1/projects", json={"id": project, "name": project.title()})
            assert answer.status_code == 201, answer.text
        users = {
            "alice": await user_in(admin, "alice@example.com", "alpha", "owner"),
            "bob": await user_in(admin, "bob@example.com", "beta", "owner"),
            "vera": await user_in(admin, "vera@example.com", "alpha", "viewer"),
        }
        alpha = Tenant("alpha", await login(platform, "alice@example.com", "alpha"))
        beta = Tenant("beta", await login(platform, "bob@example.com", "beta"))
        viewer = await login(platform, "vera@example.com", "alpha")
        await populate(alpha)
        await populate(beta)
        spec = (await admin.get("/openapi.json")).json()
        operations = [
            (method.upper(), path)
            for path, ops in spec["paths"].items()
            if path.startswith("/v1/")
            for method in ops
            if method in {"get", "post", "put", "patch", "delete"}
        ]
        try:
            yield World(admin, alpha, beta, viewer, operations, users)
        finally:
            for client in (alpha.client, beta.client, viewer):
                await client.aclose()


# --- what each route is called with ----------------------------------------------------------------------------


def bodies(ids: dict[str, str], user_ids: dict[str, str]) -> dict[tuple[str, str], Any]:
    """A valid body for every route that takes one, naming alpha's objects wherever a body names an object."""
    cloud = ids["cloud_id"]
    return {
        ("POST", "/v1/instances"): {
            "cloud_id": cloud,
            "name": "x",
            "image_id": "img-debian-12",
            "flavor_id": "sim.small",
        },
        ("POST", "/v1/key-pairs"): {"cloud_id": cloud, "name": "x"},
        ("POST", "/v1/key-pairs/import"): {
            "cloud_id": cloud,
            "name": "x",
            "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3Gv3NwR2Yc9S0cJp8n4mC7q7n9m7Yc0kQe0b1xKpQh me@host",
        },
        ("POST", "/v1/security-groups"): {"cloud_id": cloud, "name": "x"},
        ("POST", "/v1/security-groups/{group_id}/rules"): {
            "protocol": "tcp",
            "from_port": 80,
            "to_port": 80,
            "cidr": "0.0.0.0/0",
        },
        ("POST", "/v1/volumes"): {"cloud_id": cloud, "name": "x", "size_gb": 1},
        ("POST", "/v1/volumes/{volume_id}/actions/attach"): {"instance_id": ids["instance_id"]},
        ("POST", "/v1/snapshots"): {"volume_id": ids["volume_id"], "name": "x"},
        ("POST", "/v1/addresses"): {"cloud_id": cloud},
        ("POST", "/v1/addresses/{address_id}/actions/associate"): {"instance_id": ids["instance_id"]},
        ("POST", "/v1/images"): {"instance_id": ids["instance_id"], "name": "x"},
        ("POST", "/v1/clouds"): {"name": "x", "driver": "simcloud", "config": {}},
        ("PATCH", "/v1/clouds/{cloud_id}"): {"name": "renamed"},
        ("PUT", "/v1/modules/{name}"): {"enabled": True},
        ("POST", "/v1/users"): {"email": "mallory@example.com", "name": "m", "password": PASSWORD},
        ("PATCH", "/v1/users/{user_id}"): {"name": "m"},
        ("POST", "/v1/projects"): {"id": "mallory", "name": "Mallory"},
        ("PUT", "/v1/members/{user_id}"): {"role": "viewer"},
        ("POST", "/v1/api-keys"): {"name": "x"},
    }


def fill(path: str, ids: dict[str, str], user_ids: dict[str, str]) -> str:
    values = {
        **ids,
        "action": "stop",
        "name": "simcloud",
        "project_id": "alpha",
        # a member of alpha only: to beta's owner an unknown member
        "user_id": user_ids["vera"],
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


ADMIN_ONLY_PREFIXES = ("/v1/users", "/v1/modules", "/v1/audit/verify")
ADMIN_ONLY = {("POST", "/v1/projects")}
# Reads of a project's credentials-like objects: owners (and admins) only.
MANAGER_READS = {("GET", "/v1/api-keys"), ("GET", "/v1/api-keys/{key_id}")}
# Routes that make something in the caller's own project without naming any object of another project.
# Routes that name alpha's objects only in their body.
BODY_REFERENCES = {
    ("POST", "/v1/instances"),
    ("POST", "/v1/key-pairs"),
    ("POST", "/v1/key-pairs/import"),
    ("POST", "/v1/security-groups"),
    ("POST", "/v1/volumes"),
    ("POST", "/v1/snapshots"),
    ("POST", "/v1/addresses"),
    ("POST", "/v1/images"),
}
OWN_PROJECT_WRITES = {("POST", "/v1/clouds"), ("POST", "/v1/api-keys"), ("PUT", "/v1/members/{user_id}")}


def admin_only(method: str, path: str) -> bool:
    return path.startswith(ADMIN_ONLY_PREFIXES) or (method, path) in ADMIN_ONLY


def lists_of_project(method: str, path: str) -> bool:
    """Routes that answer the caller's own project's objects (collections), rather than one object by id."""
    return method == "GET" and "{" not in path


async def call(client: httpx.AsyncClient, method: str, path: str, world: World, **params: str) -> httpx.Response:
    ids, users = world.alpha.ids, world.user_ids
    body = bodies(ids, users).get((method, path))
    return await client.request(method, fill(path, ids, users), json=body, params=params or None)


# --- the tests -------------------------------------------------------------------------------------------------


async def test_every_route_is_covered(world: World) -> None:
    needs_body = {(m, p) for m, p in world.operations if m in {"POST", "PUT", "PATCH"} and (m, p) not in PUBLIC}
    table = bodies(world.alpha.ids, world.user_ids)
    # An action route without a body is fine; a route whose body this table does not know is not covered.
    spec_bodies = {op for op in needs_body if op in table or op[1].endswith(("/detach", "/disassociate", "/sync"))}
    missing = sorted(needs_body - spec_bodies - {op for op in needs_body if "/actions/" in op[1]})
    assert not missing, f"routes with a body this test cannot call: {missing}"
    for _method, path in world.operations:
        fill(path, world.alpha.ids, world.user_ids)  # every path parameter has a value


async def test_beta_cannot_see_or_touch_anything_of_alpha(world: World) -> None:
    alpha_ids = set(world.alpha.ids.values())
    failures: list[str] = []
    for method, path in world.operations:
        if (method, path) in PUBLIC:
            continue
        answer = await call(world.beta.client, method, path, world)
        if admin_only(method, path):
            expected = {403}
        elif (method, path) in OWN_PROJECT_WRITES:
            expected = {200, 201}
        elif (method, path) in BODY_REFERENCES:
            # Another project's object named in a body is refused exactly as an id that does not exist.
            expected = {404, 422}
        elif lists_of_project(method, path):
            expected = {200, 501}
            leaked = sorted(i for i in alpha_ids if i in answer.text)
            if leaked:
                failures.append(f"{method} {path}: lists alpha's {leaked}")
        else:
            expected = {404}
        if answer.status_code not in expected:
            failures.append(f"{method} {path}: {answer.status_code} (expected {sorted(expected)}) {answer.text[:200]}")
    assert not failures, "\n".join(failures)
    # ...and alpha's objects are all still there, untouched.
    for kind in ("instance", "volume", "snapshot", "address", "key_pair", "image"):
        path = {"key_pair": "key-pairs", "image": "images", "address": "addresses"}.get(kind, kind + "s")
        answer = await world.alpha.client.get(f"/v1/{path}/{world.alpha.ids[kind + '_id']}")
        assert answer.status_code == 200, answer.text
    assert (await world.alpha.client.get(f"/v1/instances/{world.alpha.ids['instance_id']}")).json()[
        "state"
    ] == "running"


async def test_beta_cannot_choose_alphas_project(world: World) -> None:
    answer = await world.beta.client.get("/v1/instances", headers={"X-Clanavi-Project": "alpha"})
    assert answer.status_code == 404, answer.text
    assert world.alpha.ids["instance_id"] not in answer.text


async def test_a_viewer_reads_but_cannot_change_anything(world: World) -> None:
    failures: list[str] = []
    for method, path in world.operations:
        if (method, path) in PUBLIC:
            continue
        answer = await call(world.viewer, method, path, world)
        if method == "GET":
            forbidden = admin_only(method, path) or (method, path) in MANAGER_READS
            ok = answer.status_code in ({403} if forbidden else {200, 501, 409})
        else:
            ok = answer.status_code == 403
        if not ok:
            failures.append(f"{method} {path}: {answer.status_code} {answer.text[:200]}")
    assert not failures, "\n".join(failures)
    instance = (await world.alpha.client.get(f"/v1/instances/{world.alpha.ids['instance_id']}")).json()
    assert instance["state"] == "running"


async def test_audit_trail_is_per_project(world: World) -> None:
    events = (await world.beta.client.get("/v1/audit/events", params={"limit": 500})).json()["items"]
    assert events and all(e["project_id"] == "beta" for e in events)
    assert not set(world.alpha.ids.values()) & {e.get("subject") for e in events}
    assert json.dumps(events).find(world.alpha.ids["instance_id"]) == -1


async def test_a_revoked_api_key_stops_working_within_a_second(world: World, platform: Platform) -> None:
    key = created(await world.alpha.client.post("/v1/api-keys", json={"name": "short-lived", "role": "viewer"}))
    async with platform.client(token=key["key"]) as automation:
        assert (await automation.get("/v1/instances")).status_code == 200
        revoked = await world.alpha.client.delete(f"/v1/api-keys/{key['id']}")
        assert revoked.status_code in (200, 204), revoked.text
        started = time.monotonic()
        while (await automation.get("/v1/instances")).status_code != 401:
            assert time.monotonic() - started < 1.0, "the revoked key still works after a second"
            await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Basic YWRtaW46YWRtaW4=",
        "Bearer not-a-key",
        # a JWT signed with some other key
        "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyOngiLCJ0eXAiOiJhY2Nlc3MifQ.c2lnbmF0dXJl",
    ],
)
async def test_unauthenticated_calls_are_refused_on_every_route(world: World, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    async with httpx.AsyncClient(base_url=str(world.admin.base_url), headers=headers, timeout=30) as stranger:
        for method, path in world.operations:
            if (method, path) == ("POST", "/v1/auth/token"):
                continue
            answer = await stranger.request(method, fill(path, world.alpha.ids, world.user_ids))
            assert answer.status_code == 401, f"{method} {path}: {answer.status_code}"
            assert answer.headers["content-type"] == "application/problem+json"
