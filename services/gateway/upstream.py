"""Calls from the gateway to the services behind it, passing their answers (problem JSON included) through."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx
from fastapi import Response

from kernel import correlation
from kernel.errors import ServiceUnavailable
from kernel.identity import IDENTITY_HEADER, Identity, IdentitySigner

log = logging.getLogger(__name__)

_PASSED_HEADERS = ("content-type", "retry-after", "location")


class Upstream:
    def __init__(self, name: str, base_url: str, timeout: float, signer: IdentitySigner) -> None:
        self.name = name
        self._signer = signer
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    async def forward(
        self,
        method: str,
        path: str,
        *,
        caller: Identity,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        body: bytes | None = None,
    ) -> Response:
        headers = {IDENTITY_HEADER: self._signer.sign(caller), "X-Correlation-ID": correlation.current.get() or ""}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            answer = await self._client.request(method, path, params=params, content=body, headers=headers)
        except httpx.TransportError as exc:
            log.warning("%s unreachable: %s", self.name, exc)
            raise ServiceUnavailable(f"The {self.name} service is not reachable; try again shortly.") from exc
        passed = {k: v for k, v in answer.headers.items() if k.lower() in _PASSED_HEADERS}
        return Response(content=answer.content, status_code=answer.status_code, headers=passed)

    async def ready(self) -> bool:
        try:
            return (await self._client.get("/readyz", timeout=2)).status_code == 200
        except httpx.TransportError:
            return False

    async def close(self) -> None:
        await self._client.aclose()
