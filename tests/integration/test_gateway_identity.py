"""The whole gateway on real PostgreSQL and RabbitMQ: logging in, users, projects, members, API keys, and the
authorisation every route applies (the services behind the gateway are not running: identity needs none of them)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
from aio_pika.abc import AbstractChannel, AbstractQueue
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import Response

from clanavi.console.session import SEALING_PURPOSE, ConsoleSession, SessionCookies
from kernel.events import Envelope
from kernel.events.identity import PLATFORM_SCOPE
from kernel.identity import Identity, IdentitySigner, Role
from kernel.settings import KernelSettings
from services.gateway.app import create_app
from services.gateway.identity.tokens import AccessTokens
from services.gateway.settings import GatewaySettings
from tests.conftest import INTERNAL_KEY, SECRET_KEY, Servers

pytestmark = pytest.mark.integration

ADMIN_TOKEN = "integration-admin-token-0123"
ADMIN_EMAIL = "Root@Clanavi.Test"
ADMIN_PASSWORD = "bootstrap-password-0123"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NOWHERE = "http://127.0.0.1:9"  # the services behind the gateway are not running


def gateway_settings(servers: Servers, database_url: str, bus_prefix: str, **changes: Any) -> GatewaySettings:
    kernel = KernelSettings(
        env="test",
        database_url=SecretStr(database_url),
        amqp_url=SecretStr(servers.rabbit.url),
        bus_prefix=bus_prefix,
        internal_key=SecretStr(INTERNAL_KEY),
        secret_key=SecretStr(SECRET_KEY),
        db_pool_min=1,
        db_pool_max=5,
    )
    fields: dict[str, Any] = {
        "kernel": kernel,
        "admin_token": SecretStr(ADMIN_TOKEN),
        "bootstrap_admin_email": ADMIN_EMAIL,
        "bootstrap_admin_password": SecretStr(ADMIN_PASSWORD),
        "provisioner_url": NOWHERE,
        "audit_url": NOWHERE,
        # These tests log in many times from one address; the rate limits have tests of their own.
        "rate_limit_per_ip": 0,
        "rate_limit_per_key": 0,
        "login_rate_per_ip": 0,
        **changes,
    }
    return GatewaySettings(**fields)


@dataclass
class Gateway:
    client: httpx.AsyncClient
    database_url: str
    events: AbstractQueue
    seen: list[Envelope]

    async def events_of(self, type_: str, subject: str, *, within: float = 10) -> list[Envelope]:
        """The events of `type_` about `subject`, waiting until at least one arrived."""
        deadline = time.monotonic() + within
        while True:
            while (message := await self.events.get(no_ack=True, fail=False)) is not None:
                self.seen.append(Envelope.model_validate_json(message.body))
            found = [e for e in self.seen if e.type == type_ and e.subject == subject]
            if found:
                return found
            assert time.monotonic() < deadline, f"no {type_} event about {subject}"
            await asyncio.sleep(0.05)


@asynccontextmanager
async def running(servers: Servers, database_url: str, **changes: Any) -> AsyncIterator[Gateway]:
    """The gateway app on `database_url`, with a queue that taps every event it publishes."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    amqp = await aio_pika.connect_robust(servers.rabbit.url)
    try:
        channel: AbstractChannel = await amqp.channel()
        exchange = await channel.declare_exchange(f"{prefix}.events", aio_pika.ExchangeType.TOPIC, durable=True)
        tap = await channel.declare_queue(exclusive=True, auto_delete=True)
        await tap.bind(exchange, routing_key="#")
        app = create_app(gateway_settings(servers, database_url, prefix, **changes))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
        ):
            yield Gateway(client, database_url, tap, [])
    finally:
        await amqp.close()


@pytest.fixture(scope="module")
async def gateway_database(servers: Servers) -> AsyncIterator[str]:
    name = f"t_gw_{uuid.uuid4().hex[:10]}"
    await asyncio.to_thread(servers.postgres.create_database, name)
    yield servers.database_url(name)
    await asyncio.to_thread(servers.postgres.drop_database, name)


@pytest.fixture(scope="module")
async def gw(servers: Servers, gateway_database: str) -> AsyncIterator[Gateway]:
    """One gateway for the module; each test makes users and projects of its own."""
    async with running(servers, gateway_database) as gateway:
        yield gateway


@pytest.fixture
def client(gw: Gateway) -> httpx.AsyncClient:
    return gw.client


@pytest.fixture
async def db(gw: Gateway) -> AsyncIterator[asyncpg.Connection[asyncpg.Record]]:
    conn = await asyncpg.connect(gw.database_url, server_settings={"search_path": "gateway"})
    yield conn
    await conn.close()


# --- helpers ------------------------------------------------------------------------------------------------------


