"""Tenancy through every route of the gateway (OWASP API1/API3/API5): two projects, each with its owner; every object of
project alpha is invisible and untouchable to beta's owner, by id and in lists; a viewer cannot change anything; only
admins reach the platform's routes. The routes are read from `/openapi.json`, so a route added without a case here
fails the coverage test."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from kernel.events.identity import PLATFORM_SCOPE
from tests.conftest import Servers
from tests.e2e.conftest import _platform
from tests.e2e.platform import Platform, audit_events, eventually
from tests.e2e.tenants import (
    BODY_REFERENCES,
    MANAGER_READS,
    OWN_PROJECT_READS,
    OWN_PROJECT_WRITES,
    PUBLIC,
    World,
    admin_only,
    bodies,
    build_world,
    call,
    created,
    fill,
    lists_of_project,
    login,
    user_in,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def platform(servers: Servers) -> Iterator[Platform]:
    yield from _platform(servers, boot="0.2", stop="0.1", start="0.1", reboot="0.1", terminate="0.1")


@pytest.fixture(scope="module")
async def world(platform: Platform) -> AsyncIterator[World]:
    async for built in build_world(platform):
        yield built


# --- the tests -------------------------------------------------------------------------------------------------


async def test_every_route_is_covered(world: World) -> None:
    needs_body = {(m, p) for m, p in world.operations if m in {"POST", "PUT", "PATCH"} and (m, p) not in PUBLIC}
    table = bodies(world.alpha.ids, world.user_ids)
    # An action route without a body is fine; a route whose body this table does not know is not covered.
    bodiless = ("/detach", "/disassociate", "/sync", "/test", "/replace", "/retry", "/approve")
    spec_bodies = {op for op in needs_body if op in table or op[1].endswith(bodiless)}
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
        elif (method, path) in OWN_PROJECT_READS:
            expected = {200}
            leaked = sorted(i for i in alpha_ids if i in answer.text)
            if leaked:
                failures.append(f"{method} {path}: shows alpha's {leaked}")
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
    trail = await world.beta.client.get("/v1/audit/events", params={"limit": 500, "calls": "include"})
    items = trail.json()["items"]
    assert items and all(e["project_id"] == "beta" for e in items)
    # Beta's own API calls name whatever ids their callers typed (this suite types alpha's); none is alpha's members'.
    alphas = {f"user:{world.user_ids[name]}" for name in ("alice", "vera")}
    calls = [e for e in items if e["type"] == "api.called"]
    assert calls and not {c["payload"]["principal"] for c in calls} & alphas
    events = [e for e in items if e["type"] != "api.called"]
    assert events
    assert not set(world.alpha.ids.values()) & {e.get("subject") for e in events}
    assert json.dumps(events).find(world.alpha.ids["instance_id"]) == -1


async def test_api_calls_are_in_their_own_projects_trail_only(world: World) -> None:
    path = f"/v1/instances/i-{uuid.uuid4().hex[:12]}"
    assert (await world.beta.client.get(path)).status_code == 404

    async def in_betas_trail() -> list[dict[str, Any]] | None:
        answer = await world.beta.client.get("/v1/audit/events", params={"type": "api.called", "path": path})
        items: list[dict[str, Any]] = answer.json()["items"]
        return items or None

    [call] = await eventually(in_betas_trail, what="beta's call in beta's trail")
    assert call["project_id"] == "beta" and call["payload"]["status"] == 404
    # Alpha's viewer reads alpha's calls (its own among them), never beta's.
    for client in (world.viewer, world.alpha.client):
        answer = await client.get("/v1/audit/events", params={"type": "api.called", "limit": 500})
        assert answer.status_code == 200, answer.text
        calls = answer.json()["items"]
        assert calls and {c["project_id"] for c in calls} == {"alpha"}
        assert path not in answer.text
        assert (await client.get("/v1/audit/events", params={"path": path})).json()["items"] == []
        assert (await client.get("/v1/audit/export")).status_code == 403
        assert (await client.get("/v1/audit/digests")).status_code == 403


async def test_the_platforms_events_are_in_no_projects_trail_and_only_admins_read_them(
    world: World, platform: Platform
) -> None:
    dana = await user_in(world.admin, "dana@example.com", "default", "viewer")
    renamed = await world.admin.patch(f"/v1/users/{world.user_ids['vera']}", json={"name": "Vera V."})
    assert renamed.status_code == 200, renamed.text
    # An admin key made and revoked while the admin acts in default (as it does without the project header).
    admin_key = created(await world.admin.post("/v1/api-keys", json={"name": "ops", "admin": True}))
    assert (await world.admin.delete(f"/v1/api-keys/{admin_key['id']}")).status_code == 200
    seeded_key = (await world.admin.get("/v1/me")).json()["api_key"]["id"]
    users = {dana, *world.user_ids.values()}

    async def platform_trail() -> list[dict[str, Any]] | None:
        items = await audit_events(world.admin, scope="platform")
        facts = {(e["type"], e["subject"]) for e in items}
        # Every fact asserted below: the gateway's relay may publish them in any order.
        wanted = {("user.created", u) for u in users} | {
            ("api_key.created", admin_key["id"]),
            ("api_key.revoked", admin_key["id"]),
            ("user.updated", world.user_ids["vera"]),
            ("project.created", "alpha"),
            ("project.created", "beta"),
        }
        return items if wanted <= facts else None

    trail = await eventually(platform_trail, what="the platform's events in its trail")
    assert {e["project_id"] for e in trail} == {PLATFORM_SCOPE}
    kinds = {(e["type"], e["subject"]) for e in trail}
    assert {
        ("project.created", "alpha"),
        ("project.created", "beta"),
        ("user.updated", world.user_ids["vera"]),
    } <= kinds
    assert ("api_key.created", admin_key["id"]) in kinds

    viewer_of_default = await login(platform, "dana@example.com", "default")
    async with viewer_of_default:
        for who, client in {"viewer of default": viewer_of_default, "viewer of alpha": world.viewer}.items():
            seen = await audit_events(client)
            platform_facts = [
                (e["type"], e["project_id"])
                for e in seen
                if e["type"] in {"user.created", "user.updated", "project.created"}
                or e["subject"] in {admin_key["id"], seeded_key}
            ]
            assert not platform_facts, f"the {who} reads the platform's events: {platform_facts}"
        for client in (viewer_of_default, world.viewer, world.alpha.client, world.beta.client):
            refused = await client.get("/v1/audit/events", params={"scope": "platform"})
            assert refused.status_code == 403, refused.text
            assert refused.json()["code"] == "forbidden"


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


async def test_a_webhook_secret_is_never_shown_again(world: World) -> None:
    """Shown once, at the channel's creation: no read of any route, by the owner or an admin, shows it again, nor
    does the project's audit trail."""
    secrets = world.alpha.secrets + world.beta.secrets
    assert len(secrets) == 2 and all(s.startswith("whsec_") for s in secrets)
    for client in (world.alpha.client, world.admin):
        for method, path in world.operations:
            if method != "GET" or (method, path) in PUBLIC:
                continue
            answer = await call(client, method, path, world)
            leaked = [s for s in secrets if s in answer.text or s.removeprefix("whsec_") in answer.text]
            assert not leaked, f"GET {path} shows a webhook secret"
    trail = json.dumps((await world.alpha.client.get("/v1/audit/events", params={"limit": 500})).json())
    assert not any(s.removeprefix("whsec_") in trail for s in secrets)
