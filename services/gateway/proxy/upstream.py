"""Calls from the gateway to the services behind it, passing their answers (problem JSON included) through.

aiohttp rather than httpx on this path: with 64 requests in flight httpx's connection pool spent 5-8 ms of CPU per
request where aiohttp spends under 0.1 ms (`bench/gateway.py` measures the whole gateway).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
from fastapi import Request, Response
from fastapi.responses import StreamingResponse
from yarl import URL

from kernel import correlation
from kernel.errors import ServiceUnavailable
from kernel.http import KEEP_ALIVE_SECONDS
from kernel.identity import IDENTITY_HEADER, Identity, IdentitySigner

log = logging.getLogger(__name__)

# Headers that belong to one hop or one response rather than to the answer: the gateway makes its own.
_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "date",
        "server",
        "x-correlation-id",
        "upgrade",
        "proxy-connection",
        "te",
        "trailer",
    }
)
# What of the client's request a service needs besides its body: the rest is the gateway's business.
_FORWARDED_REQUEST_HEADERS = ("content-type", "accept")
# Idle connections to a service are dropped a second before the service would close them: a request sent on one it
# is closing fails (a launch sent after a few idle seconds answered 503), and it may not be sent again.
IDLE_SECONDS = KEEP_ALIVE_SECONDS - 1


class Upstream:
    def __init__(self, name: str, base_url: str, timeout: float, signer: IdentitySigner) -> None:
        self.name = name
        self._base = base_url.rstrip("/")
        # A bound on each wait for the service (to connect, for each read) rather than on the whole answer: a streamed
        # answer (an export) may take longer than `timeout` in all without ever keeping the gateway waiting that long.
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        self._signer = signer
        # Made on first use: a session belongs to the event loop it was made in.
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=200, limit_per_host=200, keepalive_timeout=IDLE_SECONDS),
                timeout=self._timeout,
                # The services' answers are passed through as they are; nothing needs decompressing here.
                auto_decompress=False,
            )
        return self._session

    async def relay(self, request: Request, *, caller: Identity) -> Response:
        """Send the request on as it was received (method, path, query and body untouched) with the caller's signed
        identity, and answer what the service answers, problem JSON included."""
        headers = {name: request.headers[name] for name in _FORWARDED_REQUEST_HEADERS if name in request.headers}
        headers[IDENTITY_HEADER] = self._signer.sign(caller)
        headers["X-Correlation-ID"] = correlation.current.get() or ""
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        query = request.scope.get("query_string", b"")
        target = self._base + raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        body = await request.body()
        try:
            answer = await self._client().request(
                request.method, URL(target, encoded=True), data=body or None, headers=headers
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise self._unreachable(exc) from exc
        passed = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in answer.headers.items()
            if name.lower() not in _HOP_HEADERS
        ]
        response: Response
        if answer.content_length is None and answer.headers.get("Transfer-Encoding", "").lower() == "chunked":
            # A streamed answer (an export, a trail) is passed on as it comes: it never sits whole in the gateway.
            response = StreamingResponse(_chunks(answer), status_code=answer.status)
        else:
            try:
                content = await answer.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise self._unreachable(exc) from exc
            finally:
                answer.release()
            response = Response(content=content, status_code=answer.status)
        response.raw_headers.extend(passed)
        return response

    def _unreachable(self, exc: BaseException) -> ServiceUnavailable:
        log.warning("%s unreachable: %s", self.name, exc)
        return ServiceUnavailable(f"The {self.name} service is not reachable; try again shortly.")

    async def ready(self) -> bool:
        try:
            async with self._client().get(self._base + "/readyz", timeout=aiohttp.ClientTimeout(total=2)) as answer:
                return answer.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _chunks(answer: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The answer's body as the service sends it; the connection goes back to the pool (or is closed, when the
    client went away before the end) whatever happens."""
    try:
        async for chunk in answer.content.iter_any():
            yield chunk
    finally:
        answer.release()
