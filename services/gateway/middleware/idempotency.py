"""`Idempotency-Key` on POST requests: a client that retries a POST with the same key gets the first answer again
instead of a second resource.

A key belongs to the caller who sent it (its principal) in its project, and is kept for `idempotency_ttl_hours` (at
least a day): another caller's key of the same name is another key, so nobody is ever answered what somebody else was.
A stored answer is replayed only after the route's own permission check has passed for the caller as it is now, and
only while the caller's role is the one it had when it sent the first request (else 422 `idempotency_key_reused`).
The first request with a key claims it and its answer is stored, sealed (it may hold a new API key or a private key),
with its status and headers; a request that repeats it gets that answer with `Idempotent-Replayed: true`. A 5xx or
429 answer, a refusal (401, 403) or an error releases the key, so the client may simply retry. A repeat that arrives
while the first is still running waits for it, up to a bound; a claim left behind by a gateway that died is taken over
once its lease runs out. The same key with a different request (method, path, query or body) is refused with 422
`idempotency_key_reused`.

Runs after authentication (it needs the caller) and after the body limit (bodies are read whole here).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import asyncpg
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel import correlation, db
from kernel.authz import route_permission
from kernel.crypto import Keyring
from kernel.errors import problem
from kernel.http import HttpMiddleware, buffered_body, problem_response
from kernel.identity import Identity, Permission
from services.gateway.middleware.idempotency_store import IdempotencyStore, KeyOwner, StoredAnswer, UnreadableAnswer

log = logging.getLogger(__name__)

HEADER = b"idempotency-key"
REPLAYED_HEADER = (b"idempotent-replayed", b"true")
MAX_KEY_LENGTH = 255
# The answer's headers that belong to each response rather than to the answer; every other one is repeated
# (Cache-Control: no-store above all, on answers that carry a secret).
UNSTORED_HEADERS = frozenset(
    {"content-length", "date", "server", "x-correlation-id", "transfer-encoding", "connection", "idempotent-replayed"}
)
_FIRST_POLL = 0.01
_LONGEST_POLL = 0.2


def valid_key(value: bytes) -> bool:
    return 1 <= len(value) <= MAX_KEY_LENGTH and all(0x20 <= byte <= 0x7E for byte in value)


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> bytes:
    """What tells one request from another (its method, path, query and body), as a digest. Never stored as it is: a
    body holding a weak secret could be found from it by trying; the store keeps it keyed (`Keyring.digests`)."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, hashlib.sha256(body).digest()):
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    return digest.digest()


def _stored(status: int) -> bool:
    """Whether an answer is kept for repeats: not a server error or a throttle, which a retry may get past, nor a
    refusal of the caller, whose rights may change (and not no answer at all)."""
    return 200 <= status < 500 and status not in (401, 403, 429)


def authority(identity: Identity) -> str:
    """What decided the caller's rights when it sent a request: its role, and whether it is a platform admin."""
    return identity.role.value + ("+admin" if identity.admin else "")


@dataclass(frozen=True, slots=True)
class _Refusal:
    status: int
    code: str
    detail: str
    headers: dict[str, str] | None = None


