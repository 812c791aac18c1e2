"""The whole audit app on real PostgreSQL and RabbitMQ: events published on the bus come out over HTTP."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from devstack import PostgresServer, RabbitServer, free_port
from kernel.bus import Bus
from kernel.events import Envelope
from kernel.events.identity import PLATFORM_SCOPE
from kernel.identity import Identity, IdentitySigner, Role
from kernel.settings import KernelSettings
from services.audit.app import create_app
from services.audit.settings import AuditSettings
from tests.conftest import INTERNAL_KEY
from tests.signing import identity_headers

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
P1 = identity_headers("p1")


@dataclass
class Stack:
    postgres: PostgresServer
    rabbit: RabbitServer


@pytest.fixture(scope="module")
def audit_stack() -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix="clanavi-audit-app-"))
    root.chmod(0o755)  # as root PostgreSQL runs as `postgres`, which must reach its directory
    stack = Stack(
        PostgresServer(root=root / "pg", port=free_port(), durable=False),
        RabbitServer(root=root / "rabbit", port=free_port()),
    )
    try:
        stack.postgres.start()
        stack.rabbit.start()
        yield stack
    finally:
        stack.rabbit.stop()
        stack.postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def settings_on(stack: Stack, **changes: Any) -> Iterator[AuditSettings]:
    """The audit's settings on a database of its own in `stack`, dropped afterwards; `changes` are the audit's own."""
    name = f"audit_{uuid.uuid4().hex[:12]}"
    stack.postgres.create_database(name)
    kernel = KernelSettings(
        env="test",
        database_url=SecretStr(stack.postgres.admin_url(name)),
        amqp_url=SecretStr(stack.rabbit.url),
        bus_prefix=f"t{uuid.uuid4().hex[:10]}",
        internal_key=SecretStr(INTERNAL_KEY),
    )
    try:
        yield AuditSettings(kernel=kernel, **changes)
    finally:
        stack.postgres.drop_database(name)


@pytest.fixture
def audit_settings(audit_stack: Stack) -> Iterator[AuditSettings]:
    with settings_on(audit_stack) as settings:
        yield settings


@pytest.fixture
async def app(audit_settings: AuditSettings) -> AsyncIterator[FastAPI]:
    app = create_app(audit_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://audit") as client:
        yield client


@pytest.fixture
async def publisher(audit_settings: AuditSettings, app: FastAPI) -> AsyncIterator[Bus]:
    kernel = audit_settings.kernel
    bus = Bus(kernel.amqp_url.get_secret_value(), prefix=kernel.bus_prefix, service="test-publisher")
    await bus.connect()
    yield bus
    await bus.close()


def event(n: int, **changes: Any) -> Envelope:
    fields: dict[str, Any] = {
        "type": "instance.launched",
        "version": 1,
        "occurred_at": T0 + timedelta(seconds=n),
        "project_id": "p1",
        "correlation_id": f"corr-{n}",
        "subject": f"i-{n}",
        "payload": {"n": n},
    }
    fields.update(changes)
    return Envelope.model_validate(fields)


async def publish(bus: Bus, *envelopes: Envelope) -> None:
    await bus.publish_many([(e.routing_key, str(e.id), e.model_dump_json().encode()) for e in envelopes])


async def wait_for_count(client: httpx.AsyncClient, count: int, project: str = "p1") -> None:
    """Poll until the project's trail holds `count` events."""
    deadline = asyncio.get_running_loop().time() + 15
    headers = identity_headers(project)
    while True:
        items = (await client.get("/v1/audit/events", params={"limit": 500}, headers=headers)).json()["items"]
        if len(items) >= count:
            return
        assert asyncio.get_running_loop().time() < deadline, f"expected {count} events, have {items}"
        await asyncio.sleep(0.05)


