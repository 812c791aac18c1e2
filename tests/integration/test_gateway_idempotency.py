"""Idempotency-Key against a real PostgreSQL: one POST sent many times does its work once, and every sender gets the
same answer; failures release the key; waiting, lease takeover, reuse with another request and the purge."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from kernel import db
from kernel.authz import Manager, Operator
from kernel.crypto import Keyring
from kernel.http import PROBLEM_JSON, create_base_app
from kernel.identity import Identity, Role
from kernel.migrations import migrate
from services.gateway.middleware.body_limit import BodyLimit
from services.gateway.middleware.idempotency import Idempotency, fingerprint
from services.gateway.middleware.idempotency_store import (
    SEALING_PURPOSE,
    IdempotencyStore,
    KeyOwner,
    StoredAnswer,
    UnreadableAnswer,
)
from services.gateway.middleware.ratelimit import ClientRateLimit, PrincipalRateLimit
from tests.conftest import make_pool

MIGRATIONS = Path(__file__).parents[2] / "services" / "gateway" / "migrations"
SCHEMA = "gateway"
LAUNCH = {"name": "web-1", "image_id": "img-debian-12", "flavor_id": "sim.small"}
OWNER_K = KeyOwner("p1", "key:k1", "k")


KEYRING = Keyring("idempotency-test-key-0123456789abcdef", purpose=SEALING_PURPOSE)


class FakeAuth:
    """Every /v1/ request is authenticated, in the project named by `X-Project` (default p1), as the principal named
    by `X-Principal` (default key:k1) with the role named by `X-Role` (default owner; `X-Admin: 1` for an admin)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            headers = dict(scope["headers"])
            scope.setdefault("state", {})["identity"] = Identity(
                headers.get(b"x-principal", b"key:k1").decode(),
                headers.get(b"x-project", b"p1").decode(),
                Role(headers.get(b"x-role", b"owner").decode()),
                admin=headers.get(b"x-admin") == b"1",
            )
        await self.app(scope, receive, send)


@dataclass
class Backend:
    """What the routes behind the middleware do, and how often they ran."""

    runs: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    failures_left: int = 0
    failure_status: int = 503


def make_app(pool: db.Pool, backend: Backend, keyring: Keyring = KEYRING, **options: Any) -> FastAPI:
    async def readiness() -> dict[str, bool]:
        return {}

    app = create_base_app(
        "gw",
        readiness,
        middleware=[
            Middleware(ClientRateLimit, rate=1000.0, burst=1000),
            Middleware(FakeAuth),
            Middleware(PrincipalRateLimit, rate=1000.0, burst=1000),
            Middleware(BodyLimit, max_bytes=4096),
            Middleware(Idempotency, pool=lambda: pool, keyring=keyring, **options),
        ],
    )

    @app.post("/v1/instances")
    async def launch(request: Request, caller: Operator) -> Response:
        backend.runs += 1
        backend.started.set()
        await backend.gate.wait()
        if backend.failures_left:
            backend.failures_left -= 1
            return JSONResponse({}, status_code=backend.failure_status)
        instance_id = str(uuid.uuid4())
        body = {"id": instance_id, "run": backend.runs, "spec": await request.json()}
        return JSONResponse(body, status_code=202, headers={"Location": f"/v1/instances/{instance_id}"})

    @app.post("/v1/broken")
    async def broken() -> None:
        backend.runs += 1
        raise RuntimeError("the handler failed")

    @app.post("/v1/instances/{instance_id}/actions/stop", status_code=409)
    async def refuse(instance_id: str, caller: Operator) -> dict[str, str]:
        backend.runs += 1
        return {"code": "invalid_state", "id": instance_id}

    # An included router, as the gateway's routes are: its routes are found and their permissions read too.
    keys = APIRouter(prefix="/v1")

    @keys.post("/api-keys", status_code=201)
    async def create_key(caller: Manager) -> Response:
        backend.runs += 1
        secret = f"clk_secret_{backend.runs}_{uuid.uuid4().hex}"
        return JSONResponse(
            {"key": secret, "run": backend.runs},
            status_code=201,
            headers={"Cache-Control": "no-store", "Location": "/v1/api-keys/1", "X-Custom": "kept"},
        )

    app.include_router(keys)

    return app


@pytest.fixture
async def gateway_pool(database_url: str) -> AsyncIterator[db.Pool]:
    await asyncio.to_thread(migrate, database_url, schema=SCHEMA, location=MIGRATIONS)
    pool = await make_pool(database_url, SCHEMA)
    yield pool
    await pool.close()


