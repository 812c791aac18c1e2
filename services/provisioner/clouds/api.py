"""Routes of a project's clouds (cloud accounts), of where each runs things (regions, zones) and of what it offers
(its catalogue of images and flavors). Answers name credential fields, never their values. Reached only through the
gateway."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, Request, Response

from adapters.base import CloudAdapter, CloudError, Flavor, Image
from kernel.authz import Manager, Operator, Reader
from kernel.http import Routes, problem_responses
from services.provisioner import errors
from services.provisioner.clouds import credentials, handlers
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.clouds.domain import Cloud, shown_config
from services.provisioner.listing import CloudPaging
from services.provisioner.prices import handlers as prices
from services.provisioner.prices.domain import PriceKind
from services.provisioner.schemas import (
    CloudCreate,
    CloudOut,
    CloudTestOut,
    CloudUpdate,
    FlavorOut,
    ImageOut,
    ListOf,
    Page,
    RegionOut,
    ZoneOut,
)
from services.provisioner.state import correlation_id, uow_of

T = TypeVar("T")

router = APIRouter(prefix="/v1", tags=["clouds"], responses=problem_responses(401, 422))
# The clouds' catalogues are documented under what they list.
catalogue = APIRouter(prefix="/v1", responses=problem_responses(401, 422))
routes, images, flavors = Routes(router), Routes(catalogue, "images"), Routes(catalogue, "flavors")

_SECRETS = (
    "Secrets go in `credentials` (ec2: `access_key_id`, `secret_access_key`, `session_token`; openstack and xcp: "
    "`password`; a URL setting that carries a password), everything else in `config`: a secret in `config` is refused "
    "with 422 naming it. Credentials are stored encrypted and never shown; answers list their names in "
    "`credential_fields`."
)


def clouds_of(request: Request) -> CloudDirectory:
    """The cloud directory the provisioner's lifespan built."""
    clouds: CloudDirectory = request.app.state.clouds
    return clouds


def _within(request: Request) -> float:
    seconds: float = request.app.state.connection_test_seconds
    return seconds


async def cloud_out(clouds: CloudDirectory, cloud: Cloud) -> CloudOut:
    shown = {
        "module_enabled": clouds.module_enabled(cloud.driver),
        "features": sorted(await clouds.features(cloud)),
        "config": shown_config(cloud),
        "credentials_readable": credentials.readable(clouds.keyring, cloud),
        "updated_at": cloud.updated_at or cloud.created_at,
    }
    return CloudOut.model_validate({**asdict(cloud), **shown})


@routes.get("/clouds", Page[CloudOut], "List the project's cloud accounts")
async def list_clouds(
    request: Request,
    caller: Reader,
    paging: CloudPaging,
    driver: str | None = None,
    name: str | None = None,
) -> Page[CloudOut]:
    clouds = clouds_of(request)
    found, next_cursor = await handlers.page(
        uow_of(request), caller.project_id, driver=driver, name=name, request=paging
    )
    return Page[CloudOut](items=[await cloud_out(clouds, a) for a in found], next_cursor=next_cursor)


@routes.post(
    "/clouds",
    CloudOut,
    "Add a cloud account to the project",
    status=201,
    problems=(403, 409),
    description="Every URL in the settings is resolved first: one that reaches a denied network (loopback and "
    "link-local by default, cloud metadata among them) or does not resolve is refused with 422 "
    "`cloud_endpoint_denied` naming the setting. Then the account is connected and asked for its regions (or flavors): "
    "when that fails the answer is 422 `cloud_connection_failed` saying what went wrong (never what the other side "
    f"answered). Either way nothing is stored. Names are unique in a project (409). {_SECRETS} Event `cloud.added`.",
)
async def create_cloud(request: Request, body: CloudCreate, caller: Manager) -> CloudOut:
    clouds = clouds_of(request)
    cloud = await handlers.create(
        uow_of(request),
        clouds,
        handlers.NewCloud(project_id=caller.project_id, correlation_id=correlation_id(), **body.model_dump()),
        within=_within(request),
    )
    return await cloud_out(clouds, cloud)


@routes.get("/clouds/{cloud_id}", CloudOut, "One cloud account", problems=(404,))
async def get_cloud(request: Request, cloud_id: str, caller: Reader) -> CloudOut:
    cloud = await handlers.get(uow_of(request), caller.project_id, cloud_id)
    return await cloud_out(clouds_of(request), cloud)