class Idempotency(HttpMiddleware):
    """ASGI middleware. `pool` returns the gateway's pool; it is called per request, so the pool may be created
    after the middleware stack (in the lifespan)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        pool: Callable[[], db.Pool],
        keyring: Keyring,
        lease_seconds: float = 60.0,
        wait_seconds: float = 30.0,
        prefix: str = "/v1/",
        methods: Collection[str] = ("POST",),
    ) -> None:
        super().__init__(app)
        self.store = IdempotencyStore(pool, keyring)
        self.keyring = keyring
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds
        self.prefix = prefix
        self.methods = frozenset(methods)
        self._routes: list[tuple[RouteContext, Permission | None]] | None = None

    def applies(self, scope: Scope) -> bool:
        return scope["method"] in self.methods and bool(scope["path"].startswith(self.prefix))

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        values = [value for name, value in scope["headers"] if name == HEADER]
        identity = scope.get("state", {}).get("identity")
        if not values or not isinstance(identity, Identity):
            # Calls before authentication (logging in) have no project to keep a key in.
            await self.app(scope, receive, send)
            return
        if len(values) > 1 or not valid_key(values[0]):
            await self._problem(
                scope,
                send,
                400,
                "invalid_idempotency_key",
                f"Idempotency-Key must be one header of 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            )
            return
        permission = self._permission(scope)
        if permission is not None and not identity.can(permission):
            # The route refuses this caller: let it say so, before any stored answer is looked at.
            await self.app(scope, receive, send)
            return
        owner = KeyOwner(identity.project_id, identity.principal, values[0].decode("ascii"))
        body, receive, complete = await buffered_body(receive)
        if not complete:
            return  # the client went away before sending its whole request: nothing to answer
        request = fingerprint(scope["method"], scope["path"], scope.get("query_string", b""), body)
        # The current key's print is stored; a key stored before a rotation is still this request under an older one.
        prints = self.keyring.digests(request)
        try:
            outcome = await self._acquire(owner, authority(identity), prints)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("idempotency store unavailable: %s", exc)
            # Going on without the store could do the same thing twice: refuse, the client retries with its key.
            outcome = _Refusal(503, "service_unavailable", "Idempotency keys cannot be checked now; try again shortly.")
        if isinstance(outcome, uuid.UUID):
            await self._run(scope, receive, send, owner, outcome)
        elif isinstance(outcome, StoredAnswer):
            await _replay(outcome, send)
        else:
            await self._problem(scope, send, outcome.status, outcome.code, outcome.detail, outcome.headers)

    def _permission(self, scope: Scope) -> Permission | None:
        """The permission the route this request goes to declares (kernel.authz), None when it declares none or no
        route matches."""
        if self._routes is None:
            # Every route of the app, those of included routers too, with what it declares; read once.
            self._routes = [(route, route_permission(route)) for route in iter_route_contexts(scope["app"].routes)]
        for route, permission in self._routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return permission
        return None

    async def _acquire(
        self, owner: KeyOwner, authority: str, prints: list[bytes]
    ) -> uuid.UUID | StoredAnswer | _Refusal:
        """The claim's token when this request may run; else the answer to replay, or why it is refused. `prints`
        are the request's keyed prints, the current key's first."""
        deadline = time.monotonic() + self.wait_seconds
        delay = _FIRST_POLL
        token = await self.store.claim(owner, authority, prints[0], self.lease_seconds)
        while token is None:
            try:
                record = await self.store.get(owner)
            except UnreadableAnswer as exc:
                log.warning("the stored answer of idempotency key %r of %s does not open: %s", owner.key, owner, exc)
                return _Refusal(
                    409,
                    "idempotency_answer_unreadable",
                    "The answer stored for this Idempotency-Key can no longer be read; use a new key.",
                )
            if record is None:
                # Released after a failure: this request may run it.
                token = await self.store.claim(owner, authority, prints[0], self.lease_seconds)
                continue
            same = record.fingerprint in prints
            if record.expired and same and record.authority == authority:
                # Its holder is gone: this request takes the claim over, under the print it was stored with.
                token = await self.store.claim(owner, authority, record.fingerprint, self.lease_seconds)
                continue
            if not same:
                return _Refusal(
                    422,
                    "idempotency_key_reused",
                    "This Idempotency-Key was used with a different request; use a new key for a new request.",
                )
            if record.authority != authority:
                return _Refusal(
                    422,
                    "idempotency_key_reused",
                    "This Idempotency-Key was used while your role was different; use a new key.",
                )
            if record.answer is not None:
                return record.answer
            if time.monotonic() >= deadline:
                return _Refusal(
                    409,
                    "idempotency_key_in_progress",
                    "A request with this Idempotency-Key is still being processed; retry it later.",
                    {"Retry-After": "1"},
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _LONGEST_POLL)
        return token

    async def _run(self, scope: Scope, receive: Receive, send: Send, owner: KeyOwner, token: uuid.UUID) -> None:
        status = 0
        headers: list[tuple[str, str]] = []
        chunks: list[bytes] = []

        async def recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for raw_name, raw_value in message.get("headers", []):
                    name = raw_name.decode("latin-1").lower()
                    if name not in UNSTORED_HEADERS:
                        headers.append((name, raw_value.decode("latin-1")))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, recording)
        except asyncio.CancelledError:
            # Torn down mid-request (shutdown): whether the work happened is unknown, and the lease frees the key.
            raise
        except Exception:
            await self._settle(owner, token, None)
            raise
        await self._settle(owner, token, StoredAnswer(status, headers, b"".join(chunks)) if _stored(status) else None)

    async def _settle(self, owner: KeyOwner, token: uuid.UUID, answer: StoredAnswer | None) -> None:
        """Store the answer, or release the key when there is none worth keeping. The client has its answer
        already: a failure here is logged, and the lease frees the key in the end."""
        try:
            if answer is None:
                await self.store.release(owner, token)
            elif not await self.store.complete(owner, token, answer):
                log.warning("idempotency key %r of %s was taken over before its answer was stored", owner.key, owner)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("could not settle idempotency key %r of %s: %s", owner.key, owner, exc)

    async def _problem(
        self, scope: Scope, send: Send, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        body = problem(
            status=status,
            code=code,
            title=code.replace("_", " ").capitalize(),
            detail=detail,
            instance=scope["path"],
            correlation_id=correlation.current.get(),
        )

        async def no_body() -> Message:
            return {"type": "http.disconnect"}

        await problem_response(body, headers)(scope, no_body, send)


async def _replay(answer: StoredAnswer, send: Send) -> None:
    headers: list[tuple[bytes, bytes]] = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
    headers += [(b"content-length", str(len(answer.body)).encode()), REPLAYED_HEADER]
    start: dict[str, Any] = {"type": "http.response.start", "status": answer.status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": answer.body})


__all__ = ["HEADER", "Idempotency", "authority", "fingerprint", "valid_key"]
