"""Records every API call (who, what, from where, the answer's status, how long it took) for the audit, outermost of
the gateway's middleware so that refusals (401, 404, 429) are recorded too. Nothing of the body, no header but the
user agent, and no value of a sensitive query parameter is recorded."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from urllib.parse import parse_qsl, urlencode

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel import correlation
from kernel.events import PLATFORM_SCOPE
from kernel.http import HttpMiddleware
from kernel.identity import Identity
from kernel.networks import Network, parse_networks
from services.gateway.api_calls import ApiCall, ApiCallLog, ResolveRoute
from services.gateway.middleware.authentication import PROTECTED_PREFIX
from services.gateway.middleware.ratelimit import client_address

__all__ = ["SENSITIVE_MARKERS", "RecordApiCalls", "redact_query", "route_resolver"]

# A query parameter whose name holds any of these has its value replaced.
SENSITIVE_MARKERS = ("token", "password", "secret", "key", "signature", "credential", "auth", "code", "session")
REDACTED = "[redacted]"
_MAX_QUERY = 2048


def redact_query(raw: bytes) -> str:
    """The query string with the values of sensitive parameters replaced (kept short: it is evidence, not data)."""
    if not raw:
        return ""
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    safe = [(name, REDACTED if any(m in name.lower() for m in SENSITIVE_MARKERS) else value) for name, value in pairs]
    return urlencode(safe)[:_MAX_QUERY]


def route_resolver(routes: Callable[[], Sequence[BaseRoute]]) -> ResolveRoute:
    """Finds the route template a call matched, and its path parameters, the way the router does; run when calls are
    flushed, so that no request waits for it."""

    def resolve(method: str, path: str) -> tuple[str | None, Mapping[str, object]]:
        scope = {"type": "http", "method": method, "path": path, "root_path": ""}
        for route in routes():
            match, child = route.matches(scope)
            if match is Match.FULL:
                return getattr(route, "path", None), child.get("path_params", {})
        return None, {}

    return resolve


class RecordApiCalls(HttpMiddleware):
    def __init__(self, app: ASGIApp, calls: ApiCallLog, trusted_proxies: str = "") -> None:
        super().__init__(app)
        self.calls = calls
        self.trusted: Collection[Network] = parse_networks(trusted_proxies)

    def applies(self, scope: Scope) -> bool:
        path: str = scope["path"]
        return path.startswith(PROTECTED_PREFIX)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        arrived, started = time.time(), time.perf_counter()
        status = 500  # what the client sees when the app fails before answering

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.calls.record(self._call(scope, arrived, status, (time.perf_counter() - started) * 1000))

    def _call(self, scope: Scope, arrived: float, status: int, duration_ms: float) -> ApiCall:
        state = scope.get("state") or {}
        identity: Identity | None = state.get("identity")
        subject = state.get("subject")
        principal = identity.principal if identity else getattr(subject, "principal", None) or "anonymous"
        agent = next((value.decode("latin-1")[:256] for name, value in scope["headers"] if name == b"user-agent"), None)
        return ApiCall(
            occurred_at=arrived,
            project_id=identity.project_id if identity else PLATFORM_SCOPE,
            correlation_id=correlation.current.get() or "",
            principal=principal,
            method=scope["method"],
            path=scope["path"][:1024],
            query=redact_query(scope.get("query_string", b"")),
            client_address=client_address(scope, self.trusted),
            status=status,
            duration_ms=duration_ms,
            user_agent=agent,
        )
