"""The provisioner's HTTP routes: parse, call a handler, shape the answer. Reached only through the gateway."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import AwareDatetime

from adapters.base import CloudAdapter, CloudError, Feature
from kernel import correlation
from kernel.db import Pool
from kernel.identity import ProjectId
from services.provisioner import errors, handlers, repository
from services.provisioner.clouds import CloudDirectory
from services.provisioner.domain import InstanceRecord
from services.provisioner.repository import CloudAccount
from services.provisioner.schemas import (
    CloudOut,
    FlavorOut,
    ImageOut,
    InstanceCreate,
    InstanceOut,
    InstanceStateName,
    ListOf,
    MetricSampleOut,
    MetricsOut,
    Page,
    RegionOut,
    ZoneOut,
)

# The caller's project, from the identity the gateway signed (kernel.identity.InternalAuth checked it).
Project = ProjectId

T = TypeVar("T")

router = APIRouter(prefix="/v1")


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
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def cloud_out(account: CloudAccount, features: frozenset[Feature], *, module_enabled: bool) -> CloudOut:
    return CloudOut(
        id=account.id,
        name=account.name,
        driver=account.driver,
        enabled=account.enabled,
        module_enabled=module_enabled,
        features=sorted(features),
        created_at=account.created_at,
    )


@router.get("/clouds", response_model=ListOf[CloudOut])
async def list_clouds(request: Request) -> ListOf[CloudOut]:
    clouds = clouds_of(request)
    accounts = await repository.list_clouds(pool_of(request))
    return ListOf[CloudOut](
        items=[
            cloud_out(a, await clouds.features(a.id), module_enabled=clouds.module_enabled(a.driver)) for a in accounts
        ]
    )


@router.get("/clouds/{cloud_id}", response_model=CloudOut)
async def get_cloud(request: Request, cloud_id: str) -> CloudOut:
    clouds = clouds_of(request)
    account = await clouds.account(cloud_id)
    return cloud_out(account, await clouds.features(cloud_id), module_enabled=clouds.module_enabled(account.driver))


async def _in_cloud(cloud_id: str, call: Awaitable[T]) -> T:
    """Await a call to a cloud; a cloud error becomes the problem it means."""
    try:
        return await call
    except CloudError as exc:
        raise errors.from_cloud(exc, cloud_id=cloud_id) from exc


@router.get("/clouds/{cloud_id}/regions", response_model=ListOf[RegionOut])
async def list_regions(request: Request, cloud_id: str) -> ListOf[RegionOut]:
    clouds = clouds_of(request)
    await clouds.require(cloud_id, "list_regions")
    regions = await _in_cloud(cloud_id, clouds.regions(cloud_id))
    return ListOf[RegionOut](items=[RegionOut(id=r.id, cloud_id=cloud_id, name=r.name) for r in regions])


@router.get("/clouds/{cloud_id}/zones", response_model=ListOf[ZoneOut])
async def list_zones(request: Request, cloud_id: str) -> ListOf[ZoneOut]:
    clouds = clouds_of(request)
    await clouds.require(cloud_id, "list_zones")
    zones = await _in_cloud(cloud_id, clouds.zones(cloud_id))
    return ListOf[ZoneOut](
        items=[ZoneOut(id=z.id, cloud_id=cloud_id, region_id=z.region_id, available=z.available) for z in zones]
    )


async def _cloud_ids(request: Request, cloud_id: str | None) -> list[str]:
    if cloud_id:
        await clouds_of(request).account(cloud_id)
        return [cloud_id]
    clouds = clouds_of(request)
    # Every enabled account whose adapter module is enabled too: a disabled module's clouds are left out.
    return [
        a.id for a in await repository.list_clouds(pool_of(request)) if a.enabled and clouds.module_enabled(a.driver)
    ]


async def _from_each_cloud(
    request: Request, cloud_id: str | None, fetch: Callable[[CloudAdapter], Awaitable[Sequence[T]]]
) -> list[tuple[str, T]]:
    """What `fetch` answers in the cloud asked about (or in every enabled one), each item with its cloud's id."""
    found: list[tuple[str, T]] = []
    for cid in await _cloud_ids(request, cloud_id):
        try:
            items = await fetch(await clouds_of(request).adapter(cid))
        except CloudError as exc:
            raise errors.from_cloud(exc, cloud_id=cid) from exc
        found += [(cid, item) for item in items]
    return found


