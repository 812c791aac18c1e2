"""Each public route is declared once, in the service that owns it, with the permission it needs: the service
checks it on the identity the gateway signed, and the gateway builds its own route from the same declaration and
checks it before relaying. Read from the declarations themselves (kernel.authz.route_permission): a route without a
permission, or one the gateway does not serve, fails here."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRouter
from starlette.routing import Route

from kernel.authz import route_permission
from kernel.identity import Permission
from services.alerts.routes import ROUTERS as ALERTS_ROUTERS
from services.audit.routes import ROUTERS as AUDIT_ROUTERS
from services.billing.routes import ROUTERS as BILLING_ROUTERS
from services.failover.routes import ROUTERS as FAILOVER_ROUTERS
from services.gateway.proxy.routes import declared_routes
from services.provisioner.routes import ROUTERS as PROVISIONER_ROUTERS
from services.scaler.routes import ROUTERS as SCALER_ROUTERS
from tests.offline import gateway_app

SERVICES: dict[str, tuple[APIRouter, ...]] = {
    "provisioner": PROVISIONER_ROUTERS,
    "audit": AUDIT_ROUTERS,
    "scaler": SCALER_ROUTERS,
    "failover": FAILOVER_ROUTERS,
    "billing": BILLING_ROUTERS,
    "alerts": ALERTS_ROUTERS,
}


@pytest.fixture
def gateway() -> FastAPI:
    return gateway_app()


def declared(routers: tuple[APIRouter, ...]) -> list[tuple[str, str, Permission | None]]:
    return [
        (method, str(route.path), route_permission(route))
        for route in declared_routes(routers)
        for method in sorted(route.methods or ())
    ]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_service_route_declares_a_permission(service: str) -> None:
    routes = declared(SERVICES[service])
    assert routes
    assert not [f"{m} {p}" for m, p, permission in routes if permission is None]


def test_the_gateway_serves_every_declared_route_and_nothing_else_of_theirs(gateway: FastAPI) -> None:
    served = {
        (method, route.path, route.endpoint.__name__)
        for route in gateway.router.routes
        if isinstance(route, Route) and route.endpoint.__name__.startswith("relay_to_")
        for method in route.methods or ()
        if method != "HEAD"
    }
    wanted = {
        (method, path, f"relay_to_{service}")
        for service, routers in SERVICES.items()
        for method, path, _ in declared(routers)
        if method != "HEAD"
    }
    assert served == wanted


def test_the_gateway_documents_every_declared_route_with_its_refusals(gateway: FastAPI) -> None:
    paths = gateway.openapi()["paths"]
    for service, routers in SERVICES.items():
        for method, path, permission in declared(routers):
            if method == "HEAD":
                continue
            responses = paths[path][method.lower()]["responses"]
            assert {"401", "413", "422", "429", "503"} <= set(responses), (service, method, path)
            if permission is not Permission.READ:
                assert "403" in responses, (service, method, path)


def test_the_provisioner_permissions_are_the_documented_ones() -> None:
    """Reading needs read; cloud accounts and their price catalogs, the guard-rails, approvals, lifetimes and a
    simulated zone outage need manage to change; adapter modules are the platform admins'; the rest, operate."""
    for method, path, permission in declared(PROVISIONER_ROUTERS):
        if path.startswith("/v1/modules"):
            expected = Permission.ADMIN
        elif method == "GET":
            expected = Permission.READ
        elif path in ("/v1/clouds", "/v1/clouds/{cloud_id}", "/v1/clouds/{cloud_id}/prices", "/v1/guardrails"):
            expected = Permission.MANAGE
        elif path.startswith("/v1/approvals/") or path == "/v1/instances/{instance_id}/extend":
            expected = Permission.MANAGE
        elif path == "/v1/clouds/{cloud_id}/simulation/zones/{zone}":
            expected = Permission.MANAGE
        else:
            expected = Permission.OPERATE
        assert permission is expected, (method, path)


def test_the_gateway_routes_carry_the_declared_permission(gateway: FastAPI) -> None:
    """The idempotency keys read a route's permission back before replaying a stored answer."""
    wanted = {
        (method, path): permission for routers in SERVICES.values() for method, path, permission in declared(routers)
    }
    relays = [r for r in gateway.router.routes if isinstance(r, Route) and r.endpoint.__name__.startswith("relay_to_")]
    assert relays
    for route in relays:
        for method in route.methods or ():
            if method != "HEAD":
                assert route_permission(route) is wanted[(method, route.path)], (method, route.path)
