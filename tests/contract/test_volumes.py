"""Volumes and snapshots: each state change read back from the cloud's lists."""

from __future__ import annotations

from dataclasses import replace

import pytest

from adapters.base import (
    Feature,
    InvalidCloudRequest,
    InvalidCloudState,
    Snapshot,
    SnapshotState,
    Volume,
    VolumeSpec,
    VolumeState,
)
from tests.contract.cloud import ContractCloud
from tests.contract.helpers import (
    Cleanup,
    eventually,
    find_snapshot,
    find_volume,
    running_instance,
    unique,
    wait_gone,
    wait_volume,
)
from tests.tokens import new_token

V = VolumeState


async def _available_volume(cloud: ContractCloud, cleanup: Cleanup, spec: VolumeSpec | None = None) -> Volume:
    spec = spec or VolumeSpec(name=unique("vol"), size_gb=1, zone=cloud.zone, client_token=new_token())
    volume = await cloud.adapter.create_volume(spec)
    cleanup.volume(volume.id)
    assert volume.id, "a volume without an id"
    assert volume.name == spec.name
    assert volume.size_gb == spec.size_gb or (spec.snapshot_id is not None and volume.size_gb >= spec.size_gb)
    assert volume.state in {V.CREATING, V.AVAILABLE}, f"a new volume reads {volume.state}"
    assert volume.created_at.tzinfo is not None, "created_at must be timezone-aware"
    available = await wait_volume(cloud, volume.id, V.AVAILABLE)
    assert available.instance_id is None
    return available


async def _volume_gone(cloud: ContractCloud, volume_id: str) -> None:
    await eventually(
        lambda: find_volume(cloud, volume_id),
        cloud.settle_seconds,
        until=lambda v: v is None or v.state is V.DELETED,
        what=f"volume {volume_id} deleted",
    )


async def _available_snapshot(cloud: ContractCloud, cleanup: Cleanup, volume: Volume) -> Snapshot:
    name = unique("snap")
    snapshot = await cloud.adapter.create_snapshot(volume.id, name, client_token=new_token())
    cleanup.snapshot(snapshot.id)
    assert snapshot.id, "a snapshot without an id"
    assert snapshot.volume_id == volume.id
    assert snapshot.state in {SnapshotState.PENDING, SnapshotState.AVAILABLE}, f"a new snapshot reads {snapshot.state}"
    ready = await eventually(
        lambda: find_snapshot(cloud, snapshot.id),
        cloud.settle_seconds,
        until=lambda s: s is not None and s.state is SnapshotState.AVAILABLE,
        what=f"snapshot {snapshot.id} available",
    )
    assert ready is not None
    assert ready.volume_id == volume.id
    assert ready.size_gb == volume.size_gb
    assert ready.name == name
    return ready


@pytest.mark.needs(Feature.VOLUMES)
async def test_volume_create_then_delete(cloud: ContractCloud, cleanup: Cleanup) -> None:
    volume = await _available_volume(cloud, cleanup)
    assert volume.size_gb == 1
    await cloud.adapter.delete_volume(volume.id)
    await _volume_gone(cloud, volume.id)


@pytest.mark.needs(Feature.VOLUMES, Feature.VOLUME_ATTACH)
async def test_attach_reads_in_use_and_detach_reads_available(cloud: ContractCloud, cleanup: Cleanup) -> None:
    instance = await running_instance(cloud, cleanup)
    volume = await _available_volume(cloud, cleanup)

    attaching = await cloud.adapter.attach_volume(volume.id, instance.id)
    assert attaching.id == volume.id
    assert attaching.state in {V.ATTACHING, V.IN_USE}, f"attach answered {attaching.state}"
    attached = await wait_volume(cloud, volume.id, V.IN_USE)
    assert attached.instance_id == instance.id
    assert attached.device, "an attached volume without a device name"

    with pytest.raises(InvalidCloudState):  # a volume in use is not deleted from under its instance
        await cloud.adapter.delete_volume(volume.id)
    still = await find_volume(cloud, volume.id)
    assert still is not None and still.state is V.IN_USE, f"after a refused delete the volume reads {still}"

    detaching = await cloud.adapter.detach_volume(volume.id)
    assert detaching.state in {V.DETACHING, V.AVAILABLE}, f"detach answered {detaching.state}"
    detached = await wait_volume(cloud, volume.id, V.AVAILABLE)
    assert detached.instance_id is None, f"a detached volume still names instance {detached.instance_id}"

    await cloud.adapter.delete_volume(volume.id)
    await _volume_gone(cloud, volume.id)


