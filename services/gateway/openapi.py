"""The gateway's OpenAPI document: its own routes (identity) and every route the services declare, as the gateway
serves them. What the gateway adds to each service route is documented here once: the refusals it makes itself
(authentication, the permission, the body limit, rate limits, an unreachable service), the project header, and the
ways to authenticate."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from kernel.authz import route_permission
from kernel.errors import PROBLEM_SCHEMA
from kernel.http import PROBLEM_JSON, problem_responses
from kernel.identity import Permission
from services.gateway.identity.domain import PROJECT_ID_PATTERN
from services.gateway.middleware.authentication import PROJECT_HEADER, PUBLIC_PATHS
from services.gateway.proxy import ProxiedService
from services.gateway.proxy.routes import declared_routes

__all__ = ["GATEWAY_REFUSALS", "build"]

# What the gateway may answer on any route it proxies, before the service sees the request.
GATEWAY_REFUSALS = (401, 413, 422, 429, 503)

_SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "An access token or an API key"},
    "oauth2": {
        "type": "oauth2",
        "flows": {"password": {"tokenUrl": "/v1/auth/token", "refreshUrl": "/v1/auth/token", "scopes": {}}},
    },
}


def build(app: FastAPI, services: Sequence[ProxiedService]) -> dict[str, Any]:
    proxied = [route for service in services for router in service.routers for route in router.routes]
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=[*app.routes, *proxied]
    )
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    schema["components"]["securitySchemes"] = _SECURITY_SCHEMES
    schema["security"] = [{"bearer": []}, {"oauth2": []}]
    for service in services:
        for route in declared_routes(service.routers):
            refusals = GATEWAY_REFUSALS if route_permission(route) is Permission.READ else (*GATEWAY_REFUSALS, 403)
            for method in route.methods or ():
                operation = schema["paths"][str(route.path_format)][method.lower()]
                responses = operation.setdefault("responses", {})
                for status, response in problem_responses(*refusals).items():
                    responses.setdefault(str(status), response)
    _document_project_selection(schema)
    return schema


def _document_project_selection(schema: dict[str, Any]) -> None:
    """Every authenticated operation takes the project header, and may answer 400 (a caller in several projects
    named none) or 404 (a project the caller cannot reach): the authentication middleware decides both."""
    header = {
        "name": PROJECT_HEADER,
        "in": "header",
        "required": False,
        "description": "The project the call acts in (see the API description for the default)",
        "schema": {"type": "string", "pattern": PROJECT_ID_PATTERN},
    }
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/v1/") or path in PUBLIC_PATHS:
            continue
        for operation in operations.values():
            parameters = operation.setdefault("parameters", [])
            if not any(p.get("name") == PROJECT_HEADER for p in parameters):
                parameters.append(header)
            responses = operation.setdefault("responses", {})
            for status in ("400", "404"):
                responses.setdefault(status, {"description": "Problem", "content": problem})
