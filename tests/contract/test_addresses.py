"""Addresses (elastic or floating IPs): each step read back from the address list and from the instance itself."""

from __future__ import annotations

import ipaddress

import pytest

from adapters.base import Address, Feature
from tests.contract.cloud import ContractCloud
from tests.contract.helpers import (
    Cleanup,
    eventually,
    find_address,
    find_instance,
    running_instance,
    unique,
    wait_gone,
)
from tests.tokens import new_token


async def _address_reads(cloud: ContractCloud, address_id: str, instance_id: str | None) -> Address:
    found = await eventually(
        lambda: find_address(cloud, address_id),
        cloud.settle_seconds,
        until=lambda a: a is not None and a.instance_id == instance_id,
        what=f"address {address_id} associated with {instance_id}",
    )
    assert found is not None
    return found


async def _instance_has_ip(cloud: ContractCloud, instance_id: str, ip: str, present: bool) -> None:
    await eventually(
        lambda: find_instance(cloud, instance_id),
        cloud.settle_seconds,
        until=lambda i: i is not None and (ip in i.public_ips) == present,
        what=f"instance {instance_id} {'with' if present else 'without'} public ip {ip}",
    )


@pytest.mark.needs(Feature.INSTANCES, Feature.ADDRESSES)
async def test_allocate_associate_disassociate_release(cloud: ContractCloud, cleanup: Cleanup) -> None:
    instance = await running_instance(cloud, cleanup)

    address = await cloud.adapter.allocate_address(client_token=new_token())
    cleanup.address(address.id)
    assert address.id, "an address without an id"
    ipaddress.ip_address(address.ip)  # a real IP address, not a placeholder
    assert address.instance_id is None
    listed = await _address_reads(cloud, address.id, None)
    assert listed.ip == address.ip

    associated = await cloud.adapter.associate_address(address.id, instance.id)
    assert associated.instance_id == instance.id
    assert associated.ip == address.ip
    await _address_reads(cloud, address.id, instance.id)
    await _instance_has_ip(cloud, instance.id, address.ip, present=True)

    disassociated = await cloud.adapter.disassociate_address(address.id)
    assert disassociated.instance_id is None
    await _address_reads(cloud, address.id, None)
    await _instance_has_ip(cloud, instance.id, address.ip, present=False)

    await cloud.adapter.release_address(address.id)
    await wait_gone(lambda: find_address(cloud, address.id), cloud.settle_seconds, f"address {address.id}")
    assert address.ip not in {a.ip for a in await cloud.adapter.list_addresses()}


@pytest.mark.needs(Feature.ADDRESSES, Feature.IDEMPOTENT_CREATE)
async def test_the_same_client_token_allocates_one_address(cloud: ContractCloud, cleanup: Cleanup) -> None:
    token = unique("tok")
    first = await cloud.adapter.allocate_address(client_token=token)
    cleanup.address(first.id)
    again = await cloud.adapter.allocate_address(client_token=token)
    assert (again.id, again.ip) == (first.id, first.ip), "an allocation retried with its client token made another"

    other = await cloud.adapter.allocate_address(client_token=unique("tok"))
    cleanup.address(other.id)
    assert other.id != first.id and other.ip != first.ip
    held = [a.id for a in await cloud.adapter.list_addresses()]
    assert held.count(first.id) == 1 and other.id in held
