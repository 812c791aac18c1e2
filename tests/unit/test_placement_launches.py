"""Launches placed by the allocator, on fakes: a launch without a cloud goes where the policy says and keeps how;
with one cloud, what fits nowhere there is refused by that cloud's own checks (a disabled module: 409, a flavor it
lacks: 422 naming the field), as for a launch that names it."""

from __future__ import annotations

import pytest

from adapters.base import Flavor
from kernel.errors import ValidationFailed
from services.provisioner.errors import ModuleIsDisabled
from services.provisioner.instances import handlers
from services.provisioner.placement.domain import PlacementPolicy
from services.provisioner.placement.handlers import NothingFits, ServerSpec, place
from services.provisioner.templates.domain import Requirements
from tests.fakes.cloud import FakeCloud
from tests.fakes.provisioner import PROJECT, provisioner


def placed(**fields: object) -> handlers.LaunchRequest:
    base: dict[str, object] = {
        "project_id": PROJECT,
        "cloud_id": "",
        "name": "web",
        "image_id": "img-debian-12",
        "flavor_id": "sim.small",
        "correlation_id": "cid-1",
        "placement": PlacementPolicy(strategy="spread", group="web", seed=3),
    }
    return handlers.LaunchRequest(**{**base, **fields})  # type: ignore[arg-type]


async def test_a_placed_launch_goes_where_the_policy_says_and_keeps_how() -> None:
    p = provisioner()
    record = await handlers.launch(p.uow, p.clouds, placed())
    assert record.cloud_id == "sim" and record.zone is not None
    assert record.placement is not None and record.placement["strategy"] == "spread"
    assert record.placement["group"] == "web"
    second = await handlers.launch(p.uow, p.clouds, placed(name="web2"))
    assert second.zone != record.zone, "spread: the group's second member in the other zone"


async def test_requirements_take_the_smallest_flavor_that_has_them() -> None:
    cloud = FakeCloud()
    cloud.flavors |= {
        "sim.large": Flavor("sim.large", "large", 4, 8192, 40),
        "sim.medium": Flavor("sim.medium", "medium", 2, 4096, 20),
    }
    p = provisioner(cloud)
    req = placed(flavor_id="", placement=PlacementPolicy(strategy="cheapest"))
    record = await handlers.launch(p.uow, p.clouds, req, requirements=Requirements(image_name="", min_vcpus=2))
    assert record.flavor_id == "sim.medium"


async def test_with_one_cloud_a_launch_that_fits_nowhere_is_refused_by_its_own_checks() -> None:
    p = provisioner()
    with pytest.raises(ValidationFailed) as refused:
        await handlers.launch(p.uow, p.clouds, placed(flavor_id="sim.huge"))
    assert not isinstance(refused.value, NothingFits)
    assert [e["location"] for e in refused.value.extensions["errors"]] == ["body.flavor_id"]
    p.clouds.set_module("simcloud", enabled=False)
    with pytest.raises(ModuleIsDisabled):
        await handlers.launch(p.uow, p.clouds, placed())
    with pytest.raises(NothingFits) as explained:
        await place(
            p.uow,
            p.clouds,
            project_id=PROJECT,
            spec=ServerSpec(image_id="img-debian-12", flavor_id="sim.small"),
            policy=PlacementPolicy(),
        )
    assert "module is disabled" in explained.value.extensions["candidates"][0]["rejected"]
    assert p.event_types() == []
