"""HTTP routes of the audit service: list recorded events, verify the chain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from kernel.audit_trail import key_id, public_key_pem
from kernel.authz import Admin, Reader
from kernel.errors import ValidationFailed
from kernel.http import Routes, problem_responses
from services.audit import handlers
from services.audit.domain import Calls
from services.audit.handlers import AuditUnitOfWork, Scope
from services.audit.listing import DigestPaging, EventPaging
from services.audit.schemas import (
    AuditDigest,
    AuditDigestPage,
    AuditEvent,
    AuditEventPage,
    AuditPublicKey,
    ChainVerification,
)

__all__ = ["router", "unit_of_work"]

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=problem_responses(401, 422))
routes = Routes(router)


async def unit_of_work(request: Request) -> AuditUnitOfWork:
    uow: AuditUnitOfWork = request.app.state.uow
    return uow


Work = Annotated[AuditUnitOfWork, Depends(unit_of_work)]
TypesQuery = Annotated[list[str] | None, Query(alias="type", description="Exact event type; repeatable")]
ScopeQuery = Annotated[
    Scope,
    Query(
        description="`project`: the events of the caller's project. `platform`: the events about the platform rather "
        "than one project (users, projects being created, admin API keys); platform admins only."
    ),
]


def _utc(value: datetime | None, name: str) -> datetime | None:
    """Times without an offset are taken as UTC; one whose offset takes it out of the calendar (year 1 at +05:00) is
    refused, since the database could not compare with it."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValidationFailed(
            f"`{name}` is out of range in UTC.",
            errors=[{"location": f"query.{name}", "message": "out of range in UTC", "type": "datetime_range"}],
        ) from None


@routes.get(
    "/events",
    summary="The activity trail",
    problems=(403,),
    description="The trail of the caller's project: its events, and with `calls=include` or `calls=only` its API calls "
    "(`api.called`; the filters `actor`, `method`, `status` and `path` select API calls only); with "
    "`scope=platform`, platform admins read the events about the platform itself, which no project's trail shows "
    "(403 for anybody else).",
)
async def list_audit_events(
    uow: Work,
    caller: Reader,
    paging: EventPaging,
    scope: ScopeQuery = "project",
    type_: TypesQuery = None,
    resource_id: Annotated[str | None, Query(description="The resource the events are about")] = None,
    correlation_id: str | None = None,
    since: Annotated[datetime | None, Query(description="occurred_at >= since")] = None,
    until: Annotated[datetime | None, Query(description="occurred_at < until")] = None,
    calls: Annotated[
        Calls,
        Query(
            description="The API calls (`api.called`): `exclude` (unless `type` names them), `include` beside the "
            "events, or `only`"
        ),
    ] = "exclude",
    actor: Annotated[
        str | None, Query(max_length=200, description="API calls by this principal (`user:<id>`, `key:<id>`)")
    ] = None,
    method: Annotated[
        str | None, Query(pattern=r"^[A-Za-z]{3,7}$", description="API calls with this HTTP method")
    ] = None,
    status: Annotated[int | None, Query(ge=100, le=599, description="API calls answered with this status")] = None,
    path: Annotated[
        str | None, Query(max_length=1024, description="API calls whose path starts with this (`/v1/instances`)")
    ] = None,
) -> AuditEventPage:
    # The route declares what a project's trail needs, all the gateway checks; the handler checks what the
    # platform's needs besides.
    page = await handlers.list_events(
        uow,
        caller,
        paging,
        scope=scope,
        types=type_ or (),
        resource_id=resource_id,
        correlation_id=correlation_id,
        since=_utc(since, "since"),
        until=_utc(until, "until"),
        calls=calls,
        actor=actor,
        method=method,
        status=status,
        path=path,
    )
    return AuditEventPage(items=[AuditEvent.from_record(r) for r in page.items], next_cursor=page.next_cursor)


@routes.get(
    "/verify",
    summary="Check that the audit trail's hash chain is intact (admins: the chain spans every project)",
    problems=(403,),
)
async def verify_audit(uow: Work, caller: Admin) -> ChainVerification:
    # The chain spans every project, so the service refuses non-admins itself instead of relying on the gateway.
    result = await handlers.verify(uow)
    return ChainVerification.model_validate(result, from_attributes=True)


@routes.get(
    "/digests",
    summary="The signed digests over the hash chain (admins: the chain spans every project)",
    problems=(403,),
    description="Every few minutes (`CLANAVI_AUDIT_DIGEST_INTERVAL_SECONDS`) the audit signs the chain's end with "
    "Ed25519: the last record's seq and hash, how many records the chain has held, and the previous digest's "
    "signature. Newest first by default.",
)
async def list_audit_digests(uow: Work, caller: Admin, paging: DigestPaging) -> AuditDigestPage:
    page = await handlers.list_digests(uow, paging)
    return AuditDigestPage(items=[AuditDigest.from_stored(d) for d in page.items], next_cursor=page.next_cursor)


@routes.get("/public-key", summary="The public key the audit's digests are signed with")
async def audit_public_key(request: Request, caller: Reader) -> AuditPublicKey:
    key = request.app.state.signing_key
    return AuditPublicKey(key_id=key_id(key), public_key=public_key_pem(key))


@routes.get(
    "/export",
    summary="The whole trail with its hashes and digests, as JSON lines (admins)",
    problems=(403,),
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "JSON lines"}},
    description="A header, every record in seq order with `prev_hash` and `hash`, then every digest; `clanavi audit "
    "verify --file` checks it offline. After retention the header says so and names the digest the first record's "
    "predecessor is anchored by.",
)
async def export_audit(request: Request, uow: Work, caller: Admin) -> StreamingResponse:
    key = request.app.state.signing_key
    lines = handlers.export(uow, public_key_pem(key), datetime.now(UTC))
    return StreamingResponse(lines, media_type="application/x-ndjson")
