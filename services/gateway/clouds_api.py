"""The public routes of a project's cloud accounts (`/v1/clouds`), forwarded to the provisioner. Reading them needs the
read permission; adding, changing and removing them the manage permission (project owners)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from kernel.authz import Manager, Reader
from services.gateway.api import Provisioner, problem_responses, query_items, quoted
from services.provisioner.listing import CloudPaging
from services.provisioner.schemas import CloudCreate, CloudOut, CloudUpdate, ListOf, Page, RegionOut, ZoneOut

router = APIRouter(prefix="/v1", tags=["clouds"], responses=problem_responses(401, 413, 422, 429, 503))

_SECRETS = (
    "Secrets go in `credentials` (ec2: `access_key_id`, `secret_access_key`, `session_token`; openstack and xcp: "
    "`password`; a URL setting that carries a password), everything else in `config`: a secret in `config` is refused "
    "with 422 naming it. Credentials are stored encrypted and never shown; answers list their names in "
    "`credential_fields`."
)


@router.get("/clouds", response_model=Page[CloudOut], summary="List the project's cloud accounts")
async def list_clouds(
    request: Request,
    caller: Reader,
    up: Provisioner,
    paging: CloudPaging,
    driver: str | None = None,
    name: str | None = None,
) -> Response:
    return await up.forward("GET", "/v1/clouds", caller=caller, params=query_items(request))


@router.post(
    "/clouds",
    status_code=201,
    response_model=CloudOut,
    summary="Add a cloud account to the project",
    description="The account is connected and asked for its regions (or flavors) first: when that fails the answer "
    "is 422 `cloud_connection_failed` with the cloud's message, and nothing is stored. Names are unique in a project "
    f"(409). {_SECRETS} Event `cloud.added`.",
    responses=problem_responses(403, 409),
)
async def create_cloud(body: CloudCreate, caller: Manager, up: Provisioner) -> Response:
    return await up.forward("POST", "/v1/clouds", caller=caller, body=body.model_dump_json().encode())


@router.get(
    "/clouds/{cloud_id}", response_model=CloudOut, summary="One cloud account", responses=problem_responses(404)
)
async def get_cloud(cloud_id: str, caller: Reader, up: Provisioner) -> Response:
    return await up.forward("GET", f"/v1/clouds/{quoted(cloud_id)}", caller=caller)


@router.patch(
    "/clouds/{cloud_id}",
    response_model=CloudOut,
    summary="Change a cloud account",
    description="Fields left out stay as they are; `config` and `credentials` each replace the whole object. New "
    "settings or credentials are tested like a new account's before they replace the old ones (422 "
    "`cloud_connection_failed`, nothing changed); then the next call to the cloud connects with them. Accounts from "
    f"the provisioner's configuration answer 409 `cloud_configured`. {_SECRETS} Event `cloud.updated`.",
    responses=problem_responses(403, 404, 409),
)
async def update_cloud(cloud_id: str, body: CloudUpdate, caller: Manager, up: Provisioner) -> Response:
    return await up.forward(
        "PATCH",
        f"/v1/clouds/{quoted(cloud_id)}",
        caller=caller,
        body=body.model_dump_json(exclude_unset=True).encode(),
    )


@router.delete(
    "/clouds/{cloud_id}",
    status_code=204,
    summary="Remove a cloud account",
    description="While Clanavi holds live resources in the account (instances not terminated, volumes, snapshots, "
    "addresses, key pairs, security groups, images) the answer is 409 `cloud_in_use` with their counts in `in_use`. "
    "With `force=true` the account goes anyway, and with it Clanavi's records of those resources: the cloud itself "
    "is not touched, so they keep running (and costing) there. Accounts from the provisioner's configuration answer "
    "409 `cloud_configured`. Event `cloud.removed`.",
    responses=problem_responses(403, 404, 409),
)
async def delete_cloud(
    cloud_id: str,
    caller: Manager,
    up: Provisioner,
    force: Annotated[bool, Query(description="Also drop Clanavi's records of live resources")] = False,
) -> Response:
    params = {"force": "true"} if force else None
    return await up.forward("DELETE", f"/v1/clouds/{quoted(cloud_id)}", caller=caller, params=params)


@router.get(
    "/clouds/{cloud_id}/regions",
    response_model=ListOf[RegionOut],
    summary="The cloud's regions",
    responses=problem_responses(404, 409, 501),
)
async def list_regions(cloud_id: str, caller: Reader, up: Provisioner) -> Response:
    return await up.forward("GET", f"/v1/clouds/{quoted(cloud_id)}/regions", caller=caller)


@router.get(
    "/clouds/{cloud_id}/zones",
    response_model=ListOf[ZoneOut],
    summary="The cloud's availability zones",
    responses=problem_responses(404, 409, 501),
)
async def list_zones(cloud_id: str, caller: Reader, up: Provisioner) -> Response:
    return await up.forward("GET", f"/v1/clouds/{quoted(cloud_id)}/zones", caller=caller)


__all__ = ["router"]
