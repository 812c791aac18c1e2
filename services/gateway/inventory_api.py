"""The public API of inventory sync: reconcile a cloud account with what its cloud has, and read the runs.

A sync adopts what was created outside Clanavi (`discovered` instances, `instance.discovered`), corrects states that
drifted (`instance.drifted`), and marks what is no longer in the cloud `gone` (`instance.vanished`); each run ends
with `cloud.synced` (or `cloud.sync_failed`). Every account is also synced on a schedule.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from kernel.authz import Operator, Reader
from services.gateway.api import Provisioner, problem_responses, query_items, quoted
from services.provisioner.listing import SyncPaging
from services.provisioner.schemas import Page, SyncRunOut

router = APIRouter(prefix="/v1", responses=problem_responses(401, 413, 422, 429, 503))


@router.post(
    "/clouds/{cloud_id}/sync",
    status_code=202,
    response_model=SyncRunOut,
    tags=["clouds"],
    summary="Reconcile the account with its cloud, in the background",
    description="Answers the run at once (`running`); while a sync of the account is running already, answers that "
    "one instead of starting another. Follow it with GET /v1/clouds/{cloud_id}/syncs/{sync_id}.",
    responses=problem_responses(403, 404, 409, 501),
)
async def start_sync(cloud_id: str, caller: Operator, up: Provisioner) -> Response:
    return await up.forward("POST", f"/v1/clouds/{quoted(cloud_id)}/sync", caller=caller)


@router.get(
    "/clouds/{cloud_id}/syncs",
    response_model=Page[SyncRunOut],
    tags=["clouds"],
    summary="The account's sync runs, newest first",
    responses=problem_responses(404),
)
async def list_syncs(
    request: Request,
    cloud_id: str,
    caller: Reader,
    up: Provisioner,
    paging: SyncPaging,
) -> Response:
    return await up.forward("GET", f"/v1/clouds/{quoted(cloud_id)}/syncs", caller=caller, params=query_items(request))


@router.get(
    "/clouds/{cloud_id}/syncs/{sync_id}",
    response_model=SyncRunOut,
    tags=["clouds"],
    summary="One sync run",
    responses=problem_responses(404),
)
async def get_sync(cloud_id: str, sync_id: str, caller: Reader, up: Provisioner) -> Response:
    return await up.forward("GET", f"/v1/clouds/{quoted(cloud_id)}/syncs/{quoted(sync_id)}", caller=caller)


__all__ = ["router"]
