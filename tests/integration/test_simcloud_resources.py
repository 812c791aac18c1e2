"""SimCloud's account resources on a real PostgreSQL, on a clock the test moves: key pairs, security groups,
volumes, snapshots and public addresses, each checked by reading the state back."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from adapters.base import (
    CloudNotFound,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    QuotaExceeded,
    SecurityRule,
    SnapshotState,
    VolumeSpec,
    VolumeState,
)
from adapters.simcloud import SimCloudAdapter
from adapters.simcloud.ip_pool import ADDRESSES
from kernel import db
from tests.integration.simcloud_harness import Make, SimClock, running, spec
from tests.tokens import new_token

pytestmark = pytest.mark.integration


async def state_of(cloud: SimCloudAdapter, instance_id: str) -> InstanceState:
    [seen] = await cloud.get_instances([instance_id])
    return seen.state


def public_key_line() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


SSH = SecurityRule("ingress", "tcp", 22, 22, "10.0.0.0/8")
WEB = SecurityRule("ingress", "tcp", 80, 443, "0.0.0.0/0")


# --- key pairs ---------------------------------------------------------------------------------------------------


async def test_a_created_key_pair_shows_its_private_key_once(make: Make, pool: db.Pool) -> None:
    cloud = make()

    created = await cloud.create_key_pair("deploy")

    assert created.private_key is not None and "OPENSSH PRIVATE KEY" in created.private_key
    private = serialization.load_ssh_private_key(created.private_key.encode(), password=None)
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    [listed] = await cloud.list_key_pairs()
    assert (listed.name, listed.fingerprint, listed.private_key) == ("deploy", created.fingerprint, None)
    assert listed.extra["public_key"] == public.decode()
    # SimCloud keeps no private key anywhere.
    stored = await pool.fetch("SELECT * FROM simcloud.key_pairs")
    assert public.decode() in {r["public_key"] for r in stored}
    assert not [r for r in stored if "PRIVATE" in " ".join(str(v) for v in r.values())]


async def test_an_imported_key_keeps_its_public_half(make: Make) -> None:
    cloud = make()
    line = public_key_line()

    imported = await cloud.import_key_pair("laptop", f"{line} me@laptop")

    assert imported.private_key is None
    assert imported.fingerprint.startswith("SHA256:")
    assert [(k.name, k.extra["public_key"]) for k in await cloud.list_key_pairs()] == [("laptop", f"{line} me@laptop")]


async def test_bad_keys_and_names_are_refused(make: Make) -> None:
    cloud = make()

    for bad in ("", "ssh-ed25519 AAAA", "hello", "ssh-dss AAAAB3NzaC1kc3M="):
        with pytest.raises(InvalidCloudRequest):
            await cloud.import_key_pair("k", bad)
    for name in ("", "x" * 256, "caf\u00e9", "new\nline"):
        with pytest.raises(InvalidCloudRequest):
            await cloud.create_key_pair(name)
    assert await cloud.list_key_pairs() == []


async def test_key_pair_names_are_unique_per_account(make: Make) -> None:
    cloud = make()
    other = make(f"other-{uuid.uuid4().hex[:8]}")
    await cloud.create_key_pair("ops")

    with pytest.raises(InvalidCloudRequest, match="already exists"):
        await cloud.create_key_pair("ops")
    with pytest.raises(InvalidCloudRequest, match="already exists"):
        await cloud.import_key_pair("ops", public_key_line())
    assert (await other.create_key_pair("ops")).name == "ops"
    assert [k.name for k in await other.list_key_pairs()] == ["ops"]


async def test_a_deleted_key_pair_is_gone(make: Make) -> None:
    cloud = make()
    await cloud.create_key_pair("a")
    await cloud.import_key_pair("b", public_key_line())

    await cloud.delete_key_pair("a")

    assert [k.name for k in await cloud.list_key_pairs()] == ["b"]
    with pytest.raises(CloudNotFound):
        await cloud.delete_key_pair("a")
    with pytest.raises(CloudNotFound, match="key pair a"):
        await cloud.launch_instance(spec(key_name="a"))


async def test_an_instance_carries_its_key_pair(make: Make, clock: SimClock) -> None:
    cloud = make()
    await cloud.create_key_pair("deploy")

    instance = await cloud.launch_instance(spec(key_name="deploy"))

    assert instance.key_name == "deploy"
    clock.advance(cloud.config.boot_seconds)
    assert "key pair 'deploy'" in await cloud.console_output(instance.id)


# --- security groups ---------------------------------------------------------------------------------------------


async def test_a_group_gets_rules_and_loses_them(make: Make) -> None:
    cloud = make()
    group = await cloud.create_security_group("web", "HTTP and SSH")
    assert (group.name, group.description, group.rules) == ("web", "HTTP and SSH", ())
    assert group.id.startswith("sg-")

    await cloud.authorize_security_rule(group.id, SSH)
    after = await cloud.authorize_security_rule(group.id, WEB)

    assert after.rules == (SSH, WEB)
    [listed] = await cloud.list_security_groups()
    assert listed.rules == (SSH, WEB)
    revoked = await cloud.revoke_security_rule(group.id, SSH)
    assert revoked.rules == (WEB,)
    with pytest.raises(CloudNotFound, match="no such rule"):
        await cloud.revoke_security_rule(group.id, SSH)


async def test_rules_are_checked_and_never_doubled(make: Make) -> None:
    cloud = make()
    group = await cloud.create_security_group("db", "")
    await cloud.authorize_security_rule(group.id, SSH)

    with pytest.raises(InvalidCloudRequest, match="already has"):
        await cloud.authorize_security_rule(group.id, SSH)
    bad_rules = [
        SecurityRule("ingress", "tcp", 22, 22, "10.0.0.0/33"),
        SecurityRule("ingress", "tcp", 22, 70000, "10.0.0.0/8"),
        SecurityRule("ingress", "tcp", 443, 80, "10.0.0.0/8"),
        SecurityRule("egress", "udp", -1, 53, "0.0.0.0/0"),
    ]
    for bad in bad_rules:
        with pytest.raises(InvalidCloudRequest):
            await cloud.authorize_security_rule(group.id, bad)
    # Rules that differ only in how the block is written are one rule.
    six = SecurityRule("ingress", "all", None, None, "2001:DB8::/32")
    await cloud.authorize_security_rule(group.id, six)
    with pytest.raises(InvalidCloudRequest, match="already has"):
        await cloud.authorize_security_rule(group.id, SecurityRule("ingress", "all", None, None, "2001:db8::/32"))
    icmp = SecurityRule("ingress", "icmp", None, None, "0.0.0.0/0")
    assert (await cloud.authorize_security_rule(group.id, icmp)).rules[-1] == icmp
    assert (await cloud.revoke_security_rule(group.id, six)).rules == (SSH, icmp)


async def test_group_names_are_unique_per_account_and_unknown_groups_not_found(make: Make) -> None:
    cloud = make()
    other = make(f"other-{uuid.uuid4().hex[:8]}")
    mine = await cloud.create_security_group("web", "")

    with pytest.raises(InvalidCloudRequest, match="already exists"):
        await cloud.create_security_group("web", "again")
    theirs = await other.create_security_group("web", "")
    assert theirs.id != mine.id
    for act in (
        other.delete_security_group(mine.id),
        other.authorize_security_rule(mine.id, SSH),
        other.revoke_security_rule(mine.id, SSH),
    ):
        with pytest.raises(CloudNotFound):
            await act
    with pytest.raises(CloudNotFound, match=mine.id):
        await other.launch_instance(spec(security_group_ids=(theirs.id, mine.id)))


async def test_a_group_in_use_cannot_be_deleted_until_its_instances_are_terminated(make: Make, clock: SimClock) -> None:
    cloud = make(terminate_seconds=5)
    group = await cloud.create_security_group("app", "")
    spare = await cloud.create_security_group("spare", "")
    instance = await cloud.launch_instance(spec(security_group_ids=(group.id, spare.id, group.id)))
    assert instance.security_group_ids == (group.id, spare.id)

    with pytest.raises(InvalidCloudState, match=instance.id):
        await cloud.delete_security_group(group.id)
    await cloud.terminate_instance(instance.id)
    with pytest.raises(InvalidCloudState, match="in use"):
        await cloud.delete_security_group(group.id)
    clock.advance(5)
    await cloud.delete_security_group(group.id)

    assert [g.name for g in await cloud.list_security_groups()] == ["spare"]
    with pytest.raises(CloudNotFound):
        await cloud.delete_security_group(group.id)


# --- volumes and snapshots ---------------------------------------------------------------------------------------


async def test_a_volume_is_creating_then_available_then_deleted(make: Make, clock: SimClock) -> None:
    cloud = make(volume_seconds=4)

    volume = await cloud.create_volume(VolumeSpec("data", 100, client_token=new_token()))

    assert (volume.state, volume.size_gb, volume.zone, volume.name) == (VolumeState.CREATING, 100, "sim-1a", "data")
    with pytest.raises(InvalidCloudState, match="creating"):
        await cloud.delete_volume(volume.id)
    clock.advance(4)
    [listed] = await cloud.list_volumes()
    assert (listed.id, listed.state, listed.instance_id) == (volume.id, VolumeState.AVAILABLE, None)
    await cloud.delete_volume(volume.id)
    assert await cloud.list_volumes() == []
    with pytest.raises(CloudNotFound):
        await cloud.delete_volume(volume.id)


async def test_volume_sizes_and_zones_are_checked(make: Make) -> None:
    cloud = make()

    for size in (0, -5, 16385):
        with pytest.raises(InvalidCloudRequest, match="1 to 16384 GB"):
            await cloud.create_volume(VolumeSpec("v", size, client_token=new_token()))
    with pytest.raises(InvalidCloudRequest, match="zone sim-9z"):
        await cloud.create_volume(VolumeSpec("v", 10, zone="sim-9z", client_token=new_token()))
    assert (await cloud.create_volume(VolumeSpec("v", 16384, zone="sim-1b", client_token=new_token()))).zone == "sim-1b"
    assert (await cloud.create_volume(VolumeSpec("v", 1, client_token=new_token()))).size_gb == 1


async def test_attach_gives_devices_in_order_and_detach_frees_them(make: Make, clock: SimClock) -> None:
    cloud = make(volume_seconds=0, attach_seconds=2)
    instance_id = await running(cloud, clock)
    first, second, third = [
        await cloud.create_volume(VolumeSpec(f"v{i}", 10, client_token=new_token())) for i in range(3)
    ]

    attaching = await cloud.attach_volume(first.id, instance_id)
    assert (attaching.state, attaching.instance_id, attaching.device) == (
        VolumeState.ATTACHING,
        instance_id,
        "/dev/vdb",
    )
    assert (await cloud.attach_volume(second.id, instance_id)).device == "/dev/vdc"
    clock.advance(2)
    states = {v.id: (v.state, v.device) for v in await cloud.list_volumes()}
    assert states[first.id] == (VolumeState.IN_USE, "/dev/vdb")
    assert states[second.id] == (VolumeState.IN_USE, "/dev/vdc")

    detaching = await cloud.detach_volume(first.id)
    assert detaching.state == VolumeState.DETACHING
    clock.advance(2)
    detached = {v.id: v for v in await cloud.list_volumes()}[first.id]
    assert (detached.state, detached.instance_id, detached.device) == (VolumeState.AVAILABLE, None, None)
    assert (await cloud.attach_volume(third.id, instance_id)).device == "/dev/vdb"


async def test_attach_with_a_chosen_device(make: Make, clock: SimClock) -> None:
    cloud = make(volume_seconds=0, attach_seconds=0)
    instance_id = await running(cloud, clock)
    a, b = [await cloud.create_volume(VolumeSpec(f"v{i}", 10, client_token=new_token())) for i in range(2)]

    assert (await cloud.attach_volume(a.id, instance_id, "/dev/vdf")).device == "/dev/vdf"
    with pytest.raises(InvalidCloudRequest, match="in use"):
        await cloud.attach_volume(b.id, instance_id, "/dev/vdf")
    with pytest.raises(InvalidCloudRequest, match="not a name like"):
        await cloud.attach_volume(b.id, instance_id, "/dev/vda")
    assert (await cloud.attach_volume(b.id, instance_id, "/dev/sdg")).state == VolumeState.IN_USE


async def test_attach_is_refused_when_states_or_zones_do_not_fit(make: Make, clock: SimClock) -> None:
    cloud = make(volume_seconds=5, attach_seconds=0, boot_seconds=3)
    booting = await cloud.launch_instance(spec())
    creating = await cloud.create_volume(VolumeSpec("v", 10, client_token=new_token()))

    with pytest.raises(InvalidCloudState, match="creating"):
        await cloud.attach_volume(creating.id, booting.id)
    clock.advance(5)
    elsewhere = await cloud.launch_instance(spec(zone="sim-1b"))
    clock.advance(3)
    with pytest.raises(InvalidCloudRequest, match="zone"):
        await cloud.attach_volume(creating.id, elsewhere.id)
    with pytest.raises(CloudNotFound):
        await cloud.attach_volume(creating.id, "sim-00000000000000000")
    with pytest.raises(CloudNotFound):
        await cloud.attach_volume("vol-0000000000000000", booting.id)
    await cloud.attach_volume(creating.id, booting.id)
    other_instance = await running(cloud, clock)
    with pytest.raises(InvalidCloudState, match="in-use"):
        await cloud.attach_volume(creating.id, other_instance)
    with pytest.raises(InvalidCloudState, match="in-use"):
        await cloud.delete_volume(creating.id)


async def test_attach_to_a_pending_or_suspended_instance_is_refused(make: Make, clock: SimClock) -> None:
    cloud = make(volume_seconds=0, boot_seconds=3)
    volume = await cloud.create_volume(VolumeSpec("v", 10, client_token=new_token()))
    booting = await cloud.launch_instance(spec())

    with pytest.raises(InvalidCloudState, match="pending"):
        await cloud.attach_volume(volume.id, booting.id)
    clock.advance(3)
    await cloud.suspend_instance(booting.id)
    with pytest.raises(InvalidCloudState, match="suspended"):
        await cloud.attach_volume(volume.id, booting.id)


async def test_asking_again_to_attach_or_detach_is_harmless(make: Make, clock: SimClock) -> None:
    cloud = make(volume_seconds=0, attach_seconds=1)
    instance_id = await running(cloud, clock)
    volume = await cloud.create_volume(VolumeSpec("v", 10, client_token=new_token()))

    first = await cloud.attach_volume(volume.id, instance_id)
    again = await cloud.attach_volume(volume.id, instance_id)
    assert again == first
    clock.advance(1)
    assert (await cloud.detach_volume(volume.id)).state == VolumeState.DETACHING
    assert (await cloud.detach_volume(volume.id)).state == VolumeState.DETACHING
    clock.advance(1)
    assert (await cloud.detach_volume(volume.id)).state == VolumeState.AVAILABLE


async def test_terminating_an_instance_detaches_its_volumes(make: Make, clock: SimClock) -> None:
    cloud = make(volume_seconds=0, attach_seconds=0, terminate_seconds=3)
    instance_id = await running(cloud, clock)
    volumes = [await cloud.create_volume(VolumeSpec(f"v{i}", 10, client_token=new_token())) for i in range(2)]
    for volume in volumes:
        await cloud.attach_volume(volume.id, instance_id)

    await cloud.terminate_instance(instance_id)

    assert {v.state for v in await cloud.list_volumes()} == {VolumeState.DETACHING}
    clock.advance(3)
    assert {(v.state, v.instance_id) for v in await cloud.list_volumes()} == {(VolumeState.AVAILABLE, None)}
    for volume in volumes:
        await cloud.delete_volume(volume.id)


async def test_a_snapshot_is_pending_then_available_and_makes_volumes(make: Make, clock: SimClock) -> None:
    cloud = make(volume_seconds=1, snapshot_seconds=10)
    volume = await cloud.create_volume(VolumeSpec("source", 50, client_token=new_token()))
    with pytest.raises(InvalidCloudState, match="creating"):
        await cloud.create_snapshot(volume.id, "too early", client_token=new_token())
    clock.advance(1)

    snapshot = await cloud.create_snapshot(volume.id, "nightly", client_token=new_token())

    assert (snapshot.state, snapshot.size_gb, snapshot.volume_id, snapshot.name) == (
        SnapshotState.PENDING,
        50,
        volume.id,
        "nightly",
    )
    with pytest.raises(InvalidCloudState, match="pending"):
        await cloud.create_volume(VolumeSpec("copy", 50, snapshot_id=snapshot.id, client_token=new_token()))
    with pytest.raises(InvalidCloudState, match="pending"):
        await cloud.delete_snapshot(snapshot.id)
    clock.advance(10)
    [listed] = await cloud.list_snapshots()
    assert (listed.id, listed.state) == (snapshot.id, SnapshotState.AVAILABLE)
    with pytest.raises(InvalidCloudRequest, match="at least 50 GB"):
        await cloud.create_volume(VolumeSpec("copy", 49, snapshot_id=snapshot.id, client_token=new_token()))
    copy = await cloud.create_volume(VolumeSpec("copy", 80, snapshot_id=snapshot.id, client_token=new_token()))
    assert (copy.snapshot_id, copy.size_gb, copy.state) == (snapshot.id, 80, VolumeState.CREATING)
    with pytest.raises(CloudNotFound):
        await cloud.create_volume(VolumeSpec("copy", 80, snapshot_id="snap-0000000000000000", client_token=new_token()))


async def test_an_attached_volume_can_be_snapshotted_and_a_snapshot_outlives_its_volume(
    make: Make, clock: SimClock
) -> None:
    cloud = make(volume_seconds=0, attach_seconds=0, snapshot_seconds=0)
    instance_id = await running(cloud, clock)
    volume = await cloud.create_volume(VolumeSpec("v", 10, client_token=new_token()))
    await cloud.attach_volume(volume.id, instance_id)
    snapshot = await cloud.create_snapshot(volume.id, "live", client_token=new_token())
    await cloud.detach_volume(volume.id)
    await cloud.delete_volume(volume.id)

    assert [(s.id, s.state) for s in await cloud.list_snapshots()] == [(snapshot.id, SnapshotState.AVAILABLE)]
    await cloud.delete_snapshot(snapshot.id)
    assert await cloud.list_snapshots() == []
    with pytest.raises(CloudNotFound):
        await cloud.delete_snapshot(snapshot.id)
    with pytest.raises(CloudNotFound):
        await cloud.create_snapshot(volume.id, "gone", client_token=new_token())


# --- addresses ---------------------------------------------------------------------------------------------------


async def test_an_address_is_allocated_associated_disassociated_and_released(make: Make, clock: SimClock) -> None:
    cloud = make()
    instance_id = await running(cloud, clock)

    address = await cloud.allocate_address(client_token=new_token())
    assert address.ip.startswith("203.0.113.") and address.instance_id is None

    associated = await cloud.associate_address(address.id, instance_id)
    assert associated.instance_id == instance_id
    [seen] = await cloud.get_instances([instance_id])
    assert seen.public_ips == (address.ip,)
    assert (await cloud.list_instances()).items[0].public_ips == (address.ip,)
    with pytest.raises(InvalidCloudState, match="disassociate it first"):
        await cloud.release_address(address.id)

    assert (await cloud.disassociate_address(address.id)).instance_id is None
    [seen] = await cloud.get_instances([instance_id])
    assert seen.public_ips == ()
    await cloud.release_address(address.id)
    assert await cloud.list_addresses() == []
    with pytest.raises(CloudNotFound):
        await cloud.release_address(address.id)


async def test_an_address_serves_one_instance_at_a_time(make: Make, clock: SimClock) -> None:
    cloud = make()
    first, second = await running(cloud, clock), await running(cloud, clock)
    address = await cloud.allocate_address(client_token=new_token())
    await cloud.associate_address(address.id, first)

    assert (await cloud.associate_address(address.id, first)).instance_id == first
    with pytest.raises(InvalidCloudState, match=f"associated with instance {first}"):
        await cloud.associate_address(address.id, second)
    with pytest.raises(CloudNotFound):
        await cloud.associate_address(address.id, "sim-00000000000000000")
    with pytest.raises(CloudNotFound):
        await cloud.associate_address("eip-0000000000000000", second)


async def test_terminating_an_instance_frees_its_addresses(make: Make, clock: SimClock) -> None:
    cloud = make(terminate_seconds=2)
    instance_id = await running(cloud, clock)
    address = await cloud.allocate_address(client_token=new_token())
    await cloud.associate_address(address.id, instance_id)

    terminating = await cloud.terminate_instance(instance_id)

    assert terminating.public_ips == ()
    assert [a.instance_id for a in await cloud.list_addresses()] == [None]
    with pytest.raises(InvalidCloudState, match="terminating"):
        await cloud.associate_address(address.id, instance_id)
    await cloud.release_address(address.id)


async def test_addresses_are_unique_in_an_account_until_the_ranges_run_out(make: Make) -> None:
    cloud = make()

    allocated = await asyncio.gather(*(cloud.allocate_address(client_token=new_token()) for _ in range(len(ADDRESSES))))

    assert len({a.ip for a in allocated}) == len(ADDRESSES)
    with pytest.raises(QuotaExceeded):
        await cloud.allocate_address(client_token=new_token())
    # Another account draws from the same ranges: addresses are unique per account, as documentation IPs go.
    assert (await make(f"other-{uuid.uuid4().hex[:8]}").allocate_address(client_token=new_token())).ip in ADDRESSES


# --- what survives ----------------------------------------------------------------------------------------------


async def test_resources_survive_a_new_adapter(make: Make, clock: SimClock) -> None:
    before = make(volume_seconds=0, attach_seconds=0)
    instance_id = await running(before, clock)
    await before.create_key_pair("kept")
    group = await before.authorize_security_rule((await before.create_security_group("kept", "")).id, SSH)
    volume = await before.attach_volume(
        (await before.create_volume(VolumeSpec("kept", 10, client_token=new_token()))).id, instance_id
    )
    address = await before.associate_address((await before.allocate_address(client_token=new_token())).id, instance_id)
    await before.close()

    after = make()

    assert [k.name for k in await after.list_key_pairs()] == ["kept"]
    assert await after.list_security_groups() == [group]
    assert [(v.id, v.state, v.instance_id) for v in await after.list_volumes()] == [
        (volume.id, VolumeState.IN_USE, instance_id)
    ]
    assert await after.list_addresses() == [address]
    assert await state_of(after, instance_id) == InstanceState.RUNNING
