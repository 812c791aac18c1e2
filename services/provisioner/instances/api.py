"""The instance routes: parse, call a handler, shape the answer. Reached only through the gateway.

Each `/v1` route declares the permission it needs (kernel.authz), the one the gateway's route of the same path and
method needs: the identity the gateway signed must grant it here too, so a caller the gateway let through by mistake
(or a request that got past it) is still refused. The caller's project comes from that identity.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import AwareDatetime

from kernel.authz import Operator, Reader
from kernel.http import Routes, answer, page_answer, problem_responses
from kernel.identity import Identity
from services.provisioner.blocks.answers import block_out
from services.provisioner.clouds.api import clouds_of
from services.provisioner.guardrails import handlers as guardrails
from services.provisioner.guardrails.answers import approval_out, approval_wait
from services.provisioner.guardrails.handlers import Asked
from services.provisioner.instances import handlers, preview
from services.provisioner.instances.domain import AWAITING_APPROVAL, InstanceRecord, UserAction
from services.provisioner.instances.repository import InstanceFilter
from services.provisioner.listing import RecordPaging
from services.provisioner.placement.answers import placement_out
from services.provisioner.placement.domain import PlacementPolicy
from services.provisioner.schemas import (
    InstanceCreate,
    InstanceOut,
    InstanceStateName,
    LaunchedOut,
    LaunchPreviewOut,
    MetricSampleOut,
    MetricsOut,
    Page,
)
from services.provisioner.state import correlation_id, uow_of

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes = Routes(router, "instances")
_SEVERAL = "Repeat to match several"


def instance_out(record: InstanceRecord) -> InstanceOut:
    return InstanceOut.model_validate(record, from_attributes=True)


@routes.post(
    "/instances",
    LaunchedOut,
    "Launch an instance",
    status=202,
    problems=(403, 409, 501),
    description="`key_name` names one of the project's key pairs in that cloud; `security_group_ids` are Clanavi "
    "ids of the project's security groups there; `user_data` is at most 16 KiB. With `template_id`, the server "
    "template (its `template_version`, else its default) gives the image and flavor for the cloud, the key pair, "
    "groups, zone and tags, and its boot scripts rendered with the resolved `inputs` make the user data; a "
    "template that cannot run on the cloud, or an input missing or invalid, is a 422 naming each. With `dry_run` "
    "true the launch is checked the same way and the answer is 200 `LaunchPreviewOut`: the cloud, region, zone, image "
    "and flavor it would take and its `hourly` and `monthly` (730 hours) cost from the account's price catalog in "
    "force now (null when the flavor is not priced), and the project's guard-rails' verdict; nothing is recorded, no "
    "event. Without `cloud_id`, or with `placement`, the allocator chooses the cloud, zone and flavor "
    "(`requirements` in place of `flavor_id`: the smallest that has them) by the policy, and the instance keeps the "
    "strategy and score it was placed with; when nothing fits, 422 `placement_failed` lists every candidate and why "
    "it was rejected. The project's guard-rails apply to every launch: a quota exceeded is 409 `quota_exceeded` "
    "naming each "
    "(its limit, what is used, what the launch adds); a required tag missing or not allowed, or a lifetime "
    "(`lifetime_hours` or `expires_at`) beyond the project's cap, a 422 naming it. A launch costing more a month than "
    "the project's approval threshold is recorded `awaiting_approval` with its `approval`: nothing is asked of the "
    "cloud until an owner approves it.",
    responses={200: {"model": LaunchPreviewOut, "description": "A dry run's placement and cost"}},
)
async def create_instance(request: Request, body: InstanceCreate, caller: Operator) -> Response:
    given = body.model_dump(
        exclude={
            "template_id",
            "template_version",
            "inputs",
            "image_id",
            "flavor_id",
            "dry_run",
            "lifetime_hours",
            "expires_at",
            "cloud_id",
            "requirements",
            "placement",
        }
    )
    policy = body.placement.policy() if body.placement is not None else None
    req = handlers.LaunchRequest(
        project_id=caller.project_id,
        correlation_id=correlation_id(),
        cloud_id=body.cloud_id or "",
        image_id=body.image_id or "",
        flavor_id=body.flavor_id or "",
        placement=policy if policy is not None or body.cloud_id is not None else PlacementPolicy(),
        **given,
    )
    requirements = body.requirements.requirements() if body.requirements is not None else None
    template = (
        None
        if body.template_id is None
        else handlers.TemplateLaunch(body.template_id, body.template_version, body.inputs)
    )
    asked = Asked(requested_by=caller.principal, lifetime_hours=body.lifetime_hours, expires_at=body.expires_at)
    if body.dry_run:
        seen = await preview.preview(
            uow_of(request), clouds_of(request), req, template, asked=asked, requirements=requirements
        )
        return answer(preview_out(seen), status=200)
    if template is None:
        record = await handlers.launch(uow_of(request), clouds_of(request), req, asked=asked, requirements=requirements)
    else:
        record = await handlers.launch_from_template(uow_of(request), clouds_of(request), req, template, asked=asked)
    out = LaunchedOut.model_validate(record, from_attributes=True)
    if record.state == AWAITING_APPROVAL:
        waiting = await guardrails.approval_of(uow_of(request), caller.project_id, record.id)
        if waiting is not None:
            out.approval = approval_out(waiting, approval_wait(request))
    return answer(out, status=202)


def preview_out(seen: preview.LaunchPreview) -> LaunchPreviewOut:
    verdict = seen.guardrails
    apart = ("guardrails", "placement", "blocked_by")
    shown = {f.name: getattr(seen, f.name) for f in fields(seen) if f.name not in apart}
    return LaunchPreviewOut.model_validate(
        {
            **shown,
            "placement": None if seen.placement is None else placement_out(seen.placement),
            "launch_block": None if seen.blocked_by is None else block_out(seen.blocked_by),
            "guardrails": {
                "allowed": verdict.allowed,
                "quotas": [{**asdict(q), "exceeded": q.exceeded} for q in verdict.quotas],
                "problems": [dict(p) for p in verdict.problems],
                "needs_approval": verdict.needs_approval,
                "expires_at": verdict.expires_at,
                "expiry_action": verdict.expiry_action,
                "notes": list(verdict.notes),
            },
        }
    )


@routes.get("/instances", Page[InstanceOut], "List instances")
async def list_instances(
    request: Request,
    caller: Reader,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[InstanceStateName] | None, Query(description=_SEVERAL)] = None,
    name: str | None = None,
    discovered: Annotated[
        bool | None, Query(description="true: only instances adopted by an inventory sync; false: only launched ones")
    ] = None,
    cluster_id: Annotated[str | None, Query(description="Only the members of this cluster")] = None,
) -> Response:
    flt = InstanceFilter(
        project_id=caller.project_id,
        cloud_id=cloud_id,
        states=state or (),
        name=name,
        discovered=discovered,
        cluster_id=cluster_id,
    )
    records, next_cursor = await handlers.page(uow_of(request), flt, paging)
    return page_answer(InstanceOut, records, next_cursor)


@routes.get("/instances/{instance_id}", InstanceOut, problems=(404,))
async def get_instance(request: Request, instance_id: str, caller: Reader) -> Response:
    return answer(instance_out(await handlers.get(uow_of(request), caller.project_id, instance_id)))


@routes.delete("/instances/{instance_id}", InstanceOut, "Terminate an instance", status=202, problems=(404, 409))
async def terminate_instance(request: Request, instance_id: str, caller: Operator) -> Response:
    return await _request(request, caller, instance_id, "terminate")


@routes.post(
    "/instances/{instance_id}/actions/{action}",
    InstanceOut,
    "Start, stop, reboot, suspend or resume an instance",
    status=202,
    problems=(403, 404, 409, 501),
)
async def instance_action(
    request: Request,
    instance_id: str,
    action: Annotated[Literal["start", "stop", "reboot", "suspend", "resume"], Path()],
    caller: Operator,
) -> Response:
    return await _request(request, caller, instance_id, action)


async def _request(request: Request, caller: Identity, instance_id: str, action: UserAction) -> Response:
    record = await handlers.request_action(
        uow_of(request),
        clouds_of(request),
        project_id=caller.project_id,
        instance_id=instance_id,
        action=action,
        correlation_id=correlation_id(),
    )
    return answer(instance_out(record), status=202)


@routes.get(
    "/instances/{instance_id}/console",
    summary="The instance's console output (text)",
    problems=(404, 409, 501),
    response_class=PlainTextResponse,
)
async def instance_console(request: Request, instance_id: str, caller: Reader) -> PlainTextResponse:
    text = await handlers.console_output(
        uow_of(request), clouds_of(request), project_id=caller.project_id, instance_id=instance_id
    )
    return PlainTextResponse(text)


@routes.get(
    "/instances/{instance_id}/metrics",
    MetricsOut,
    "Recent metric samples of the instance (CPU utilisation; network and disk where the cloud has them)",
    problems=(404, 409, 501),
)
async def instance_metrics(
    request: Request,
    instance_id: str,
    caller: Reader,
    since: Annotated[AwareDatetime | None, Query(description="Samples from this time on; default an hour ago")] = None,
) -> MetricsOut:
    start, samples = await handlers.metrics(
        uow_of(request), clouds_of(request), project_id=caller.project_id, instance_id=instance_id, since=since
    )
    return MetricsOut(
        instance_id=instance_id,
        since=start,
        items=[MetricSampleOut(name=s.name, timestamp=s.timestamp, value=s.value, unit=s.unit) for s in samples],
    )


__all__ = ["router"]
