"""Authentication: every request carries `Authorization: Bearer <token>`."""

from __future__ import annotations

import hmac

from kernel.errors import Unauthenticated


def check_bearer(authorization: str | None, expected: str) -> None:
    if not authorization:
        raise Unauthenticated("Send `Authorization: Bearer <token>`.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("The Authorization header must use the Bearer scheme.")
    if not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Unauthenticated("The token is not valid.")
