"""Request body size limit, enforced before a body is read into memory."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel import correlation
from kernel.errors import problem
from kernel.http import HttpMiddleware, send_problem


def _detail(max_bytes: int) -> str:
    return f"Request bodies are limited to {max_bytes} bytes."


class BodyLimit(HttpMiddleware):
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def _reject(self, scope: Scope, send: Send) -> None:
        await send_problem(
            send,
            problem(
                status=413,
                code="payload_too_large",
                title="Payload too large",
                detail=_detail(self.max_bytes),
                instance=scope.get("path"),
                correlation_id=correlation.current.get(),
            ),
        )

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._reject(scope, send)
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._reject(scope, send)


class _TooLarge(HTTPException):
    """An HTTPException, so FastAPI lets it through when raised while it parses a body (it answers 400 for others)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, _detail(max_bytes))