@pytest.fixture
def backend() -> Backend:
    backend = Backend()
    backend.gate.set()
    return backend


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def post(client: httpx.AsyncClient, path: str, body: Any, key: str | None, **headers: str) -> httpx.Response:
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post(path, content=json.dumps(body).encode(), headers=headers)


async def test_ten_concurrent_posts_with_one_key_run_once_and_get_one_answer(
    gateway_pool: db.Pool, backend: Backend
) -> None:
    backend.gate.clear()
    async with client_for(make_app(gateway_pool, backend)) as client:
        sending = [asyncio.create_task(post(client, "/v1/instances", LAUNCH, "launch-1")) for _ in range(10)]
        await backend.started.wait()
        await asyncio.sleep(0.1)  # let the others reach the store and find the key taken
        backend.gate.set()
        answers = await asyncio.gather(*sending)
    assert backend.runs == 1
    assert {a.status_code for a in answers} == {202}
    assert len({a.content for a in answers}) == 1
    assert len({a.headers["location"] for a in answers}) == 1
    assert {a.headers["content-type"] for a in answers} == {"application/json"}
    replayed = [a for a in answers if a.headers.get("idempotent-replayed") == "true"]
    assert len(replayed) == 9
    assert len({a.headers["x-correlation-id"] for a in answers}) == 10  # each response is still its own
    first = next(a for a in answers if "idempotent-replayed" not in a.headers)
    assert first.json()["spec"] == LAUNCH


async def test_a_later_repeat_is_replayed_byte_for_byte(gateway_pool: db.Pool, backend: Backend) -> None:
    async with client_for(make_app(gateway_pool, backend)) as client:
        first = await post(client, "/v1/instances", LAUNCH, "k")
        again = await post(client, "/v1/instances", LAUNCH, "k")
        without_key = await post(client, "/v1/instances", LAUNCH, None)
    assert backend.runs == 2
    assert again.content == first.content and again.status_code == 202
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["content-length"] == str(len(first.content))
    assert again.headers["idempotent-replayed"] == "true"
    assert without_key.json()["id"] != first.json()["id"]


async def test_the_same_key_with_another_request_is_refused(gateway_pool: db.Pool, backend: Backend) -> None:
    async with client_for(make_app(gateway_pool, backend)) as client:
        assert (await post(client, "/v1/instances", LAUNCH, "k")).status_code == 202
        other_body = await post(client, "/v1/instances", {**LAUNCH, "name": "web-2"}, "k")
        other_query = await client.post(
            "/v1/instances?dry=1", content=json.dumps(LAUNCH).encode(), headers={"Idempotency-Key": "k"}
        )
        other_path = await post(client, "/v1/instances/i-1/actions/stop", {}, "k")
        other_project = await post(client, "/v1/instances", LAUNCH, "k", **{"X-Project": "p2"})
    for refused in (other_body, other_query, other_path):
        assert refused.status_code == 422
        assert refused.headers["content-type"] == PROBLEM_JSON
        assert refused.json()["code"] == "idempotency_key_reused"
    # Keys belong to a project: another project's "k" is another key.
    assert other_project.status_code == 202 and "idempotent-replayed" not in other_project.headers
    assert backend.runs == 2


async def test_client_errors_are_kept(gateway_pool: db.Pool, backend: Backend) -> None:
    async with client_for(make_app(gateway_pool, backend)) as client:
        first = await post(client, "/v1/instances/i-1/actions/stop", {}, "stop-1")
        again = await post(client, "/v1/instances/i-1/actions/stop", {}, "stop-1")
    assert first.status_code == again.status_code == 409
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    assert backend.runs == 1


@pytest.mark.parametrize("failure", [503, 500, 429])
async def test_a_server_error_or_429_releases_the_key(gateway_pool: db.Pool, backend: Backend, failure: int) -> None:
    backend.failures_left, backend.failure_status = 1, failure
    async with client_for(make_app(gateway_pool, backend)) as client:
        failed = await post(client, "/v1/instances", LAUNCH, "k")
        retried = await post(client, "/v1/instances", LAUNCH, "k")
        replayed = await post(client, "/v1/instances", LAUNCH, "k")
    assert failed.status_code == failure
    assert retried.status_code == 202 and "idempotent-replayed" not in retried.headers
    assert replayed.content == retried.content and replayed.headers["idempotent-replayed"] == "true"
    assert backend.runs == 2


