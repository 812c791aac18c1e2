"""The probes the service runs itself against an instance's address: a TCP connect, or an HTTP GET that passes on a
2xx or 3xx answer. Only whether it passed is kept: nothing the server answered reaches a user."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from services.failover.policies.domain import Probe

__all__ = ["Prober"]


class Prober:
    def __init__(self) -> None:
        # No redirects followed, no proxies from the environment: a probe asks the server itself.
        self._http = httpx.AsyncClient(follow_redirects=False, trust_env=False)

    async def passes(self, address: str, probe: Probe) -> bool:
        try:
            async with asyncio.timeout(probe.timeout_seconds):
                if probe.kind == "tcp":
                    return await self._tcp(address, probe.port)
                return await self._get(address, probe)
        except (TimeoutError, OSError, httpx.HTTPError):
            return False

    @staticmethod
    async def _tcp(address: str, port: int) -> bool:
        _, writer = await asyncio.open_connection(address, port)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True

    async def _get(self, address: str, probe: Probe) -> bool:
        host = f"[{address}]" if ":" in address else address
        answer = await self._http.get(f"http://{host}:{probe.port}{probe.path}", timeout=probe.timeout_seconds)
        return answer.status_code < 400

    async def close(self) -> None:
        await self._http.aclose()
