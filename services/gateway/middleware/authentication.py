"""Authentication, before anything else reads the request: every `/v1` call but logging in carries
`Authorization: Bearer <token>`, an access token or an API key. The project is chosen here too (the
`X-Clanavi-Project` header), so a request for a project the caller may not reach is refused before its body is read.
"""

from __future__ import annotations

from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from kernel import correlation
from kernel.errors import BadRequest, ClanaviError, Unauthenticated, problem_from_error
from kernel.http import HttpMiddleware, send_problem
from kernel.identity import Identity
from services.gateway.identity.domain import Subject

__all__ = [
    "PROJECT_HEADER",
    "PROTECTED_PREFIX",
    "PUBLIC_PATHS",
    "SELF_PATHS",
    "Authenticates",
    "Authentication",
]

PROTECTED_PREFIX = "/v1/"
PROJECT_HEADER = "X-Clanavi-Project"
# Reached without a token: logging in (and refreshing), which authenticates the caller itself.
PUBLIC_PATHS = frozenset({"/v1/auth/token"})
# About the caller itself rather than a project: they answer even when no project can be chosen (a user in several
# projects who named none, or in none yet), so that such a user can see where it belongs and log out.
SELF_PATHS = frozenset({"/v1/me", "/v1/auth/logout", "/v1/projects"})
_PROJECT_KEY = PROJECT_HEADER.lower().encode()


class Authenticates(Protocol):
    """What the middleware asks (services.gateway.identity.authenticator.Authenticator in the app)."""

    async def authenticate(self, authorization: str | None, project: str | None) -> tuple[Subject, Identity]: ...

    async def subject(self, authorization: str | None) -> Subject: ...


class Authentication(HttpMiddleware):
    """Refuses unauthenticated API calls (401 problem JSON with `WWW-Authenticate`), and calls for a project the
    caller may not reach (404, or 400 when the caller must name one); puts the caller's `identity` (a
    kernel.identity.Identity) and `subject` (who authenticated) in the request state."""

    def __init__(self, app: ASGIApp, authenticator: Authenticates, public: frozenset[str] = PUBLIC_PATHS) -> None:
        super().__init__(app)
        self.authenticator = authenticator
        self.public = public

    def applies(self, scope: Scope) -> bool:
        path: str = scope["path"]
        return path.startswith(PROTECTED_PREFIX) and path not in self.public

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        authorization = project = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == _PROJECT_KEY:
                project = value.decode("latin-1").strip()
        state = scope.setdefault("state", {})
        try:
            subject, identity = await self.authenticator.authenticate(authorization, project)
        except BadRequest as exc:
            # No project could be chosen: only the routes about the caller itself go on, without an identity.
            if path not in SELF_PATHS or project is not None:
                await _refuse(scope, send, exc)
                return
            state["subject"] = await self.authenticator.subject(authorization)
            await self.app(scope, receive, send)
            return
        except ClanaviError as exc:
            await _refuse(scope, send, exc)
            return
        state["identity"] = identity
        state["subject"] = subject
        await self.app(scope, receive, send)


async def _refuse(scope: Scope, send: Send, error: ClanaviError) -> None:
    challenge = [(b"www-authenticate", b'Bearer realm="clanavi"')] if isinstance(error, Unauthenticated) else []
    body = problem_from_error(error, instance=scope["path"], correlation_id=correlation.current.get())
    await send_problem(send, body, challenge)
