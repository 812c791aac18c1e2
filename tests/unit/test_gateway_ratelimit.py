"""The gateway's rate limits: token buckets per client IP, per login route and per principal, with 429 problem JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from kernel.http import PROBLEM_JSON, create_base_app
from kernel.identity import Identity, Role
from kernel.networks import parse_networks
from services.gateway.middleware.ratelimit import ClientRateLimit, PrincipalRateLimit, TokenBuckets, client_address
from tests.clock import FakeClock


class FakeAuth:
    """Authenticates `Authorization: Bearer <name>` as principal `key:<name>`; anything else under /v1/ is a 401."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = dict(scope["headers"]).get(b"authorization", b"").removeprefix(b"Bearer ")
        if token:
            scope.setdefault("state", {})["identity"] = Identity(f"key:{token.decode()}", "p1", Role.OWNER)
        elif scope["path"].startswith("/v1/") and scope["path"] != "/v1/auth/token":
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, send)


def make_app(clock: FakeClock, **client: Any) -> FastAPI:
    async def readiness() -> dict[str, bool]:
        return {}

    settings: dict[str, Any] = {"rate": 1.0, "burst": 3, "login_rate": 0.5, "login_burst": 2, "clock": clock}
    settings.update(client)
    app = create_base_app(
        "gw",
        readiness,
        middleware=[
            Middleware(ClientRateLimit, **settings),
            Middleware(FakeAuth),
            Middleware(PrincipalRateLimit, rate=1.0, burst=2, clock=clock),
        ],
    )

    @app.get("/v1/things")
    async def things() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/v1/auth/token")
    async def login() -> dict[str, str]:
        return {"access_token": "t"}

    return app


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def client_for(app: FastAPI, ip: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def app(clock: FakeClock) -> AsyncIterator[FastAPI]:
    yield make_app(clock)


def test_bucket_allows_burst_then_refills_at_rate(clock: FakeClock) -> None:
    bucket = TokenBuckets(2.0, 4, clock=clock)
    assert [bucket.take("a") for _ in range(4)] == [None] * 4
    refusal = bucket.take("a")
    assert refusal is not None and refusal.retry_after == pytest.approx(0.5) and refusal.limit == 4
    clock.now += 0.5
    assert bucket.take("a") is None
    assert bucket.take("a") is not None
    clock.now += 100
    assert [bucket.take("a") for _ in range(4)] == [None] * 4  # refills no higher than the burst
    assert bucket.take("a") is not None


def test_buckets_forget_the_least_recently_seen_beyond_the_bound(clock: FakeClock) -> None:
    bucket = TokenBuckets(1.0, 1, max_keys=3, clock=clock)
    for key in "abc":
        assert bucket.take(key) is None
    assert bucket.take("a") is not None  # "a" is now the most recently seen
    assert bucket.take("d") is None
    assert len(bucket) == 3
    assert bucket.take("b") is None  # forgotten, so it starts full again
    assert bucket.take("a") is not None  # remembered, still empty


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    trusted = parse_networks(["10.0.0.0/8", " ", "192.0.2.1"])
    assert parse_networks("10.0.0.0/8, 192.0.2.1,") == trusted
    assert parse_networks("") == ()
    with pytest.raises(ValueError, match="does not appear to be"):
        parse_networks("10.0.0.0/8, proxy.example")

    def scope(peer: str, *forwarded: str) -> Scope:
        return {"client": (peer, 1), "headers": [(b"x-forwarded-for", f.encode()) for f in forwarded]}

    assert client_address(scope("198.51.100.9", "1.2.3.4"), trusted) == "198.51.100.9"
    assert client_address(scope("10.1.1.1", "1.2.3.4"), trusted) == "1.2.3.4"
    # The client may send its own X-Forwarded-For: only what the trusted proxies appended counts.
    assert client_address(scope("10.1.1.1", "6.6.6.6, 1.2.3.4, 192.0.2.1"), trusted) == "1.2.3.4"
    assert client_address(scope("10.1.1.1", "6.6.6.6", "1.2.3.4"), trusted) == "1.2.3.4"
    assert client_address(scope("10.1.1.1", "10.2.2.2, 10.3.3.3"), trusted) == "10.2.2.2"
    assert client_address(scope("10.1.1.1", "1.2.3.4, not-an-ip"), trusted) == "10.1.1.1"
    assert client_address(scope("10.1.1.1"), trusted) == "10.1.1.1"
    assert client_address(scope("10.1.1.1", "1.2.3.4"), ()) == "10.1.1.1"


async def test_over_the_limit_is_429_problem_with_retry_after(app: FastAPI, clock: FakeClock) -> None:
    async with client_for(app) as client:
        # Principal bucket: burst 2 at 1/s.
        ok = [await client.get("/v1/things", headers={"Authorization": "Bearer alice"}) for _ in range(2)]
        assert [r.status_code for r in ok] == [200, 200]
        refused = await client.get("/v1/things", headers={"Authorization": "Bearer alice"})
        assert refused.status_code == 429
        assert refused.headers["content-type"] == PROBLEM_JSON
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["ratelimit-limit"] == "2"
        assert refused.headers["ratelimit-remaining"] == "0"
        assert refused.headers["x-correlation-id"]
        body = refused.json()
        assert body["code"] == "rate_limited" and body["status"] == 429 and body["retry_after"] == 1
        clock.now += 1.0
        assert (await client.get("/v1/things", headers={"Authorization": "Bearer alice"})).status_code == 200


async def test_retry_after_is_whole_seconds_and_at_least_one(clock: FakeClock) -> None:
    app = make_app(clock, rate=0.25, burst=1)
    async with client_for(app) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/nowhere")).status_code == 404
        refused = await client.get("/nowhere")
        assert refused.status_code == 429 and refused.headers["retry-after"] == "4"
        clock.now += 3.5
        assert (await client.get("/nowhere")).headers["retry-after"] == "1"


async def test_principal_and_ip_buckets_are_independent(clock: FakeClock) -> None:
    app = make_app(clock, burst=4)
    async with client_for(app, "203.0.113.1") as one, client_for(app, "203.0.113.2") as two:

        async def get(client: httpx.AsyncClient, principal: str) -> httpx.Response:
            return await client.get("/v1/things", headers={"Authorization": f"Bearer {principal}"})

        assert [(await get(one, "a")).status_code for _ in range(2)] == [200, 200]
        refused = await get(one, "a")
        assert refused.status_code == 429 and "key:a" in refused.json()["detail"]
        # Another principal from the same address has its own bucket, until the address's bucket (4) runs dry.
        assert (await get(one, "b")).status_code == 200
        refused = await get(one, "c")
        assert refused.status_code == 429 and "address" in refused.json()["detail"]
        # The same principal from another address is still limited by its own bucket; others are not.
        assert (await get(two, "a")).status_code == 429
        assert (await get(two, "d")).status_code == 200


async def test_unauthenticated_requests_count_against_the_ip(app: FastAPI) -> None:
    async with client_for(app) as client:
        assert [(await client.get("/v1/things")).status_code for _ in range(4)] == [401, 401, 401, 429]


async def test_login_has_a_stricter_limit_per_ip(app: FastAPI, clock: FakeClock) -> None:
    async with client_for(app, "203.0.113.1") as one, client_for(app, "203.0.113.2") as two:
        assert [(await one.post("/v1/auth/token")).status_code for _ in range(3)] == [200, 200, 429]
        refused = await one.post("/v1/auth/token")
        assert refused.headers["retry-after"] == "2" and "login" in refused.json()["detail"]
        assert (await two.post("/v1/auth/token")).status_code == 200
        clock.now += 2
        assert (await one.post("/v1/auth/token")).status_code == 200


async def test_probes_are_never_limited(clock: FakeClock) -> None:
    app = make_app(clock, rate=1.0, burst=1)
    async with client_for(app) as client:
        for path in ("/healthz", "/readyz", "/metrics") * 5:
            assert (await client.get(path)).status_code == 200


async def test_zero_rate_turns_a_limit_off(clock: FakeClock) -> None:
    app = make_app(clock, rate=0, login_rate=0)
    async with client_for(app) as client:
        assert {(await client.post("/v1/auth/token")).status_code for _ in range(50)} == {200}


async def test_trusted_proxy_forwards_the_client_address(clock: FakeClock) -> None:
    app = make_app(clock, rate=1.0, burst=1, trusted_proxies="127.0.0.0/8, ::1")
    async with client_for(app, "127.0.0.1") as proxy:
        for client_ip in ("198.51.100.1", "198.51.100.2"):
            answer = await proxy.post("/v1/auth/token", headers={"X-Forwarded-For": client_ip})
            assert answer.status_code == 200
        again = await proxy.post("/v1/auth/token", headers={"X-Forwarded-For": "198.51.100.1"})
        assert again.status_code == 429


def test_a_limit_needs_a_positive_rate_and_burst() -> None:
    with pytest.raises(ValueError, match="positive rate"):
        TokenBuckets(0, 1)
    with pytest.raises(ValueError, match="burst"):
        TokenBuckets(1, 0)
