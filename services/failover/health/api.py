"""The instance health route: each watched instance's health under each policy watching it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from kernel.authz import Reader
from kernel.http import Routes, page_answer, problem_responses
from kernel.pagination import Page
from services.failover.health.domain import Member, Watch
from services.failover.health.repository import HealthFilter
from services.failover.health.schemas import InstanceHealthOut, SignalReadings
from services.failover.listing import HealthPaging
from services.failover.policies.repository import key_of
from services.failover.state import uow_of

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes = Routes(router, "health")


def health_out(watch: Watch, member: Member) -> InstanceHealthOut:
    return InstanceHealthOut(
        instance_id=member.instance_id,
        policy_id=watch.policy_id,
        health=watch.health,
        reasons=list(watch.reasons),
        quarantined=member.state == "quarantined",
        zone=member.zone,
        template_version=member.template_version,
        signals=SignalReadings(
            cloud_state=member.state,
            running_since=member.running_since,
            last_metric_at=member.last_metric_at,
            last_heartbeat_at=member.last_heartbeat_at,
            address=member.address,
            probe_successes=watch.probe_successes,
            probe_failures=watch.probe_failures,
            probed_at=watch.probed_at,
        ),
        unhealthy_since=watch.unhealthy_since,
        remediation=watch.remediation,
        replacement_id=watch.replacement_id,
        remediated_at=watch.remediated_at,
        changed_at=watch.changed_at,
    )


@routes.get(
    "/instance-health",
    Page[InstanceHealthOut],
    "The health of the instances the project's policies watch",
    description="One item per instance and policy watching it, with its signals and the reasons it is unhealthy; "
    "quarantined instances are listed too (`quarantined=true` lists only them).",
)
async def list_instance_health(
    request: Request,
    caller: Reader,
    paging: HealthPaging,
    policy_id: str | None = None,
    health: Annotated[list[Literal["healthy", "unhealthy", "unknown"]] | None, Query()] = None,
    quarantined: bool | None = None,
    instance_id: str | None = None,
) -> Response:
    if policy_id is not None and key_of(policy_id) is None:
        return page_answer(InstanceHealthOut, [], None)
    flt = HealthFilter(
        project_id=caller.project_id,
        policy_id=policy_id,
        health=tuple(health or ()),
        quarantined=quarantined,
        instance_id=instance_id,
    )
    async with uow_of(request).reading() as repos:
        rows, next_cursor = await repos.watches.page(flt, paging)
    return page_answer(InstanceHealthOut, [health_out(w, m) for w, m in rows], next_cursor)
