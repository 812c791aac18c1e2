"""Authentication, before anything else reads the request: every `/v1` call carries `Authorization: Bearer <token>`."""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

from kernel import correlation
from kernel.errors import Unauthenticated, problem_from_error
from kernel.identity import Identity, Role

PROTECTED_PREFIX = "/v1/"
DEFAULT_PROJECT = "default"


def check_bearer(authorization: str | None, expected: str) -> None:
    if not authorization:
        raise Unauthenticated("Send `Authorization: Bearer <token>`.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("The Authorization header must use the Bearer scheme.")
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Unauthenticated("The token is not valid.")


class BearerAuth:
    """Refuses unauthenticated API calls with 401 problem JSON; puts the caller's project in the request state."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None)
        try:
            check_bearer(header, self.token)
        except Unauthenticated as exc:
            body = json.dumps(
                problem_from_error(exc, instance=scope["path"], correlation_id=correlation.current.get())
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"www-authenticate", b'Bearer realm="clanavi"'),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        project = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-clanavi-project"), DEFAULT_PROJECT)
        scope.setdefault("state", {})["identity"] = Identity("key:admin", project, Role.OWNER, admin=True)
        await self.app(scope, receive, send)