async def test_events_on_the_bus_reach_the_trail(client: httpx.AsyncClient, publisher: Bus) -> None:
    first, second = event(1), event(2, type="instance.stopped", subject="i-1")
    await publish(publisher, first, second, first)  # the duplicate is skipped by the inbox
    await wait_for_count(client, 2)

    response = await client.get("/v1/audit/events", headers=P1)
    assert response.status_code == 200
    body = response.json()
    assert body["next_cursor"] is None
    assert [item["id"] for item in body["items"]] == [str(first.id), str(second.id)]
    item = body["items"][0]
    assert set(item) == {
        "id",
        "type",
        "version",
        "occurred_at",
        "project_id",
        "correlation_id",
        "causation_id",
        "subject",
        "payload",
        "seq",
        "received_at",
        "hash",
        "hash_version",
    }
    assert item["payload"] == {"n": 1} and len(bytes.fromhex(item["hash"])) == 32 and item["hash_version"] == 2

    verify = await client.get("/v1/audit/verify", headers=identity_headers("p1", admin=True))
    assert verify.json() == {"valid": True, "checked": 2, "first_invalid_seq": None}


async def test_query_parameters(client: httpx.AsyncClient, publisher: Bus) -> None:
    envelopes = [
        event(1),
        event(2, type="instance.stopped", subject="i-1"),
        event(3, type="cloud.added", subject=None),
        event(4, correlation_id="req-x"),
        event(5, project_id="default"),
    ]
    await publish(publisher, *envelopes)
    await wait_for_count(client, 4)
    await wait_for_count(client, 1, project="default")

    async def ids(**params: Any) -> list[str]:
        response = await client.get("/v1/audit/events", params=params, headers=P1)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    e1, e2, e3, e4, e5 = (str(e.id) for e in envelopes)
    assert await ids(type=["instance.stopped", "cloud.added"]) == [e2, e3]
    assert await ids(resource_id="i-1") == [e1, e2]
    assert await ids(correlation_id="req-x") == [e4]
    assert await ids(since="2024-05-01T12:00:02Z", until="2024-05-01T12:00:04") == [e2, e3]
    assert await ids(order="desc") == [e4, e3, e2, e1]

    default = await client.get("/v1/audit/events", headers=identity_headers("default"))
    assert [item["id"] for item in default.json()["items"]] == [e5]

    pages: list[str] = []
    params: dict[str, Any] = {"limit": 3, "order": "desc"}
    while True:
        page = (await client.get("/v1/audit/events", params=params, headers=P1)).json()
        pages += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert pages == [e4, e3, e2, e1]


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2024-05-02T00:00:00Z", "until": "2024-05-01T00:00:00Z"},
        {"limit": 0},
        {"limit": 501},
        {"order": "sideways"},
        {"cursor": "not-a-cursor"},
        {"since": "yesterday"},
    ],
)
async def test_invalid_queries_are_problems(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    response = await client.get("/v1/audit/events", params=params, headers={"X-Correlation-ID": "trace-1", **P1})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-correlation-id"] == "trace-1"
    problem = response.json()
    assert problem["code"] == "validation_failed" and problem["correlation_id"] == "trace-1"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Clanavi-Identity": "not-a-token"},
        # signed with another key: a caller who does not hold the internal key cannot forge an identity
        {"X-Clanavi-Identity": IdentitySigner(b"k" * 32).sign(Identity("user:x", "p1", Role.OWNER, admin=True))},
    ],
)
async def test_calls_without_the_gateways_signature_are_refused(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/v1/audit/events", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


@pytest.mark.parametrize("role", list(Role))
async def test_only_platform_admins_may_verify_the_chain(client: httpx.AsyncClient, role: Role) -> None:
    # Validly signed, so only the audit service's own check stands between these callers and the whole chain.
    response = await client.get("/v1/audit/verify", headers=identity_headers("p1", role))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "forbidden"

    admin = await client.get("/v1/audit/verify", headers=identity_headers("p1", role, admin=True))
    assert admin.status_code == 200
    assert admin.json() == {"valid": True, "checked": 0, "first_invalid_seq": None}


async def test_a_viewer_lists_the_events_of_its_project(client: httpx.AsyncClient, publisher: Bus) -> None:
    mine, theirs = event(1), event(2, project_id="p2")
    await publish(publisher, mine, theirs)
    await wait_for_count(client, 1, project="p2")
    await wait_for_count(client, 1)
    response = await client.get("/v1/audit/events", headers=identity_headers("p1", Role.VIEWER))
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["items"]] == [str(mine.id)]


