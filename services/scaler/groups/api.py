"""Routes of scaling groups and their members. Reached only through the gateway; the project is the caller's. Read by
every member of the project; changed by operators."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from kernel.authz import Operator, Reader
from kernel.http import Routes, problem_responses
from kernel.keyset import PageRequest
from kernel.listing_query import page_query
from kernel.pagination import Page
from services.scaler.groups import handlers
from services.scaler.groups.answers import group_out, member_out
from services.scaler.groups.repository import GroupFilter
from services.scaler.schemas import GroupIn, GroupOut, GroupPatch, ItemsOf, MemberOut, ProtectionIn
from services.scaler.state import correlation_id, uow_of

__all__ = ["router"]

router = APIRouter(prefix="/v1/scaling-groups", responses=problem_responses(401, 422))
routes = Routes(router, "scaling groups")

GroupSort = Literal["created_at", "name"]
GroupPaging = Annotated[PageRequest, Depends(page_query(GroupSort))]


@routes.post(
    "",
    GroupOut,
    "Create a scaling group",
    status=201,
    problems=(403, 409),
    description="A group of servers launched from one template version, kept between `min_size` and `max_size` at "
    "`desired` (default: `min_size`). `max_size` caps the members in every state, failed ones too. The template "
    "version must be one of the project's, not deprecated. Hooks need a `timeout_seconds`.",
)
async def create_scaling_group(request: Request, body: GroupIn, caller: Operator) -> GroupOut:
    return group_out(await handlers.create(uow_of(request), caller, body, correlation_id()))


@routes.get("", Page[GroupOut], "List the project's scaling groups")
async def list_scaling_groups(
    request: Request,
    caller: Reader,
    paging: GroupPaging,
    name: Annotated[str | None, Query(max_length=100)] = None,
    template_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[GroupOut]:
    found, next_cursor = await handlers.list_groups(
        uow_of(request), GroupFilter(caller.project_id, name=name, template_id=template_id), paging
    )
    return Page[GroupOut](items=[group_out(g) for g in found], next_cursor=next_cursor)


@routes.get("/{scaling_group_id}", GroupOut, "Read a scaling group", problems=(404,))
async def get_scaling_group(request: Request, scaling_group_id: str, caller: Reader) -> GroupOut:
    return group_out(await handlers.get(uow_of(request), caller, scaling_group_id))


@routes.patch(
    "/{scaling_group_id}",
    GroupOut,
    "Change a scaling group",
    problems=(403, 404),
    description="Only the fields given change. A new `desired` is a decision (`scaling.decided`) acted on at once.",
)
async def update_scaling_group(request: Request, scaling_group_id: str, body: GroupPatch, caller: Operator) -> GroupOut:
    return group_out(await handlers.update(uow_of(request), caller, scaling_group_id, body))


@routes.delete(
    "/{scaling_group_id}",
    None,
    "Delete a scaling group",
    status=204,
    problems=(403, 404, 409),
    description="Only a group without members (set `min_size` and `desired` to 0 first).",
)
async def delete_scaling_group(request: Request, scaling_group_id: str, caller: Operator) -> Response:
    await handlers.delete(uow_of(request), caller, scaling_group_id)
    return Response(status_code=204)


@routes.get("/{scaling_group_id}/instances", ItemsOf[MemberOut], "List a scaling group's members", problems=(404,))
async def list_scaling_group_instances(request: Request, scaling_group_id: str, caller: Reader) -> ItemsOf[MemberOut]:
    found = await handlers.members(uow_of(request), caller, scaling_group_id)
    return ItemsOf[MemberOut](items=[member_out(m) for m in found])


@routes.put(
    "/{scaling_group_id}/instances/{instance_id}/protection",
    MemberOut,
    "Protect a member from scale-in, or stop protecting it",
    problems=(403, 404),
)
async def protect_scaling_group_instance(
    request: Request, scaling_group_id: str, instance_id: str, body: ProtectionIn, caller: Operator
) -> MemberOut:
    member = await handlers.protect(uow_of(request), caller, scaling_group_id, instance_id, body.protected)
    return member_out(member)