@routes.patch(
    "/clouds/{cloud_id}",
    CloudOut,
    "Change a cloud account",
    problems=(403, 404, 409),
    description="Fields left out stay as they are; `config` and `credentials` each replace the whole object. New "
    "settings or credentials are checked and tested like a new account's before they replace the old ones (422 "
    "`cloud_endpoint_denied` or `cloud_connection_failed`, nothing changed); then the next call to the cloud "
    "connects with them. Accounts from the provisioner's configuration answer 409 `cloud_configured`. "
    f"{_SECRETS} Event `cloud.updated`.",
)
async def update_cloud(request: Request, cloud_id: str, body: CloudUpdate, caller: Manager) -> CloudOut:
    clouds = clouds_of(request)
    cloud = await handlers.update(
        uow_of(request),
        clouds,
        project_id=caller.project_id,
        cloud_id=cloud_id,
        change=handlers.CloudChange(
            name=body.name, config=body.config, credentials=body.credentials, enabled=body.enabled
        ),
        correlation_id=correlation_id(),
        within=_within(request),
    )
    return await cloud_out(clouds, cloud)


@routes.delete(
    "/clouds/{cloud_id}",
    summary="Remove a cloud account",
    status=204,
    problems=(403, 404, 409),
    description="While Clanavi holds live resources in the account (instances not terminated, volumes, snapshots, "
    "addresses, key pairs, security groups, images) the answer is 409 `cloud_in_use` with their counts in `in_use`. "
    "With `force=true` the account goes anyway, and with it Clanavi's records of those resources: the cloud itself "
    "is not touched, so they keep running (and costing) there. Accounts from the provisioner's configuration answer "
    "409 `cloud_configured`. Event `cloud.removed`.",
)
async def delete_cloud(
    request: Request,
    cloud_id: str,
    caller: Manager,
    force: Annotated[bool, Query(description="Also drop Clanavi's records of live resources")] = False,
) -> Response:
    await handlers.remove(
        uow_of(request),
        clouds_of(request),
        project_id=caller.project_id,
        cloud_id=cloud_id,
        force=force,
        correlation_id=correlation_id(),
    )
    return Response(status_code=204)


@routes.post(
    "/clouds/{cloud_id}/test",
    CloudTestOut,
    "Test the account's connection again",
    problems=(403, 404, 409),
    description="Connects anew with the stored settings and credentials, within the provisioner's connection-test "
    "bound, and asks for what a new account's test asks for (its regions, else its flavors, else its images). A test "
    "that fails is still 200: `ok` false, with the `code` and `detail` adding such an account would be refused with "
    "(`cloud_connection_failed`, `cloud_endpoint_denied`, `validation_failed`), never what the cloud answered. The "
    "account is not changed and no event is recorded. Operators and owners: a test calls the cloud with the "
    "account's credentials. 409 when there is nothing to test: the adapter module is disabled or cannot be loaded, "
    "or the credentials cannot be opened.",
)
async def test_cloud(request: Request, cloud_id: str, caller: Operator) -> CloudTestOut:
    outcome = await handlers.connection_test(
        uow_of(request), clouds_of(request), project_id=caller.project_id, cloud_id=cloud_id, within=_within(request)
    )
    failure = outcome.failure
    return CloudTestOut.model_validate(
        {
            "cloud_id": outcome.cloud_id,
            "ok": outcome.ok,
            "latency_ms": outcome.latency_ms,
            "tested": outcome.probe.tested,
            "found": outcome.probe.found,
            "code": failure.code if failure else None,
            "detail": failure.detail if failure else None,
            "errors": failure.extensions.get("errors", []) if failure else [],
            "tested_at": datetime.now(UTC),
        }
    )


async def _owned(request: Request, project_id: str, cloud_id: str, *operations: str) -> Cloud:
    """One of the project's clouds, when its adapter does `operations` (409, 501 otherwise)."""
    cloud = await handlers.get(uow_of(request), project_id, cloud_id)
    await clouds_of(request).require(cloud, *operations)
    return cloud


async def _in_cloud(cloud_id: str, call: Awaitable[T]) -> T:
    """Await a call to a cloud; a cloud error becomes the problem it means."""
    try:
        return await call
    except CloudError as exc:
        raise errors.from_cloud(exc, cloud_id=cloud_id) from exc