async def test_the_platforms_events_are_listed_apart_and_to_platform_admins_only(
    client: httpx.AsyncClient, publisher: Bus
) -> None:
    platform = event(1, type="user.created", project_id=PLATFORM_SCOPE, subject="u-1", payload={"admin": True})
    default = event(2, project_id="default")
    await publish(publisher, platform, default)
    await wait_for_count(client, 1, project="default")
    admin = identity_headers("default", admin=True)
    deadline = asyncio.get_running_loop().time() + 15
    while not (await client.get("/v1/audit/events", params={"scope": "platform"}, headers=admin)).json()["items"]:
        assert asyncio.get_running_loop().time() < deadline, "the platform's event was not recorded"
        await asyncio.sleep(0.05)

    async def ids(headers: dict[str, str], **params: str) -> list[str]:
        response = await client.get("/v1/audit/events", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    for role in Role:
        assert await ids(identity_headers("default", role)) == [str(default.id)]
    assert await ids(admin) == await ids(admin, scope="project") == [str(default.id)]
    assert await ids(admin, scope="platform") == [str(platform.id)]
    assert await ids(admin, scope="platform", resource_id="u-1", type="user.created") == [str(platform.id)]
    assert await ids(identity_headers("p1", admin=True), scope="platform") == [str(platform.id)]
    for role in Role:
        refused = await client.get(
            "/v1/audit/events", params={"scope": "platform"}, headers=identity_headers("default", role)
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "forbidden" and str(platform.id) not in refused.text
    unknown = await client.get("/v1/audit/events", params={"scope": "everything"}, headers=admin)
    assert unknown.status_code == 422 and "query.scope" in [e["location"] for e in unknown.json()["errors"]]

    declared = (await client.get("/openapi.json")).json()["paths"]["/v1/audit/events"]["get"]
    scope = next(p for p in declared["parameters"] if p["name"] == "scope")
    assert scope["in"] == "query" and scope["schema"]["enum"] == ["project", "platform"]
    assert "admins" in scope["description"] and "403" in declared["responses"]


async def test_verify_reports_a_changed_receipt_time(
    client: httpx.AsyncClient, publisher: Bus, audit_settings: AuditSettings
) -> None:
    await publish(publisher, event(1), event(2), event(3))
    await wait_for_count(client, 3)
    items = (await client.get("/v1/audit/events", headers=P1)).json()["items"]
    target = items[1]["seq"]

    # What someone with database access could do: the guard trigger off, one field of one record changed.
    url = audit_settings.kernel.database_url.get_secret_value()
    conn = await asyncpg.connect(url, server_settings={"search_path": "audit"})
    try:
        async with conn.transaction():
            await conn.execute("ALTER TABLE events DISABLE TRIGGER events_no_update_or_delete")
            await conn.execute("UPDATE events SET received_at = received_at - interval '1 hour' WHERE seq = $1", target)
            await conn.execute("ALTER TABLE events ENABLE TRIGGER events_no_update_or_delete")
    finally:
        await conn.close()

    verify = await client.get("/v1/audit/verify", headers=identity_headers("p1", admin=True))
    checked = sum(1 for item in items if item["seq"] <= target)
    assert verify.json() == {"valid": False, "checked": checked, "first_invalid_seq": target}


async def test_probes(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": True, "broker": True}
    assert "/v1/audit/events" in (await client.get("/openapi.json")).json()["paths"]
