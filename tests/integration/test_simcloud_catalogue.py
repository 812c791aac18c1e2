"""SimCloud's catalogue on a real PostgreSQL: regions and zones from the account's settings, flavor prices, and
images made from instances, on a clock the test moves."""

from __future__ import annotations

import uuid

import pytest

from adapters.base import (
    CloudNotFound,
    ImageState,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    Region,
    Zone,
)
from tests.integration.simcloud_harness import Make, SimClock, running, spec
from tests.tokens import new_token

pytestmark = pytest.mark.integration


async def test_regions_and_zones_come_from_the_settings(make: Make) -> None:
    default = make()
    custom = make(region="eu-sim-2", zones=["eu-sim-2c", "eu-sim-2a"])

    assert await default.list_regions() == [Region("sim-1", "sim-1")]
    assert await default.list_zones() == [Zone("sim-1a", "sim-1"), Zone("sim-1b", "sim-1")]
    assert await custom.list_regions() == [Region("eu-sim-2", "eu-sim-2")]
    assert [z.id for z in await custom.list_zones()] == ["eu-sim-2c", "eu-sim-2a"]
    assert {z.region_id for z in await custom.list_zones()} == {"eu-sim-2"}


async def test_prices_can_be_set_per_account(make: Make) -> None:
    catalogue = make()
    discounted = make(f"other-{uuid.uuid4().hex[:8]}", prices={"sim.small": 0.011, "sim.large": 0.5})

    assert (await catalogue.get_flavor("sim.small")).extra["hourly_price"] == pytest.approx(0.02)
    assert (await discounted.get_flavor("sim.small")).extra["hourly_price"] == pytest.approx(0.011)
    prices = {f.id: f.extra["hourly_price"] for f in await discounted.list_flavors()}
    assert prices == pytest.approx(
        {"sim.nano": 0.005, "sim.small": 0.011, "sim.medium": 0.04, "sim.large": 0.5, "sim.xlarge": 0.16}
    )


async def test_an_image_of_an_instance_is_pending_then_available(make: Make, clock: SimClock) -> None:
    cloud = make(image_seconds=30)
    instance_id = await running(cloud, clock, flavor_id="sim.medium")

    image = await cloud.create_image(instance_id, "web golden", client_token=new_token())

    assert image.state == ImageState.PENDING
    assert image.id.startswith("img-") and image.name == "web golden"
    assert (image.os, image.min_disk_gb) == ("linux", 40)
    assert image.extra["source_instance_id"] == instance_id and image.extra["public"] is False
    clock.advance(29.9)
    assert (await cloud.get_image(image.id)).state == ImageState.PENDING
    clock.advance(0.1)
    assert (await cloud.get_image(image.id)).state == ImageState.AVAILABLE
    assert image.id in {i.id for i in await cloud.list_images()}


async def test_an_account_launches_from_its_own_image_once_it_is_available(make: Make, clock: SimClock) -> None:
    cloud = make(image_seconds=30)
    image = await cloud.create_image(await running(cloud, clock), "mine", client_token=new_token())

    with pytest.raises(InvalidCloudState, match="pending"):
        await cloud.launch_instance(spec(image_id=image.id))
    clock.advance(30)
    launched = await cloud.launch_instance(spec(image_id=image.id))

    assert launched.image_id == image.id


async def test_an_accounts_images_are_its_own(make: Make, clock: SimClock) -> None:
    cloud = make()
    other = make(f"other-{uuid.uuid4().hex[:8]}")
    image = await cloud.create_image(await running(cloud, clock), "private", client_token=new_token())

    assert image.id not in {i.id for i in await other.list_images()}
    with pytest.raises(CloudNotFound):
        await other.get_image(image.id)
    with pytest.raises(CloudNotFound):
        await other.deregister_image(image.id)
    with pytest.raises(CloudNotFound):
        await other.launch_instance(spec(image_id=image.id))
    # Another account may use the same name for its own image.
    assert (
        await other.create_image(await running(other, clock), "private", client_token=new_token())
    ).name == "private"


async def test_image_names_are_unique_in_an_account(make: Make, clock: SimClock) -> None:
    cloud = make()
    instance_id = await running(cloud, clock)
    await cloud.create_image(instance_id, "nightly", client_token=new_token())

    with pytest.raises(InvalidCloudRequest, match="already exists"):
        await cloud.create_image(instance_id, "nightly", client_token=new_token())
    for bad in ("", "x" * 129, "tab\there"):
        with pytest.raises(InvalidCloudRequest):
            await cloud.create_image(instance_id, bad, client_token=new_token())


async def test_images_need_an_instance_that_exists_and_is_not_terminated(make: Make, clock: SimClock) -> None:
    cloud = make(boot_seconds=10, terminate_seconds=5)
    booting = await cloud.launch_instance(spec())

    with pytest.raises(CloudNotFound):
        await cloud.create_image("sim-00000000000000000", "nothing", client_token=new_token())
    with pytest.raises(InvalidCloudState, match="pending"):
        await cloud.create_image(booting.id, "too early", client_token=new_token())
    clock.advance(10)
    await cloud.terminate_instance(booting.id)
    with pytest.raises(InvalidCloudState, match="terminating"):
        await cloud.create_image(booting.id, "too late", client_token=new_token())
    clock.advance(5)
    with pytest.raises(InvalidCloudState, match="terminated"):
        await cloud.create_image(booting.id, "too late", client_token=new_token())


async def test_a_stopped_instance_can_be_imaged(make: Make, clock: SimClock) -> None:
    cloud = make(stop_seconds=1)
    instance_id = await running(cloud, clock)
    await cloud.stop_instance(instance_id)
    clock.advance(1)

    assert (await cloud.create_image(instance_id, "cold", client_token=new_token())).state == ImageState.PENDING


async def test_a_deregistered_image_is_gone_and_its_instances_live_on(make: Make, clock: SimClock) -> None:
    cloud = make()
    image = await cloud.create_image(await running(cloud, clock), "short-lived", client_token=new_token())
    clock.advance(cloud.config.image_seconds)
    child = await cloud.launch_instance(spec(image_id=image.id))

    await cloud.deregister_image(image.id)

    with pytest.raises(CloudNotFound):
        await cloud.get_image(image.id)
    assert image.id not in {i.id for i in await cloud.list_images()}
    with pytest.raises(CloudNotFound):
        await cloud.deregister_image(image.id)
    clock.advance(cloud.config.boot_seconds)
    [seen] = await cloud.get_instances([child.id])
    assert (seen.state, seen.image_id) == (InstanceState.RUNNING, image.id)
    assert "short-lived" not in await cloud.console_output(child.id)


async def test_public_images_cannot_be_deregistered(make: Make) -> None:
    cloud = make()

    with pytest.raises(InvalidCloudRequest, match="public catalogue"):
        await cloud.deregister_image("img-debian-12")
    assert (await cloud.get_image("img-debian-12")).extra["public"] is True


async def test_a_flavor_too_small_for_the_image_is_refused(make: Make) -> None:
    cloud = make()

    with pytest.raises(InvalidCloudRequest, match="needs a 30 GB disk"):
        await cloud.launch_instance(spec(image_id="img-windows-2022", flavor_id="sim.nano"))
    assert (await cloud.launch_instance(spec(image_id="img-windows-2022", flavor_id="sim.medium"))).image_id == (
        "img-windows-2022"
    )
