"""The gateway app: its lifespan migrates the identity schema, connects the bus and the outbox relay, and seeds the
admin key and user; every API call is authenticated before anything reads it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.middleware import Middleware

from kernel import outbox
from kernel.events import Envelope
from kernel.http import create_base_app
from kernel.identity import IdentitySigner
from kernel.runtime import ServiceRuntime
from kernel.unit_of_work import PostgresUnitOfWork
from services.alerts.routes import ROUTERS as ALERTS_ROUTERS
from services.audit.routes import ROUTERS as AUDIT_ROUTERS
from services.billing.routes import ROUTERS as BILLING_ROUTERS
from services.failover.routes import ROUTERS as FAILOVER_ROUTERS
from services.gateway import frontends, openapi
from services.gateway.api_calls import ApiCallLog
from services.gateway.identity import api as identity_api
from services.gateway.identity import bootstrap
from services.gateway.identity.authenticator import Authenticator
from services.gateway.identity.handlers import IdentityService
from services.gateway.identity.passwords import PasswordHashing
from services.gateway.identity.ports import IdentityRepositories
from services.gateway.identity.repository import Repositories
from services.gateway.identity.sessions import Sessions
from services.gateway.identity.tokens import AccessTokens
from services.gateway.middleware.api_calls import RecordApiCalls, route_resolver
from services.gateway.middleware.authentication import PROJECT_HEADER, Authentication
from services.gateway.middleware.body_limit import BodyLimit
from services.gateway.middleware.idempotency import Idempotency
from services.gateway.middleware.idempotency_store import SEALING_PURPOSE, IdempotencyStore, purge_forever
from services.gateway.middleware.ratelimit import ClientRateLimit, PrincipalRateLimit
from services.gateway.proxy import ProxiedService, Upstream, proxy_routes
from services.gateway.settings import GatewaySettings
from services.provisioner.routes import ROUTERS as PROVISIONER_ROUTERS
from services.scaler.routes import ROUTERS as SCALER_ROUTERS

__all__ = ["MIGRATIONS", "SCHEMA", "create_app"]

MIGRATIONS = Path(__file__).parent / "migrations"
SCHEMA = "gateway"

_DESCRIPTION = f"""One REST API in front of every cloud a team runs.

Authenticate with `Authorization: Bearer <token>`: an access token from `POST /v1/auth/token` (OAuth2 password
grant; refresh it with the refresh_token grant) or an API key. Choose the project a call acts in with the
`{PROJECT_HEADER}` header; without it a user acts in its only project (or `default` when it is a member there), an API
key in the project it is bound to, and a platform admin in `default`. A project the caller may not reach answers 404,
like one that does not exist.