async def test_an_exception_releases_the_key(gateway_pool: db.Pool, backend: Backend) -> None:
    async with client_for(make_app(gateway_pool, backend)) as client:
        answers = [await post(client, "/v1/broken", {}, "k") for _ in range(2)]
    assert [a.status_code for a in answers] == [500, 500]
    assert all("idempotent-replayed" not in a.headers for a in answers)
    assert backend.runs == 2
    assert await gateway_pool.fetchval("SELECT count(*) FROM idempotency_keys") == 0


async def test_a_repeat_waits_for_the_first_then_replays(gateway_pool: db.Pool, backend: Backend) -> None:
    backend.gate.clear()
    async with client_for(make_app(gateway_pool, backend)) as client:
        first = asyncio.create_task(post(client, "/v1/instances", LAUNCH, "k"))
        await backend.started.wait()
        repeat = asyncio.create_task(post(client, "/v1/instances", LAUNCH, "k"))
        await asyncio.sleep(0.3)
        assert not repeat.done()
        backend.gate.set()
        answers = await asyncio.gather(first, repeat)
    assert answers[0].content == answers[1].content
    assert answers[1].headers["idempotent-replayed"] == "true"
    assert backend.runs == 1


async def test_waiting_is_bounded(gateway_pool: db.Pool, backend: Backend) -> None:
    backend.gate.clear()
    async with client_for(make_app(gateway_pool, backend, wait_seconds=0.3)) as client:
        first = asyncio.create_task(post(client, "/v1/instances", LAUNCH, "k"))
        await backend.started.wait()
        repeat = await post(client, "/v1/instances", LAUNCH, "k")
        backend.gate.set()
        assert (await first).status_code == 202
    assert repeat.status_code == 409
    assert repeat.json()["code"] == "idempotency_key_in_progress"
    assert repeat.headers["retry-after"] == "1"
    assert backend.runs == 1


async def test_a_claim_whose_lease_ran_out_is_taken_over(gateway_pool: db.Pool, backend: Backend) -> None:
    body = json.dumps(LAUNCH).encode()
    store = IdempotencyStore(lambda: gateway_pool, KEYRING)
    # A gateway claimed the key and died with it.
    print_ = KEYRING.digests(fingerprint("POST", "/v1/instances", b"", body))[0]
    dead = await store.claim(OWNER_K, "owner", print_, lease=0.05)
    assert dead is not None
    await asyncio.sleep(0.1)
    async with client_for(make_app(gateway_pool, backend)) as client:
        taken = await client.post("/v1/instances", content=body, headers={"Idempotency-Key": "k"})
        other = await post(client, "/v1/instances", {**LAUNCH, "name": "x"}, "k")
    assert taken.status_code == 202 and "idempotent-replayed" not in taken.headers
    assert other.status_code == 422
    assert backend.runs == 1
    # The dead gateway's late answer does not overwrite the one given.
    assert not await store.complete(OWNER_K, dead, StoredAnswer(201, [], b"late"))
    record = await store.get(OWNER_K)
    assert record is not None and record.answer is not None and record.answer.body == taken.content


async def test_a_stored_print_is_keyed_and_holds_across_a_key_rotation(gateway_pool: db.Pool, backend: Backend) -> None:
    old = "idempotency-test-key-0123456789abcdef"
    new = "idempotency-rotated-key-0123456789abcdef"
    body = {**LAUNCH, "password": "hunter2"}
    async with client_for(make_app(gateway_pool, backend)) as client:
        first = await post(client, "/v1/instances", body, "k")
    assert first.status_code == 202
    stored = await IdempotencyStore(lambda: gateway_pool, KEYRING).get(OWNER_K)
    plain = fingerprint("POST", "/v1/instances", b"", json.dumps(body).encode())
    assert stored is not None and stored.fingerprint != plain, "a body's digest alone could be guessed by trying"
    assert stored.fingerprint == KEYRING.digests(plain)[0]
    rotated = Keyring(new, [old], purpose=SEALING_PURPOSE)
    async with client_for(make_app(gateway_pool, backend, keyring=rotated)) as client:
        again = await post(client, "/v1/instances", body, "k")
        other = await post(client, "/v1/instances", {**body, "password": "hunter3"}, "k")
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert backend.runs == 1


