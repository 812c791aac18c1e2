"""Proxy routes made from the services' own route declarations.

Each service declares its public routes once, in its own FastAPI routers: path, parameters, body, answer model,
the permission they need (kernel.authz), summary and problem responses. The gateway turns each into a route of its
own that does only what the gateway alone does (the middleware has authenticated the caller, applied the rate
limits, the body limit and idempotency): it checks the declared permission, then relays the request as it was
received, with the caller's signed identity, to the service that declared it. The service validates and answers;
its answer goes back as it is. The declarations themselves document the gateway's API (services.gateway.openapi).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from starlette.routing import Route

from kernel.authz import requiring, route_permission
from kernel.errors import Unauthenticated
from kernel.identity import Identity, Permission
from services.gateway.proxy.upstream import Upstream

__all__ = ["ProxiedService", "declared_routes", "proxy_routes"]


@dataclass(frozen=True)
class ProxiedService:
    """A service behind the gateway: its public routers, and how to reach it."""

    upstream: Upstream
    routers: Sequence[APIRouter]


def declared_routes(routers: Sequence[APIRouter]) -> Iterator[RouteContext]:
    """Every API route the routers declare (those of routers they include too)."""
    for router in routers:
        for route in iter_route_contexts(router.routes):
            if isinstance(route.original_route, APIRoute):
                yield route


def proxy_routes(services: Sequence[ProxiedService]) -> list[Route]:
    """One gateway route per declared route of every service; a route that declares no permission is an error
    (it would be reachable by any authenticated caller of any role)."""
    routes = []
    for service in services:
        for declared in declared_routes(service.routers):
            permission = route_permission(declared)
            if permission is None:
                raise RuntimeError(f"{service.upstream.name} route {declared.path} declares no permission")
            routes.append(
                Route(
                    str(declared.path),
                    _relay(service.upstream, permission),
                    methods=sorted(declared.methods or ()),
                    name=declared.name,
                    include_in_schema=False,
                )
            )
    return routes


def _relay(upstream: Upstream, permission: Permission) -> Callable[[Request], Awaitable[Response]]:
    async def relay(request: Request) -> Response:
        identity: Identity | None = request.scope.get("state", {}).get("identity")
        if identity is None:
            raise Unauthenticated("Send `Authorization: Bearer <token>`.")
        identity.require(permission)
        return await upstream.relay(request, caller=identity)

    relay.__name__ = f"relay_to_{upstream.name}"
    # Read back by the idempotency keys, which check the permission before replaying a stored answer.
    return requiring(permission, relay)