def bearer(token: str, project: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if project is not None:
        headers["X-Clanavi-Project"] = project
    return headers


def admin(project: str | None = None) -> dict[str, str]:
    return bearer(ADMIN_TOKEN, project)


@dataclass
class Person:
    id: str
    email: str
    password: str


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/v1/auth/token", data={"grant_type": "password", "username": email, "password": password})


async def access_token(client: httpx.AsyncClient, person: Person) -> str:
    response = await login(client, person.email, person.password)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": token})


async def new_project(client: httpx.AsyncClient) -> str:
    project = f"p-{uuid.uuid4().hex[:8]}"
    response = await client.post("/v1/projects", json={"id": project, "name": f"Project {project}"}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return project


async def new_user(client: httpx.AsyncClient, *memberships: tuple[str, Role], is_admin: bool = False) -> Person:
    email = f"u-{uuid.uuid4().hex[:8]}@example.com"
    password = f"pw-{uuid.uuid4().hex}"
    response = await client.post(
        "/v1/users", json={"email": email, "name": "Somebody", "password": password, "admin": is_admin}, headers=ADMIN
    )
    assert response.status_code == 201, response.text
    person = Person(response.json()["id"], email, password)
    for project, role in memberships:
        added = await client.put(f"/v1/members/{person.id}", json={"role": role.value}, headers=admin(project))
        assert added.status_code == 201, added.text
    return person


async def new_key(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post("/v1/api-keys", json={"name": "ci", **body}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def shape(response: httpx.Response, project: str) -> str:
    """A problem answer with the project id it names and its correlation id left out."""
    body = response.json()
    body.pop("correlation_id")
    return json.dumps(body).replace(project, "<project>")


async def eventually_status(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], status: int, *, within: float
) -> float:
    """Seconds until `path` answers `status`, failing after `within`."""
    started = time.monotonic()
    while True:
        if (await client.get(path, headers=headers)).status_code == status:
            return time.monotonic() - started
        assert time.monotonic() - started < within, f"{path} did not answer {status} within {within}s"
        await asyncio.sleep(0.02)


# --- the seeded admin token and admin user --------------------------------------------------------------------


async def test_the_admin_token_is_a_seeded_admin_key_stored_only_hashed(
    client: httpx.AsyncClient, db: asyncpg.Connection[asyncpg.Record]
) -> None:
    me = await client.get("/v1/me", headers=ADMIN)

    assert me.status_code == 200, me.text
    body = me.json()
    assert body["kind"] == "api_key" and body["admin"] is True
    assert body["project_id"] == "default" and body["role"] == "owner"
    assert body["api_key"]["name"] == "CLANAVI_ADMIN_TOKEN" and body["api_key"]["project_id"] is None
    assert ADMIN_TOKEN not in me.text
    rows = await db.fetch("SELECT * FROM api_keys WHERE name = 'CLANAVI_ADMIN_TOKEN'")
    assert len(rows) == 1
    assert rows[0]["key_hash"] == hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()
    assert rows[0]["is_admin"] and rows[0]["project_id"] is None and rows[0]["revoked_at"] is None
    assert not any(ADMIN_TOKEN[:12] in str(value) for value in rows[0].values()), "the token is stored in clear"


async def test_the_bootstrap_admin_logs_in_and_owns_default(client: httpx.AsyncClient) -> None:
    response = await login(client, ADMIN_EMAIL.lower(), ADMIN_PASSWORD)  # emails match in any case

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    me = (await client.get("/v1/me", headers=bearer(tokens["access_token"]))).json()
    assert me["kind"] == "user" and me["admin"] is True
    assert me["user"]["email"] == ADMIN_EMAIL and me["project_id"] == "default" and me["role"] == "owner"
    assert {"id": "default", "name": "Default", "role": "owner"} in me["projects"]


async def test_changing_the_admin_token_replaces_its_key(servers: Servers, database_url: str) -> None:
    async with running(servers, database_url, bootstrap_admin_email=None) as first:
        assert (await first.client.get("/v1/me", headers=ADMIN)).status_code == 200
    new_token = "another-admin-token-456789"
    async with running(servers, database_url, admin_token=SecretStr(new_token)) as second:
        assert (await second.client.get("/v1/me", headers=ADMIN)).status_code == 401
        assert (await second.client.get("/v1/me", headers=bearer(new_token))).status_code == 200
        listed = await second.client.get("/v1/api-keys", params={"admin": "true"}, headers=bearer(new_token))
        states = sorted(k["state"] for k in listed.json()["items"] if k["name"] == "CLANAVI_ADMIN_TOKEN")
        assert states == ["active", "revoked"]
        await second.events_of(
            "api_key.revoked", next(k["id"] for k in listed.json()["items"] if k["state"] == "revoked")
        )
    async with running(servers, database_url, admin_token=SecretStr(new_token)) as third:
        assert (await third.client.get("/v1/me", headers=bearer(new_token))).status_code == 200
        conn = await asyncpg.connect(database_url)
        try:
            assert await conn.fetchval("SELECT count(*) FROM gateway.api_keys") == 2, "a restart seeded again"
            assert await conn.fetchval("SELECT count(*) FROM gateway.users") == 1
        finally:
            await conn.close()


# --- logging in ---------------------------------------------------------------------------------------------------


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(client: httpx.AsyncClient) -> None:
    person = await new_user(client)

    wrong = await login(client, person.email, "not-the-password")
    unknown = await login(client, f"nobody-{uuid.uuid4().hex}@example.com", person.password)

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "unauthenticated"
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_incomplete_token_requests_are_validation_problems(client: httpx.AsyncClient) -> None:
    for data in (
        {"grant_type": "password", "username": "x@example.com"},
        {"grant_type": "refresh_token"},
        {"grant_type": "client_credentials"},
        {"grant_type": "password", "username": "a@b.c", "password": "p", "extra": "x"},
    ):
        response = await client.post("/v1/auth/token", data=data)
        assert response.status_code == 422, (data, response.text)
        assert response.json()["code"] == "validation_failed"


async def test_refresh_tokens_rotate_and_a_reused_one_ends_the_login(client: httpx.AsyncClient) -> None:
    person = await new_user(client, ("default", Role.VIEWER))
    first = (await login(client, person.email, person.password)).json()

    second = await refresh(client, first["refresh_token"])
    assert second.status_code == 200, second.text
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert (await client.get("/v1/me", headers=bearer(second.json()["access_token"]))).status_code == 200
    third = await refresh(client, second.json()["refresh_token"])
    assert third.status_code == 200

    reused = await refresh(client, first["refresh_token"])
    assert reused.status_code == 401 and reused.json()["code"] == "unauthenticated"
    assert (await refresh(client, third.json()["refresh_token"])).status_code == 401, "the family is revoked"

    other_login = (await login(client, person.email, person.password)).json()
    assert (await refresh(client, other_login["refresh_token"])).status_code == 200, "other logins are unaffected"


def _session_of(cookies: SessionCookies, answer: httpx.Response) -> ConsoleSession | None:
    value = SimpleCookie(answer.headers["set-cookie"])["clanavi_console"].value
    return cookies.read(Request({"type": "http", "headers": [(b"cookie", f"clanavi_console={value}".encode())]}))


async def test_two_replicas_renewing_one_console_session_at_once_keep_the_login(
    servers: Servers, gateway_database: str, gw: Gateway
) -> None:
    person = await new_user(gw.client, ("default", Role.VIEWER))
    issued = (await login(gw.client, person.email, person.password)).json()
    settings = gateway_settings(servers, gateway_database, "unused")
    cookies = SessionCookies(settings.kernel.keyring(purpose=SEALING_PURPOSE), "/console", 60)
    # A console session whose access token is due: the next page of either replica renews it first.
    due = ConsoleSession(issued["access_token"], issued["refresh_token"], time.time(), "c" * 43, "default")
    written = Response()
    cookies.write(
        written,
        Request({"type": "http", "headers": [], "server": ("gateway", 80), "path": "/console", "query_string": b""}),
        due,
    )
    cookie = {"Cookie": f"clanavi_console={SimpleCookie(written.headers['set-cookie'])['clanavi_console'].value}"}

    async with running(servers, gateway_database) as replica:
        pages = await asyncio.gather(*(c.get("/console/members", headers=cookie) for c in (gw.client, replica.client)))

    assert [page.status_code for page in pages] == [200, 200], [page.headers.get("location") for page in pages]
    first, second = (_session_of(cookies, page) for page in pages)
    assert first is not None and second is not None
    assert first.refresh_token == second.refresh_token != issued["refresh_token"]
    # The login goes on: the new refresh token works (once); the old one, used again without the console's renewal
    # key, is a leak that ends it.
    again = await refresh(gw.client, first.refresh_token)
    assert again.status_code == 200, again.text
    assert (await refresh(gw.client, issued["refresh_token"])).status_code == 401
    assert (await refresh(gw.client, again.json()["refresh_token"])).status_code == 401


async def test_logout_ends_the_callers_login_only(client: httpx.AsyncClient) -> None:
    person, stranger = (
        await new_user(client, ("default", Role.VIEWER)),
        await new_user(client, ("default", Role.VIEWER)),
    )
    tokens = (await login(client, person.email, person.password)).json()
    theirs = (await login(client, stranger.email, stranger.password)).json()
    headers = bearer(tokens["access_token"])

    body = {"refresh_token": tokens["refresh_token"]}
    assert (await client.post("/v1/auth/logout", json=body)).status_code == 401, "logging out needs authentication"
    assert (await client.post("/v1/auth/logout", json=body, headers=headers)).status_code == 204
    assert (await refresh(client, tokens["refresh_token"])).status_code == 401
    headers = bearer(await access_token(client, person))  # the ended login's access token is refused now
    unknown = {"refresh_token": "clr_unknown"}
    assert (await client.post("/v1/auth/logout", json=unknown, headers=headers)).status_code == 204
    others = {"refresh_token": theirs["refresh_token"]}
    assert (await client.post("/v1/auth/logout", json=others, headers=headers)).status_code == 204
    assert (await refresh(client, theirs["refresh_token"])).status_code == 200, "someone else's login ended"
    assert (await client.post("/v1/auth/logout", json={"token": "x"}, headers=headers)).status_code == 422


async def test_ending_a_login_ends_its_access_tokens_at_once(client: httpx.AsyncClient) -> None:
    person = await new_user(client, ("default", Role.VIEWER))
    ended, kept = (
        (await login(client, person.email, person.password)).json(),
        (await login(client, person.email, person.password)).json(),
    )
    for tokens in (ended, kept):
        assert (await client.get("/v1/me", headers=bearer(tokens["access_token"]))).status_code == 200

    out = await client.post(
        "/v1/auth/logout", json={"refresh_token": ended["refresh_token"]}, headers=bearer(ended["access_token"])
    )

    assert out.status_code == 204
    refused = await client.get("/v1/me", headers=bearer(ended["access_token"]))
    assert refused.status_code == 401 and "ended" in refused.json()["detail"]
    assert (await client.get("/v1/me", headers=bearer(kept["access_token"]))).status_code == 200


async def test_a_reused_refresh_token_ends_every_access_token_of_its_login(client: httpx.AsyncClient) -> None:
    person = await new_user(client, ("default", Role.VIEWER))
    first = (await login(client, person.email, person.password)).json()
    second = (await refresh(client, first["refresh_token"])).json()
    for tokens in (first, second):
        assert (await client.get("/v1/me", headers=bearer(tokens["access_token"]))).status_code == 200

    assert (await refresh(client, first["refresh_token"])).status_code == 401  # reused: it leaked

    for tokens in (first, second):
        assert (await client.get("/v1/me", headers=bearer(tokens["access_token"]))).status_code == 401


async def test_a_password_change_and_a_disable_end_every_login_for_good(client: httpx.AsyncClient) -> None:
    person = await new_user(client, ("default", Role.VIEWER))
    before_password = await access_token(client, person)
    changed = await client.patch(f"/v1/users/{person.id}", json={"password": "a new long passphrase"}, headers=ADMIN)
    assert changed.status_code == 200
    assert (await client.get("/v1/me", headers=bearer(before_password))).status_code == 401

    person = Person(person.id, person.email, "a new long passphrase")
    before_disable = await access_token(client, person)
    assert (await client.patch(f"/v1/users/{person.id}", json={"disabled": True}, headers=ADMIN)).status_code == 200
    assert (await client.patch(f"/v1/users/{person.id}", json={"disabled": False}, headers=ADMIN)).status_code == 200

    assert (await client.get("/v1/me", headers=bearer(before_disable))).status_code == 401, "re-enabling revived it"
    assert (await client.get("/v1/me", headers=bearer(await access_token(client, person)))).status_code == 200


async def test_a_login_ended_by_another_replica_stops_its_access_tokens_within_a_second(
    client: httpx.AsyncClient, db: asyncpg.Connection[asyncpg.Record]
) -> None:
    person = await new_user(client, ("default", Role.VIEWER))
    tokens = (await login(client, person.email, person.password)).json()
    headers = bearer(tokens["access_token"])
    for _ in range(3):
        assert (await client.get("/v1/me", headers=headers)).status_code == 200  # cached from here on

    await db.execute("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1", uuid.UUID(person.id))

    assert await eventually_status(client, "/v1/me", headers, 401, within=1.0) < 1.0


async def test_access_tokens_that_are_expired_tampered_or_internal_are_refused(client: httpx.AsyncClient) -> None:
    person = await new_user(client, ("default", Role.VIEWER))
    token = await access_token(client, person)
    assert (await client.get("/v1/me", headers=bearer(token))).status_code == 200

    expired = AccessTokens(INTERNAL_KEY.encode(), ttl=60, clock=lambda: time.time() - 3600).issue(
        person.id, str(uuid.uuid4())
    )
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    internal = IdentitySigner(INTERNAL_KEY.encode()).sign(Identity(f"user:{person.id}", "default", Role.OWNER, True))
    answers = {
        name: await client.get("/v1/me", headers=bearer(t))
        for name, t in (("expired", expired), ("tampered", tampered), ("internal", internal))
    }

    for response in answers.values():
        assert response.status_code == 401
        assert response.json()["code"] == "unauthenticated"
        assert response.headers["www-authenticate"] == 'Bearer realm="clanavi"'
    assert "expired" in answers["expired"].json()["detail"]
    assert "expired" not in answers["tampered"].json()["detail"]


# --- authorisation ------------------------------------------------------------------------------------------------


async def test_a_viewer_reads_but_may_not_manage_or_administer(client: httpx.AsyncClient) -> None:
    project = await new_project(client)
    viewer = await new_user(client, (project, Role.VIEWER))
    headers = bearer(await access_token(client, viewer))

    assert (await client.get("/v1/members", headers=headers)).status_code == 200
    assert (await client.get("/v1/me", headers=headers)).json()["role"] == "viewer"
    for method, path, body in (
        ("POST", "/v1/users", {"email": "x@example.com", "name": "x", "password": "x" * 12}),
        ("POST", "/v1/api-keys", {"name": "mine"}),
        ("GET", "/v1/api-keys", None),
        ("PUT", f"/v1/members/{viewer.id}", {"role": "owner"}),
        ("DELETE", f"/v1/members/{viewer.id}", None),
        ("POST", "/v1/projects", {"id": "mine", "name": "Mine"}),
    ):
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "forbidden"


async def test_an_operator_may_not_use_admin_or_manager_routes(client: httpx.AsyncClient) -> None:
    project = await new_project(client)
    operator = await new_user(client, (project, Role.OPERATOR))
    headers = bearer(await access_token(client, operator))

    for method, path in (
        ("GET", "/v1/users"),
        ("GET", f"/v1/users/{operator.id}"),
        ("PATCH", f"/v1/users/{operator.id}"),
        ("POST", "/v1/projects"),
        ("GET", "/v1/modules"),
        ("GET", "/v1/audit/verify"),
        ("POST", "/v1/api-keys"),
    ):
        response = await client.request(method, path, json={"admin": True}, headers=headers)
        assert response.status_code == 403, (method, path, response.text)


async def test_the_project_header_selects_among_the_callers_projects(client: httpx.AsyncClient) -> None:
    mine, other = await new_project(client), await new_project(client)
    single = await new_user(client, (mine, Role.OPERATOR))
    token = await access_token(client, single)

    me = (await client.get("/v1/me", headers=bearer(token))).json()
    assert me["project_id"] == mine and me["role"] == "operator"
    assert me["projects"] == [{"id": mine, "name": f"Project {mine}", "role": "operator"}]
    not_member = await client.get("/v1/members", headers=bearer(token, other))
    unknown = await client.get("/v1/members", headers=bearer(token, "no-such-project"))
    assert not_member.status_code == unknown.status_code == 404
    assert not_member.json()["code"] == unknown.json()["code"] == "not_found"
    assert shape(not_member, other) == shape(unknown, "no-such-project"), "the answer tells that the project exists"
    assert (await client.get(f"/v1/projects/{other}", headers=bearer(token))).status_code == 404

    several = await new_user(client, (mine, Role.VIEWER), (other, Role.OWNER))
    token = await access_token(client, several)
    must_choose = await client.get("/v1/members", headers=bearer(token))
    assert must_choose.status_code == 400 and sorted(must_choose.json()["projects"]) == sorted([mine, other])
    # Without a project the caller still sees who it is and where it belongs, acting in none.
    unchosen = (await client.get("/v1/me", headers=bearer(token))).json()
    assert unchosen["project_id"] is None and unchosen["role"] is None
    assert sorted(p["id"] for p in unchosen["projects"]) == sorted([mine, other])
    assert (await client.get("/v1/me", headers=bearer(token, other))).json()["role"] == "owner"
    for headers in (bearer(token, mine), bearer(token)):
        listed = (await client.get("/v1/projects", headers=headers)).json()["items"]
        assert sorted((p["id"], p["role"]) for p in listed) == sorted([(mine, "viewer"), (other, "owner")])

    with_default = await new_user(client, (mine, Role.VIEWER), ("default", Role.VIEWER))
    assert (await client.get("/v1/me", headers=bearer(await access_token(client, with_default)))).json()[
        "project_id"
    ] == "default"

    assert (await client.get("/v1/me", headers=admin(other))).json()["project_id"] == other
    assert (await client.get("/v1/me", headers=admin("no-such-project"))).status_code == 404


# --- users --------------------------------------------------------------------------------------------------------


async def test_users_are_created_listed_and_changed_without_their_password(
    gw: Gateway, client: httpx.AsyncClient, db: asyncpg.Connection[asyncpg.Record]
) -> None:
    email = f"Mixed.{uuid.uuid4().hex[:8]}@Example.com"
    password = "a-long-password-1"
    created = await client.post("/v1/users", json={"email": email, "name": "Ada", "password": password}, headers=ADMIN)
    assert created.status_code == 201, created.text
    user = created.json()
    assert set(user) == {"id", "email", "name", "admin", "disabled", "disabled_at", "created_at", "updated_at"}
    assert user["email"] == email and user["admin"] is False and user["disabled"] is False

    duplicate = await client.post(
        "/v1/users", json={"email": email.upper(), "name": "Ada", "password": password}, headers=ADMIN
    )
    assert duplicate.status_code == 409
    short = await client.post(
        "/v1/users", json={"email": "s@example.com", "name": "S", "password": "short"}, headers=ADMIN
    )
    assert short.status_code == 422
    extra = await client.post(
        "/v1/users", json={"email": "e@example.com", "name": "E", "password": "x" * 12, "role": "owner"}, headers=ADMIN
    )
    assert extra.status_code == 422

    found = await client.get("/v1/users", params={"email": email.lower()}, headers=ADMIN)
    assert [u["id"] for u in found.json()["items"]] == [user["id"]]
    assert (await client.get(f"/v1/users/{user['id']}", headers=ADMIN)).json()["name"] == "Ada"
    assert (await client.get(f"/v1/users/{uuid.uuid4()}", headers=ADMIN)).status_code == 404
    assert (await client.get("/v1/users/not-a-uuid", headers=ADMIN)).status_code == 404

    changed = await client.patch(
        f"/v1/users/{user['id']}", json={"name": "Ada L.", "password": "another-password-2"}, headers=ADMIN
    )
    assert changed.status_code == 200 and changed.json()["name"] == "Ada L."
    assert (await login(client, email, password)).status_code == 401
    assert (await login(client, email, "another-password-2")).status_code == 200

    stored = await db.fetchval("SELECT password_hash FROM users WHERE id = $1", uuid.UUID(user["id"]))
    assert stored.startswith("$argon2id$")
    for response in (created, found, changed):
        assert "password" not in response.text and "$argon2" not in response.text

    events = await gw.events_of("user.updated", user["id"])
    assert events[0].payload["changed"] == ["name", "password"]
    assert events[0].project_id == PLATFORM_SCOPE
    assert (await gw.events_of("user.created", user["id"]))[0].payload["actor"].startswith("key:")


async def test_listing_users_pages_with_a_cursor(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await new_user(client)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = await client.get("/v1/users", params=params, headers=ADMIN)
        assert page.status_code == 200
        body = page.json()
        assert len(body["items"]) <= 2
        seen += [u["id"] for u in body["items"]]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert len(seen) == len(set(seen)) >= 4
    everyone = (await client.get("/v1/users", params={"limit": 500}, headers=ADMIN)).json()["items"]
    assert seen == [u["id"] for u in everyone]
    assert (await client.get("/v1/users", params={"cursor": "bogus"}, headers=ADMIN)).status_code == 422
    assert (await client.get("/v1/users", params={"limit": 501}, headers=ADMIN)).status_code == 422


async def test_a_disabled_user_can_do_nothing_any_more(client: httpx.AsyncClient) -> None:
    project = await new_project(client)
    person = await new_user(client, (project, Role.OWNER))
    tokens = (await login(client, person.email, person.password)).json()
    key = await new_key(client, bearer(tokens["access_token"]))
    assert (await client.get("/v1/me", headers=bearer(key["key"]))).status_code == 200

    disabled = await client.patch(f"/v1/users/{person.id}", json={"disabled": True}, headers=ADMIN)
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True

    assert (await client.get("/v1/me", headers=bearer(tokens["access_token"]))).status_code == 401
    assert (await client.get("/v1/me", headers=bearer(key["key"]))).status_code == 401
    assert (await refresh(client, tokens["refresh_token"])).status_code == 401
    assert (await login(client, person.email, person.password)).status_code == 401

    await client.patch(f"/v1/users/{person.id}", json={"disabled": False}, headers=ADMIN)
    assert (await client.get("/v1/me", headers=bearer(key["key"]))).status_code == 200
    assert (await login(client, person.email, person.password)).status_code == 200
    assert (await refresh(client, tokens["refresh_token"])).status_code == 401, "disabling ended the old logins"


async def test_an_admin_may_not_lock_itself_out(client: httpx.AsyncClient) -> None:
    me = await new_user(client, is_admin=True)
    headers = bearer(await access_token(client, me))
    assert (await client.patch(f"/v1/users/{me.id}", json={"disabled": True}, headers=headers)).status_code == 409
    assert (await client.patch(f"/v1/users/{me.id}", json={"admin": False}, headers=headers)).status_code == 409
    assert (await client.get("/v1/users", headers=headers)).status_code == 200


# --- projects and members -----------------------------------------------------------------------------------------


async def test_projects_are_created_once_and_seen_by_their_members(gw: Gateway, client: httpx.AsyncClient) -> None:
    project = await new_project(client)

    again = await client.post("/v1/projects", json={"id": project, "name": "Again"}, headers=ADMIN)
    assert again.status_code == 409
    for bad in ("Upper", "-dash", "x", "a" * 64, "under_score"):
        assert (await client.post("/v1/projects", json={"id": bad, "name": "x"}, headers=ADMIN)).status_code == 422
    got = await client.get(f"/v1/projects/{project}", headers=ADMIN)
    assert got.status_code == 200 and got.json()["role"] == "owner"
    all_ids: list[str] = []
    params: dict[str, Any] = {"limit": 1}
    while True:
        page = (await client.get("/v1/projects", params=params, headers=ADMIN)).json()
        all_ids += [p["id"] for p in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert "default" in all_ids and project in all_ids and len(all_ids) == len(set(all_ids))
    created = await gw.events_of("project.created", project)
    assert created[0].project_id == PLATFORM_SCOPE and created[0].payload["name"] == f"Project {project}"


async def test_owners_manage_members_and_keep_an_owner(gw: Gateway, client: httpx.AsyncClient) -> None:
    project, shared = await new_project(client), await new_project(client)
    owner = await new_user(client, (project, Role.OWNER), (shared, Role.VIEWER))
    other = await new_user(client, (shared, Role.VIEWER))
    headers = bearer(await access_token(client, owner), project)

    added = await client.put(f"/v1/members/{other.id}", json={"role": "viewer"}, headers=headers)
    assert added.status_code == 201 and added.json()["role"] == "viewer" and added.json()["email"] == other.email
    same = await client.put(f"/v1/members/{other.id}", json={"role": "viewer"}, headers=headers)
    assert same.status_code == 200
    promoted = await client.put(f"/v1/members/{other.id}", json={"role": "operator"}, headers=headers)
    assert promoted.status_code == 200 and promoted.json()["role"] == "operator"
    assert (
        await client.put(f"/v1/members/{uuid.uuid4()}", json={"role": "viewer"}, headers=headers)
    ).status_code == 404
    assert (await client.put(f"/v1/members/{other.id}", json={"role": "king"}, headers=headers)).status_code == 422

    page = (await client.get("/v1/members", params={"limit": 1}, headers=headers)).json()
    assert len(page["items"]) == 1 and page["next_cursor"] is not None
    rest = (await client.get("/v1/members", params={"cursor": page["next_cursor"]}, headers=headers)).json()
    assert sorted(m["user_id"] for m in page["items"] + rest["items"]) == sorted([owner.id, other.id])
    operators = (await client.get("/v1/members", params={"role": "operator"}, headers=headers)).json()["items"]
    assert [m["user_id"] for m in operators] == [other.id]

    last = await client.delete(f"/v1/members/{owner.id}", headers=headers)
    assert last.status_code == 409
    demote = await client.put(f"/v1/members/{owner.id}", json={"role": "viewer"}, headers=headers)
    assert demote.status_code == 409

    assert (await client.delete(f"/v1/members/{other.id}", headers=headers)).status_code == 204
    assert (await client.delete(f"/v1/members/{other.id}", headers=headers)).status_code == 404
    other_token = await access_token(client, other)
    assert (await client.get("/v1/me", headers=bearer(other_token, project))).status_code == 404
    assert (await client.put(f"/v1/members/{other.id}", json={"role": "viewer"}, headers=headers)).status_code == 201

    await gw.events_of("member.removed", other.id)  # the events seen so far hold it from here on
    about = [e for e in gw.seen if e.subject == other.id and e.type.startswith("member.")]
    assert {"member.added", "member.changed", "member.removed"} <= {e.type for e in about if e.project_id == project}
    assert {e.project_id for e in about} == {project, shared}


async def test_an_owner_adds_only_users_it_already_shares_a_project_with(client: httpx.AsyncClient) -> None:
    alpha, beta, shared = await new_project(client), await new_project(client), await new_project(client)
    owner = await new_user(client, (beta, Role.OWNER), (shared, Role.VIEWER))
    stranger = await new_user(client, (alpha, Role.OWNER))  # another project's user
    loner = await new_user(client)  # in no project at all
    neighbour = await new_user(client, (shared, Role.VIEWER))
    headers = bearer(await access_token(client, owner), beta)

    async def put(user_id: str, who: dict[str, str] = headers) -> httpx.Response:
        return await client.put(f"/v1/members/{user_id}", json={"role": "viewer"}, headers=who)

    nobody = str(uuid.uuid4())
    unknown = await put(nobody)
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    for user in (stranger, loner):
        answer = await put(user.id)
        assert shape(answer, user.id) == shape(unknown, nobody), "the answer tells that the user exists"
        assert user.email not in answer.text
    # Neither do the other member routes tell a user elsewhere from nobody.
    for method in ("GET", "DELETE"):
        missing = await client.request(method, f"/v1/members/{nobody}", headers=headers)
        elsewhere = await client.request(method, f"/v1/members/{stranger.id}", headers=headers)
        assert missing.status_code == elsewhere.status_code == 404, (method, elsewhere.text)
        assert shape(elsewhere, stranger.id) == shape(missing, nobody), method
    members = (await client.get("/v1/members", headers=headers)).json()["items"]
    assert [m["user_id"] for m in members] == [owner.id], "a refused user was added after all"

    added = await put(neighbour.id)
    assert added.status_code == 201, added.text
    assert added.json()["email"] == neighbour.email and added.json()["role"] == "viewer"

    # An API key reaches its own project only: a user its owner shares another project with is nobody to it.
    key = await new_key(client, headers, name="members")
    other_neighbour = await new_user(client, (shared, Role.VIEWER))
    by_key = await put(other_neighbour.id, bearer(key["key"]))
    assert shape(by_key, other_neighbour.id) == shape(unknown, nobody)
    changed = await client.put(f"/v1/members/{neighbour.id}", json={"role": "operator"}, headers=bearer(key["key"]))
    assert changed.status_code == 200 and changed.json()["role"] == "operator"

    for user in (stranger, loner, other_neighbour):
        by_admin = await put(user.id, admin(beta))
        assert by_admin.status_code == 201 and by_admin.json()["email"] == user.email, by_admin.text


# --- API keys -----------------------------------------------------------------------------------------------------


async def test_api_keys_are_shown_once_and_act_within_their_project(
    gw: Gateway, client: httpx.AsyncClient, db: asyncpg.Connection[asyncpg.Record]
) -> None:
    project, other = await new_project(client), await new_project(client)
    owner = await new_user(client, (project, Role.OWNER), (other, Role.OWNER))
    headers = bearer(await access_token(client, owner), project)

    created = await new_key(client, headers, name="deploy", role="viewer", expires_in_days=7)
    secret = created["key"]
    assert secret.startswith("clk_") and created["prefix"] == secret[:8]
    assert created["role"] == "viewer" and created["project_id"] == project and created["user_id"] == owner.id
    assert created["state"] == "active" and created["admin"] is False

    listed = await client.get("/v1/api-keys", headers=headers)
    one = await client.get(f"/v1/api-keys/{created['id']}", headers=headers)
    assert [k["id"] for k in listed.json()["items"]] == [created["id"]]
    assert one.status_code == 200 and "key" not in one.json()
    stored = await db.fetchval("SELECT key_hash FROM api_keys WHERE id = $1", uuid.UUID(created["id"]))
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    for response in (listed, one):
        assert secret not in response.text and stored not in response.text and secret[8:20] not in response.text

    me = (await client.get("/v1/me", headers=bearer(secret))).json()
    assert me["principal"] == f"key:{created['id']}" and me["project_id"] == project and me["role"] == "viewer"
    assert me["projects"] == [{"id": project, "name": f"Project {project}", "role": "viewer"}]
    assert (await client.get("/v1/me", headers=bearer(secret, other))).status_code == 404
    assert (await client.get("/v1/members", headers=bearer(secret))).status_code == 200
    assert (await client.post("/v1/api-keys", json={"name": "x"}, headers=bearer(secret))).status_code == 403
    assert (
        await client.get(f"/v1/api-keys/{created['id']}", headers=bearer(await access_token(client, owner), other))
    ).status_code == 404

    event = (await gw.events_of("api_key.created", created["id"]))[0]
    assert event.project_id == project and event.payload["role"] == "viewer" and event.payload["bound"] is True
    assert secret not in event.model_dump_json() and stored not in event.model_dump_json()


async def test_a_key_may_not_exceed_its_creator(client: httpx.AsyncClient) -> None:
    project = await new_project(client)
    owner = await new_user(client, (project, Role.OWNER))
    headers = bearer(await access_token(client, owner))

    default_role = await new_key(client, headers)
    assert default_role["role"] == "owner"
    assert (await client.post("/v1/api-keys", json={"name": "a", "admin": True}, headers=headers)).status_code == 403
    for body in ({"name": "a", "expires_in_days": 0}, {"name": "a", "expires_in_days": 366}, {"name": ""}):
        assert (await client.post("/v1/api-keys", json=body, headers=headers)).status_code == 422

    # The owner becomes a viewer: its owner key now acts as a viewer.
    await new_user(client, (project, Role.OWNER))
    demoted = await client.put(f"/v1/members/{owner.id}", json={"role": "viewer"}, headers=admin(project))
    assert demoted.status_code == 200, demoted.text
    me = (await client.get("/v1/me", headers=bearer(default_role["key"]))).json()
    assert me["role"] == "viewer"


async def test_admin_keys_are_unbound_and_only_admins_make_them(client: httpx.AsyncClient) -> None:
    project = await new_project(client)
    created = await new_key(client, admin(project), name="automation", admin=True)

    assert created["admin"] is True and created["project_id"] is None and created["role"] == "owner"
    me = (await client.get("/v1/me", headers=bearer(created["key"], project))).json()
    assert me["admin"] is True and me["project_id"] == project
    listed = (await client.get("/v1/api-keys", params={"admin": "true"}, headers=ADMIN)).json()["items"]
    assert created["id"] in [k["id"] for k in listed]
    owner = await new_user(client, (project, Role.OWNER))
    owner_headers = bearer(await access_token(client, owner))
    assert (await client.get("/v1/api-keys", params={"admin": "true"}, headers=owner_headers)).status_code == 403
    assert (await client.get(f"/v1/api-keys/{created['id']}", headers=owner_headers)).status_code == 404
    assert (await client.delete(f"/v1/api-keys/{created['id']}", headers=owner_headers)).status_code == 404


async def test_a_revoked_key_stops_at_once_and_revoking_again_is_harmless(
    gw: Gateway, client: httpx.AsyncClient
) -> None:
    project = await new_project(client)
    created = await new_key(client, admin(project))
    assert (await client.get("/v1/me", headers=bearer(created["key"]))).status_code == 200

    revoked = await client.delete(f"/v1/api-keys/{created['id']}", headers=admin(project))
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    refused = await client.get("/v1/me", headers=bearer(created["key"]))
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == 'Bearer realm="clanavi"'

    again = await client.delete(f"/v1/api-keys/{created['id']}", headers=admin(project))
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
    assert len(await gw.events_of("api_key.revoked", created["id"])) == 1
    revoked_keys = (await client.get("/v1/api-keys", params={"revoked": "true"}, headers=admin(project))).json()
    assert [k["id"] for k in revoked_keys["items"]] == [created["id"]]
    assert (await client.delete(f"/v1/api-keys/{uuid.uuid4()}", headers=admin(project))).status_code == 404


async def test_a_key_revoked_by_another_replica_stops_within_a_second(
    client: httpx.AsyncClient, db: asyncpg.Connection[asyncpg.Record]
) -> None:
    project = await new_project(client)
    created = await new_key(client, admin(project))
    headers = bearer(created["key"])
    for _ in range(3):
        assert (await client.get("/v1/me", headers=headers)).status_code == 200  # cached from here on

    await db.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", uuid.UUID(created["id"]))

    assert await eventually_status(client, "/v1/me", headers, 401, within=1.0) < 1.0


async def test_an_expired_key_is_refused(client: httpx.AsyncClient, db: asyncpg.Connection[asyncpg.Record]) -> None:
    project = await new_project(client)
    created = await new_key(client, admin(project), expires_in_days=1)
    await db.execute("UPDATE api_keys SET expires_at = now() WHERE id = $1", uuid.UUID(created["id"]))

    await eventually_status(client, "/v1/me", bearer(created["key"]), 401, within=1.0)
    refused = await client.get("/v1/me", headers=bearer(created["key"]))
    assert "expired" in refused.json()["detail"]
    assert (await client.get(f"/v1/api-keys/{created['id']}", headers=admin(project))).json()["state"] == "expired"


# --- where identity events are recorded --------------------------------------------------------------------------


async def test_the_platforms_events_are_in_no_projects_trail(gw: Gateway, client: httpx.AsyncClient) -> None:
    project = await new_project(client)
    person = await new_user(client, (project, Role.OWNER))
    await client.patch(f"/v1/users/{person.id}", json={"admin": True, "name": "Promoted"}, headers=ADMIN)
    admin_key = await new_key(client, admin(project), name="ops", admin=True)
    assert (await client.delete(f"/v1/api-keys/{admin_key['id']}", headers=admin(project))).status_code == 200
    own_key = await new_key(client, bearer(await access_token(client, person), project), name="ci")
    assert (await client.delete(f"/v1/api-keys/{own_key['id']}", headers=admin(project))).status_code == 200
    root = (await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)).json()["access_token"]
    root_id = (await client.get("/v1/me", headers=bearer(root))).json()["user"]["id"]
    seeded_key = (await client.get("/v1/me", headers=ADMIN)).json()["api_key"]["id"]

    platform = [
        *await gw.events_of("user.created", person.id),
        *await gw.events_of("user.updated", person.id),
        *await gw.events_of("project.created", project),
        *await gw.events_of("api_key.created", admin_key["id"]),
        *await gw.events_of("api_key.revoked", admin_key["id"]),
        # what the gateway seeded at start: the admin user and the key of CLANAVI_ADMIN_TOKEN
        *await gw.events_of("user.created", root_id),
        *await gw.events_of("api_key.created", seeded_key),
    ]
    assert {e.project_id for e in platform} == {PLATFORM_SCOPE}, [(e.type, e.project_id) for e in platform]
    of_project = [
        *await gw.events_of("member.added", person.id),
        *await gw.events_of("api_key.created", own_key["id"]),
        *await gw.events_of("api_key.revoked", own_key["id"]),
    ]
    assert {e.project_id for e in of_project} == {project}
    assert {e.project_id for e in await gw.events_of("member.added", root_id)} == {"default"}


# --- what nothing may ever show -------------------------------------------------------------------------------


async def test_no_secret_reaches_an_event_or_a_log_line(
    gw: Gateway, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    project = await new_project(client)
    person = await new_user(client, (project, Role.OWNER))
    tokens = (await login(client, person.email, person.password)).json()
    key = await new_key(client, bearer(tokens["access_token"]))
    await client.patch(f"/v1/users/{person.id}", json={"password": "yet-another-password-3"}, headers=ADMIN)
    # The password change ended that login: a new one revokes the key.
    again = (await login(client, person.email, "yet-another-password-3")).json()
    await client.delete(f"/v1/api-keys/{key['id']}", headers=bearer(again["access_token"]))
    await gw.events_of("api_key.revoked", key["id"])

    secrets = [person.password, "yet-another-password-3", key["key"], tokens["access_token"], tokens["refresh_token"]]
    secrets += [again["access_token"], again["refresh_token"]]
    secrets += [ADMIN_TOKEN, ADMIN_PASSWORD, hashlib.sha256(key["key"].encode()).hexdigest()]
    bodies = [e.model_dump_json() for e in gw.seen]
    logged = [r.getMessage() for r in caplog.records]
    for secret in secrets:
        assert not any(secret in body for body in bodies), "a secret in an event"
        assert not any(secret in line for line in logged), "a secret in a log line"
    assert not any("$argon2" in body for body in bodies)


# --- the app --------------------------------------------------------------------------------------------------


async def test_readiness_includes_the_database_and_the_broker(client: httpx.AsyncClient) -> None:
    ready = await client.get("/readyz")
    checks = ready.json()["checks"]
    assert checks["database"] is True and checks["broker"] is True
    assert checks["provisioner"] is False and ready.status_code == 503


async def test_openapi_documents_both_ways_to_authenticate(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["oauth2"]["flows"]["password"]["tokenUrl"] == "/v1/auth/token"
    assert schema["paths"]["/v1/auth/token"]["post"]["security"] == []
    assert "X-Clanavi-Project" in schema["info"]["description"]
    for path in ("/v1/users", "/v1/projects", "/v1/members", "/v1/api-keys", "/v1/me"):
        assert path in schema["paths"]


@pytest.mark.parametrize(
    ("method", "path", "body", "params", "status"),
    [
        ("POST", "/v1/users", {"email": "nul\x00@example.com", "name": "n", "password": "x" * 12}, None, 422),
        ("POST", "/v1/users", {"email": "n@example.com", "name": "a\x00b", "password": "x" * 12}, None, 422),
        ("POST", "/v1/projects", {"id": "nul-name", "name": "\x00"}, None, 422),
        ("POST", "/v1/api-keys", {"name": "tab\there"}, None, 422),
        ("GET", "/v1/users", None, {"email": "a\x00@b.c"}, 422),
        ("GET", "/v1/projects/%E2%9C%93-not-a-slug", None, None, 404),
        ("GET", "/v1/users", None, {"cursor": "WzEsMl0"}, 422),  # [1,2]: the right arity, the wrong types
        ("GET", "/v1/users", None, {"cursor": "WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzE0OjAwIiwiMSJd"}, 422),
    ],
)
async def test_odd_input_is_refused_and_never_a_server_error(
    client: httpx.AsyncClient, method: str, path: str, body: Any, params: Any, status: int
) -> None:
    response = await client.request(method, path, json=body, params=params, headers=ADMIN)
    assert response.status_code == status, response.text


async def test_a_login_with_no_email_is_a_validation_problem(client: httpx.AsyncClient) -> None:
    response = await login(client, "not-an-email\x00", "whatever-password")
    assert response.status_code == 422
