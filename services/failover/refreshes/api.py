"""The instance refresh routes."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from kernel.authz import Operator, Reader
from kernel.http import Routes, answer, page_answer, problem_responses
from kernel.pagination import Page
from services.failover.listing import RefreshPaging
from services.failover.refreshes import handlers
from services.failover.refreshes.domain import Refresh
from services.failover.refreshes.repository import RefreshFilter
from services.failover.refreshes.schemas import RefreshIn, RefreshOut
from services.failover.state import correlation_id, uow_of

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes = Routes(router, "refreshes")


def refresh_out(r: Refresh) -> RefreshOut:
    return RefreshOut(
        id=r.id,
        policy_id=r.policy_id,
        template_id=r.template_id,
        template_version=r.template_version,
        min_healthy_percent=r.min_healthy_percent,
        checkpoint_percent=r.checkpoint_percent,
        state=r.state,
        reason=r.reason,
        replacing=dict(r.pending),
        replaced=dict(r.replaced),
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


@routes.post(
    "/refreshes",
    RefreshOut,
    "Start an instance refresh",
    status=202,
    problems=(403, 409),
    description="Replace the members of a health policy's target with servers of `template_version`, a batch at a "
    "time, keeping `min_healthy_percent` of them in service; each batch waits until its new servers are healthy "
    "past the policy's grace period. A new server that fails its health checks rolls the refresh back: the servers "
    "it launched are replaced with the version they replaced. 409 while the target is being refreshed already.",
)
async def start_refresh(request: Request, body: RefreshIn, caller: Operator) -> Response:
    refresh = await handlers.start(
        uow_of(request),
        project_id=caller.project_id,
        policy_id=body.policy_id,
        template_version=body.template_version,
        min_healthy_percent=body.min_healthy_percent,
        checkpoint_percent=body.checkpoint_percent,
        correlation_id=correlation_id(),
    )
    return answer(refresh_out(refresh), status=202)


@routes.get("/refreshes", Page[RefreshOut], "List instance refreshes")
async def list_refreshes(
    request: Request,
    caller: Reader,
    paging: RefreshPaging,
    policy_id: str | None = None,
    state: Annotated[Literal["running", "paused", "completed", "rolled_back", "cancelled"] | None, Query()] = None,
) -> Response:
    flt = RefreshFilter(project_id=caller.project_id, policy_id=policy_id, state=state)
    records, next_cursor = await handlers.page(uow_of(request), flt, paging)
    return page_answer(RefreshOut, [refresh_out(r) for r in records], next_cursor)


@routes.get("/refreshes/{refresh_id}", RefreshOut, "An instance refresh", problems=(404,))
async def get_refresh(request: Request, refresh_id: str, caller: Reader) -> Response:
    return answer(refresh_out(await handlers.get(uow_of(request), caller.project_id, refresh_id)))


@routes.post(
    "/refreshes/{refresh_id}/continue",
    RefreshOut,
    "Continue a refresh paused at its checkpoint",
    status=202,
    problems=(403, 404, 409),
)
async def continue_refresh(request: Request, refresh_id: str, caller: Operator) -> Response:
    refresh = await handlers.resume(uow_of(request), caller.project_id, refresh_id, correlation_id())
    return answer(refresh_out(refresh), status=202)


@routes.post(
    "/refreshes/{refresh_id}/cancel",
    RefreshOut,
    "Cancel a refresh",
    problems=(403, 404, 409),
    description="No more replacements; those launched go on.",
)
async def cancel_refresh(request: Request, refresh_id: str, caller: Operator) -> Response:
    refresh = await handlers.cancel(uow_of(request), caller.project_id, refresh_id, correlation_id())
    return answer(refresh_out(refresh))