@pytest.mark.needs(Feature.SNAPSHOTS)
async def test_snapshot_create_then_delete(cloud: ContractCloud, cleanup: Cleanup) -> None:
    volume = await _available_volume(cloud, cleanup)
    snapshot = await _available_snapshot(cloud, cleanup, volume)
    assert (await wait_volume(cloud, volume.id, V.AVAILABLE)).id == volume.id  # the volume is untouched
    await cloud.adapter.delete_snapshot(snapshot.id)
    await wait_gone(lambda: find_snapshot(cloud, snapshot.id), cloud.settle_seconds, f"snapshot {snapshot.id}")
    assert await find_volume(cloud, volume.id) is not None, "deleting a snapshot removed its volume"


@pytest.mark.needs(Feature.SNAPSHOTS, Feature.VOLUME_FROM_SNAPSHOT)
async def test_volume_from_a_snapshot(cloud: ContractCloud, cleanup: Cleanup) -> None:
    source = await _available_volume(cloud, cleanup)
    snapshot = await _available_snapshot(cloud, cleanup, source)
    spec = VolumeSpec(
        name=unique("vol"), size_gb=snapshot.size_gb, zone=cloud.zone, snapshot_id=snapshot.id, client_token=new_token()
    )
    restored = await _available_volume(cloud, cleanup, spec)
    assert restored.id != source.id
    assert restored.snapshot_id == snapshot.id
    assert restored.size_gb >= snapshot.size_gb

    await cloud.adapter.delete_volume(restored.id)
    await _volume_gone(cloud, restored.id)
    await cloud.adapter.delete_snapshot(snapshot.id)
    await wait_gone(lambda: find_snapshot(cloud, snapshot.id), cloud.settle_seconds, f"snapshot {snapshot.id}")


@pytest.mark.needs(Feature.VOLUMES, Feature.IDEMPOTENT_CREATE)
async def test_the_same_client_token_creates_one_volume(cloud: ContractCloud, cleanup: Cleanup) -> None:
    spec = VolumeSpec(name=unique("vol"), size_gb=1, zone=cloud.zone, client_token=unique("tok"))
    first = await cloud.adapter.create_volume(spec)
    cleanup.volume(first.id)
    again = await cloud.adapter.create_volume(spec)
    assert again.id == first.id, "a create retried with the same client token made a second volume"
    await wait_volume(cloud, first.id, V.AVAILABLE)
    assert (await cloud.adapter.create_volume(spec)).id == first.id

    other = await cloud.adapter.create_volume(replace(spec, client_token=unique("tok")))
    cleanup.volume(other.id)
    assert other.id != first.id, "a create with a new client token answered an earlier volume"
    named = sorted(v.id for v in await cloud.adapter.list_volumes() if v.name == spec.name)
    assert named == sorted([first.id, other.id]), f"volumes named {spec.name}: {named}"

    with pytest.raises(InvalidCloudRequest):  # the token made a volume of another size
        await cloud.adapter.create_volume(replace(spec, size_gb=2))


@pytest.mark.needs(Feature.SNAPSHOTS, Feature.IDEMPOTENT_CREATE)
async def test_the_same_client_token_creates_one_snapshot(cloud: ContractCloud, cleanup: Cleanup) -> None:
    volume = await _available_volume(cloud, cleanup)
    name, token = unique("snap"), unique("tok")
    first = await cloud.adapter.create_snapshot(volume.id, name, client_token=token)
    cleanup.snapshot(first.id)
    again = await cloud.adapter.create_snapshot(volume.id, name, client_token=token)
    assert again.id == first.id, "a create retried with the same client token made a second snapshot"

    other = await cloud.adapter.create_snapshot(volume.id, name, client_token=unique("tok"))
    cleanup.snapshot(other.id)
    assert other.id != first.id, "a create with a new client token answered an earlier snapshot"
    mine = sorted(s.id for s in await cloud.adapter.list_snapshots() if s.volume_id == volume.id)
    assert mine == sorted([first.id, other.id]), f"snapshots of volume {volume.id}: {mine}"
