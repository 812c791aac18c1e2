"""Images made from instances: they become available, launch, leave their instance as it was, and deregister."""

from __future__ import annotations

from dataclasses import replace

import pytest

from adapters.base import Feature, Image, ImageState, Instance, InstanceState
from tests.contract.cloud import ContractCloud
from tests.contract.helpers import (
    Cleanup,
    eventually,
    find_image,
    launch,
    launch_spec,
    running_instance,
    unique,
    wait_instance,
)
from tests.tokens import new_token


async def _image_of(cloud: ContractCloud, cleanup: Cleanup, instance: Instance) -> Image:
    name = unique("img")
    image = await cloud.adapter.create_image(instance.id, name, client_token=new_token())
    cleanup.image(image.id)
    assert image.id, "an image without an id"
    assert image.id != instance.image_id, "create_image answered the instance's own image"
    assert image.name == name
    assert image.state in {ImageState.PENDING, ImageState.AVAILABLE}, f"a new image reads {image.state}"

    async def probe() -> Image | None:
        found = await find_image(cloud, image.id)
        assert found is not None, f"image {image.id} vanished while pending"
        assert found.state is not ImageState.FAILED, f"image {image.id} failed: {found.extra}"
        return found

    available = await eventually(
        probe,
        cloud.settle_seconds,
        until=lambda i: i is not None and i.state is ImageState.AVAILABLE,
        what=f"image {image.id} available",
    )
    assert available is not None
    assert available.name == name
    assert image.id in {i.id for i in await cloud.adapter.list_images()}, "list_images does not show the new image"
    return available


async def _deregister(cloud: ContractCloud, image: Image) -> None:
    await cloud.adapter.deregister_image(image.id)
    await eventually(
        lambda: find_image(cloud, image.id),
        cloud.settle_seconds,
        until=lambda i: i is None or i.state is ImageState.DEREGISTERED,
        what=f"image {image.id} deregistered",
    )
    listed = {i.id for i in await cloud.adapter.list_images() if i.state is not ImageState.DEREGISTERED}
    assert image.id not in listed, "a deregistered image is still listed as usable"


@pytest.mark.needs(Feature.IMAGE_CREATE)
async def test_image_of_a_running_instance_becomes_available_and_deregisters(
    cloud: ContractCloud, cleanup: Cleanup
) -> None:
    instance = await running_instance(cloud, cleanup)
    image = await _image_of(cloud, cleanup, instance)
    await wait_instance(cloud, instance.id, InstanceState.RUNNING)
    await _deregister(cloud, image)


@pytest.mark.needs(Feature.IMAGE_CREATE, Feature.INSTANCE_START_STOP)
async def test_image_of_a_stopped_instance_launches_and_deregisters(cloud: ContractCloud, cleanup: Cleanup) -> None:
    instance = await running_instance(cloud, cleanup)
    await cloud.adapter.stop_instance(instance.id)
    await wait_instance(cloud, instance.id, InstanceState.STOPPED)
    image = await _image_of(cloud, cleanup, instance)
    await wait_instance(cloud, instance.id, InstanceState.STOPPED)  # making an image does not start it

    child = await launch(cloud, cleanup, replace(launch_spec(cloud), image_id=image.id))
    assert child.image_id == image.id
    await wait_instance(cloud, child.id, InstanceState.RUNNING)
    await _deregister(cloud, image)


@pytest.mark.needs(Feature.IMAGE_CREATE, Feature.IDEMPOTENT_CREATE)
async def test_the_same_client_token_creates_one_image(cloud: ContractCloud, cleanup: Cleanup) -> None:
    instance = await running_instance(cloud, cleanup)
    name, token = unique("img"), unique("tok")
    first = await cloud.adapter.create_image(instance.id, name, client_token=token)
    cleanup.image(first.id)
    again = await cloud.adapter.create_image(instance.id, name, client_token=token)
    assert again.id == first.id, "a create retried with the same client token made a second image"

    other = await cloud.adapter.create_image(instance.id, unique("img"), client_token=unique("tok"))
    cleanup.image(other.id)
    assert other.id != first.id, "a create with a new client token answered an earlier image"
    listed = [i.id for i in await cloud.adapter.list_images()]
    assert listed.count(first.id) == 1 and other.id in listed
    assert [i.id for i in await cloud.adapter.list_images() if i.name == name] == [first.id]
