"""Each route of the provisioner declares the permission the gateway's route of the same path and method requires:
the provisioner checks it again on the identity the gateway signed, so the two must agree. Read from both apps'
own declarations (kernel.authz.route_permission): a route added on either side without its twin, or without a
permission, fails here."""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import SecretStr

from kernel.authz import route_permission
from kernel.identity import Permission
from kernel.settings import KernelSettings
from services.gateway import api, clouds_api, inventory_api, resources_api
from services.provisioner.app import create_app
from services.provisioner.settings import ProvisionerSettings

# The gateway's routers that forward to the provisioner.
GATEWAY_ROUTERS: tuple[APIRouter, ...] = (api.router, clouds_api.router, inventory_api.router, resources_api.router)


def provisioner_routes(monkeypatch: pytest.MonkeyPatch) -> list[APIRoute]:
    monkeypatch.setenv("CLANAVI_SECRET_KEY", "unit-secret-key-0123456789abcdef0123456")
    kernel = KernelSettings(env="test", internal_key=SecretStr("unit-internal-key-0123456789abcdef01234"))
    app = create_app(ProvisionerSettings(kernel=kernel))
    found = [c.original_route for c in iter_route_contexts(app.routes)]
    return [r for r in found if isinstance(r, APIRoute) and r.path.startswith("/v1/")]


def gateway_permissions() -> dict[tuple[str, str], Permission | None]:
    return {
        (method, route.path): route_permission(route)
        for router in GATEWAY_ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }


def test_every_provisioner_route_requires_what_the_gateway_requires(monkeypatch: pytest.MonkeyPatch) -> None:
    gateway = gateway_permissions()
    routes = provisioner_routes(monkeypatch)
    assert len(routes) > 40
    wrong = []
    for route in routes:
        declared = route_permission(route)
        for method in sorted(route.methods or ()):
            if declared is None:
                wrong.append(f"{method} {route.path} declares no permission")
            elif (method, route.path) not in gateway:
                wrong.append(f"{method} {route.path} has no route in the gateway")
            elif gateway[(method, route.path)] is not declared:
                wrong.append(f"{method} {route.path}: {declared} here, {gateway[(method, route.path)]} in the gateway")
    assert not wrong, "\n".join(wrong)


def test_the_permissions_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading needs read; cloud accounts need manage to change; adapter modules are the platform admins'; the
    rest, operate."""
    for route in provisioner_routes(monkeypatch):
        for method in route.methods or ():
            if route.path.startswith("/v1/modules"):
                expected = Permission.ADMIN
            elif method == "GET":
                expected = Permission.READ
            elif route.path in ("/v1/clouds", "/v1/clouds/{cloud_id}"):
                expected = Permission.MANAGE
            else:
                expected = Permission.OPERATE
            assert route_permission(route) is expected, (method, route.path)