async def test_a_live_claim_is_not_taken_over(gateway_pool: db.Pool) -> None:
    store = IdempotencyStore(lambda: gateway_pool, KEYRING)
    print_ = fingerprint("POST", "/v1/x", b"", b"{}")
    holder = await store.claim(OWNER_K, "owner", print_, lease=60)
    assert holder is not None
    assert await store.claim(OWNER_K, "owner", print_, lease=60) is None
    await store.release(OWNER_K, uuid.uuid4())  # someone else's token releases nothing
    assert await store.get(OWNER_K) is not None
    await store.release(OWNER_K, holder)
    assert await store.get(OWNER_K) is None


async def test_keys_are_purged_after_their_ttl_and_may_then_be_reused(gateway_pool: db.Pool, backend: Backend) -> None:
    store = IdempotencyStore(lambda: gateway_pool, KEYRING)
    async with client_for(make_app(gateway_pool, backend)) as client:
        assert (await post(client, "/v1/instances", LAUNCH, "old")).status_code == 202
        assert (await post(client, "/v1/instances", LAUNCH, "new")).status_code == 202
        assert await store.purge(timedelta(hours=24)) == 0
        await gateway_pool.execute(
            "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'"
        )
        assert await store.purge(timedelta(hours=24)) == 1
        reused = await post(client, "/v1/instances", {**LAUNCH, "name": "web-2"}, "old")
        kept = await post(client, "/v1/instances", LAUNCH, "new")
    assert reused.status_code == 202 and reused.json()["spec"]["name"] == "web-2"
    assert kept.headers["idempotent-replayed"] == "true"
    assert backend.runs == 3


async def test_the_purge_works_in_batches(gateway_pool: db.Pool) -> None:
    await gateway_pool.executemany(
        "INSERT INTO idempotency_keys (project_id, principal, key, authority, fingerprint, state, claim, created_at)"
        " VALUES ('p', 'key:k1', $1, 'owner', '\\x00', 'in_progress', gen_random_uuid(), now() - interval '2 days')",
        [(f"k{i}",) for i in range(30)],
    )
    assert await IdempotencyStore(lambda: gateway_pool, KEYRING).purge(timedelta(hours=24), batch=7) == 30
    assert await gateway_pool.fetchval("SELECT count(*) FROM idempotency_keys") == 0


async def test_without_the_store_a_keyed_post_is_refused(database_url: str, backend: Backend) -> None:
    await asyncio.to_thread(migrate, database_url, schema=SCHEMA, location=MIGRATIONS)
    pool = await make_pool(database_url, SCHEMA)
    await pool.close()
    async with client_for(make_app(pool, backend)) as client:
        refused = await post(client, "/v1/instances", LAUNCH, "k")
        unkeyed = await post(client, "/v1/instances", LAUNCH, None)
    assert refused.status_code == 503 and refused.json()["code"] == "service_unavailable"
    assert unkeyed.status_code == 202
    assert backend.runs == 1


# Keys belong to their caller: nobody is ever answered what somebody else was.

VIEWER = {"X-Principal": "user:viewer", "X-Role": "viewer"}
OPERATOR = {"X-Principal": "user:operator", "X-Role": "operator"}
OWNER = {"X-Principal": "user:owner", "X-Role": "owner"}


async def test_another_caller_with_the_same_key_and_request_gets_its_own_execution(
    gateway_pool: db.Pool, backend: Backend
) -> None:
    async with client_for(make_app(gateway_pool, backend)) as client:
        first = await post(client, "/v1/api-keys", {"name": "ci"}, "ci-1", **OWNER)
        other_owner = await post(client, "/v1/api-keys", {"name": "ci"}, "ci-1", **{"X-Principal": "user:owner2"})
        again = await post(client, "/v1/api-keys", {"name": "ci"}, "ci-1", **OWNER)
    assert first.status_code == other_owner.status_code == 201
    assert "idempotent-replayed" not in other_owner.headers
    assert other_owner.json()["key"] != first.json()["key"]
    assert again.headers["idempotent-replayed"] == "true" and again.content == first.content
    assert backend.runs == 2


async def test_a_lower_role_replaying_a_key_gets_the_routes_refusal_never_the_stored_answer(
    gateway_pool: db.Pool, backend: Backend
) -> None:
    async with client_for(make_app(gateway_pool, backend)) as client:
        first = await post(client, "/v1/api-keys", {"name": "ci", "role": "owner"}, "ci-1", **OWNER)
        # The same principal name could not be forged past authentication; a viewer of its own is refused anyway.
        for caller in (VIEWER, OPERATOR, {**OWNER, "X-Role": "viewer"}):
            refused = await post(client, "/v1/api-keys", {"name": "ci", "role": "owner"}, "ci-1", **caller)
            assert refused.status_code == 403, caller
            assert refused.headers["content-type"] == PROBLEM_JSON
            assert "idempotent-replayed" not in refused.headers
            assert first.json()["key"] not in refused.text
    assert backend.runs == 1


