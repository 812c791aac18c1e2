"""The app of a service behind the gateway: the base app (problem JSON, probes, metrics), the gateway's signed identity
verified on every request, the service's runtime and unit of work where its routes find them, and its routers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager

from fastapi import APIRouter, FastAPI
from starlette.middleware import Middleware

from kernel.http import create_base_app
from kernel.identity import IdentityVerifier, InternalAuth
from kernel.runtime import ServiceRuntime

__all__ = ["create_service_app"]


def create_service_app(
    title: str,
    runtime: ServiceRuntime,
    *,
    internal_key: bytes,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    routers: Sequence[APIRouter],
    uow: object,
) -> FastAPI:
    app = create_base_app(
        title,
        readiness=runtime.readiness,
        lifespan=lifespan,
        middleware=[Middleware(InternalAuth, verifier=IdentityVerifier(internal_key))],
    )
    app.state.runtime = runtime
    app.state.uow = uow
    for router in routers:
        app.include_router(router)
    return app
