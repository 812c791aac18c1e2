"""Use cases of price catalogs: import a version of an account's prices, and read the prices in force at a moment.
No FastAPI and no aio-pika here.

An import is read and checked whole before anything is written (a fault anywhere: 422 naming its field and row,
nothing stored); flavor ids the cloud does not list are taken with a warning (a catalog may price what the account
cannot launch yet, and Libcloud's or AWS's files price every type in every region). The version and its event commit
in one transaction; the cloud is asked for its flavors before it, never during it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from adapters.base import CloudError
from kernel.errors import ClanaviError, ValidationFailed
from kernel.events import PriceCatalogImported, PriceCatalogReplaced
from kernel.unit_of_work import UnitOfWork
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.clouds.domain import Cloud
from services.provisioner.clouds.repository import CloudRepository, owned_cloud
from services.provisioner.prices import domain, published
from services.provisioner.prices.builtin import SINCE, builtin_for
from services.provisioner.prices.domain import CatalogVersion, Price, PriceKind, PriceList
from services.provisioner.prices.repository import PriceRepository

# The formats only an EC2 account's prices come in.
EC2_FORMATS = frozenset({"aws-offer", "libcloud"})


class PriceStore(Protocol):
    @property
    def clouds(self) -> CloudRepository: ...
    @property
    def prices(self) -> PriceRepository: ...


@dataclass(frozen=True)
class InForce:
    """The prices of an account at a moment: a stored version, or the module's built-in list (version 0)."""

    cloud: Cloud
    version: CatalogVersion | None
    currency: str
    source: str
    source_updated_at: datetime | None
    effective_from: datetime
    prices: list[Price]

    @property
    def number(self) -> int:
        return self.version.version if self.version else 0


def region_of(clouds: CloudDirectory, cloud: Cloud) -> str | None:
    """The region the account works in: its setting, else its adapter's default (None: the adapter has none)."""
    region = cloud.config.get("region")
    if isinstance(region, str):
        return region
    try:
        model = clouds.adapter_class(cloud.driver, cloud.id).config_model
    except ClanaviError:  # an unloadable module has no default to read; its prices still answer
        return None
    default = getattr(model.model_fields.get("region"), "default", None)
    return default if isinstance(default, str) else None


async def _unknown_flavors(clouds: CloudDirectory, cloud: Cloud, found: PriceList) -> list[str]:
    """Warnings for the flavors of the account's region that the cloud does not list."""
    region = region_of(clouds, cloud)
    priced = sorted({p.item for p in found.prices if p.kind is PriceKind.FLAVOR and p.region in ("", region)})
    if not priced:
        return []
    try:
        listed = {f.id for f in await clouds.flavors(cloud.id)}
    except (CloudError, ClanaviError):  # a cloud that does not answer, a disabled module: the import stands unchecked
        return ["the cloud's flavors could not be listed to check the flavor ids"]
    return [f"flavor {f} is not one the cloud lists in {region or 'its region'}" for f in priced if f not in listed]


