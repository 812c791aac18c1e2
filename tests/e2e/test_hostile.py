"""A hostile caller through every route of the gateway: replayed idempotency keys, ended logins, text PostgreSQL
cannot store, and another project's ids. The routes and the fields of their bodies are read from `/openapi.json`, so a
route added later is attacked too.

- An `Idempotency-Key` replayed by a caller of a lower role, by a caller of another project, or by the same caller
  after its role changed never gets the stored answer (nor a secret in it); a refusal stored first poisons nothing.
- Access tokens stop working within a second of a logout, a password change or a disable (and stay dead after a
  re-enable).
- NUL and unpaired surrogates in every string field of every body, and NUL in every string query parameter, get 422
  naming the field: never a 500.
- Another project's id in a path, a body field or a filter gets exactly the answer an id that does not exist gets.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import Servers
from tests.e2e.conftest import _platform
from tests.e2e.platform import Platform
from tests.e2e.tenants import (
    PASSWORD,
    PUBLIC,
    World,
    admin_only,
    bodies,
    build_world,
    created,
    fill,
    login,
    user_in,
)

pytestmark = pytest.mark.e2e

UNSTORABLE = {"NUL": "a\x00b", "surrogate": "\ud800"}


@pytest.fixture(scope="module")
def platform(servers: Servers) -> Iterator[Platform]:
    yield from _platform(servers, boot="0.2", stop="0.1", start="0.1", reboot="0.1", terminate="0.1")


@dataclass
class Arena:
    world: World
    spec: dict[str, Any]
    operator: httpx.AsyncClient  # otto, an operator of alpha


@pytest.fixture(scope="module")
async def arena(platform: Platform) -> AsyncIterator[Arena]:
    async for world in build_world(platform):
        world.user_ids["otto"] = await user_in(world.admin, "otto@example.com", "alpha", "operator")
        operator = await login(platform, "otto@example.com", "alpha")
        spec = (await world.admin.get("/openapi.json")).json()
        try:
            yield Arena(world, spec, operator)
        finally:
            await operator.aclose()


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def posts(world: World) -> list[tuple[str, str]]:
    return [(m, p) for m, p in world.operations if m == "POST" and (m, p) not in PUBLIC]


def secrets_in(answer: httpx.Response) -> list[str]:
    """What a stored answer may hold that nobody else must ever see."""
    try:
        body = answer.json()
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    return [str(body[name]) for name in ("key", "private_key", "secret") if body.get(name)]


# --- another project's ids get the answer of ids that do not exist ------------------------------------------------


def normalised(answer: httpx.Response, ids: list[str]) -> tuple[int, str]:
    """The status and the body with the ids named and the correlation id left out."""
    text = answer.text
    try:
        body = answer.json()
        if isinstance(body, dict):
            body.pop("correlation_id", None)
        text = json.dumps(body, sort_keys=True)
    except ValueError:
        pass
    for value in ids:
        text = text.replace(value, "<id>")
    return answer.status_code, text


def unknown_ids(ids: dict[str, str]) -> dict[str, str]:
    return {name: str(uuid.uuid4()) for name in ids}


# The body fields that name an object, by the kind of id they take.
BODY_ID_FIELDS = {
    "cloud_id": "cloud_id",
    "instance_id": "instance_id",
    "volume_id": "volume_id",
    "script_id": "operational_script_id",
}


async def test_another_projects_ids_in_paths_answer_as_ids_that_do_not_exist(arena: Arena) -> None:
    world = arena.world
    alpha, nowhere = world.alpha.ids, unknown_ids(world.alpha.ids)
    users_alpha, users_nowhere = world.user_ids, {name: str(uuid.uuid4()) for name in world.user_ids}
    failures = []
    for method, path in world.operations:
        if "{" not in path or admin_only(method, path) or (method, path) in PUBLIC:
            continue
        table = bodies(alpha, users_alpha)
        foreign = await world.beta.client.request(
            method, fill(path, alpha, users_alpha), json=table.get((method, path))
        )
        missing = await world.beta.client.request(
            method, fill(path, nowhere, users_nowhere), json=bodies(nowhere, users_nowhere).get((method, path))
        )
        named = [*alpha.values(), *nowhere.values(), *users_alpha.values(), *users_nowhere.values()]
        if normalised(foreign, named) != normalised(missing, named):
            failures.append(f"{method} {path}: {foreign.status_code} {foreign.text[:160]} | {missing.text[:160]}")
    assert not failures, "\n".join(failures)


async def test_another_projects_ids_in_bodies_answer_as_ids_that_do_not_exist(arena: Arena) -> None:
    world = arena.world
    alpha, beta, nowhere = world.alpha.ids, world.beta.ids, unknown_ids(world.alpha.ids)
    failures = []
    for (method, path), body in bodies(beta, world.user_ids).items():
        if not isinstance(body, dict) or admin_only(method, path):
            continue
        url = fill(path, beta, world.user_ids)  # beta's own objects in the path: only the body is foreign
        for field_name, kind in BODY_ID_FIELDS.items():
            if field_name not in body:
                continue
            foreign = await world.beta.client.request(method, url, json={**body, field_name: alpha[kind]})
            missing = await world.beta.client.request(method, url, json={**body, field_name: nowhere[kind]})
            if normalised(foreign, [alpha[kind], nowhere[kind]]) != normalised(missing, [alpha[kind], nowhere[kind]]):
                failures.append(f"{method} {path} {field_name}: {foreign.text[:160]} | {missing.text[:160]}")
    launch = bodies(beta, world.user_ids)[("POST", "/v1/instances")]
    for ids in ([alpha["group_id"]], [alpha["group_id"], beta["group_id"]]):
        foreign = await world.beta.client.post("/v1/instances", json={**launch, "security_group_ids": ids})
        nowhere_ids = [nowhere["group_id"] if i == alpha["group_id"] else i for i in ids]
        missing = await world.beta.client.post("/v1/instances", json={**launch, "security_group_ids": nowhere_ids})
        named = [alpha["group_id"], nowhere["group_id"]]
        if normalised(foreign, named) != normalised(missing, named):
            failures.append(f"POST /v1/instances security_group_ids: {foreign.text[:160]} | {missing.text[:160]}")
    assert not failures, "\n".join(failures)


async def test_another_projects_ids_in_filters_answer_as_ids_that_do_not_exist(arena: Arena) -> None:
    world = arena.world
    alpha, nowhere = world.alpha.ids, unknown_ids(world.alpha.ids)
    by_parameter = {
        "cloud_id": "cloud_id",
        "instance_id": "instance_id",
        "volume_id": "volume_id",
        "resource_id": "instance_id",
        "batch_id": "batch_id",
        "cluster_id": "cluster_id",
        "policy_id": "policy_id",
        "scaling_group_id": "scaling_group_id",
        "template_id": "template_id",
        "budget_id": "budget_id",
        "rule_id": "alert_rule_id",
        "channel_id": "channel_id",
        "user_id": None,
    }
    failures, checked = [], 0
    for path, operations in arena.spec["paths"].items():
        get = operations.get("get")
        if get is None or "{" in path or admin_only("GET", path):
            continue
        for parameter in get.get("parameters", []):
            name = parameter["name"]
            if parameter["in"] != "query" or not name.endswith("_id") or name == "correlation_id":
                continue
            assert name in by_parameter, f"GET {path}: a filter by {name} this test does not know"
            kind = by_parameter[name]
            foreign_id = alpha[kind] if kind else world.user_ids["vera"]
            missing_id = nowhere[kind] if kind else str(uuid.uuid4())
            foreign = await world.beta.client.get(path, params={name: foreign_id})
            missing = await world.beta.client.get(path, params={name: missing_id})
            checked += 1
            if normalised(foreign, [foreign_id, missing_id]) != normalised(missing, [foreign_id, missing_id]):
                failures.append(f"GET {path}?{name}=: {foreign.text[:160]} | {missing.text[:160]}")
    assert checked >= 10
    assert not failures, "\n".join(failures)


# --- text PostgreSQL cannot store ---------------------------------------------------------------------------------


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in schema:
            options = [resolve(spec, option) for option in schema[combined] if option.get("type") != "null"]
            return options[0] if options else {}
    return schema


def string_fields(
    spec: dict[str, Any], schema: dict[str, Any], prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """The path to every string a body of this schema may hold (a free-form object gets a key `x`)."""
    schema = resolve(spec, schema)
    kind = schema.get("type")
    if kind == "string" or (kind is None and "enum" in schema):
        yield prefix
    elif kind == "array":
        yield from string_fields(spec, schema.get("items", {}), (*prefix, "0"))
    elif kind == "object" or "properties" in schema:
        for name, child in schema.get("properties", {}).items():
            yield from string_fields(spec, child, (*prefix, name))
        if schema.get("additionalProperties") not in (None, False) and not schema.get("properties"):
            yield (*prefix, "x")


# Bodies of a flag or a number only.
BODIES_WITHOUT_TEXT = {
    ("patch", "/v1/scripts/{script_id}/versions/{version}"),
    ("patch", "/v1/templates/{template_id}"),
    ("patch", "/v1/templates/{template_id}/versions/{version}"),
    # A price file (JSON or CSV) declared as a whole, not field by field: its rows are checked by the importer.
    ("post", "/v1/clouds/{cloud_id}/prices"),
    ("post", "/v1/clusters/{cluster_id}/roles/{role}/scale"),
}


def with_value(body: Any, path: tuple[str, ...], value: str) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if head.isdigit():
        items = list(body) if isinstance(body, list) else []
        return [with_value(items[0] if items else None, rest, value)]
    base = dict(body) if isinstance(body, dict) else {}
    base[head] = with_value(base.get(head), rest, value)
    return base


async def test_unstorable_text_in_every_body_field_is_a_422_naming_it(arena: Arena) -> None:
    world, spec = arena.world, arena.spec
    table = bodies(world.alpha.ids, world.user_ids)
    failures, checked = [], 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            for media, described in content.items():
                fields = list(string_fields(spec, described["schema"]))
                no_text = method == "put" or (method, path) in BODIES_WITHOUT_TEXT
                assert fields or no_text, f"{method} {path}: no string field found in its body"
                if no_text:
                    continue
                url = fill(path, world.alpha.ids, world.user_ids)
                base = table.get((method.upper(), path), {})
                for field_path in fields:
                    for what, value in UNSTORABLE.items():
                        if media == "application/x-www-form-urlencoded":
                            if what == "surrogate":
                                continue  # a form is UTF-8 percent-encoded: an unpaired surrogate cannot be sent
                            answer = await world.admin.request(method, url, data={field_path[0]: value})
                        else:
                            body = with_value(base, field_path, value)
                            answer = await world.admin.request(
                                method, url, content=json.dumps(body).encode(), headers={"Content-Type": media}
                            )
                        checked += 1
                        location = "body." + ".".join(field_path)
                        locations = [e.get("location") for e in answer.json().get("errors", [])]
                        if answer.status_code != 422 or location not in locations:
                            failures.append(f"{method.upper()} {path} {location} ({what}): {answer.text[:200]}")
    assert checked >= 60
    assert not failures, "\n".join(failures)


async def test_a_nul_in_every_string_query_parameter_is_a_422_naming_it(arena: Arena) -> None:
    world, spec = arena.world, arena.spec
    failures, checked = [], 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if parameter["in"] != "query":
                    continue
                checked += 1
                url = fill(path, world.alpha.ids, world.user_ids)
                answer = await world.admin.request(method, url, params={parameter["name"]: "a\x00b"})
                locations = [e.get("location") for e in answer.json().get("errors", [])]
                if answer.status_code != 422 or f"query.{parameter['name']}" not in locations:
                    failures.append(f"{method.upper()} {path}?{parameter['name']}: {answer.text[:200]}")
    assert checked >= 40
    assert not failures, "\n".join(failures)


# --- ended logins -------------------------------------------------------------------------------------------------


async def dead_within_a_second(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    while (await client.get("/v1/me")).status_code != 401:
        assert time.monotonic() - started < 1.0, "an ended login's access token works after a second"
        await asyncio.sleep(0.05)


async def test_access_tokens_end_with_logout_password_change_and_disable(arena: Arena, platform: Platform) -> None:
    admin = arena.world.admin
    lou = await user_in(admin, "lou@example.com", "alpha", "viewer")

    async def log_in(password: str) -> tuple[httpx.AsyncClient, str]:
        async with platform.client(token=None) as anonymous:
            answer = await anonymous.post(
                "/v1/auth/token", data={"grant_type": "password", "username": "lou@example.com", "password": password}
            )
        tokens = created(answer)
        client = platform.client(token=tokens["access_token"])
        assert (await client.get("/v1/me")).status_code == 200
        return client, tokens["refresh_token"]

    client, refresh = await log_in(PASSWORD)
    try:
        assert (await client.post("/v1/auth/logout", json={"refresh_token": refresh})).status_code == 204
        await dead_within_a_second(client)
    finally:
        await client.aclose()

    client, _ = await log_in(PASSWORD)
    try:
        assert (await admin.patch(f"/v1/users/{lou}", json={"password": "another long passphrase"})).status_code == 200
        await dead_within_a_second(client)
    finally:
        await client.aclose()

    client, _ = await log_in("another long passphrase")
    try:
        assert (await admin.patch(f"/v1/users/{lou}", json={"disabled": True})).status_code == 200
        await dead_within_a_second(client)
        assert (await admin.patch(f"/v1/users/{lou}", json={"disabled": False})).status_code == 200
        await asyncio.sleep(0.6)  # longer than the gateway remembers a login
        assert (await client.get("/v1/me")).status_code == 401, "re-enabling the user revived an ended login"
    finally:
        await client.aclose()


# --- replayed idempotency keys (these change alpha's objects: they run last) --------------------------------------


async def test_the_reported_replays_hand_nobody_a_secret(arena: Arena, platform: Platform) -> None:
    world = arena.world
    # An owner's API key, replayed by a viewer of the same project.
    first = await world.alpha.client.post("/v1/api-keys", json={"name": "ci", "role": "owner"}, headers=keyed("ci-1"))
    replay = await world.viewer.post("/v1/api-keys", json={"name": "ci", "role": "owner"}, headers=keyed("ci-1"))
    assert first.status_code == 201 and replay.status_code == 403
    assert first.json()["key"] not in replay.text and "idempotent-replayed" not in replay.headers
    # An admin's platform key in project default, replayed by a viewer of default.
    await user_in(world.admin, "dora@example.com", "default", "viewer")
    dora = await login(platform, "dora@example.com", "default")
    async with dora:
        admin_key = await world.admin.post("/v1/api-keys", json={"name": "ops", "admin": True}, headers=keyed("ops"))
        replay = await dora.post("/v1/api-keys", json={"name": "ops", "admin": True}, headers=keyed("ops"))
    assert admin_key.status_code == 201 and replay.status_code == 403
    assert admin_key.json()["key"] not in replay.text
    # An operator's generated private key, replayed by a viewer.
    cloud = world.alpha.ids["cloud_id"]
    made = await arena.operator.post("/v1/key-pairs", json={"cloud_id": cloud, "name": "op"}, headers=keyed("kp"))
    replay = await world.viewer.post("/v1/key-pairs", json={"cloud_id": cloud, "name": "op"}, headers=keyed("kp"))
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store", "a private key may be kept by a cache on the way"
    assert replay.status_code == 403 and made.json()["private_key"] not in replay.text
    # The reverse: the viewer's refusal first, then the owner's own answer.
    refused = await world.viewer.post("/v1/api-keys", json={"name": "late"}, headers=keyed("poison"))
    owners = await world.alpha.client.post("/v1/api-keys", json={"name": "late"}, headers=keyed("poison"))
    assert refused.status_code == 403 and owners.status_code == 201 and "idempotent-replayed" not in owners.headers
    # The answers kept carry no-store like the first ones.
    again = await world.alpha.client.post("/v1/api-keys", json={"name": "late"}, headers=keyed("poison"))
    assert again.headers["idempotent-replayed"] == "true" and again.headers["cache-control"] == "no-store"


async def test_no_post_route_replays_an_answer_to_another_caller(arena: Arena) -> None:
    world = arena.world
    table = bodies(world.alpha.ids, world.user_ids)
    others = {"viewer of alpha": world.viewer, "owner of beta": world.beta.client, "operator of alpha": arena.operator}
    failures = []
    for method, path in posts(world):
        key = f"hostile-{uuid.uuid4().hex}"
        url, body = fill(path, world.alpha.ids, world.user_ids), table.get((method, path))
        first = await world.alpha.client.request(method, url, json=body, headers=keyed(key))
        for who, client in others.items():
            answer = await client.request(method, url, json=body, headers=keyed(key))
            if answer.headers.get("idempotent-replayed") or any(s in answer.text for s in secrets_in(first)):
                failures.append(f"{method} {path}: the {who} got the owner's answer ({first.status_code})")
    assert not failures, "\n".join(failures)


async def test_a_caller_whose_role_changed_gets_no_replay_on_any_post_route(arena: Arena, platform: Platform) -> None:
    world = arena.world
    olga = await user_in(world.admin, "olga@example.com", "alpha", "owner")
    client = await login(platform, "olga@example.com", "alpha")
    table = bodies(world.alpha.ids, world.user_ids)
    alpha = {"X-Clanavi-Project": "alpha"}
    failures = []
    async with client:
        firsts = {}
        for method, path in posts(world):
            key = f"role-{uuid.uuid4().hex}"
            url, body = fill(path, world.alpha.ids, world.user_ids), table.get((method, path))
            firsts[(method, path)] = (key, await client.request(method, url, json=body, headers=keyed(key)))
        demoted = await world.admin.put(f"/v1/members/{olga}", json={"role": "viewer"}, headers=alpha)
        assert demoted.status_code == 200, demoted.text
        await asyncio.sleep(0.6)  # longer than another replica would remember the role
        for (method, path), (key, first) in firsts.items():
            url, body = fill(path, world.alpha.ids, world.user_ids), table.get((method, path))
            answer = await client.request(method, url, json=body, headers=keyed(key))
            if answer.status_code != 403 or answer.headers.get("idempotent-replayed"):
                failures.append(
                    f"{method} {path}: demoted to viewer, got {answer.status_code} (first {first.status_code})"
                )
            if any(s in answer.text for s in secrets_in(first)):
                failures.append(f"{method} {path}: demoted to viewer, got the secret")
        restored = await world.admin.put(f"/v1/members/{olga}", json={"role": "owner"}, headers=alpha)
        assert restored.status_code == 200, restored.text
        await asyncio.sleep(0.6)
        replayed = 0
        for (method, path), (key, first) in firsts.items():
            url, body = fill(path, world.alpha.ids, world.user_ids), table.get((method, path))
            answer = await client.request(method, url, json=body, headers=keyed(key))
            if first.status_code in (401, 403, 429) or first.status_code >= 500:
                continue
            replayed += 1
            if answer.headers.get("idempotent-replayed") != "true" or answer.content != first.content:
                failures.append(f"{method} {path}: the owner again did not get its own answer back")
    assert replayed >= 10
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
    "head",
    [
        b"DELETE /v1/snapshots/x HTTP/1.1\r\nHost: clanavi\r\nContent-Length: \r\n\r\n",  # an empty Content-Length
        b"GET /v1/instances HTTP/1.1\r\nHost: clanavi\r\nnot a header\r\n\r\n",
        b"GET /v1/instances HTTP/1.1\r\nHost: clanavi\r\nBad;Name: x\r\n\r\n",
    ],
)
async def test_a_request_that_cannot_be_parsed_is_refused_in_problem_json(platform: Platform, head: bytes) -> None:
    url = httpx.URL(platform.gateway_url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(head)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)  # the server closes the connection after it
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert status_line == b"HTTP/1.1 400 Bad Request", answer
    assert b"content-type: application/problem+json" in headers.lower().split(b"\r\n"), answer
    problem = json.loads(body)
    assert problem["status"] == 400 and problem["code"] == "bad_request", problem
