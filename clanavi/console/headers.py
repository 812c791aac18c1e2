"""The headers every console answer carries: a Content-Security-Policy that lets the pages run only the gateway's own
files (no inline script or style, no other origin, no framing), and the headers that stop content sniffing, framing
and referrer leaks. The console's pages show one user's data: no cache keeps them."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from kernel.http import HttpMiddleware

__all__ = ["CONSOLE_PREFIX", "CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "ConsoleHeaders"]

CONSOLE_PREFIX = "/console"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)

SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
_HEADERS = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS]
_NO_STORE = [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]


class ConsoleHeaders(HttpMiddleware):
    """Adds the security headers to every answer under `/console` (refusals and missing pages included); pages,
    unlike the static files, are never cached."""

    def applies(self, scope: Scope) -> bool:
        path: str = scope["path"]
        return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        static = scope["path"].startswith(CONSOLE_PREFIX + "/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                known = {name for name, _ in message.get("headers", [])}
                added = [(n, v) for n, v in _HEADERS if n not in known]
                if not static:
                    added += [(n, v) for n, v in _NO_STORE if n not in known]
                message["headers"] = [*message.get("headers", []), *added]
            await send(message)

        await self.app(scope, receive, send_with_headers)
