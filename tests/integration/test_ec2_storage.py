"""The EC2 adapter's volumes and snapshots against a real moto server, each state read back from EC2."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.base import (
    CloudNotFound,
    InstanceState,
    InvalidCloudState,
    SnapshotState,
    Volume,
    VolumeSpec,
    VolumeState,
)
from adapters.ec2 import Ec2Adapter
from tests.contract.clouds.ec2 import ZONE, fresh_adapter, launch_spec
from tests.contract.helpers import eventually
from tests.tokens import new_token

pytestmark = pytest.mark.integration

V = VolumeState


@pytest.fixture
async def ec2(request: pytest.FixtureRequest) -> AsyncIterator[Ec2Adapter]:
    adapter = await fresh_adapter(request.config)
    yield adapter
    await adapter.close()


async def volume_reads(ec2: Ec2Adapter, volume_id: str, state: VolumeState) -> Volume:
    async def probe() -> Volume | None:
        return next((v for v in await ec2.list_volumes() if v.id == volume_id), None)

    found = await eventually(probe, 10, until=lambda v: v is not None and v.state is state, what=f"{volume_id} {state}")
    assert found is not None
    return found


async def test_a_volume_attaches_detaches_and_is_deleted(ec2: Ec2Adapter) -> None:
    instance = await ec2.launch_instance(launch_spec(ec2, zone=ZONE))
    created = await ec2.create_volume(VolumeSpec(name="data", size_gb=5, zone=ZONE, client_token=new_token()))
    assert (created.name, created.size_gb, created.zone) == ("data", 5, ZONE)
    assert created.state in {V.CREATING, V.AVAILABLE}
    assert created.extra["volume_type"] == "gp3"
    await volume_reads(ec2, created.id, V.AVAILABLE)

    attaching = await ec2.attach_volume(created.id, instance.id)
    assert attaching.state in {V.ATTACHING, V.IN_USE}
    assert (attaching.instance_id, attaching.device) == (instance.id, "/dev/sdf")  # the first free device
    attached = await volume_reads(ec2, created.id, V.IN_USE)
    assert (attached.instance_id, attached.device) == (instance.id, "/dev/sdf")

    with pytest.raises(InvalidCloudState):
        await ec2.delete_volume(created.id)  # VolumeInUse

    second = await ec2.create_volume(VolumeSpec(name="logs", size_gb=1, zone=ZONE, client_token=new_token()))
    await volume_reads(ec2, second.id, V.AVAILABLE)
    assert (await ec2.attach_volume(second.id, instance.id)).device == "/dev/sdg"
    third = await ec2.create_volume(VolumeSpec(name="scratch", size_gb=1, zone=ZONE, client_token=new_token()))
    assert (await ec2.attach_volume(third.id, instance.id, device="/dev/sdz")).device == "/dev/sdz"

    detaching = await ec2.detach_volume(created.id)
    assert detaching.state in {V.DETACHING, V.AVAILABLE}
    detached = await volume_reads(ec2, created.id, V.AVAILABLE)
    assert (detached.instance_id, detached.device) == (None, None)
    with pytest.raises(InvalidCloudState):
        await ec2.detach_volume(created.id)  # not attached any more

    await ec2.delete_volume(created.id)
    await eventually(
        lambda: ec2.list_volumes(), 10, until=lambda vs: created.id not in {v.id for v in vs}, what="deleted"
    )
    with pytest.raises(CloudNotFound):
        await ec2.delete_volume(created.id)


async def test_a_volume_without_a_zone_goes_to_the_first_zone(ec2: Ec2Adapter) -> None:
    volume = await ec2.create_volume(VolumeSpec(name="anywhere", size_gb=1, client_token=new_token()))
    assert volume.zone == f"{ec2.config.region}a"


async def test_snapshots_and_volumes_made_from_them(ec2: Ec2Adapter) -> None:
    source = await ec2.create_volume(VolumeSpec(name="source", size_gb=3, zone=ZONE, client_token=new_token()))
    snapshot = await ec2.create_snapshot(source.id, "nightly", client_token=new_token())
    assert (snapshot.volume_id, snapshot.size_gb, snapshot.name) == (source.id, 3, "nightly")
    assert snapshot.state in {SnapshotState.PENDING, SnapshotState.AVAILABLE}
    assert snapshot.created_at.tzinfo is not None

    async def listed() -> dict[str, SnapshotState]:
        return {s.id: s.state for s in await ec2.list_snapshots()}

    await eventually(listed, 10, until=lambda s: s.get(snapshot.id) is SnapshotState.AVAILABLE, what="completed")

    restored = await ec2.create_volume(
        VolumeSpec(name="restored", size_gb=3, zone=ZONE, snapshot_id=snapshot.id, client_token=new_token())
    )
    assert (restored.snapshot_id, restored.size_gb) == (snapshot.id, 3)
    bigger = await ec2.create_volume(
        VolumeSpec(name="bigger", size_gb=10, zone=ZONE, snapshot_id=snapshot.id, client_token=new_token())
    )
    assert bigger.size_gb == 10
    with pytest.raises(CloudNotFound):
        await ec2.create_volume(
            VolumeSpec(name="x", size_gb=1, zone=ZONE, snapshot_id="snap-0123456789abcdef0", client_token=new_token())
        )

    await ec2.delete_snapshot(snapshot.id)
    await eventually(listed, 10, until=lambda s: snapshot.id not in s, what="snapshot deleted")
    with pytest.raises(CloudNotFound):
        await ec2.delete_snapshot(snapshot.id)
    assert source.id in {v.id for v in await ec2.list_volumes()}


async def test_unknown_volumes_and_instances_are_not_found(ec2: Ec2Adapter) -> None:
    volume = await ec2.create_volume(VolumeSpec(name="lonely", size_gb=1, zone=ZONE, client_token=new_token()))
    instance = await ec2.launch_instance(launch_spec(ec2, zone=ZONE))
    assert instance.state is InstanceState.PENDING
    with pytest.raises(CloudNotFound):
        await ec2.attach_volume("vol-0123456789abcdef0", instance.id)
    with pytest.raises(CloudNotFound):
        await ec2.attach_volume(volume.id, "i-0123456789abcdef0")
    with pytest.raises(CloudNotFound):
        await ec2.detach_volume("vol-0123456789abcdef0")
    with pytest.raises(CloudNotFound):
        await ec2.create_snapshot("vol-0123456789abcdef0", "nothing", client_token=new_token())
