"""Where a webhook may lead (`CLANAVI_ALERTS_WEBHOOK_DENY`): a channel's URL is refused when its host resolves into
a denied network (by default this machine and the clouds' metadata services), and every delivery connects only to
an address it resolved and checked itself, so a name that resolves elsewhere later (DNS rebinding) or a redirect
(never followed) cannot take a signed notification, or the request it makes, to the services beside this one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

import httpcore
import httpx

from kernel.errors import ValidationFailed
from kernel.networks import Network, refusal, resolve

SETTING = "CLANAVI_ALERTS_WEBHOOK_DENY"


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").strip("[]")


async def check_url(url: str, deny: Sequence[Network]) -> None:
    """Refuse (422 naming `body.url`) a webhook URL whose host resolves into a denied network or not at all."""
    if not deny:
        return
    host = _host(url)
    problem = refusal(host, await resolve(host), deny)
    if problem is not None:
        raise ValidationFailed(
            f"The webhook may not lead there: {problem} ({SETTING}). Nothing was stored.",
            errors=[{"location": "body.url", "message": problem, "type": "webhook_url_denied"}],
        )


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects to the address it resolved and found allowed, never to a name resolved again afterwards."""

    def __init__(self, deny: Sequence[Network]) -> None:
        self._deny = tuple(deny)
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(host)
        problem = refusal(host, addresses, self._deny) if self._deny else None
        if problem is not None or not addresses:
            raise httpcore.ConnectError(f"not sent: {problem or host + ' does not resolve'} ({SETTING})")
        return await self._inner.connect_tcp(addresses[0], port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are sent over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    def __init__(self, deny: Sequence[Network]) -> None:
        super().__init__()
        # httpx builds its pool without a way to name the network backend: the same pool, given the guarded one.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(), network_backend=GuardedBackend(deny)
        )


def webhook_client(timeout: float, deny: Sequence[Network]) -> httpx.AsyncClient:
    """The client deliveries are sent with: redirects never followed, every connection checked."""
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False, transport=_GuardedTransport(deny))


__all__ = ["SETTING", "GuardedBackend", "check_url", "webhook_client"]