async def import_prices(
    uow: UnitOfWork[PriceStore],
    clouds: CloudDirectory,
    *,
    project_id: str,
    cloud_id: str,
    found: PriceList,
    effective_from: datetime | None,
    correlation_id: str,
    now: datetime | None = None,
) -> CatalogVersion:
    """Store `found` as the account's next catalog version, in force from `effective_from` (now when not given; never
    before now: that would change what the past was charged)."""
    now = now or datetime.now(UTC)
    async with uow.reading() as repos:
        cloud = await owned_cloud(repos.clouds, project_id, cloud_id)
    if found.source in EC2_FORMATS and cloud.driver != "ec2":
        raise ValidationFailed(
            f"The {found.source} format holds EC2 prices; cloud {cloud_id} is a {cloud.driver} account.",
            errors=[{"field": "format", "detail": "only for an ec2 account"}],
        )
    start = effective_from or now
    if start.tzinfo is None:
        raise ValidationFailed(
            "effective_from needs a time zone.", errors=[{"field": "effective_from", "detail": "needs a time zone"}]
        )
    if start < now:
        raise ValidationFailed(
            "A catalog version cannot take effect in the past: the prices in force then stay as they were.",
            errors=[{"field": "effective_from", "detail": "is in the past"}],
        )
    warnings, count = domain.capped([*found.warnings, *await _unknown_flavors(clouds, cloud, found)])
    count += max(found.warning_count - len(found.warnings), 0)
    async with uow.transaction() as tx:
        before = await tx.repos.prices.latest_version(cloud.id)
        catalog = CatalogVersion(
            id=str(uuid.uuid4()),
            project_id=project_id,
            cloud_id=cloud.id,
            version=before + 1,
            effective_from=start,
            currency=found.currency,
            source=found.source,
            source_updated_at=found.source_updated_at,
            price_count=len(found.prices),
            warnings=warnings,
            warning_count=count,
            created_at=now,
            correlation_id=correlation_id,
        )
        facts = {
            "catalog_id": catalog.id,
            "cloud_id": cloud.id,
            "version": catalog.version,
            "effective_from": start,
            "currency": catalog.currency,
            "source": catalog.source,
            "source_updated_at": catalog.source_updated_at,
            "price_count": catalog.price_count,
            "warning_count": catalog.warning_count,
        }
        event = PriceCatalogReplaced(**facts, replaces_version=before) if before else PriceCatalogImported(**facts)
        catalog = tx.changed(
            catalog,
            event,
            *published.pages(
                catalog_id=catalog.id,
                cloud_id=cloud.id,
                version=catalog.version,
                effective_from=start,
                currency=catalog.currency,
                source=catalog.source,
                prices=found.prices,
            ),
        )
        await tx.repos.prices.add(catalog, found.prices)
    return catalog


async def in_force(
    uow: UnitOfWork[PriceStore],
    *,
    project_id: str,
    cloud_id: str,
    at: datetime,
    kind: PriceKind | None = None,
    region: str | None = None,
) -> InForce | None:
    """The account's prices at `at` (None: it has none then, and its module has no built-in list)."""
    async with uow.reading() as repos:
        cloud = await owned_cloud(repos.clouds, project_id, cloud_id)
        return await in_force_on(repos.prices, cloud, at=at, kind=kind, region=region)


async def in_force_on(
    prices: PriceRepository, cloud: Cloud, *, at: datetime, kind: PriceKind | None = None, region: str | None = None
) -> InForce | None:
    """`in_force` for an account already read, on the caller's connection (a transaction's, say)."""
    version = await prices.in_force(cloud.project_id, cloud.id, at)
    if version is not None:
        found = await prices.prices(version.id, kind=kind, region=region)
        return InForce(
            cloud, version, version.currency, version.source, version.source_updated_at, version.effective_from, found
        )
    builtin = builtin_for(cloud.driver)
    if builtin is None:
        return None
    chosen = [
        p for p in builtin.prices if (kind is None or p.kind is kind) and (region is None or p.region in ("", region))
    ]
    return InForce(cloud, None, builtin.currency, builtin.source, None, SINCE, chosen)


async def versions(uow: UnitOfWork[PriceStore], project_id: str, cloud_id: str) -> list[CatalogVersion]:
    async with uow.reading() as repos:
        cloud = await owned_cloud(repos.clouds, project_id, cloud_id)
        return await repos.prices.versions(project_id, cloud.id)


def item_price(prices: Sequence[Price], kind: PriceKind, region: str | None, item: str) -> Price | None:
    """The price of one flavor or image: its own, never one for any item of the kind."""
    found = domain.price_of(prices, kind, region, item)
    return found if found and found.item == item else None


def flavor_price(prices: Sequence[Price], region: str | None, flavor_id: str) -> Price | None:
    """A flavor's hourly price (a price with no flavor id is for volumes and the like, never a flavor's)."""
    return item_price(prices, PriceKind.FLAVOR, region, flavor_id)


def image_price(prices: Sequence[Price], region: str | None, image_id: str) -> Price | None:
    """What an image adds to its server's hour (None: nothing, as for most images)."""
    return item_price(prices, PriceKind.IMAGE, region, image_id)


def server_hourly(prices: Sequence[Price], region: str | None, flavor_id: str, image_id: str | None) -> Decimal | None:
    """A server's hourly price: its flavor's and its image's together; None when its flavor has no price."""
    flavor = flavor_price(prices, region, flavor_id)
    if flavor is None:
        return None
    image = image_price(prices, region, image_id) if image_id else None
    return flavor.amount + (image.amount if image else Decimal(0))
