"""Failover: the health of the servers the project's policies watch (quarantined ones included), each policy with
its breaker (operators reset an open one here), and instance refreshes (operators continue one paused at its
checkpoint, or cancel one)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import QueryParams
from starlette.responses import Response

from clanavi.client import ApiError
from clanavi.client.models import RefreshOut
from clanavi.console.headers import CONSOLE_PREFIX
from clanavi.console.listing import Filter, listed_at
from clanavi.console.problems import Problem
from clanavi.console.visits import Visit, checked_form, visit

__all__ = ["router"]

router = APIRouter()
Visiting = Annotated[Visit, Depends(visit)]
HEALTH_FILTERS = (
    Filter("policy_id", "Policy id"),
    Filter("health", "Health", "many", [(h, h) for h in ("healthy", "unhealthy", "unknown")]),
    Filter("quarantined", "Quarantined", "bool"),
)
HEALTH_SORTS = (("changed_at", "Changed"), ("instance_id", "Instance"))
REFRESH_FILTERS = (Filter("policy_id", "Policy id"), Filter.states(RefreshOut))
REFRESH_SORTS = (("created_at", "Started"),)
# The most policies the health page shows above the servers.
POLICIES_SHOWN = 100


async def _health_page(current: Visit, given: QueryParams | None = None, problem: Problem | None = None) -> Response:
    view, found, refused = await listed_at(current.api.instance_health, "/health", given, HEALTH_FILTERS, HEALTH_SORTS)
    policies = []
    try:
        policies = (await current.api.health_policies.list(limit=POLICIES_SHOWN).page(None)).items
    except ApiError as error:
        refused = refused or Problem.of(error)
    problem = problem or refused
    return await current.page(
        "health.html", problem.status if problem else 200, title="Health", section="health",
        policies=policies, rows=found, view=view, problem=problem,
    )  # fmt: skip


@router.get("/health")
async def health(request: Request, current: Visiting) -> Response:
    return await _health_page(current, request.query_params)


@router.post("/health-policies/{policy_id}/breaker/reset")
async def reset_breaker(policy_id: str, request: Request, current: Visiting) -> Response:
    await checked_form(request, current.session)
    try:
        await current.api.health_policies.reset_breaker(policy_id)
    except ApiError as error:
        return await _health_page(current, problem=Problem.of(error))
    return current.redirect(f"{CONSOLE_PREFIX}/health")


async def _refreshes_page(current: Visit, given: QueryParams | None = None, problem: Problem | None = None) -> Response:
    view, found, refused = await listed_at(current.api.refreshes, "/refreshes", given, REFRESH_FILTERS, REFRESH_SORTS)
    problem = problem or refused
    return await current.page(
        "refreshes.html", problem.status if problem else 200, title="Instance refreshes", section="refreshes",
        refreshes=found, view=view, problem=problem,
    )  # fmt: skip


@router.get("/refreshes")
async def refreshes(request: Request, current: Visiting) -> Response:
    return await _refreshes_page(current, request.query_params)


@router.post("/refreshes/{refresh_id}")
async def refresh_action(refresh_id: str, request: Request, current: Visiting) -> Response:
    form = await checked_form(request, current.session)
    try:
        if form.get("action") == "continue":
            await current.api.refreshes.resume(refresh_id)
        else:
            await current.api.refreshes.cancel(refresh_id)
    except ApiError as error:
        return await _refreshes_page(current, problem=Problem.of(error))
    return current.redirect(f"{CONSOLE_PREFIX}/refreshes")
