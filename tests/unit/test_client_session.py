"""Logging in with the client, renewing its access token (before it runs out, and once on a 401, never twice for
one refresh token), and logging out."""

from __future__ import annotations

import asyncio
import time
import urllib.parse

import httpx
import pytest

from clanavi.client import AsyncClient, ConfigurationError, Tokens, Unauthorized
from clanavi.client.models import TokenOut
from tests.client_kit import URL, MakeClient, Waits, done, instance
from tests.network import Network, ok, refused


def issued(number: int) -> httpx.Response:
    return ok(TokenOut(access_token=f"access-{number}", expires_in=900, refresh_token=f"refresh-{number}"))


def form_of(request: httpx.Request) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(request.content.decode()))


async def test_login_sends_the_password_grant_and_then_the_access_token(make: MakeClient) -> None:
    heard: list[Tokens | None] = []
    network = Network(issued(1), ok(instance()))
    client = make(network, token=None, on_tokens=heard.append)
    before = time.time()
    answer = await done(client.login("ana@example.com", "a long passphrase"))

    assert answer.access_token == "access-1"
    await done(client.instances.get("i-1"))
    grant, get = network.requests
    assert grant.url.path == "/v1/auth/token"
    assert form_of(grant) == {"grant_type": "password", "username": "ana@example.com", "password": "a long passphrase"}
    # Logging in has no caller yet: no credentials, and no idempotency key to keep.
    assert "authorization" not in grant.headers and "idempotency-key" not in grant.headers
    assert get.headers["authorization"] == "Bearer access-1"
    (tokens,) = heard
    assert tokens is not None and tokens.refresh_token == "refresh-1"
    assert tokens.expires_at is not None and before + 900 <= tokens.expires_at <= time.time() + 900


async def test_a_401_renews_the_access_token_once_and_the_call_is_sent_again(make: MakeClient) -> None:
    heard: list[Tokens | None] = []
    network = Network(refused(401, "unauthenticated"), issued(2), ok(instance()))
    client = make(
        network, token=None, tokens=Tokens("access-1", "refresh-1", time.time() + 900), on_tokens=heard.append
    )
    await done(client.instances.get("i-1"))

    assert network.paths() == ["GET /v1/instances/i-1", "POST /v1/auth/token", "GET /v1/instances/i-1"]
    assert form_of(network.requests[1]) == {"grant_type": "refresh_token", "refresh_token": "refresh-1"}
    assert network.requests[2].headers["authorization"] == "Bearer access-2"
    assert [t.refresh_token if t else None for t in heard] == ["refresh-2"]


async def test_a_second_401_is_raised(make: MakeClient) -> None:
    network = Network(refused(401, "unauthenticated"), issued(2), refused(401, "unauthenticated", "Revoked."))
    client = make(network, token=None, tokens=Tokens("access-1", "refresh-1", time.time() + 900))
    with pytest.raises(Unauthorized, match="Revoked"):
        await done(client.instances.get("i-1"))
    assert len(network.requests) == 3


async def test_an_api_key_is_not_renewed(make: MakeClient) -> None:
    network = Network(refused(401, "unauthenticated", "The key was revoked."))
    with pytest.raises(Unauthorized):
        await done(make(network).instances.get("i-1"))
    assert len(network.requests) == 1


async def test_an_access_token_about_to_expire_is_renewed_before_the_call(make: MakeClient) -> None:
    network = Network(issued(2), ok(instance()))
    client = make(network, token=None, tokens=Tokens("access-1", "refresh-1", time.time() + 5))
    await done(client.instances.get("i-1"))
    assert network.paths() == ["POST /v1/auth/token", "GET /v1/instances/i-1"]
    assert network.requests[1].headers["authorization"] == "Bearer access-2"


async def test_calls_refused_together_renew_the_token_once() -> None:
    """A refresh token works once: two renewals with it would end the login."""
    grants: list[str] = []
    refused_together = asyncio.Barrier(5)

    async def api(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/auth/token":
            grants.append(form_of(request)["refresh_token"])
            await asyncio.sleep(0.01)
            return issued(len(grants) + 1)
        if request.headers["authorization"] == "Bearer access-1":
            await refused_together.wait()
            return refused(401, "unauthenticated")
        return ok(instance(request.url.path.rsplit("/", 1)[-1]))

    waits = Waits()
    tokens = Tokens("access-1", "refresh-1", time.time() + 900)
    transport = httpx.MockTransport(api)
    async with AsyncClient(URL, tokens=tokens, transport=transport, sleep=waits.awaiting, clock=waits.clock) as client:
        found = await asyncio.gather(*(client.instances.get(f"i-{n}") for n in range(5)))
    assert [i.id for i in found] == [f"i-{n}" for n in range(5)]
    assert grants == ["refresh-1"]
    assert client.tokens is not None and client.tokens.access_token == "access-2"


async def test_logout_ends_the_login_and_forgets_the_tokens(make: MakeClient) -> None:
    heard: list[Tokens | None] = []
    network = Network(httpx.Response(204))
    client = make(
        network, token=None, tokens=Tokens("access-1", "refresh-1", time.time() + 900), on_tokens=heard.append
    )
    await done(client.logout())
    (request,) = network.requests
    assert request.url.path == "/v1/auth/logout" and request.headers["authorization"] == "Bearer access-1"
    assert request.content == b'{"refresh_token":"refresh-1"}'
    assert heard == [None] and client.tokens is None


async def test_refresh_needs_a_refresh_token(make: MakeClient) -> None:
    client = make(Network())
    with pytest.raises(ConfigurationError):
        await done(client.refresh())
