"""Routes of a project's cloud accounts, and of where each cloud runs things (regions, zones). Answers name credential
fields, never their values. Reached only through the gateway."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, Request, Response

from adapters.base import CloudError
from kernel import correlation
from kernel.authz import Manager, Reader
from kernel.http import problem_responses
from services.provisioner import accounts, errors, owned, repository
from services.provisioner import accounts_handlers as handlers
from services.provisioner.api import clouds_of, pool_of
from services.provisioner.clouds import CloudDirectory
from services.provisioner.listing import CloudPaging
from services.provisioner.repository import CloudAccount
from services.provisioner.schemas import CloudCreate, CloudOut, CloudUpdate, ListOf, Page, RegionOut, ZoneOut

T = TypeVar("T")

router = APIRouter(prefix="/v1", tags=["clouds"], responses=problem_responses(401, 422))

_SECRETS = (
    "Secrets go in `credentials` (ec2: `access_key_id`, `secret_access_key`, `session_token`; openstack and xcp: "
    "`password`; a URL setting that carries a password), everything else in `config`: a secret in `config` is refused "
    "with 422 naming it. Credentials are stored encrypted and never shown; answers list their names in "
    "`credential_fields`."
)


def _within(request: Request) -> float:
    seconds: float = request.app.state.connection_test_seconds
    return seconds


async def cloud_out(clouds: CloudDirectory, account: CloudAccount) -> CloudOut:
    return CloudOut(
        id=account.id,
        project_id=account.project_id,
        name=account.name,
        driver=account.driver,
        enabled=account.enabled,
        module_enabled=clouds.module_enabled(account.driver),
        features=sorted(await clouds.features(account.id)),
        config=accounts.shown_config(account),
        credential_fields=list(account.credential_fields),
        credentials_readable=accounts.readable(clouds.keyring, account),
        source="api" if account.source == "api" else "configuration",
        created_at=account.created_at,
        updated_at=account.updated_at or account.created_at,
    )


@router.get("/clouds", response_model=Page[CloudOut], summary="List the project's cloud accounts")
async def list_clouds(
    request: Request,
    caller: Reader,
    paging: CloudPaging,
    driver: str | None = None,
    name: str | None = None,
) -> Page[CloudOut]:
    clouds = clouds_of(request)
    found, next_cursor = await repository.page_clouds(
        pool_of(request), caller.project_id, driver=driver, name=name, request=paging
    )
    return Page[CloudOut](items=[await cloud_out(clouds, a) for a in found], next_cursor=next_cursor)


@router.post(
    "/clouds",
    status_code=201,
    response_model=CloudOut,
    summary="Add a cloud account to the project",
    description="Every URL in the settings is resolved first: one that reaches a denied network (loopback and "
    "link-local by default, cloud metadata among them) or does not resolve is refused with 422 "
    "`cloud_endpoint_denied` naming the setting. Then the account is connected and asked for its regions (or flavors): "
    "when that fails the answer is 422 `cloud_connection_failed` saying what went wrong (never what the other side "
    f"answered). Either way nothing is stored. Names are unique in a project (409). {_SECRETS} Event `cloud.added`.",
    responses=problem_responses(403, 409),
)
async def create_cloud(request: Request, body: CloudCreate, caller: Manager) -> CloudOut:
    clouds = clouds_of(request)
    account = await handlers.create(
        pool_of(request),
        clouds,
        handlers.NewCloud(
            project_id=caller.project_id,
            name=body.name,
            driver=body.driver,
            config=body.config,
            credentials=body.credentials,
            enabled=body.enabled,
            correlation_id=correlation.current.get() or "",
        ),
        within=_within(request),
    )
    return await cloud_out(clouds, account)


@router.get(
    "/clouds/{cloud_id}", response_model=CloudOut, summary="One cloud account", responses=problem_responses(404)
)
async def get_cloud(request: Request, cloud_id: str, caller: Reader) -> CloudOut:
    account = await owned.cloud(pool_of(request), caller.project_id, cloud_id)
    return await cloud_out(clouds_of(request), account)


@router.patch(
    "/clouds/{cloud_id}",
    response_model=CloudOut,
    summary="Change a cloud account",
    description="Fields left out stay as they are; `config` and `credentials` each replace the whole object. New "
    "settings or credentials are checked and tested like a new account's before they replace the old ones (422 "
    "`cloud_endpoint_denied` or `cloud_connection_failed`, nothing changed); then the next call to the cloud "
    "connects with them. Accounts from the provisioner's configuration answer 409 `cloud_configured`. "
    f"{_SECRETS} Event `cloud.updated`.",
    responses=problem_responses(403, 404, 409),
)
async def update_cloud(request: Request, cloud_id: str, body: CloudUpdate, caller: Manager) -> CloudOut:
    clouds = clouds_of(request)
    account = await handlers.update(
        pool_of(request),
        clouds,
        project_id=caller.project_id,
        cloud_id=cloud_id,
        change=handlers.CloudChange(
            name=body.name, config=body.config, credentials=body.credentials, enabled=body.enabled
        ),
        correlation_id=correlation.current.get() or "",
        within=_within(request),
    )
    return await cloud_out(clouds, account)


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
    request: Request,
    cloud_id: str,
    caller: Manager,
    force: Annotated[bool, Query(description="Also drop Clanavi's records of live resources")] = False,
) -> Response:
    await handlers.remove(
        pool_of(request),
        clouds_of(request),
        project_id=caller.project_id,
        cloud_id=cloud_id,
        force=force,
        correlation_id=correlation.current.get() or "",
    )
    return Response(status_code=204)


async def _in_cloud(cloud_id: str, call: Awaitable[T]) -> T:
    """Await a call to a cloud; a cloud error becomes the problem it means."""
    try:
        return await call
    except CloudError as exc:
        raise errors.from_cloud(exc, cloud_id=cloud_id) from exc


@router.get(
    "/clouds/{cloud_id}/regions",
    response_model=ListOf[RegionOut],
    summary="The cloud's regions",
    responses=problem_responses(404, 409, 501),
)
async def list_regions(request: Request, cloud_id: str, caller: Reader) -> ListOf[RegionOut]:
    clouds = clouds_of(request)
    await owned.cloud(pool_of(request), caller.project_id, cloud_id)
    await clouds.require(cloud_id, "list_regions")
    regions = await _in_cloud(cloud_id, clouds.regions(cloud_id))
    return ListOf[RegionOut](items=[RegionOut(id=r.id, cloud_id=cloud_id, name=r.name) for r in regions])


@router.get(
    "/clouds/{cloud_id}/zones",
    response_model=ListOf[ZoneOut],
    summary="The cloud's availability zones",
    responses=problem_responses(404, 409, 501),
)
async def list_zones(request: Request, cloud_id: str, caller: Reader) -> ListOf[ZoneOut]:
    clouds = clouds_of(request)
    await owned.cloud(pool_of(request), caller.project_id, cloud_id)
    await clouds.require(cloud_id, "list_zones")
    zones = await _in_cloud(cloud_id, clouds.zones(cloud_id))
    return ListOf[ZoneOut](
        items=[ZoneOut(id=z.id, cloud_id=cloud_id, region_id=z.region_id, available=z.available) for z in zones]
    )


__all__ = ["cloud_out", "router"]
