"""Routes of snapshots of volumes."""

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
    snapshot_out,
)
from services.provisioner.resources.repository import ResourceFilter
from services.provisioner.resources.schemas import SnapshotCreate, SnapshotOut, SnapshotStateName
from services.provisioner.schemas import Page
from services.provisioner.state import correlation_id

router = new_router()


@router.post(
    "/snapshots",
    status_code=201,
    response_model=SnapshotOut,
    tags=["snapshots"],
    summary="Snapshot a volume; it goes pending -> available (make a volume from it with POST /v1/volumes)",
    responses=WRITE,
)
async def create_snapshot(request: Request, response: Response, body: SnapshotCreate, caller: Operator) -> SnapshotOut:
    outcome = await handlers.create_snapshot(
        ports_of(request),
        project_id=caller.project_id,
        volume_id=body.volume_id,
        name=body.name,
        correlation_id=correlation_id(),
    )
    return answer(response, outcome, snapshot_out, created=True)


@router.get("/snapshots", response_model=Page[SnapshotOut], tags=["snapshots"], summary="List snapshots")
async def list_snapshots(
    request: Request,
    caller: Reader,
    paging: RecordPaging,
    cloud_id: str | None = None,
    state: Annotated[list[SnapshotStateName] | None, Query(description=SEVERAL)] = None,
    name: str | None = None,
    volume_id: Annotated[str | None, Query(description="Snapshots of this volume")] = None,
) -> Page[SnapshotOut]:
    flt = ResourceFilter(
        caller.project_id, "snapshot", cloud_id=cloud_id, states=state or (), name=name, volume_id=volume_id
    )
    return await page(request, snapshot_out, flt, paging)


get_route(
    router, "/snapshots/{snapshot_id}", "snapshot", snapshot_out, SnapshotOut, name="get_snapshot", tag="snapshots"
)


action_route(
    router,
    "DELETE",
    "/snapshots/{snapshot_id}",
    "snapshot",
    "delete",
    snapshot_out,
    SnapshotOut,
    name="delete_snapshot",
    tag="snapshots",
    summary="Delete a snapshot; repeating it is harmless",
)


__all__ = ["router"]
