"""A launch's dry run: everything a launch checks (the account, image, flavor, key pair, groups, zone; a template's
resolution and inputs), then where it would go and what it would cost, from the account's price catalog in force
now. Nothing is recorded, no event, nothing is asked of the cloud but its catalogue, and no key is made for runs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from kernel.unit_of_work import UnitOfWork
from services.provisioner.blocks.domain import LaunchBlock
from services.provisioner.blocks.handlers import blocking_launch
from services.provisioner.clouds.directory import CloudDirectory
from services.provisioner.clouds.repository import owned_cloud
from services.provisioner.guardrails import handlers as guardrails
from services.provisioner.guardrails.domain import Verdict
from services.provisioner.guardrails.handlers import Asked
from services.provisioner.instances import handlers
from services.provisioner.instances.handlers import LaunchRequest, LaunchStore, TemplateLaunch
from services.provisioner.placement.handlers import Placement
from services.provisioner.prices import handlers as prices
from services.provisioner.prices.domain import HOURS_A_MONTH
from services.provisioner.prices.repository import PriceRepository
from services.provisioner.templates import handlers as templates
from services.provisioner.templates.domain import Requirements


class PreviewStore(LaunchStore, Protocol):
    @property
    def prices(self) -> PriceRepository: ...


@dataclass(frozen=True)
class LaunchPreview:
    cloud_id: str
    region: str | None
    zone: str | None
    image_id: str
    flavor_id: str
    template_id: str | None
    template_version: int | None
    # None when the account's catalog has no price for the flavor.
    currency: str | None
    hourly: Decimal | None
    monthly: Decimal | None
    price_version: int | None
    # What the project's guard-rails would say of it now.
    guardrails: Verdict
    # How the allocator chose, for a launch it places.
    placement: Placement | None = None
    # The budget's block that would refuse the launch now (409 `budget_exceeded`).
    blocked_by: LaunchBlock | None = None


async def preview(
    uow: UnitOfWork[PreviewStore],
    clouds: CloudDirectory,
    req: LaunchRequest,
    template: TemplateLaunch | None,
    asked: Asked | None = None,
    requirements: Requirements | None = None,
) -> LaunchPreview:
    """The launch `req` (from `template`, when given) as it would be accepted, its cost, and the guard-rails'
    verdict; raises what the launch would for the cloud (404 for the account, 422 naming each problem), never what
    the guard-rails would refuse: the verdict says it. A launch to be placed is placed first, as launching it would
    place it."""
    req, found = await handlers.placed(uow, clouds, req, template, requirements)
    if template is None:
        async with uow.reading() as repos:
            cloud = await owned_cloud(repos.clouds, req.project_id, req.cloud_id, named_in="body.cloud_id")
            names = await handlers.launch_names(repos, req)
        plan = None
    else:
        draft, req, names, _ = await handlers.drafted(uow, clouds, req, template)
        # No login key: a preview makes none, and the user data's size changes no price.
        plan = await templates.plan(clouds, draft)
        req = replace(req, image_id=plan.image_id, flavor_id=plan.flavor_id)
        cloud = draft.cloud
    await handlers.validated(clouds, cloud, req, names, plan)
    now = datetime.now(UTC)
    demand = await guardrails.demand_of(
        clouds, cloud, flavor_id=req.flavor_id, tags=dict(req.tags), asked=asked or Asked()
    )
    cost = guardrails.CostOf(cloud, req.flavor_id, req.image_id)
    verdict = await guardrails.preview(uow, clouds, project_id=req.project_id, demand=demand, cost=cost, now=now)
    blocked_by = await blocking_launch(uow, req.project_id, tags=req.tags)
    catalog = await prices.in_force(uow, project_id=req.project_id, cloud_id=cloud.id, at=now)
    region = prices.region_of(clouds, cloud)
    # The flavor's price with what the image adds to it.
    price = prices.server_hourly(catalog.prices, region, req.flavor_id, req.image_id) if catalog else None
    return LaunchPreview(
        cloud_id=cloud.id,
        region=region,
        zone=req.zone,
        image_id=req.image_id,
        flavor_id=req.flavor_id,
        template_id=plan.template_id if plan else None,
        template_version=plan.template_version if plan else None,
        currency=catalog.currency if catalog and price is not None else None,
        hourly=price,
        monthly=None if price is None else price * HOURS_A_MONTH,
        price_version=catalog.number if catalog and price is not None else None,
        guardrails=verdict,
        placement=found,
        blocked_by=blocked_by,
    )