@routes.get("/clouds/{cloud_id}/regions", ListOf[RegionOut], "The cloud's regions", problems=(404, 409, 501))
async def list_regions(request: Request, cloud_id: str, caller: Reader) -> ListOf[RegionOut]:
    await _owned(request, caller.project_id, cloud_id, "list_regions")
    regions = await _in_cloud(cloud_id, clouds_of(request).regions(cloud_id))
    return ListOf[RegionOut](items=[RegionOut(id=r.id, cloud_id=cloud_id, name=r.name) for r in regions])


@routes.get("/clouds/{cloud_id}/zones", ListOf[ZoneOut], "The cloud's availability zones", problems=(404, 409, 501))
async def list_zones(request: Request, cloud_id: str, caller: Reader) -> ListOf[ZoneOut]:
    await _owned(request, caller.project_id, cloud_id, "list_zones")
    zones = await _in_cloud(cloud_id, clouds_of(request).zones(cloud_id))
    return ListOf[ZoneOut](
        items=[ZoneOut(id=z.id, cloud_id=cloud_id, region_id=z.region_id, available=z.available) for z in zones]
    )


async def _cloud_ids(request: Request, project: str, cloud_id: str | None) -> list[str]:
    if cloud_id:
        return [(await handlers.get(uow_of(request), project, cloud_id)).id]
    mine = await handlers.of_project(uow_of(request), project)
    clouds = clouds_of(request)
    # Every enabled cloud of the project whose adapter module is enabled too: a disabled module's are left out.
    return [c.id for c in mine if c.enabled and clouds.module_enabled(c.driver)]


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


_Item = TypeVar("_Item", Flavor, Image)


async def _priced(
    request: Request, project_id: str, found: list[tuple[str, _Item]], kind: PriceKind
) -> list[tuple[str, _Item, Decimal | None, str | None]]:
    """Each flavor or image with its own price and currency in its account's catalog in force now (None, None
    where it has none); each account's catalog read once."""
    now = datetime.now(UTC)
    catalogs = {
        cid: await prices.in_force(uow_of(request), project_id=project_id, cloud_id=cid, at=now, kind=kind)
        for cid in {cid for cid, _ in found}
    }
    priced: list[tuple[str, _Item, Decimal | None, str | None]] = []
    for cid, item in found:
        catalog = catalogs[cid]
        region = prices.region_of(clouds_of(request), catalog.cloud) if catalog else None
        price = prices.item_price(catalog.prices, kind, region, item.id) if catalog else None
        if catalog is None or price is None:
            priced.append((cid, item, None, None))
        else:
            priced.append((cid, item, price.amount, catalog.currency))
    return priced


@images.get(
    "/images",
    ListOf[ImageOut],
    problems=(404, 409),
    description="Each image with what running it adds to a server's hour (a licence) from its account's price "
    "catalog in force now; null when nothing.",
)
async def list_images(request: Request, caller: Reader, cloud_id: str | None = None) -> ListOf[ImageOut]:
    found = await _from_each_cloud(request, caller.project_id, cloud_id, lambda adapter: adapter.list_images())
    return ListOf[ImageOut](
        items=[
            ImageOut(
                id=i.id,
                cloud_id=cid,
                name=i.name,
                os=i.os,
                min_disk_gb=i.min_disk_gb,
                state=i.state.value,
                hourly_price=amount,
                currency=currency,
            )
            for cid, i, amount, currency in await _priced(request, caller.project_id, found, PriceKind.IMAGE)
        ]
    )


@flavors.get(
    "/flavors",
    ListOf[FlavorOut],
    problems=(404, 409),
    description="Each flavor with its hourly price and currency from its account's price catalog in force now "
    "(`/v1/clouds/{id}/prices`); both null when the catalog has no price for it.",
)
async def list_flavors(request: Request, caller: Reader, cloud_id: str | None = None) -> ListOf[FlavorOut]:
    found = await _from_each_cloud(request, caller.project_id, cloud_id, lambda adapter: adapter.list_flavors())
    return ListOf[FlavorOut](
        items=[
            FlavorOut(
                id=f.id,
                cloud_id=cid,
                name=f.name,
                vcpus=f.vcpus,
                ram_mb=f.ram_mb,
                disk_gb=f.disk_gb,
                hourly_price=amount,
                currency=currency,
            )
            for cid, f, amount, currency in await _priced(request, caller.project_id, found, PriceKind.FLAVOR)
        ]
    )


__all__ = ["catalogue", "cloud_out", "clouds_of", "router"]
