"""Routes of a scaling group's policies."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from kernel.authz import Operator, Reader
from kernel.http import Routes, problem_responses
from services.scaler.policies import handlers
from services.scaler.policies.domain import Policy
from services.scaler.schemas import ItemsOf, PolicyIn, PolicyOut, StepIn
from services.scaler.state import uow_of

__all__ = ["router"]

router = APIRouter(prefix="/v1/scaling-groups/{scaling_group_id}/policies", responses=problem_responses(401, 422))
routes = Routes(router, "scaling policies")


def policy_out(p: Policy) -> PolicyOut:
    return PolicyOut(
        id=p.id,
        group_id=p.group_id,
        name=p.name,
        kind=p.kind,
        metric=p.metric,
        target=p.target,
        warmup_seconds=p.warmup_seconds,
        tolerance=p.tolerance,
        adjustment_type=p.adjustment_type,
        steps=[StepIn(lower=s.lower, upper=s.upper, adjustment=s.adjustment) for s in p.steps],
        min_adjustment_magnitude=p.min_adjustment_magnitude,
        cron=p.cron,
        time_zone=p.time_zone,
        min_size=p.min_size,
        max_size=p.max_size,
        desired=p.desired,
        next_run_at=p.next_run_at,
        created_at=p.created_at,
    )


@routes.post(
    "",
    PolicyOut,
    "Add a scaling policy",
    status=201,
    problems=(403, 404, 409),
    description="`target_tracking` (`metric`, `target`, `warmup_seconds`, `tolerance`): desired = ceil(current x "
    "metric / target); `step` (`metric`, `steps`, `adjustment_type`, `min_adjustment_magnitude`); `scheduled` (`cron` "
    "in `time_zone`, setting `min_size`/`max_size`/`desired`). The group scales out if any policy says so, in only "
    "if all agree. A metric nobody publishes, or a cron that never fires, is refused.",
)
async def create_scaling_policy(request: Request, scaling_group_id: str, body: PolicyIn, caller: Operator) -> PolicyOut:
    return policy_out(await handlers.create(uow_of(request), caller, scaling_group_id, body))


@routes.get("", ItemsOf[PolicyOut], "List a scaling group's policies", problems=(404,))
async def list_scaling_policies(request: Request, scaling_group_id: str, caller: Reader) -> ItemsOf[PolicyOut]:
    found = await handlers.list_policies(uow_of(request), caller, scaling_group_id)
    return ItemsOf[PolicyOut](items=[policy_out(p) for p in found])


@routes.get("/{scaling_policy_id}", PolicyOut, "Read a scaling policy", problems=(404,))
async def get_scaling_policy(
    request: Request, scaling_group_id: str, scaling_policy_id: str, caller: Reader
) -> PolicyOut:
    return policy_out(await handlers.get(uow_of(request), caller, scaling_group_id, scaling_policy_id))


@routes.delete("/{scaling_policy_id}", None, "Delete a scaling policy", status=204, problems=(403, 404))
async def delete_scaling_policy(
    request: Request, scaling_group_id: str, scaling_policy_id: str, caller: Operator
) -> Response:
    await handlers.delete(uow_of(request), caller, scaling_group_id, scaling_policy_id)
    return Response(status_code=204)
