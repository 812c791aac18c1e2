"""Routes of volumes: create, list, read, attach, detach, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from kernel.authz import Operator, Reader
from services.provisioner.listing import RecordPaging
from services.provisioner.resources import handlers
from services.provisioner.resources.api.common import (
    SEVERAL,
    WRITE,
    action_route,
    answer,
    get_route,
    new_router,
    page,
    ports_of,
    volume_out,
)
from services.provisioner.resources.repository import ResourceFilter
from services.provisioner.resources.schemas import VolumeAttach, VolumeCreate, VolumeOut, VolumeStateName
from services.provisioner.schemas import Page
from services.provisioner.state import correlation_id

router = new_router()


@router.post(
    "/volumes",
    status_code=201,
    response_model=VolumeOut,
    tags=["volumes"],
    summary="Create a volume (empty, or from a snapshot); it goes creating -> available",
    responses=WRITE,
)
async def create_volume(request: Request, response: Response, body: VolumeCreate, caller: Operator) -> VolumeOut:
    outcome = await handlers.create_volume(
        ports_of(request),
        project_id=caller.project_id,
        cloud_id=body.cloud_id,
        name=body.name,
        size_gb=body.size_gb,
        zone=body.zone,
        snapshot_id=body.snapshot_id,
        correlation_id=correlation_id(),
    )
    return answer(response, outcome, volume_out, created=True)


@router.get("/volumes", response_model=Page[VolumeOut], tags=["volumes"], summary="List volumes")
async def list_volumes(
    request: Request,
    caller: Reader,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[VolumeStateName] | None, Query(description=SEVERAL)] = None,
    name: str | None = None,
    instance_id: Annotated[str | None, Query(description="Attached to this instance")] = None,
    discovered: Annotated[
        bool | None, Query(description="true: only volumes adopted by an inventory sync; false: only Clanavi's own")
    ] = None,
) -> Page[VolumeOut]:
    flt = ResourceFilter(
        caller.project_id,
        "volume",
        cloud_id=cloud_id,
        states=state or (),
        name=name,
        instance_id=instance_id,
        discovered=discovered,
    )
    return await page(request, volume_out, flt, paging)


get_route(router, "/volumes/{volume_id}", "volume", volume_out, VolumeOut, name="get_volume", tag="volumes")


action_route(
    router,
    "DELETE",
    "/volumes/{volume_id}",
    "volume",
    "delete",
    volume_out,
    VolumeOut,
    name="delete_volume",
    tag="volumes",
    summary="Delete an available volume; repeating it is harmless",
)


@router.post(
    "/volumes/{volume_id}/actions/attach",
    response_model=VolumeOut,
    tags=["volumes"],
    summary="Attach to an instance of the same cloud; it goes attaching -> in-use",
    responses=WRITE,
)
async def attach_volume(
    request: Request, response: Response, volume_id: str, body: VolumeAttach, caller: Operator
) -> VolumeOut:
    outcome = await handlers.attach_volume(
        ports_of(request),
        project_id=caller.project_id,
        volume_id=volume_id,
        instance_id=body.instance_id,
        device=body.device,
        correlation_id=correlation_id(),
    )
    return answer(response, outcome, volume_out, created=False)


action_route(
    router,
    "POST",
    "/volumes/{volume_id}/actions/detach",
    "volume",
    "detach",
    volume_out,
    VolumeOut,
    name="detach_volume",
    tag="volumes",
    summary="Detach; it goes detaching -> available",
)


__all__ = ["router"]
