"""Cinder volumes, snapshots and Nova attachments; Neutron security groups, rules and floating IPs: each through
openstacksdk against the stand-in, read back from the cloud, with the cloud's refusals as the contract's errors."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence

import pytest

from adapters.base import (
    CloudNotFound,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    LaunchSpec,
    QuotaExceeded,
    SecurityRule,
    Snapshot,
    SnapshotState,
    VolumeSpec,
    VolumeState,
)
from adapters.openstack import OpenStackAdapter
from tests.contract.cloud import ContractCloud
from tests.contract.clouds.openstack import FLAVOR, SDK_WARNING_FILTERS, open_adapter, standin_for
from tests.contract.helpers import eventually, find_instance, find_volume, wait_instance, wait_volume
from tests.standins.openstack import OpenStackStandIn
from tests.standins.openstack.server import ZONE
from tests.tokens import new_token

pytestmark = [pytest.mark.filterwarnings(f) for f in SDK_WARNING_FILTERS]

V = VolumeState


@pytest.fixture
def standin(request: pytest.FixtureRequest) -> OpenStackStandIn:
    shared = standin_for(request.config)
    shared.reset()
    return shared


@pytest.fixture
async def adapter(standin: OpenStackStandIn) -> AsyncIterator[OpenStackAdapter]:
    opened = await open_adapter(standin)
    yield opened
    await opened.close()


def _cloud(adapter: OpenStackAdapter, standin: OpenStackStandIn) -> ContractCloud:
    return ContractCloud(adapter=adapter, image_id=standin.image_id, flavor_id=FLAVOR, settle_seconds=5.0, zone=ZONE)


async def _running(adapter: OpenStackAdapter, standin: OpenStackStandIn, **fields: object) -> str:
    spec = LaunchSpec(f"vm-{uuid.uuid4().hex[:8]}", standin.image_id, FLAVOR, uuid.uuid4().hex, **fields)  # type: ignore[arg-type]
    launched = await adapter.launch_instance(spec)
    await wait_instance(_cloud(adapter, standin), launched.id, InstanceState.RUNNING)
    return launched.id


async def test_volume_attach_detach_and_snapshot(standin: OpenStackStandIn, adapter: OpenStackAdapter) -> None:
    cloud = _cloud(adapter, standin)
    server_id = await _running(adapter, standin)
    volume = await adapter.create_volume(VolumeSpec("data", 2, zone=ZONE, client_token=new_token()))
    assert (volume.state, volume.size_gb, volume.zone) == (V.CREATING, 2, ZONE)
    await wait_volume(cloud, volume.id, V.AVAILABLE)
    standin.transition_seconds = 600  # held attaching until let go
    attaching = await adapter.attach_volume(volume.id, server_id)
    assert attaching.state is V.ATTACHING
    standin.transition_seconds = 0.2
    standin.complete_transitions()
    attached = await wait_volume(cloud, volume.id, V.IN_USE)
    assert (attached.instance_id, attached.device) == (server_id, "/dev/vdb")
    assert ("POST", f"/compute/v2.1/servers/{server_id}/os-volume_attachments") in standin.requests
    with pytest.raises(InvalidCloudState):  # Cinder: 400 "Volume status must be available..."
        await adapter.delete_volume(volume.id)
    with pytest.raises(InvalidCloudState):  # a snapshot of an in-use volume needs force, which we do not send
        await adapter.create_snapshot(volume.id, "busy", client_token=new_token())
    await adapter.detach_volume(volume.id)
    detached = await wait_volume(cloud, volume.id, V.AVAILABLE)
    assert detached.instance_id is None
    with pytest.raises(InvalidCloudState):
        await adapter.detach_volume(volume.id)

    snapshot = await adapter.create_snapshot(volume.id, "nightly", client_token=new_token())

    def all_available(found: Sequence[Snapshot]) -> bool:
        return bool(found) and all(s.state is SnapshotState.AVAILABLE for s in found)

    ready = await eventually(adapter.list_snapshots, 5.0, until=all_available, what="snapshot available")
    assert (ready[0].id, ready[0].volume_id, ready[0].size_gb, ready[0].name) == (snapshot.id, volume.id, 2, "nightly")
    with pytest.raises(InvalidCloudState):  # a volume with snapshots is not deleted
        await adapter.delete_volume(volume.id)
    restored = await adapter.create_volume(VolumeSpec("restored", 2, snapshot_id=snapshot.id, client_token=new_token()))
    assert (await wait_volume(cloud, restored.id, V.AVAILABLE)).snapshot_id == snapshot.id
    for volume_id in (restored.id,):
        await adapter.delete_volume(volume_id)
    await adapter.delete_snapshot(snapshot.id)
    await adapter.delete_volume(volume.id)
    assert await find_volume(cloud, volume.id) is None
    with pytest.raises(CloudNotFound):
        await adapter.delete_snapshot(snapshot.id)
    paths = {path for _method, path in standin.requests}
    assert any(p.startswith("/volume/v3/") and p.endswith("/volumes") for p in paths), paths


async def test_security_groups_are_neutrons_and_servers_name_them_by_id(
    standin: OpenStackStandIn, adapter: OpenStackAdapter
) -> None:
    ssh = SecurityRule("ingress", "tcp", 22, 22, "0.0.0.0/0")
    group = await adapter.create_security_group("web", "web servers")
    with_ssh = await adapter.authorize_security_rule(group.id, ssh)
    assert ssh in with_ssh.rules
    with pytest.raises(InvalidCloudRequest):  # Neutron: 409 SecurityGroupRuleExists
        await adapter.authorize_security_rule(group.id, ssh)
    stored = [r for r in standin.state.rules.values() if r["security_group_id"] == group.id]
    assert {(r["direction"], r["protocol"], r["port_range_min"], r["remote_ip_prefix"]) for r in stored} >= {
        ("ingress", "tcp", 22, "0.0.0.0/0")
    }
    server_id = await _running(adapter, standin, security_group_ids=(group.id,))
    instance = await find_instance(_cloud(adapter, standin), server_id)
    assert instance is not None and instance.security_group_ids == (group.id,)
    with pytest.raises(InvalidCloudState):  # Neutron: 409 SecurityGroupInUse
        await adapter.delete_security_group(group.id)
    await adapter.terminate_instance(server_id)
    without = await adapter.revoke_security_rule(group.id, ssh)
    assert ssh not in without.rules
    with pytest.raises(CloudNotFound):
        await adapter.revoke_security_rule(group.id, ssh)
    await adapter.delete_security_group(group.id)
    assert group.id not in {g.id for g in await adapter.list_security_groups()}
    assert ("DELETE", f"/network/v2.0/security-groups/{group.id}") in standin.requests


async def test_a_floating_ip_shows_as_the_servers_public_ip(
    standin: OpenStackStandIn, adapter: OpenStackAdapter
) -> None:
    cloud = _cloud(adapter, standin)
    server_id = await _running(adapter, standin)
    address = await adapter.allocate_address(client_token=new_token())
    assert address.ip.startswith("172.24.4.") and address.instance_id is None
    associated = await adapter.associate_address(address.id, server_id)
    assert associated.instance_id == server_id
    instance = await find_instance(cloud, server_id)
    assert instance is not None and address.ip in instance.public_ips
    assert instance.private_ips and address.ip not in instance.private_ips
    listed = {a.id: a for a in await adapter.list_addresses()}
    assert listed[address.id].instance_id == server_id
    assert ("PUT", f"/network/v2.0/floatingips/{address.id}") in standin.requests
    with pytest.raises(CloudNotFound):
        await adapter.associate_address(address.id, str(uuid.uuid4()))
    assert (await adapter.disassociate_address(address.id)).instance_id is None
    instance = await find_instance(cloud, server_id)
    assert instance is not None and instance.public_ips == ()
    await adapter.release_address(address.id)
    assert await adapter.list_addresses() == []
    with pytest.raises(CloudNotFound):
        await adapter.release_address(address.id)


async def test_the_default_group_shows_only_what_it_lets_in_from_addresses(
    standin: OpenStackStandIn, adapter: OpenStackAdapter
) -> None:
    (default,) = [g for g in await adapter.list_security_groups() if g.name == "default"]
    # Neutron lets the group's own members in: no address range says that, so no contract rule does.
    assert set(default.rules) == {
        SecurityRule("egress", "all", None, None, "0.0.0.0/0"),
        SecurityRule("egress", "all", None, None, "::/0"),
    }
    assert default.extra["unmapped_rules"] == 2
    assert {(r["ethertype"], r["remote_group_id"]) for r in default.extra["native_rules"]} == {
        ("IPv4", default.id),
        ("IPv6", default.id),
    }
    with pytest.raises(CloudNotFound):  # "ingress, all, 0.0.0.0/0" is not what the group rules say
        await adapter.revoke_security_rule(default.id, SecurityRule("ingress", "all", None, None, "0.0.0.0/0"))


async def test_neutron_and_cinder_quotas_are_quota_errors(standin: OpenStackStandIn, adapter: OpenStackAdapter) -> None:
    standin.quotas.security_group = 1  # the default group is one
    with pytest.raises(QuotaExceeded):  # Neutron: 409 OverQuota
        await adapter.create_security_group("one-too-many", "")
    standin.quotas.floatingip = 0
    with pytest.raises(QuotaExceeded):
        await adapter.allocate_address(client_token=new_token())
    standin.quotas.volumes = 1
    volume = await adapter.create_volume(VolumeSpec("first", 1, client_token=new_token()))
    with pytest.raises(QuotaExceeded):  # Cinder: 413 overLimit, "Retry-After: 0"
        await adapter.create_volume(VolumeSpec("second", 1, client_token=new_token()))
    await wait_volume(_cloud(adapter, standin), volume.id, V.AVAILABLE)
    standin.quotas.snapshots = 0
    with pytest.raises(QuotaExceeded) as refused:
        await adapter.create_snapshot(volume.id, "snap", client_token=new_token())
    assert not hasattr(refused.value, "retry_after"), "a quota is not a throttle to wait out"
