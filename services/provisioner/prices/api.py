"""Routes of the clouds' price catalogs: the prices in force at a moment, the versions, and importing a version.
Reached only through the gateway."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from kernel.authz import Manager, Reader
from kernel.errors import NotFound, ValidationFailed
from kernel.http import Routes, problem_responses
from services.provisioner.clouds.api import clouds_of
from services.provisioner.prices import formats, handlers, offers
from services.provisioner.prices.domain import CatalogVersion, PriceKind, PriceList
from services.provisioner.prices.schemas import PriceCatalogVersionOut, PriceFormat, PriceOut, PricesOut
from services.provisioner.schemas import ListOf
from services.provisioner.state import correlation_id, uow_of

router = APIRouter(prefix="/v1", tags=["prices"], responses=problem_responses(401, 422))
routes = Routes(router)

_IMPORT_BODY = {
    "required": False,
    "content": {
        "application/json": {
            "schema": {"type": "object"},
            "example": {
                "currency": "EUR",
                "prices": [{"kind": "flavor", "region": "", "item": "m1.small", "price": "0.0250"}],
            },
        },
        "text/csv": {
            "schema": {"type": "string"},
            "example": "kind,region,item,price,currency\nflavor,,m1.small,0.0250,EUR\nvolume,,,0.08,EUR\n",
        },
    },
}


def version_out(v: CatalogVersion) -> PriceCatalogVersionOut:
    return PriceCatalogVersionOut(
        id=v.id,
        cloud_id=v.cloud_id,
        version=v.version,
        effective_from=v.effective_from,
        currency=v.currency,
        source=v.source,
        source_updated_at=v.source_updated_at,
        price_count=v.price_count,
        warnings=list(v.warnings),
        warning_count=v.warning_count,
        created_at=v.created_at,
    )


@routes.get(
    "/clouds/{cloud_id}/prices",
    PricesOut,
    "The account's prices in force at a moment",
    problems=(404,),
    description="The catalog version in force at `at` (now when left out): the latest to take effect by then. A "
    "SimCloud account with no catalog imported answers SimCloud's built-in prices (version 0). Amounts are decimal "
    "strings. 404 when the account has no prices at that moment.",
)
async def get_prices(
    request: Request,
    cloud_id: str,
    caller: Reader,
    at: Annotated[datetime | None, Query(description="An RFC 3339 time with its offset")] = None,
    kind: PriceKind | None = None,
    region: Annotated[str | None, Query(max_length=255, description="This region's and every region's")] = None,
) -> PricesOut:
    moment = at or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValidationFailed("`at` needs a time zone.", errors=[{"field": "at", "detail": "needs a time zone"}])
    found = await handlers.in_force(
        uow_of(request), project_id=caller.project_id, cloud_id=cloud_id, at=moment, kind=kind, region=region
    )
    if found is None:
        raise NotFound(f"Cloud {cloud_id} has no prices in force at {moment.isoformat()}.")
    age = (moment - found.source_updated_at).days if found.source_updated_at else None
    return PricesOut(
        cloud_id=cloud_id,
        at=moment,
        version=found.number,
        catalog_id=found.version.id if found.version else None,
        effective_from=found.effective_from,
        currency=found.currency,
        source=found.source,
        source_updated_at=found.source_updated_at,
        source_age_days=age,
        prices=[PriceOut(kind=p.kind, region=p.region, item=p.item, unit=p.unit, price=p.amount) for p in found.prices],
    )


@routes.get(
    "/clouds/{cloud_id}/prices/versions",
    ListOf[PriceCatalogVersionOut],
    "Every version of the account's price catalog, newest first",
    problems=(404,),
)
async def list_versions(request: Request, cloud_id: str, caller: Reader) -> ListOf[PriceCatalogVersionOut]:
    found = await handlers.versions(uow_of(request), caller.project_id, cloud_id)
    return ListOf[PriceCatalogVersionOut](items=[version_out(v) for v in found])


def _read(fmt: PriceFormat, content_type: str, body: bytes) -> PriceList:
    if fmt == "aws-offer":
        return offers.from_aws_offer(body)
    if fmt == "libcloud":
        if not body:
            path = offers.installed_libcloud_file()
            if path is None or not path.is_file():
                raise ValidationFailed(
                    "Apache Libcloud is not installed beside the provisioner: send its pricing.json as the body.",
                    errors=[{"field": "body", "detail": "is empty and no Libcloud is installed"}],
                )
            body = path.read_bytes()
        return offers.from_libcloud(body)
    media = content_type.split(";")[0].strip().lower()
    if media == "text/csv":
        return formats.from_csv(body)
    if media == "application/json":
        return formats.from_json(body)
    raise ValidationFailed(
        "A price file is application/json or text/csv.", errors=[{"field": "content-type", "detail": "not supported"}]
    )


@routes.post(
    "/clouds/{cloud_id}/prices",
    PriceCatalogVersionOut,
    "Import a new version of the account's price catalog",
    status=201,
    problems=(403, 404),
    openapi_extra={"requestBody": _IMPORT_BODY},
    description='The body is a price file. `format=clanavi` (the default): JSON `{"currency": "EUR", "prices": '
    '[{"kind": "flavor", "region": "", "item": "m1.small", "price": "0.0250"}]}` or CSV with the header '
    "`kind,region,item,price,currency`; `kind` is flavor or address (per hour), volume or snapshot (per GB-month); "
    "an empty region or item means every region or any item; prices are decimal strings. For an EC2 account also "
    "`format=aws-offer` (an AWS Price List Bulk API offer file: on-demand Linux prices, EBS volumes by type, "
    "snapshots, public IPv4 addresses) and `format=libcloud` (Apache Libcloud's `pricing.json`; an empty body reads "
    "the one installed beside the provisioner). The version takes effect at `effective_from` (now when left out; "
    "never in the past). Missing columns, negative or malformed prices, unknown kinds, more than one currency: 422 "
    "`validation_failed` with `errors` naming each field and row, nothing stored. Flavor ids the cloud does not list "
    "are kept, each named in `warnings`. Owners only. Event `price_catalog.imported` (the first version) or "
    "`price_catalog.replaced`.",
)
async def import_prices(
    request: Request,
    cloud_id: str,
    caller: Manager,
    format: PriceFormat = "clanavi",  # noqa: A002  (the query parameter's name)
    effective_from: Annotated[datetime | None, Query(description="RFC 3339 with offset; now when left out")] = None,
) -> PriceCatalogVersionOut:
    found = _read(format, request.headers.get("content-type", ""), await request.body())
    version = await handlers.import_prices(
        uow_of(request),
        clouds_of(request),
        project_id=caller.project_id,
        cloud_id=cloud_id,
        found=found,
        effective_from=effective_from,
        correlation_id=correlation_id(),
    )
    return version_out(version)


__all__ = ["router"]
