"""Function-level authorisation, the same in every service: each `/v1` route names the permission it needs through
one of these dependencies, and the identity the request carries must grant it.

The gateway checks it against the caller it authenticated; each service checks it again against the identity the
gateway signed (kernel.identity.InternalAuth put it in the request state), so a service never relies on the gateway
alone to have refused a caller. The permission a route declares can be read back from the route
(`route_permission`): the gateway's idempotency keys check it before replaying a stored answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from kernel.errors import Unauthenticated
from kernel.identity import Identity, Permission

__all__ = [
    "Admin",
    "Anyone",
    "Manager",
    "Operator",
    "Reader",
    "allowed",
    "optional_caller",
    "requiring",
    "route_permission",
]

_PERMISSION_ATTRIBUTE = "clanavi_permission"
F = TypeVar("F", bound=Callable[..., Any])


def allowed(permission: Permission) -> Callable[[Request], Awaitable[Identity]]:
    """A dependency: the caller (authenticated by a middleware), when its role grants `permission`; 403 otherwise."""

    # A coroutine: FastAPI runs a plain function dependency in a thread pool, a thread hop on every request.
    async def check(request: Request) -> Identity:
        identity: Identity | None = getattr(request.state, "identity", None)
        if identity is None:
            raise Unauthenticated("Send `Authorization: Bearer <token>`.")
        identity.require(permission)
        return identity

    check.__name__ = f"require_{permission.value}"
    return requiring(permission, check)


def requiring(permission: Permission, function: F) -> F:
    """Mark `function` (a dependency, or an endpoint that checks the caller itself) as needing `permission`, so that
    `route_permission` can read it back."""
    setattr(function, _PERMISSION_ATTRIBUTE, permission)
    return function


async def optional_caller(request: Request) -> Identity | None:
    """The caller's identity in its project; None on the gateway's routes about the caller itself when no project
    could be chosen. Authentication itself is the middleware's: these routes need no more."""
    identity: Identity | None = getattr(request.state, "identity", None)
    return identity


def route_permission(route: Any) -> Permission | None:
    """The permission a route declared through `allowed`, at any depth of its dependencies; None for a route that
    declared none. `route` is an APIRoute or a RouteContext: an app's routes, those of included routers too, are
    `fastapi.routing.iter_route_contexts(app.routes)` (`app.routes` itself holds included routers whole)."""
    declared = getattr(getattr(route, "endpoint", None), _PERMISSION_ATTRIBUTE, None)
    if isinstance(declared, Permission):
        return declared
    pending = list(getattr(getattr(route, "dependant", None), "dependencies", ()))
    while pending:
        dependant = pending.pop()
        permission = getattr(dependant.call, _PERMISSION_ATTRIBUTE, None)
        if isinstance(permission, Permission):
            return permission
        pending.extend(dependant.dependencies)
    return None


Reader = Annotated[Identity, Depends(allowed(Permission.READ))]
Operator = Annotated[Identity, Depends(allowed(Permission.OPERATE))]
Manager = Annotated[Identity, Depends(allowed(Permission.MANAGE))]
Admin = Annotated[Identity, Depends(allowed(Permission.ADMIN))]
# Any authenticated caller, acting in a project or not.
Anyone = Annotated[Identity | None, Depends(optional_caller)]
