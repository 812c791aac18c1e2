"""Rate limits: token buckets per client IP (before authentication), stricter ones for logging in, and per
authenticated principal (after authentication).

The buckets live in the memory of each gateway process, so the limits are per gateway replica: with N replicas
behind a load balancer a client may get up to N times the configured rate. That bounds abuse cheaply without a
shared store on every request's path.

A bucket holds at most `burst` tokens and gains `rate` per second (monotonic clock); each request takes one. An
empty bucket answers 429 problem JSON `rate_limited` with `Retry-After` (whole seconds, at least 1) and
`RateLimit-Limit`/`RateLimit-Remaining`/`RateLimit-Reset`. A rate of 0 turns a limit off. Memory is bounded: each
set of buckets forgets its least recently seen clients beyond `max_clients` (a forgotten client starts full).

`X-Forwarded-For` is believed only when the immediate peer is one of the trusted proxies; the client is then the
nearest address in the chain that is not itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from cachetools import LRUCache
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel import correlation
from kernel.errors import problem
from kernel.http import HttpMiddleware, problem_response
from kernel.identity import Identity
from kernel.networks import Network, network_of, parse_networks
from kernel.token_bucket import Clock, TokenBucket

UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
LOGIN_ROUTES = frozenset({("POST", "/v1/auth/token")})
MAX_CLIENTS = 100_000


@dataclass(frozen=True, slots=True)
class Refusal:
    retry_after: float  # seconds until the bucket holds a token again
    limit: int


class TokenBuckets:
    """One of the kernel's token buckets per key, refusing when empty; the least recently used forgotten beyond
    `max_keys`."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = MAX_CLIENTS, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: LRUCache[str, TokenBucket] = LRUCache(max_keys)

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> Refusal | None:
        """Take one token for `key`: None when there was one, else how long to wait."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.burst, self.rate, self._clock)
        if bucket.take():
            return None
        return Refusal(bucket.wait_seconds(), self.burst)


def buckets(
    rate: float, burst: int, *, max_keys: int = MAX_CLIENTS, clock: Clock = time.monotonic
) -> TokenBuckets | None:
    """Buckets for a limit, or None when the limit is off (rate 0)."""
    return TokenBuckets(rate, burst, max_keys=max_keys, clock=clock) if rate > 0 else None


def client_address(scope: Scope, trusted: Collection[Network]) -> str:
    """The client's IP address: the peer, or what trusted proxies say in `X-Forwarded-For`."""
    peer = scope.get("client")
    address = peer[0] if peer else ""
    if not trusted or not _is_trusted(address, trusted):
        return address
    forwarded: list[str] = []
    for name, value in scope["headers"]:
        if name == b"x-forwarded-for":
            forwarded += [hop.strip() for hop in value.decode("latin-1").split(",") if hop.strip()]
    # Each proxy appends the address it received from; only the part trusted proxies added can be believed.
    for hop in reversed(forwarded):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # a malformed chain: fall back to the last address known to be real
        address = hop
        if not _is_trusted(hop, trusted):
            break
    return address


def _is_trusted(address: str, trusted: Collection[Network]) -> bool:
    return network_of(address, trusted) is not None


async def _refuse(scope: Scope, send: Send, refusal: Refusal, detail: str) -> None:
    wait = max(1, math.ceil(refusal.retry_after))
    body = problem(
        status=429,
        code="rate_limited",
        title="Too many requests",
        detail=detail,
        instance=scope["path"],
        correlation_id=correlation.current.get(),
        retry_after=wait,
    )
    headers = {
        "Retry-After": str(wait),
        "RateLimit-Limit": str(refusal.limit),
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": str(wait),
    }

    async def no_body() -> Message:
        return {"type": "http.disconnect"}

    await problem_response(body, headers)(scope, no_body, send)


class _RateLimit(HttpMiddleware):
    """A limit on the requests outside `unlimited_paths`: `requests` (None when the rate is 0) has a bucket per key."""

    def __init__(
        self, app: ASGIApp, rate: float, burst: int, unlimited_paths: Collection[str], max_keys: int, clock: Clock
    ) -> None:
        super().__init__(app)
        self.requests = buckets(rate, burst, max_keys=max_keys, clock=clock)
        self.unlimited_paths = frozenset(unlimited_paths)

    def applies(self, scope: Scope) -> bool:
        return scope["path"] not in self.unlimited_paths


class ClientRateLimit(_RateLimit):
    """Per client IP, before authentication: every request, and `login_routes` against a stricter limit too."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        rate: float,
        burst: int,
        login_rate: float = 0.0,
        login_burst: int = 1,
        trusted_proxies: str | Iterable[str | Network] = (),
        login_routes: Collection[tuple[str, str]] = LOGIN_ROUTES,
        unlimited_paths: Collection[str] = UNLIMITED_PATHS,
        max_clients: int = MAX_CLIENTS,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(app, rate, burst, unlimited_paths, max_clients, clock)
        self.logins = buckets(login_rate, login_burst, max_keys=max_clients, clock=clock)
        self.trusted = parse_networks(trusted_proxies)
        self.login_routes = frozenset(login_routes)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = client_address(scope, self.trusted)
        if self.logins is not None and (scope["method"], scope["path"]) in self.login_routes:
            refusal = self.logins.take(client)
            if refusal is not None:
                await _refuse(scope, send, refusal, "Too many login attempts from your address; wait and retry.")
                return
        if self.requests is not None:
            refusal = self.requests.take(client)
            if refusal is not None:
                await _refuse(scope, send, refusal, "Too many requests from your address; wait and retry.")
                return
        await self.app(scope, receive, send)


class PrincipalRateLimit(_RateLimit):
    """Per authenticated principal (user or API key), after authentication; unauthenticated requests pass."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        rate: float,
        burst: int,
        unlimited_paths: Collection[str] = UNLIMITED_PATHS,
        max_principals: int = MAX_CLIENTS,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(app, rate, burst, unlimited_paths, max_principals, clock)

    def applies(self, scope: Scope) -> bool:
        return self.requests is not None and super().applies(scope)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        identity = scope.get("state", {}).get("identity")
        if self.requests is not None and isinstance(identity, Identity):
            refusal = self.requests.take(identity.principal)
            if refusal is not None:
                await _refuse(scope, send, refusal, f"Too many requests for {identity.principal}; wait and retry.")
                return
        await self.app(scope, receive, send)


__all__ = [
    "LOGIN_ROUTES",
    "UNLIMITED_PATHS",
    "ClientRateLimit",
    "PrincipalRateLimit",
    "Refusal",
    "TokenBuckets",
    "client_address",
]
