"""The EC2 adapter's catalogue against a real moto server: regions and zones, instance types as flavors, images
(the configured selection, made from an instance, deregistered)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.base import CloudNotFound, ImageState, InstanceState
from adapters.ec2 import Ec2Adapter
from tests.contract.clouds.ec2 import FLAVOR, REGION, fresh_adapter, launch_spec, moto_server_for, open_adapter
from tests.contract.helpers import eventually
from tests.tokens import new_token

pytestmark = pytest.mark.integration


@pytest.fixture
async def ec2(request: pytest.FixtureRequest) -> AsyncIterator[Ec2Adapter]:
    adapter = await fresh_adapter(request.config)
    yield adapter
    await adapter.close()


async def test_regions_and_the_zones_of_the_adapters_region(ec2: Ec2Adapter) -> None:
    regions = [r.id for r in await ec2.list_regions()]
    assert REGION in regions and "eu-west-1" in regions
    zones = await ec2.list_zones()
    assert {z.id for z in zones} >= {f"{REGION}a", f"{REGION}b"}
    assert all(z.region_id == REGION and z.available for z in zones)


async def test_flavors_are_instance_types_with_their_sizes(ec2: Ec2Adapter) -> None:
    flavors = {f.id: f for f in await ec2.list_flavors()}
    assert len(flavors) > 100, "every instance type of the region, all pages of them"
    micro = flavors[FLAVOR]
    assert (micro.name, micro.vcpus, micro.ram_mb, micro.disk_gb) == (FLAVOR, 2, 1024, 0)
    assert "x86_64" in micro.extra["architectures"]
    local_disk = flavors["m5d.large"]
    assert (local_disk.vcpus, local_disk.ram_mb, local_disk.disk_gb) == (2, 8192, 75)
    assert await ec2.get_flavor(FLAVOR) == micro
    with pytest.raises(CloudNotFound):
        await ec2.get_flavor("t3.gigantic")


async def test_configured_instance_types_narrow_the_flavors(request: pytest.FixtureRequest) -> None:
    server = moto_server_for(request.config)
    adapter = await open_adapter(server, instance_types=("t3.micro", "t3.small"))
    try:
        assert [f.id for f in await adapter.list_flavors()] == ["t3.micro", "t3.small"]
        # Any type of the region can still be read by id.
        assert (await adapter.get_flavor("m5.large")).vcpus == 2
        with pytest.raises(CloudNotFound):
            await adapter.get_flavor("t3.gigantic")
    finally:
        await adapter.close()


async def test_images_are_the_configured_ones_and_those_made_here(ec2: Ec2Adapter) -> None:
    moto_image = ec2.config.image_ids[0]
    listed = {i.id: i for i in await ec2.list_images()}
    assert list(listed) == [moto_image], "the public catalogue must stay out of list_images"
    image = listed[moto_image]
    assert (image.state, image.os) == (ImageState.AVAILABLE, "linux")
    assert image.name.startswith("amzn2-ami-hvm")
    assert await ec2.get_image(moto_image) == image
    with pytest.raises(CloudNotFound):
        await ec2.get_image("ami-0123456789abcdef0")

    instance = await ec2.launch_instance(launch_spec(ec2))
    made = await ec2.create_image(instance.id, "clanavi-golden", client_token=new_token())
    assert made.name == "clanavi-golden"
    assert made.state in {ImageState.PENDING, ImageState.AVAILABLE}
    assert made.extra["source_instance_id"] == instance.id
    listed_now = {i.id for i in await ec2.list_images()}
    assert listed_now == {moto_image, made.id}, "an image of our own (owner self) is listed"

    await ec2.deregister_image(made.id)
    await eventually(
        lambda: ec2.list_images(), 10, until=lambda images: made.id not in {i.id for i in images}, what="deregistered"
    )
    with pytest.raises(CloudNotFound):
        await ec2.get_image(made.id)
    with pytest.raises(CloudNotFound):
        await ec2.deregister_image(made.id)
    with pytest.raises(CloudNotFound):
        await ec2.create_image("i-0123456789abcdef0", "from-nothing", client_token=new_token())


async def test_search_finds_public_images_newest_first(ec2: Ec2Adapter) -> None:
    found = await ec2.ex_search_images("amzn2-ami-hvm-*-x86_64-gp2", owners=("amazon",))
    assert len(found) >= 2
    created = [str(i.extra["created"]) for i in found]
    assert created == sorted(created, reverse=True)
    assert all(i.name.startswith("amzn2-ami-hvm") and i.state is ImageState.AVAILABLE for i in found)
    assert list(await ec2.ex_search_images("no-such-image-*")) == []
    # What a search finds launches.
    launched = await ec2.launch_instance(launch_spec(ec2, image_id=found[-1].id))
    assert launched.image_id == found[-1].id
    assert launched.state is InstanceState.PENDING
