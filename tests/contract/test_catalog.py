"""What a cloud offers before anything is created: regions and zones, flavors, images."""

from __future__ import annotations

import pytest

from adapters.base import CloudNotFound, Feature, ImageState
from tests.contract.cloud import ContractCloud
from tests.contract.helpers import missing_like


@pytest.mark.needs(Feature.ZONES)
async def test_regions_and_zones_are_listed_and_consistent(cloud: ContractCloud) -> None:
    regions = await cloud.adapter.list_regions()
    zones = await cloud.adapter.list_zones()
    region_ids = [r.id for r in regions]
    zone_ids = [z.id for z in zones]
    assert region_ids, "no regions"
    assert zone_ids, "no zones"
    assert len(set(region_ids)) == len(region_ids), f"a region is listed twice: {region_ids}"
    assert len(set(zone_ids)) == len(zone_ids), f"a zone is listed twice: {zone_ids}"
    assert all(r.name for r in regions), f"a region without a name: {regions}"
    orphans = [z for z in zones if z.region_id not in region_ids]
    assert not orphans, f"zones in regions that list_regions does not show: {orphans}"
    assert any(z.available for z in zones), "no zone is available"
    if cloud.zone is not None:
        assert cloud.zone in zone_ids, f"the harness's zone {cloud.zone} is not listed"


@pytest.mark.needs(Feature.FLAVORS)
async def test_flavors_are_listed_with_sizes_and_read_back_by_id(cloud: ContractCloud) -> None:
    flavors = await cloud.adapter.list_flavors()
    ids = [f.id for f in flavors]
    assert ids, "no flavors"
    assert len(set(ids)) == len(ids), f"a flavor is listed twice: {ids}"
    for flavor in flavors:
        assert flavor.name, f"{flavor.id} has no name"
        assert flavor.vcpus > 0, f"{flavor.id} has {flavor.vcpus} vCPUs"
        assert flavor.ram_mb > 0, f"{flavor.id} has {flavor.ram_mb} MB of RAM"
        assert flavor.disk_gb >= 0, f"{flavor.id} has {flavor.disk_gb} GB of disk"
    assert cloud.flavor_id in ids, f"the harness's flavor {cloud.flavor_id} is not listed"
    by_id = {f.id: f for f in flavors}
    for flavor_id in dict.fromkeys([cloud.flavor_id, *ids[:3], ids[-1]]):
        assert await cloud.adapter.get_flavor(flavor_id) == by_id[flavor_id]


@pytest.mark.needs(Feature.FLAVORS)
async def test_an_unknown_flavor_is_not_found(cloud: ContractCloud) -> None:
    with pytest.raises(CloudNotFound):
        await cloud.adapter.get_flavor(missing_like(cloud.flavor_id))


@pytest.mark.needs(Feature.IMAGES)
async def test_images_are_listed_and_read_back_by_id(cloud: ContractCloud) -> None:
    images = await cloud.adapter.list_images()
    ids = [i.id for i in images]
    assert ids, "no images"
    assert len(set(ids)) == len(ids), f"an image is listed twice: {ids}"
    by_id = {i.id: i for i in images}
    assert cloud.image_id in by_id, f"the harness's image {cloud.image_id} is not listed"
    assert by_id[cloud.image_id].state is ImageState.AVAILABLE
    for image in images:
        assert image.name, f"{image.id} has no name"
        assert image.min_disk_gb >= 0
    for image_id in dict.fromkeys([cloud.image_id, ids[0], ids[-1]]):
        assert await cloud.adapter.get_image(image_id) == by_id[image_id]


@pytest.mark.needs(Feature.IMAGES)
async def test_an_unknown_image_is_not_found(cloud: ContractCloud) -> None:
    with pytest.raises(CloudNotFound):
        await cloud.adapter.get_image(missing_like(cloud.image_id))
