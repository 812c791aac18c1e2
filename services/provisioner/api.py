"""The provisioner's HTTP routes: parse, call a handler, shape the answer. Reached only through the gateway.

Each `/v1` route declares the permission it needs (kernel.authz), the one the gateway's route of the same path and
method needs: the identity the gateway signed must grant it here too, so a caller the gateway let through by mistake
(or a request that got past it) is still refused. The caller's project comes from that identity.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import AwareDatetime

from adapters.base import CloudAdapter, CloudError
from kernel import correlation
from kernel.authz import Operator, Reader
from kernel.db import Pool
from kernel.http import problem_responses
from services.provisioner import errors, handlers, owned, repository
from services.provisioner.clouds import CloudDirectory
from services.provisioner.domain import InstanceRecord
from services.provisioner.listing import RecordPaging
from services.provisioner.schemas import (
    FlavorOut,
    ImageOut,
    InstanceCreate,
    InstanceOut,
    InstanceStateName,
    ListOf,
    MetricSampleOut,
    MetricsOut,
    Page,
)

T = TypeVar("T")

router = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
_SEVERAL = "Repeat to match several"


def pool_of(request: Request) -> Pool:
    pool: Pool = request.app.state.runtime.pool
    return pool


def clouds_of(request: Request) -> CloudDirectory:
    clouds: CloudDirectory = request.app.state.clouds
    return clouds


def instance_out(record: InstanceRecord) -> InstanceOut:
    return InstanceOut(
        id=record.id,
        project_id=record.project_id,
        cloud_id=record.cloud_id,
        name=record.name,
        image_id=record.image_id,
        flavor_id=record.flavor_id,
        provider_id=record.provider_id,
        state=record.state,
        pending_action=record.pending_action,
        reason=record.reason,
        private_ips=list(record.private_ips),
        key_name=record.key_name,
        security_group_ids=list(record.security_group_ids),
        zone=record.zone,
        tags=dict(record.tags),
        discovered=record.discovered,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


async def _cloud_ids(request: Request, project: str, cloud_id: str | None) -> list[str]:
    if cloud_id:
        return [(await owned.cloud(pool_of(request), project, cloud_id)).id]
    clouds = clouds_of(request)
    # Every enabled account of the project whose adapter module is enabled too: a disabled module's are left out.
    return [
        a.id
        for a in await repository.list_clouds(pool_of(request), project)
        if a.enabled and clouds.module_enabled(a.driver)
    ]


async def _from_each_cloud(
    request: Request, project: str, cloud_id: str | None, fetch: Callable[[CloudAdapter], Awaitable[Sequence[T]]]
) -> list[tuple[str, T]]:
    """What `fetch` answers in the project's cloud asked about (or in every enabled one of the project), each item
    with its cloud's id."""
    found: list[tuple[str, T]] = []
    for cid in await _cloud_ids(request, project, cloud_id):
        try:
            items = await fetch(await clouds_of(request).adapter(cid))
        except CloudError as exc:
            raise errors.from_cloud(exc, cloud_id=cid) from exc
        found += [(cid, item) for item in items]
    return found


@router.get(
    "/images",
    response_model=ListOf[ImageOut],
    tags=["images"],
    summary="The clouds' image catalogues (ids to launch from)",
    responses=problem_responses(404, 409),
)
async def list_images(request: Request, caller: Reader, cloud_id: str | None = None) -> ListOf[ImageOut]:
    found = await _from_each_cloud(request, caller.project_id, cloud_id, lambda adapter: adapter.list_images())
    return ListOf[ImageOut](
        items=[
            ImageOut(id=i.id, cloud_id=cid, name=i.name, os=i.os, min_disk_gb=i.min_disk_gb, state=i.state.value)
            for cid, i in found
        ]
    )


@router.get("/flavors", response_model=ListOf[FlavorOut], tags=["flavors"], responses=problem_responses(404, 409))
async def list_flavors(request: Request, caller: Reader, cloud_id: str | None = None) -> ListOf[FlavorOut]:
    found = await _from_each_cloud(request, caller.project_id, cloud_id, lambda adapter: adapter.list_flavors())
    return ListOf[FlavorOut](
        items=[
            FlavorOut(id=f.id, cloud_id=cid, name=f.name, vcpus=f.vcpus, ram_mb=f.ram_mb, disk_gb=f.disk_gb)
            for cid, f in found
        ]
    )