Errors are RFC 9457 problem JSON."""


# The keys that seal the successors kept for renewals made with a renewal key.
RENEWALS_PURPOSE = "gateway refresh renewals"


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()  # secrets come from the environment
    internal_key = settings.kernel.internal_key_bytes()
    answers_keyring = settings.kernel.keyring(purpose=SEALING_PURPOSE)
    signer = IdentitySigner(internal_key)
    provisioner = Upstream("provisioner", settings.provisioner_url, settings.upstream_timeout, signer)
    audit = Upstream("audit", settings.audit_url, settings.upstream_timeout, signer)
    scaler = Upstream("scaler", settings.scaler_url, settings.upstream_timeout, signer)
    failover = Upstream("failover", settings.failover_url, settings.upstream_timeout, signer)
    billing = Upstream("billing", settings.billing_url, settings.upstream_timeout, signer)
    alerts = Upstream("alerts", settings.alerts_url, settings.upstream_timeout, signer)
    runtime = ServiceRuntime("gateway", settings.kernel, schema=SCHEMA, migrations=MIGRATIONS)
    uow = PostgresUnitOfWork[IdentityRepositories](lambda: runtime.pool, Repositories, wrote_events=runtime.wake_relay)
    tokens = AccessTokens(internal_key, ttl=settings.access_token_ttl_seconds)
    hashing = PasswordHashing()
    authenticator = Authenticator(uow, tokens, cache_seconds=settings.auth_cache_seconds, clock=time.time)
    identity = IdentityService(uow, hashing=hashing, on_change=authenticator.forget)
    sessions = Sessions(
        uow,
        hashing=hashing,
        tokens=tokens,
        refresh_ttl=settings.refresh_token_ttl_seconds,
        on_change=authenticator.forget,
        keyring=settings.kernel.keyring(purpose=RENEWALS_PURPOSE),
    )

    async def write_calls(events: Sequence[Envelope]) -> None:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await outbox.add(conn, *events)
        runtime.wake_relay()

    calls = ApiCallLog(write_calls, flush_interval=settings.api_calls_flush_seconds)

    async def readiness() -> dict[str, bool]:
        return {
            **await runtime.readiness(),
            "provisioner": await provisioner.ready(),
            "audit": await audit.ready(),
            "scaler": await scaler.ready(),
            "failover": await failover.ready(),
            "billing": await billing.ready(),
            "alerts": await alerts.ready(),
        }

    runtime.closing(provisioner.close)
    runtime.closing(audit.close)
    runtime.closing(scaler.close)
    runtime.closing(failover.close)
    runtime.closing(billing.close)
    runtime.closing(alerts.close)
    # Last registered, first run: the calls still in memory reach the outbox before the upstreams and the pool close.
    runtime.closing(calls.close)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            runtime.spawn(
                purge_forever(
                    IdempotencyStore(lambda: runtime.pool, answers_keyring),
                    timedelta(hours=settings.idempotency_ttl_hours),
                ),
                name="idempotency-purge",
            )
            runtime.spawn(calls.run(), name="api-calls")
            if settings.admin_token is not None:
                await bootstrap.seed_admin_token(uow, settings.admin_token.get_secret_value())
            if settings.bootstrap_admin_email and settings.bootstrap_admin_password is not None:
                await bootstrap.seed_admin_user(
                    uow, hashing, settings.bootstrap_admin_email, settings.bootstrap_admin_password.get_secret_value()
                )
            yield

    app = create_base_app(
        "Clanavi",
        readiness,
        # Outermost first: the record of every API call for the audit (refusals too); a per-address rate limit (it
        # needs no identity), then authentication, so nothing reads the body of an unauthenticated request; the
        # per-caller rate limit; the body limit; and idempotency innermost, since it reads the whole body and must
        # only ever see bodies the limit let through.
        middleware=[
            Middleware(RecordApiCalls, calls=calls, trusted_proxies=settings.trusted_proxies),
            Middleware(
                ClientRateLimit,
                rate=settings.rate_limit_per_ip,
                burst=settings.rate_limit_ip_burst,
                login_rate=settings.login_rate_per_ip,
                login_burst=settings.login_rate_burst,
                trusted_proxies=settings.trusted_proxies,
            ),
            Middleware(Authentication, authenticator=authenticator),
            Middleware(PrincipalRateLimit, rate=settings.rate_limit_per_key, burst=settings.rate_limit_burst),
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
            Middleware(
                Idempotency,
                pool=lambda: runtime.pool,
                keyring=answers_keyring,
                lease_seconds=settings.idempotency_lease_seconds,
                wait_seconds=settings.idempotency_wait_seconds,
            ),
        ],
        lifespan=lifespan,
        version="1.0.0",
        description=_DESCRIPTION,
    )
    app.state.runtime = runtime
    app.state.api_calls = calls
    calls.resolve = route_resolver(lambda: app.router.routes)
    app.state.identity = identity
    app.state.sessions = sessions
    app.state.authenticator = authenticator
    app.state.provisioner = provisioner
    app.state.audit = audit
    app.state.scaler = scaler
    app.state.failover = failover
    app.state.billing = billing
    app.state.alerts = alerts
    app.include_router(identity_api.router)
    # The services' routes, each declared once in its service: the gateway relays them.
    services = (
        ProxiedService(provisioner, PROVISIONER_ROUTERS),
        ProxiedService(audit, AUDIT_ROUTERS),
        ProxiedService(scaler, SCALER_ROUTERS),
        ProxiedService(failover, FAILOVER_ROUTERS),
        ProxiedService(billing, BILLING_ROUTERS),
        ProxiedService(alerts, ALERTS_ROUTERS),
    )
    app.router.routes.extend(proxy_routes(services))
    # The frontends (the web console): their pages call the routes above, in process, with the user's own token.
    frontends.install_all(app, settings)

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi.build(app, services)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
    return app
