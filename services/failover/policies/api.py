"""The health policy routes: parse, call a handler, shape the answer. Reached only through the gateway, which serves
them from these declarations."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from kernel.authz import Operator, Reader
from kernel.http import Routes, answer, page_answer, problem_responses
from kernel.pagination import Page
from services.failover.listing import PolicyPaging
from services.failover.policies import handlers
from services.failover.policies.domain import Breaker, Policy, PolicySpec, Probe, Signals, Target
from services.failover.policies.repository import PolicyFilter
from services.failover.policies.schemas import (
    BreakerOut,
    HealthPolicyIn,
    HealthPolicyOut,
    ProbeOut,
    SignalsOut,
    TargetOut,
)
from services.failover.state import correlation_id, uow_of

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes = Routes(router, "health")


def policy_out(p: Policy) -> HealthPolicyOut:
    probe = p.signals.probe
    return HealthPolicyOut(
        id=p.id,
        name=p.name,
        target=TargetOut(**p.target.as_json()),
        signals=SignalsOut(
            cloud_state=p.signals.cloud_state,
            metrics_quiet_seconds=p.signals.metrics_quiet_seconds,
            heartbeat_seconds=p.signals.heartbeat_seconds,
            probe=None if probe is None else ProbeOut(**p.signals.as_json()["probe"]),
        ),
        grace_seconds=p.grace_seconds,
        action=p.action,
        address_id=p.address_id,
        breaker=BreakerOut(**p.breaker.as_json(), open=p.breaker_open, reason=p.breaker_reason),
        created_at=p.created_at,
        updated_at=p.updated_at,
    )


def _spec(body: HealthPolicyIn) -> PolicySpec:
    s = body.signals
    return PolicySpec(
        name=body.name,
        target=Target.from_json(body.target.model_dump()),
        signals=Signals(
            metrics_quiet_seconds=s.metrics_quiet_seconds,
            heartbeat_seconds=s.heartbeat_seconds,
            probe=None if s.probe is None else Probe(**s.probe.model_dump()),
        ),
        grace_seconds=body.grace_seconds,
        action=body.action,
        address_id=body.address_id,
        breaker=Breaker(**body.breaker.model_dump()),
    )


@routes.post(
    "/health-policies",
    HealthPolicyOut,
    "Create a health policy",
    status=201,
    problems=(403, 409),
    description="Watch a target's instances (a scaling group's members, a cluster role's, or those carrying a tag) "
    "with the signals given, and remediate one that turns unhealthy with `action` unless the breaker trips. "
    "409 when the project has a policy of that name.",
)
async def create_policy(request: Request, body: HealthPolicyIn, caller: Operator) -> Response:
    policy = await handlers.create(
        uow_of(request), project_id=caller.project_id, spec=_spec(body), correlation_id=correlation_id()
    )
    return answer(policy_out(policy), status=201)


@routes.get("/health-policies", Page[HealthPolicyOut], "List health policies")
async def list_policies(
    request: Request,
    caller: Reader,
    paging: PolicyPaging,
    action: Annotated[Literal["replace", "reboot", "promote_standby", "quarantine"] | None, Query()] = None,
    name: str | None = None,
    scaling_group_id: str | None = None,
) -> Response:
    flt = PolicyFilter(project_id=caller.project_id, action=action, name=name, scaling_group_id=scaling_group_id)
    records, next_cursor = await handlers.page(uow_of(request), flt, paging)
    return page_answer(HealthPolicyOut, [policy_out(p) for p in records], next_cursor)


@routes.get("/health-policies/{policy_id}", HealthPolicyOut, "A health policy", problems=(404,))
async def get_policy(request: Request, policy_id: str, caller: Reader) -> Response:
    return answer(policy_out(await handlers.get(uow_of(request), caller.project_id, policy_id)))


@routes.put(
    "/health-policies/{policy_id}",
    HealthPolicyOut,
    "Change a health policy",
    problems=(403, 404, 409),
    description="The whole policy, as when created. Instances the new target matches are watched from now on.",
)
async def update_policy(request: Request, policy_id: str, body: HealthPolicyIn, caller: Operator) -> Response:
    policy = await handlers.update(
        uow_of(request),
        project_id=caller.project_id,
        policy_id=policy_id,
        spec=_spec(body),
        correlation_id=correlation_id(),
    )
    return answer(policy_out(policy))


@routes.delete("/health-policies/{policy_id}", None, "Delete a health policy", status=204, problems=(403, 404))
async def delete_policy(request: Request, policy_id: str, caller: Operator) -> Response:
    await handlers.delete(uow_of(request), caller.project_id, policy_id, correlation_id())
    return Response(status_code=204)


@routes.post(
    "/health-policies/{policy_id}/breaker/reset",
    HealthPolicyOut,
    "Close a health policy's breaker",
    problems=(403, 404),
    description="Remediation resumes: the window starts afresh and the members still unhealthy are remediated now, "
    "through the breaker again.",
)
async def reset_breaker(request: Request, policy_id: str, caller: Operator) -> Response:
    policy = await handlers.reset_breaker(uow_of(request), caller.project_id, policy_id, correlation_id())
    return answer(policy_out(policy))