@router.post(
    "/instances",
    status_code=202,
    response_model=InstanceOut,
    tags=["instances"],
    summary="Launch an instance",
    description="`key_name` names one of the project's key pairs in that cloud; `security_group_ids` are Clanavi "
    "ids of the project's security groups there; `user_data` is at most 16 KiB.",
    responses=problem_responses(403, 409, 501),
)
async def create_instance(request: Request, body: InstanceCreate, caller: Operator) -> InstanceOut:
    record = await handlers.launch(
        pool_of(request),
        clouds_of(request),
        handlers.LaunchRequest(
            project_id=caller.project_id,
            cloud_id=body.cloud_id,
            name=body.name,
            image_id=body.image_id,
            flavor_id=body.flavor_id,
            correlation_id=correlation.current.get() or "",
            key_name=body.key_name,
            security_group_ids=tuple(body.security_group_ids),
            user_data=body.user_data,
            zone=body.zone,
            tags=body.tags,
        ),
    )
    return instance_out(record)


@router.get("/instances", response_model=Page[InstanceOut], tags=["instances"], summary="List instances")
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
) -> Page[InstanceOut]:
    records, next_cursor = await repository.page(
        pool_of(request),
        repository.InstanceFilter(
            project_id=caller.project_id,
            cloud_id=cloud_id,
            states=state or (),
            name=name,
            discovered=discovered,
        ),
        paging,
    )
    return Page[InstanceOut](items=[instance_out(r) for r in records], next_cursor=next_cursor)


@router.get(
    "/instances/{instance_id}", response_model=InstanceOut, tags=["instances"], responses=problem_responses(404)
)
async def get_instance(request: Request, instance_id: str, caller: Reader) -> InstanceOut:
    return instance_out(await handlers.get(pool_of(request), caller.project_id, instance_id))


@router.delete(
    "/instances/{instance_id}",
    status_code=202,
    response_model=InstanceOut,
    tags=["instances"],
    summary="Terminate an instance",
    responses=problem_responses(404, 409),
)
async def terminate_instance(request: Request, instance_id: str, caller: Operator) -> InstanceOut:
    return instance_out(
        await handlers.request_action(
            pool_of(request),
            clouds_of(request),
            project_id=caller.project_id,
            instance_id=instance_id,
            action="terminate",
            correlation_id=correlation.current.get() or "",
        )
    )


@router.post(
    "/instances/{instance_id}/actions/{action}",
    status_code=202,
    response_model=InstanceOut,
    tags=["instances"],
    summary="Start, stop, reboot, suspend or resume an instance",
    responses=problem_responses(403, 404, 409, 501),
)
async def instance_action(
    request: Request,
    instance_id: str,
    action: Annotated[Literal["start", "stop", "reboot", "suspend", "resume"], Path()],
    caller: Operator,
) -> InstanceOut:
    return instance_out(
        await handlers.request_action(
            pool_of(request),
            clouds_of(request),
            project_id=caller.project_id,
            instance_id=instance_id,
            action=action,
            correlation_id=correlation.current.get() or "",
        )
    )


@router.get(
    "/instances/{instance_id}/console",
    response_class=PlainTextResponse,
    tags=["instances"],
    summary="The instance's console output (text)",
    responses=problem_responses(404, 409, 501),
)
async def instance_console(request: Request, instance_id: str, caller: Reader) -> PlainTextResponse:
    text = await handlers.console_output(
        pool_of(request), clouds_of(request), project_id=caller.project_id, instance_id=instance_id
    )
    return PlainTextResponse(text)


@router.get(
    "/instances/{instance_id}/metrics",
    response_model=MetricsOut,
    tags=["instances"],
    summary="Recent metric samples of the instance (CPU utilisation; network and disk where the cloud has them)",
    responses=problem_responses(404, 409, 501),
)
async def instance_metrics(
    request: Request,
    instance_id: str,
    caller: Reader,
    since: Annotated[AwareDatetime | None, Query(description="Samples from this time on; default an hour ago")] = None,
) -> MetricsOut:
    start, samples = await handlers.metrics(
        pool_of(request), clouds_of(request), project_id=caller.project_id, instance_id=instance_id, since=since
    )
    return MetricsOut(
        instance_id=instance_id,
        since=start,
        items=[MetricSampleOut(name=s.name, timestamp=s.timestamp, value=s.value, unit=s.unit) for s in samples],
    )


__all__ = ["router"]