@router.get("/images", response_model=ListOf[ImageOut])
async def list_images(request: Request, cloud_id: str | None = None) -> ListOf[ImageOut]:
    found = await _from_each_cloud(request, cloud_id, lambda adapter: adapter.list_images())
    return ListOf[ImageOut](
        items=[
            ImageOut(id=i.id, cloud_id=cid, name=i.name, os=i.os, min_disk_gb=i.min_disk_gb, state=i.state.value)
            for cid, i in found
        ]
    )


@router.get("/flavors", response_model=ListOf[FlavorOut])
async def list_flavors(request: Request, cloud_id: str | None = None) -> ListOf[FlavorOut]:
    found = await _from_each_cloud(request, cloud_id, lambda adapter: adapter.list_flavors())
    return ListOf[FlavorOut](
        items=[
            FlavorOut(id=f.id, cloud_id=cid, name=f.name, vcpus=f.vcpus, ram_mb=f.ram_mb, disk_gb=f.disk_gb)
            for cid, f in found
        ]
    )


@router.post("/instances", status_code=202, response_model=InstanceOut)
async def create_instance(request: Request, body: InstanceCreate, project: Project = "default") -> InstanceOut:
    record = await handlers.launch(
        pool_of(request),
        clouds_of(request),
        handlers.LaunchRequest(
            project_id=project,
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


@router.get("/instances", response_model=Page[InstanceOut])
async def list_instances(
    request: Request,
    project: Project = "default",
    cloud_id: str | None = None,
    state: Annotated[list[InstanceStateName] | None, Query()] = None,
    name: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[InstanceOut]:
    records, next_cursor = await repository.page(
        pool_of(request),
        repository.InstanceFilter(project_id=project, cloud_id=cloud_id, states=state or (), name=name),
        cursor=cursor,
        limit=limit,
    )
    return Page[InstanceOut](items=[instance_out(r) for r in records], next_cursor=next_cursor)


@router.get("/instances/{instance_id}", response_model=InstanceOut)
async def get_instance(request: Request, instance_id: str, project: Project = "default") -> InstanceOut:
    return instance_out(await handlers.get(pool_of(request), project, instance_id))


@router.delete("/instances/{instance_id}", status_code=202, response_model=InstanceOut)
async def terminate_instance(request: Request, instance_id: str, project: Project = "default") -> InstanceOut:
    return instance_out(
        await handlers.request_action(
            pool_of(request),
            clouds_of(request),
            project_id=project,
            instance_id=instance_id,
            action="terminate",
            correlation_id=correlation.current.get() or "",
        )
    )


@router.post("/instances/{instance_id}/actions/{action}", status_code=202, response_model=InstanceOut)
async def instance_action(
    request: Request,
    instance_id: str,
    action: Annotated[Literal["start", "stop", "reboot", "suspend", "resume"], Path()],
    project: Project = "default",
) -> InstanceOut:
    return instance_out(
        await handlers.request_action(
            pool_of(request),
            clouds_of(request),
            project_id=project,
            instance_id=instance_id,
            action=action,
            correlation_id=correlation.current.get() or "",
        )
    )


@router.get("/instances/{instance_id}/console", response_class=PlainTextResponse)
async def instance_console(request: Request, instance_id: str, project: Project = "default") -> PlainTextResponse:
    text = await handlers.console_output(
        pool_of(request), clouds_of(request), project_id=project, instance_id=instance_id
    )
    return PlainTextResponse(text)


@router.get("/instances/{instance_id}/metrics", response_model=MetricsOut)
async def instance_metrics(
    request: Request, instance_id: str, project: Project = "default", since: AwareDatetime | None = None
) -> MetricsOut:
    start, samples = await handlers.metrics(
        pool_of(request), clouds_of(request), project_id=project, instance_id=instance_id, since=since
    )
    return MetricsOut(
        instance_id=instance_id,
        since=start,
        items=[MetricSampleOut(name=s.name, timestamp=s.timestamp, value=s.value, unit=s.unit) for s in samples],
    )


__all__ = ["router"]
