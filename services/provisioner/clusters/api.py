"""The cluster routes: parse, call a handler, shape the answer. Reached only through the gateway, which serves them
from these declarations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from kernel.authz import Operator, Reader
from kernel.http import Routes, answer, page_answer, problem_responses
from services.provisioner.clouds.api import clouds_of
from services.provisioner.clusters import domain, handlers
from services.provisioner.clusters.domain import ClusterRecord, Member, Role
from services.provisioner.clusters.repository import ClusterFilter
from services.provisioner.clusters.schemas import (
    ClusterCreate,
    ClusterDetailOut,
    ClusterOut,
    ClusterPreviewOut,
    ClusterStateName,
    MemberOut,
    RoleHealthOut,
    ScaleIn,
)
from services.provisioner.instances.api import preview_out
from services.provisioner.listing import RecordPaging
from services.provisioner.schemas import Page
from services.provisioner.state import correlation_id, uow_of

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes = Routes(router, "clusters")
RoleName = Annotated[str, Path(min_length=1, max_length=20)]


def _roles(body: ClusterCreate) -> list[Role]:
    return [
        Role(
            name=r.name,
            template_id=r.template_id,
            count=r.count,
            template_version=r.template_version,
            inputs=dict(r.inputs),
            cloud_id=r.cloud_id,
            placement=None if r.placement is None else r.placement.model_dump(),
            depends_on=tuple(r.depends_on),
        )
        for r in body.roles
    ]


def cluster_detail(cluster: ClusterRecord, members: Sequence[Member]) -> ClusterDetailOut:
    health = {h.name: h for h in domain.health(cluster, members)}
    roles = [
        RoleHealthOut(
            name=r.name,
            template_id=r.template_id,
            template_version=r.template_version,
            count=r.count,
            cloud_id=r.cloud_id,
            placement=None if r.placement is None else dict(r.placement),
            depends_on=list(r.depends_on),
            inputs=dict(r.inputs),
            members=sum(health[r.name].states.values()),
            running=health[r.name].running,
            health=health[r.name].health,
            states=dict(health[r.name].states),
        )
        for r in cluster.roles
    ]
    return ClusterDetailOut(
        **ClusterOut.model_validate(cluster, from_attributes=True).model_dump(exclude={"roles"}),
        roles=roles,
        members=[
            MemberOut(
                role=m.role,
                n=m.n,
                name=m.name,
                instance_id=m.instance_id,
                state=domain.member_state(m),
                retired=m.retired,
                replaced_by=m.replaced_by,
                reason=m.reason,
                created_at=m.created_at,
            )
            for m in members
        ],
    )


@routes.post(
    "/clusters",
    ClusterOut,
    "Create a cluster",
    status=202,
    problems=(403, 409),
    description="Roles, each `count` servers from a template version (its default unless named, recorded now) on "
    "`cloud_id`, with the cluster's `inputs` for them, launched after the roles it `depends_on` all run; a role's "
    "members are launched together, each through the launch (`POST /v1/instances` with `template_id`), named "
    "`<cluster>-<role>-<n>`. Every problem is a 422 naming its field before anything is recorded: a role given "
    "twice, a dependency on no role, a dependency cycle (named), a template version unknown, deprecated or unable "
    "to run on the role's cloud, an input missing or invalid. With `dry_run` the answer is 200 "
    "`ClusterPreviewOut`: each role's placement and cost, nothing recorded.",
    responses={200: {"model": ClusterPreviewOut, "description": "A dry run's placements and cost"}},
)
async def create_cluster(request: Request, body: ClusterCreate, caller: Operator) -> Response:
    req = handlers.ClusterRequest(
        project_id=caller.project_id,
        name=body.name,
        roles=_roles(body),
        on_failure=body.on_failure,
        correlation_id=correlation_id(),
    )
    if body.dry_run:
        seen = await handlers.preview_cluster(uow_of(request), clouds_of(request), req)
        roles = [{**asdict(role), "launch": preview_out(role.launch)} for role in seen.roles]
        return answer(ClusterPreviewOut.model_validate({**asdict(seen), "roles": roles}), status=200)
    cluster = await handlers.create(uow_of(request), clouds_of(request), req)
    return answer(ClusterOut.model_validate(cluster, from_attributes=True), status=202)


@routes.get("/clusters", Page[ClusterOut], "List clusters")
async def list_clusters(
    request: Request,
    caller: Reader,
    paging: RecordPaging,
    state: Annotated[list[ClusterStateName] | None, Query(description="Repeat to match several")] = None,
    name: str | None = None,
) -> Response:
    flt = ClusterFilter(project_id=caller.project_id, states=state or (), name=name)
    records, next_cursor = await handlers.page(uow_of(request), flt, paging)
    return page_answer(ClusterOut, records, next_cursor)


@routes.get(
    "/clusters/{cluster_id}",
    ClusterDetailOut,
    "A cluster: its roles' counts and health, and its members",
    problems=(404,),
)
async def get_cluster(request: Request, cluster_id: str, caller: Reader) -> Response:
    cluster, members = await handlers.get(uow_of(request), caller.project_id, cluster_id)
    return answer(cluster_detail(cluster, members))


async def _detail(request: Request, project_id: str, cluster_id: str) -> Response:
    cluster, members = await handlers.get(uow_of(request), project_id, cluster_id)
    return answer(cluster_detail(cluster, members), status=202)


@routes.post(
    "/clusters/{cluster_id}/roles/{role}/scale",
    ClusterDetailOut,
    "Scale a role",
    status=202,
    problems=(403, 404, 409),
    description="Scaling out launches new members (new numbers); scaling in takes the newest out first and "
    "terminates them the normal way (decommission scripts first). 409 once the cluster is terminating or ended, "
    "or while it is degraded (retry it first).",
)
async def scale_role(request: Request, cluster_id: str, role: RoleName, body: ScaleIn, caller: Operator) -> Response:
    await handlers.scale(
        uow_of(request),
        project_id=caller.project_id,
        cluster_id=cluster_id,
        role=role,
        count=body.count,
        correlation_id=correlation_id(),
    )
    return await _detail(request, caller.project_id, cluster_id)


@routes.post(
    "/clusters/{cluster_id}/members/{instance_id}/replace",
    ClusterDetailOut,
    "Replace a member",
    status=202,
    problems=(403, 404, 409),
    description="A new member (with a new name) is launched; the old one is terminated once the new one runs.",
)
async def replace_member(request: Request, cluster_id: str, instance_id: str, caller: Operator) -> Response:
    await handlers.replace_member(
        uow_of(request),
        project_id=caller.project_id,
        cluster_id=cluster_id,
        instance_id=instance_id,
        correlation_id=correlation_id(),
    )
    return await _detail(request, caller.project_id, cluster_id)


@routes.post(
    "/clusters/{cluster_id}/retry",
    ClusterDetailOut,
    "Retry what failed in a degraded cluster",
    status=202,
    problems=(403, 404, 409),
    description="Its failed members are taken out (their instances terminated) and new ones launched in their "
    "place; 409 unless the cluster is degraded.",
)
async def retry_cluster(request: Request, cluster_id: str, caller: Operator) -> Response:
    await handlers.retry(
        uow_of(request), project_id=caller.project_id, cluster_id=cluster_id, correlation_id=correlation_id()
    )
    return await _detail(request, caller.project_id, cluster_id)


@routes.delete(
    "/clusters/{cluster_id}",
    ClusterDetailOut,
    "Terminate a cluster",
    status=202,
    problems=(403, 404),
    description="Every member is terminated, dependents before what they depend on, each the normal way "
    "(decommission scripts first); the cluster ends `terminated`.",
)
async def terminate_cluster(request: Request, cluster_id: str, caller: Operator) -> Response:
    await handlers.terminate(
        uow_of(request), project_id=caller.project_id, cluster_id=cluster_id, correlation_id=correlation_id()
    )
    return await _detail(request, caller.project_id, cluster_id)


__all__ = ["cluster_detail", "router"]
