"""The EC2 adapter's key pairs, security groups and elastic IPs against a real moto server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.base import (
    CloudNotFound,
    Instance,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    SecurityRule,
)
from adapters.ec2 import Ec2Adapter
from tests.contract.clouds.ec2 import fresh_adapter, launch_spec
from tests.contract.helpers import eventually
from tests.tokens import new_token

pytestmark = pytest.mark.integration


@pytest.fixture
async def ec2(request: pytest.FixtureRequest) -> AsyncIterator[Ec2Adapter]:
    adapter = await fresh_adapter(request.config)
    yield adapter
    await adapter.close()


def public_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


async def test_key_pairs(ec2: Ec2Adapter) -> None:
    created = await ec2.create_key_pair("deploy")
    assert created.private_key is not None
    assert serialization.load_pem_private_key(created.private_key.encode(), password=None) is not None
    with pytest.raises(InvalidCloudRequest):
        await ec2.create_key_pair("deploy")  # InvalidKeyPair.Duplicate

    imported = await ec2.import_key_pair("laptop", f"{public_key()} me@laptop\n")
    assert (imported.name, imported.private_key) == ("laptop", None)
    assert imported.fingerprint and imported.fingerprint != created.fingerprint
    with pytest.raises(InvalidCloudRequest):
        # (moto answers a 500 to material without a space, so the garbage here is of the usual shape)
        await ec2.import_key_pair("garbage", "ssh-rsa AAAAnot-a-key")  # InvalidKeyPair.Format

    listed = {k.name: k for k in await ec2.list_key_pairs()}
    assert set(listed) == {"deploy", "laptop"}
    assert listed["deploy"].fingerprint == created.fingerprint
    assert all(k.private_key is None for k in listed.values()), "a private key is shown only once"

    await ec2.delete_key_pair("deploy")
    assert [k.name for k in await ec2.list_key_pairs()] == ["laptop"]
    with pytest.raises(CloudNotFound):
        await ec2.delete_key_pair("deploy")  # EC2 itself would say nothing


SSH = SecurityRule("ingress", "tcp", 22, 22, "0.0.0.0/0")
PING = SecurityRule("ingress", "icmp", None, None, "10.0.0.0/8")
DNS_OUT = SecurityRule("egress", "udp", 53, 53, "10.0.0.2/32")
ALL_OUT = SecurityRule("egress", "all", None, None, "0.0.0.0/0")


async def test_security_group_rules_both_ways(ec2: Ec2Adapter) -> None:
    group = await ec2.create_security_group("web", "web servers")
    assert (group.name, group.description) == ("web", "web servers")
    assert group.rules == (ALL_OUT,), "EC2 gives a new VPC group one rule: all egress"
    assert group.extra["vpc_id"]
    with pytest.raises(InvalidCloudRequest):
        await ec2.create_security_group("web", "again")  # InvalidGroup.Duplicate

    assert SSH in (await ec2.authorize_security_rule(group.id, SSH)).rules
    assert PING in (await ec2.authorize_security_rule(group.id, PING)).rules
    assert DNS_OUT in (await ec2.authorize_security_rule(group.id, DNS_OUT)).rules
    with pytest.raises(InvalidCloudRequest):
        await ec2.authorize_security_rule(group.id, SSH)  # InvalidPermission.Duplicate

    listed = {g.id: g for g in await ec2.list_security_groups()}
    assert set(listed[group.id].rules) == {SSH, PING, DNS_OUT, ALL_OUT}
    assert "default" in {g.name for g in listed.values()}

    after = await ec2.revoke_security_rule(group.id, SSH)
    assert set(after.rules) == {PING, DNS_OUT, ALL_OUT}
    after = await ec2.revoke_security_rule(group.id, ALL_OUT)
    assert set(after.rules) == {PING, DNS_OUT}
    with pytest.raises(CloudNotFound):
        await ec2.revoke_security_rule(group.id, SSH)  # InvalidPermission.NotFound

    await ec2.delete_security_group(group.id)
    assert group.id not in {g.id for g in await ec2.list_security_groups()}
    with pytest.raises(CloudNotFound):
        await ec2.delete_security_group(group.id)
    with pytest.raises(CloudNotFound):
        await ec2.authorize_security_rule(group.id, SSH)


async def public_ips(ec2: Ec2Adapter, instance_id: str) -> tuple[str, ...]:
    found: list[Instance] = list(await ec2.get_instances([instance_id]))
    return found[0].public_ips


async def test_an_elastic_ip_shows_on_its_instance_until_released(ec2: Ec2Adapter) -> None:
    instance = await ec2.launch_instance(launch_spec(ec2))
    await eventually(
        lambda: ec2.get_instances([instance.id]), 10, until=lambda f: f[0].state is InstanceState.RUNNING, what="run"
    )
    address = await ec2.allocate_address(client_token=new_token())
    assert address.id.startswith("eipalloc-") and address.ip
    assert address.instance_id is None
    assert address.id in {a.id for a in await ec2.list_addresses()}
    with pytest.raises(InvalidCloudState):
        await ec2.disassociate_address(address.id)  # not associated yet

    associated = await ec2.associate_address(address.id, instance.id)
    assert (associated.instance_id, associated.ip) == (instance.id, address.ip)
    assert associated.extra["association_id"]
    # public_ips includes elastic IPs, on EC2 as on every cloud.
    await eventually(lambda: public_ips(ec2, instance.id), 10, until=lambda ips: address.ip in ips, what="eip shown")

    disassociated = await ec2.disassociate_address(address.id)
    assert disassociated.instance_id is None
    listed = {a.id: a for a in await ec2.list_addresses()}
    assert listed[address.id].instance_id is None
    await eventually(lambda: public_ips(ec2, instance.id), 10, until=lambda ips: address.ip not in ips, what="eip off")

    await ec2.release_address(address.id)
    assert address.id not in {a.id for a in await ec2.list_addresses()}
    assert address.ip not in {a.ip for a in await ec2.list_addresses()}
    with pytest.raises(CloudNotFound):
        await ec2.release_address(address.id)
    with pytest.raises(CloudNotFound):
        await ec2.associate_address(address.id, instance.id)
    with pytest.raises(CloudNotFound):
        await ec2.disassociate_address(address.id)
