"""Routes of inventory sync: start a sync of a cloud, and read its runs."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request

from kernel.authz import Operator, Reader
from kernel.http import Routes, problem_responses
from services.provisioner.inventory.domain import SyncRun
from services.provisioner.inventory.handlers import Inventory
from services.provisioner.listing import SyncPaging
from services.provisioner.schemas import Page, SyncRunOut
from services.provisioner.state import correlation_id

router = APIRouter(prefix="/v1", tags=["clouds"], responses=problem_responses(401, 422))
routes = Routes(router)


def inventory_of(request: Request) -> Inventory:
    """The inventory the provisioner's lifespan built."""
    inventory: Inventory = request.app.state.inventory
    return inventory


def sync_run_out(run: SyncRun) -> SyncRunOut:
    return SyncRunOut.model_validate({**asdict(run), **asdict(run.counts)})


@routes.post(
    "/clouds/{cloud_id}/sync",
    SyncRunOut,
    "Reconcile the account with its cloud, in the background",
    status=202,
    problems=(403, 404, 409, 501),
    description="Answers the run at once (`running`); while a sync of the account is running already, answers that "
    "one instead of starting another. Follow it with GET /v1/clouds/{cloud_id}/syncs/{sync_id}.",
)
async def start_sync(request: Request, cloud_id: str, caller: Operator) -> SyncRunOut:
    run = await inventory_of(request).request(cloud_id, project_id=caller.project_id, correlation_id=correlation_id())
    return sync_run_out(run)


@routes.get("/clouds/{cloud_id}/syncs", Page[SyncRunOut], "The account's sync runs, newest first", problems=(404,))
async def list_syncs(
    request: Request,
    cloud_id: str,
    caller: Reader,
    paging: SyncPaging,
) -> Page[SyncRunOut]:
    runs, next_cursor = await inventory_of(request).runs(cloud_id, project_id=caller.project_id, paging=paging)
    return Page[SyncRunOut](items=[sync_run_out(r) for r in runs], next_cursor=next_cursor)


@routes.get("/clouds/{cloud_id}/syncs/{sync_id}", SyncRunOut, "One sync run", problems=(404,))
async def get_sync(request: Request, cloud_id: str, sync_id: str, caller: Reader) -> SyncRunOut:
    return sync_run_out(await inventory_of(request).run(cloud_id, sync_id, project_id=caller.project_id))


__all__ = ["router"]
