"""Idempotency-Key checks that need no database: the key's syntax, the request fingerprint, which requests the
middleware leaves alone, and the refusal when the store cannot be reached."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from kernel import db
from kernel.crypto import Keyring
from kernel.http import PROBLEM_JSON, create_base_app
from kernel.identity import Identity, Role
from services.gateway.middleware.body_limit import BodyLimit
from services.gateway.middleware.idempotency import Idempotency, fingerprint, valid_key


class FakeAuth:
    """Authenticates /v1/ requests except the login route, as the gateway's authentication does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/") and scope["path"] != "/v1/auth/token":
            scope.setdefault("state", {})["identity"] = Identity("key:k1", "p1", Role.OWNER)
        await self.app(scope, receive, send)


class StoreDown:
    """The pool getter of a gateway whose database is unreachable."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> db.Pool:
        self.calls += 1
        raise ConnectionRefusedError("connection refused")


@pytest.fixture
def store_down() -> StoreDown:
    return StoreDown()


@pytest.fixture
async def client(store_down: StoreDown) -> AsyncIterator[httpx.AsyncClient]:
    async def readiness() -> dict[str, bool]:
        return {}

    app: FastAPI = create_base_app(
        "gw",
        readiness,
        middleware=[
            Middleware(FakeAuth),
            Middleware(BodyLimit, max_bytes=1024),
            Middleware(Idempotency, pool=store_down, keyring=Keyring("unit-test-secret-key-0123456789abcdef")),
        ],
    )

    @app.post("/v1/things")
    @app.put("/v1/things")
    @app.post("/v1/auth/token")
    @app.post("/other")
    async def echo(request: Request) -> dict[str, int]:
        return {"length": len(await request.body())}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        (b"a", True),
        (b"x" * 255, True),
        (b"0f8fad5b-d9cb-469f-a165-70867728950e", True),
        (b" ~!$", True),
        (b"", False),
        (b"x" * 256, False),
        (b"tab\tkey", False),
        ("cl\u00e9".encode(), False),
        (b"del\x7f", False),
    ],
)
def test_key_syntax(key: bytes, valid: bool) -> None:
    assert valid_key(key) is valid


def test_fingerprint_tells_requests_apart() -> None:
    base = fingerprint("POST", "/v1/instances", b"", b'{"a":1}')
    assert base == fingerprint("POST", "/v1/instances", b"", b'{"a":1}')
    assert len(base) == 32
    others = {
        fingerprint("PUT", "/v1/instances", b"", b'{"a":1}'),
        fingerprint("POST", "/v1/instance", b"", b'{"a":1}'),
        fingerprint("POST", "/v1/instances", b"x=1", b'{"a":1}'),
        fingerprint("POST", "/v1/instances", b"", b'{"a":2}'),
        # Parts cannot run into each other.
        fingerprint("POST", "/v1/instances?", b"", b'{"a":1}'),
    }
    assert base not in others and len(others) == 5


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
async def test_a_malformed_key_is_400(client: httpx.AsyncClient, store_down: StoreDown, key: str) -> None:
    answer = await client.post("/v1/things", content=b"{}", headers=[(b"Idempotency-Key", key.encode())])
    assert answer.status_code == 400
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json()["code"] == "invalid_idempotency_key"
    assert store_down.calls == 0


async def test_two_keys_are_400(client: httpx.AsyncClient) -> None:
    answer = await client.post(
        "/v1/things", content=b"{}", headers=[("Idempotency-Key", "a"), ("Idempotency-Key", "b")]
    )
    assert answer.status_code == 400


async def test_requests_without_a_key_or_outside_post_v1_are_left_alone(
    client: httpx.AsyncClient, store_down: StoreDown
) -> None:
    key = {"Idempotency-Key": "k"}
    assert (await client.post("/v1/things", content=b"abc")).json() == {"length": 3}
    assert (await client.put("/v1/things", content=b"abc", headers=key)).json() == {"length": 3}
    assert (await client.post("/other", content=b"abc", headers=key)).json() == {"length": 3}
    # Logging in happens before there is a project to keep the key in.
    assert (await client.post("/v1/auth/token", content=b"abc", headers=key)).json() == {"length": 3}
    assert store_down.calls == 0


async def test_an_unreachable_store_refuses_keyed_posts_with_503(
    client: httpx.AsyncClient, store_down: StoreDown
) -> None:
    answer = await client.post("/v1/things", content=b"{}", headers={"Idempotency-Key": "k"})
    assert answer.status_code == 503
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json()["code"] == "service_unavailable"
    assert answer.headers["x-correlation-id"] == answer.json()["correlation_id"]
    assert store_down.calls == 1


async def test_an_oversized_body_is_413_before_the_store_is_asked(
    client: httpx.AsyncClient, store_down: StoreDown
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 100

    answer = await client.post("/v1/things", content=chunks(), headers={"Idempotency-Key": "k"})
    assert answer.status_code == 413
    assert store_down.calls == 0