async def test_a_refusal_is_not_stored_so_it_poisons_nothing(gateway_pool: db.Pool, backend: Backend) -> None:
    async with client_for(make_app(gateway_pool, backend)) as client:
        refused = await post(client, "/v1/instances", LAUNCH, "launch-1", **VIEWER)
        own = await post(client, "/v1/instances", LAUNCH, "launch-1", **OPERATOR)
        # The viewer made an operator (same principal): its first refusal was not kept.
        promoted = await post(client, "/v1/instances", LAUNCH, "launch-1", **{**VIEWER, "X-Role": "operator"})
    assert refused.status_code == 403
    assert own.status_code == 202 and "idempotent-replayed" not in own.headers
    assert promoted.status_code == 202 and "idempotent-replayed" not in promoted.headers
    assert backend.runs == 2


async def test_a_caller_whose_role_changed_gets_no_replay(gateway_pool: db.Pool, backend: Backend) -> None:
    async with client_for(make_app(gateway_pool, backend)) as client:
        first = await post(client, "/v1/instances", LAUNCH, "launch-1", **OPERATOR)
        demoted = await post(client, "/v1/instances", LAUNCH, "launch-1", **{**OPERATOR, "X-Role": "viewer"})
        promoted = await post(client, "/v1/instances", LAUNCH, "launch-1", **{**OPERATOR, "X-Role": "owner"})
        made_admin = await post(client, "/v1/instances", LAUNCH, "launch-1", **OPERATOR, **{"X-Admin": "1"})
        same = await post(client, "/v1/instances", LAUNCH, "launch-1", **OPERATOR)
    assert first.status_code == 202
    assert demoted.status_code == 403
    for changed in (promoted, made_admin):
        assert changed.status_code == 422 and changed.json()["code"] == "idempotency_key_reused"
        assert first.json()["id"] not in changed.text
    assert same.headers["idempotent-replayed"] == "true" and same.content == first.content
    assert backend.runs == 1


async def test_a_replay_carries_the_original_headers(gateway_pool: db.Pool, backend: Backend) -> None:
    async with client_for(make_app(gateway_pool, backend)) as client:
        first = await post(client, "/v1/api-keys", {"name": "ci"}, "ci-1")
        again = await post(client, "/v1/api-keys", {"name": "ci"}, "ci-1")
    assert again.headers["idempotent-replayed"] == "true"
    for header in ("cache-control", "location", "x-custom", "content-type"):
        assert again.headers[header] == first.headers[header], header
    assert again.headers["cache-control"] == "no-store"
    assert again.headers["x-correlation-id"] != first.headers["x-correlation-id"]


async def test_stored_answers_are_sealed_and_bound_to_their_row(gateway_pool: db.Pool, backend: Backend) -> None:
    async with client_for(make_app(gateway_pool, backend)) as client:
        first = await post(client, "/v1/api-keys", {"name": "ci"}, "ci-1")
        secret = first.json()["key"].encode()
        rows = await gateway_pool.fetch("SELECT * FROM idempotency_keys")
        assert len(rows) == 1
        stored = b"".join(bytes(v) if isinstance(v, bytes) else str(v).encode() for v in rows[0].values())
        assert secret not in stored and b"no-store" not in stored
        # The sealed answer copied onto another caller's row does not open there.
        await post(client, "/v1/api-keys", {"name": "ci"}, "ci-1", **{"X-Principal": "user:thief"})
        await gateway_pool.execute(
            "UPDATE idempotency_keys SET answer = (SELECT answer FROM idempotency_keys WHERE principal = 'key:k1')"
            " WHERE principal = 'user:thief'"
        )
        stolen = await post(client, "/v1/api-keys", {"name": "ci"}, "ci-1", **{"X-Principal": "user:thief"})
        # Another keyring (another CLANAVI_SECRET_KEY, or the credentials' purpose) opens nothing either.
        other = IdempotencyStore(lambda: gateway_pool, Keyring("idempotency-test-key-0123456789abcdef"))
    assert stolen.status_code == 409 and stolen.json()["code"] == "idempotency_answer_unreadable"
    assert secret not in stolen.content
    with pytest.raises(UnreadableAnswer):
        await other.get(KeyOwner("p1", "key:k1", "ci-1"))
