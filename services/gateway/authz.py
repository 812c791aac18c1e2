"""Function-level authorisation: every `/v1` route names the permission it needs through one of these dependencies;
the tenancy suite (tests/e2e/test_tenancy.py) calls every route as a viewer and as a member of another project."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from kernel.errors import Unauthenticated
from kernel.identity import Identity, Permission


def allowed(permission: Permission) -> Callable[[Request], Awaitable[Identity]]:
    """A dependency: the caller (authenticated by the middleware), when its role grants `permission`; 403 otherwise."""

    # A coroutine: FastAPI runs a plain function dependency in a thread pool, a thread hop on every request.
    async def check(request: Request) -> Identity:
        identity: Identity | None = getattr(request.state, "identity", None)
        if identity is None:
            raise Unauthenticated("Send `Authorization: Bearer <token>`.")
        identity.require(permission)
        return identity

    check.__name__ = f"require_{permission.value}"
    return check


async def optional_caller(request: Request) -> Identity | None:
    """The caller's identity in its project; None on the routes about the caller itself when no project could be
    chosen (services.gateway.auth.SELF_PATHS). Authentication itself is the middleware's: these routes need no more."""
    identity: Identity | None = getattr(request.state, "identity", None)
    return identity


Reader = Annotated[Identity, Depends(allowed(Permission.READ))]
# Any authenticated caller, acting in a project or not.
Anyone = Annotated[Identity | None, Depends(optional_caller)]
Operator = Annotated[Identity, Depends(allowed(Permission.OPERATE))]
Manager = Annotated[Identity, Depends(allowed(Permission.MANAGE))]
Admin = Annotated[Identity, Depends(allowed(Permission.ADMIN))]

__all__ = ["Admin", "Anyone", "Manager", "Operator", "Reader", "allowed", "optional_caller"]
