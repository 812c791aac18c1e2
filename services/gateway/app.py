"""The gateway app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.middleware import Middleware

from kernel.errors import PROBLEM_SCHEMA
from kernel.http import create_base_app
from kernel.identity import IdentitySigner
from services.gateway import api, resources_api
from services.gateway.auth import BearerAuth
from services.gateway.limits import BodyLimit
from services.gateway.settings import GatewaySettings
from services.gateway.upstream import Upstream


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()  # the token comes from the environment
    signer = IdentitySigner(settings.kernel.internal_key_bytes())
    provisioner = Upstream("provisioner", settings.provisioner_url, settings.upstream_timeout, signer)
    audit = Upstream("audit", settings.audit_url, settings.upstream_timeout, signer)

    async def readiness() -> dict[str, bool]:
        return {"provisioner": await provisioner.ready(), "audit": await audit.ready()}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await provisioner.close()
            await audit.close()

    app = create_base_app(
        "Clanavi",
        readiness,
        # Authentication first: nothing reads the body of an unauthenticated request.
        middleware=[
            Middleware(BearerAuth, token=settings.admin_token.get_secret_value()),
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
        ],
        lifespan=lifespan,
        version="1.0.0",
        description="One REST API in front of every cloud a team runs. Authenticate with `Authorization: Bearer "
        "<token>`. Errors are RFC 9457 problem JSON.",
    )
    app.state.provisioner = provisioner
    app.state.audit = audit
    app.include_router(api.router)
    app.include_router(resources_api.router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
            schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
