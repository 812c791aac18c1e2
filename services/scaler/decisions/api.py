"""Routes of a scaling group's decisions: its activities, its history for the chart, and the answers to its
lifecycle hooks."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from kernel.authz import Operator, Reader
from kernel.http import Routes, problem_responses
from kernel.keyset import PageRequest
from kernel.listing_query import page_query
from kernel.pagination import Page
from services.scaler.decisions import answers
from services.scaler.schemas import ActivityOut, HeartbeatIn, HistoryOut, HistoryPointOut, HookAnswerIn
from services.scaler.state import uow_of

__all__ = ["router"]

router = APIRouter(prefix="/v1/scaling-groups/{scaling_group_id}", responses=problem_responses(401, 422))
routes = Routes(router, "scaling groups")

ActivitySort = Literal["at"]
ActivityPaging = Annotated[PageRequest, Depends(page_query(ActivitySort, default_order="desc"))]


@routes.get("/activities", Page[ActivityOut], "A scaling group's activities, newest first", problems=(404,))
async def list_scaling_activities(
    request: Request, scaling_group_id: str, caller: Reader, paging: ActivityPaging
) -> Page[ActivityOut]:
    found, next_cursor = await answers.activities(uow_of(request), caller, scaling_group_id, paging)
    items = [
        ActivityOut(
            id=a.id, at=a.at, kind=a.kind, instance_id=a.instance_id, description=a.description, details=a.details
        )
        for a in found
    ]
    return Page[ActivityOut](items=items, next_cursor=next_cursor)


@routes.get(
    "/history",
    HistoryOut,
    "A scaling group's desired and actual capacity and its metric, over time",
    problems=(404,),
)
async def get_scaling_history(
    request: Request,
    scaling_group_id: str,
    caller: Reader,
    minutes: Annotated[int, Query(ge=1, le=24 * 60)] = 60,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> HistoryOut:
    points = await answers.history(uow_of(request), caller, scaling_group_id, minutes, limit)
    return HistoryOut(
        points=[
            HistoryPointOut(at=p.at, desired=p.desired, actual=p.actual, metric=p.metric, value=p.value) for p in points
        ]
    )


@routes.post(
    "/hooks/{hook}/complete",
    None,
    "Complete a member's lifecycle hook",
    status=204,
    problems=(403, 404, 409),
    description="CONTINUE lets a launching member enter service; ABANDON terminates it. A terminating member is "
    "terminated either way.",
)
async def complete_scaling_hook(
    request: Request, scaling_group_id: str, hook: str, body: HookAnswerIn, caller: Operator
) -> Response:
    await answers.answer_hook(uow_of(request), caller, scaling_group_id, hook, body.instance_id, body.result)
    return Response(status_code=204)


@routes.post(
    "/hooks/{hook}/heartbeat",
    None,
    "Hold a member in its lifecycle hook for another timeout",
    status=204,
    problems=(403, 404, 409),
)
async def heartbeat_scaling_hook(
    request: Request, scaling_group_id: str, hook: str, body: HeartbeatIn, caller: Operator
) -> Response:
    await answers.heartbeat(uow_of(request), caller, scaling_group_id, hook, body.instance_id)
    return Response(status_code=204)
