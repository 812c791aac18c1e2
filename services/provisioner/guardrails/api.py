"""Routes of the project's guard-rails, the approvals of launches that wait for one, and lifetimes. Reached only
through the gateway; the project is the caller's. Read by every member; changed, decided and extended by owners (and
platform admins)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from kernel.authz import Manager, Reader
from kernel.http import Routes, answer, problem_responses
from kernel.keyset import PageRequest
from kernel.listing_query import page_query
from kernel.pagination import page_adapter
from services.provisioner.guardrails import handlers
from services.provisioner.guardrails.answers import approval_out, approval_wait, guardrails_out
from services.provisioner.guardrails.domain import Guardrails
from services.provisioner.guardrails.repository import ApprovalFilter
from services.provisioner.guardrails.schemas import ExtendIn, GuardrailsIn, GuardrailsOut, RejectIn
from services.provisioner.instances.api import instance_out
from services.provisioner.schemas import ApprovalOut, InstanceOut, Page
from services.provisioner.state import correlation_id, uow_of

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes = Routes(router, "guardrails")
approval_routes = Routes(router, "approvals")

ApprovalSort = Literal["created_at", "updated_at"]
ApprovalPaging = Annotated[PageRequest, Depends(page_query(ApprovalSort))]


@routes.get("/guardrails", GuardrailsOut, "The project's guard-rails")
async def get_guardrails(request: Request, caller: Reader) -> GuardrailsOut:
    return guardrails_out(await handlers.get(uow_of(request), caller.project_id))


@routes.put(
    "/guardrails",
    GuardrailsOut,
    "Replace the project's guard-rails",
    problems=(403,),
    description="Each field optional (null: no limit); the body replaces the guard-rails whole. `currency` is needed "
    "with `max_monthly_cost` or `approval_threshold`; `expiry_warnings` with `max_lifetime_hours`, each shorter. They "
    "apply to launches from now on (an instance's lifetime is set at its launch). A change is a new `version` and a "
    "`guardrails.changed` event naming who changed what; the same guard-rails again change nothing. Owners only.",
)
async def put_guardrails(request: Request, body: GuardrailsIn, caller: Manager) -> GuardrailsOut:
    wanted = Guardrails(
        project_id=caller.project_id,
        max_instances=body.max_instances,
        max_vcpus=body.max_vcpus,
        max_monthly_cost=body.max_monthly_cost,
        currency=body.currency,
        required_tags={k: tuple(v) for k, v in body.required_tags.items()},
        max_lifetime_hours=body.max_lifetime_hours,
        expiry_action=body.expiry_action,
        expiry_warnings=tuple(body.expiry_warnings),
        approval_threshold=body.approval_threshold,
    )
    saved = await handlers.change(uow_of(request), wanted, changed_by=caller.principal, correlation_id=correlation_id())
    return guardrails_out(saved)


@approval_routes.get("/approvals", Page[ApprovalOut], "List the project's approvals")
async def list_approvals(
    request: Request,
    caller: Reader,
    paging: ApprovalPaging,
    state: Annotated[
        list[Literal["pending", "approved", "rejected"]] | None, Query(description="Repeat to match several")
    ] = None,
    instance_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    flt = ApprovalFilter(caller.project_id, states=tuple(state or ()), instance_id=instance_id)
    found, next_cursor = await handlers.approvals(uow_of(request), flt, paging)
    wait = approval_wait(request)
    pages = page_adapter(ApprovalOut)
    page = pages.validate_python(
        {"items": [approval_out(a, wait) for a in found], "next_cursor": next_cursor}, from_attributes=True
    )
    return Response(pages.dump_json(page, by_alias=True), media_type="application/json")


@approval_routes.get("/approvals/{approval_id}", ApprovalOut, problems=(404,))
async def get_approval(request: Request, approval_id: str, caller: Reader) -> Response:
    found = await handlers.approval(uow_of(request), caller.project_id, approval_id)
    return answer(approval_out(found, approval_wait(request)))


@approval_routes.post(
    "/approvals/{approval_id}/approve",
    ApprovalOut,
    "Approve a launch that waits for approval",
    problems=(403, 404, 409),
    description="The launch goes on: the engine launches it. Approving it again answers the same; a rejected or "
    "lapsed one, or one whose launch was withdrawn meanwhile, is 409, and so is one a budget's launch block covers "
    "(`budget_exceeded`: it stays pending). Owners only. Event `approval.approved`.",
)
async def approve(request: Request, approval_id: str, caller: Manager) -> Response:
    decided = await handlers.approve(
        uow_of(request),
        project_id=caller.project_id,
        approval_id=approval_id,
        decided_by=caller.principal,
        correlation_id=correlation_id(),
    )
    return answer(approval_out(decided, approval_wait(request)))


@approval_routes.post(
    "/approvals/{approval_id}/reject",
    ApprovalOut,
    "Reject a launch that waits for approval",
    problems=(403, 404, 409),
    description="Its instance ends `rejected` with the reason; nothing was ever asked of its cloud. Rejecting it "
    "again answers the same; an approved one is 409. Owners only. Event `approval.rejected`.",
)
async def reject(request: Request, approval_id: str, body: RejectIn, caller: Manager) -> Response:
    decided = await handlers.reject(
        uow_of(request),
        project_id=caller.project_id,
        approval_id=approval_id,
        decided_by=caller.principal,
        reason=body.reason,
        correlation_id=correlation_id(),
    )
    return answer(approval_out(decided, approval_wait(request)))


@routes.post(
    "/instances/{instance_id}/extend",
    InstanceOut,
    "Move the end of an instance's lifetime",
    problems=(403, 404, 409),
    description="To `expires_at`, or `hours` after its current end: in the future, and at most the project's "
    "`max_lifetime_hours` after its launch (422 otherwise). 409 for an instance with no lifetime, or one that expired "
    "or ended. Warnings not due any more at the new end are sent again. Owners only. Event "
    "`instance.lifetime_extended`.",
)
async def extend(request: Request, instance_id: str, body: ExtendIn, caller: Manager) -> Response:
    uow = uow_of(request)
    until = body.expires_at
    if until is None:
        current = await handlers.instance(uow, caller.project_id, instance_id)
        base = current.expires_at
        if base is None:
            # Let the use case refuse it as it refuses every instance with no lifetime.
            until = current.created_at
        else:
            until = base + timedelta(hours=body.hours or 0)
    record = await handlers.extend(
        uow,
        project_id=caller.project_id,
        instance_id=instance_id,
        until=until,
        extended_by=caller.principal,
        correlation_id=correlation_id(),
    )
    return answer(instance_out(record))


__all__ = ["router"]
