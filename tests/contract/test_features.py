"""Declared features, both ways: every operation of a declared feature is implemented, and every operation of an
undeclared one is refused with `UnsupportedOperation` naming it, never silently done or half done."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from adapters.base import (
    FEATURE_OPERATIONS,
    AdapterBase,
    CloudAdapter,
    Feature,
    LaunchSpec,
    Operation,
    SecurityRule,
    UnsupportedOperation,
    VolumeSpec,
)
from tests.contract.cloud import ContractCloud
from tests.contract.helpers import Cleanup, all_instances, launch_spec, unique
from tests.tokens import new_token

# One call of each contract operation with harmless arguments: a refusing adapter must refuse before looking at them.
_RULE = SecurityRule("ingress", "tcp", 22, 22, "0.0.0.0/0")
_ID = "ct-nothing-0000"
CALLS: dict[Operation, Callable[[CloudAdapter], Awaitable[object]]] = {
    Operation.LIST_REGIONS: lambda a: a.list_regions(),
    Operation.LIST_ZONES: lambda a: a.list_zones(),
    Operation.LIST_FLAVORS: lambda a: a.list_flavors(),
    Operation.GET_FLAVOR: lambda a: a.get_flavor(_ID),
    Operation.LIST_IMAGES: lambda a: a.list_images(),
    Operation.GET_IMAGE: lambda a: a.get_image(_ID),
    Operation.CREATE_IMAGE: lambda a: a.create_image(_ID, unique("img"), client_token=new_token()),
    Operation.DEREGISTER_IMAGE: lambda a: a.deregister_image(_ID),
    Operation.LIST_INSTANCES: lambda a: a.list_instances(),
    Operation.GET_INSTANCES: lambda a: a.get_instances([_ID]),
    Operation.LAUNCH_INSTANCE: lambda a: a.launch_instance(LaunchSpec(unique("vm"), _ID, _ID, uuid.uuid4().hex)),
    Operation.TERMINATE_INSTANCE: lambda a: a.terminate_instance(_ID),
    Operation.START_INSTANCE: lambda a: a.start_instance(_ID),
    Operation.STOP_INSTANCE: lambda a: a.stop_instance(_ID),
    Operation.REBOOT_INSTANCE: lambda a: a.reboot_instance(_ID),
    Operation.SUSPEND_INSTANCE: lambda a: a.suspend_instance(_ID),
    Operation.RESUME_INSTANCE: lambda a: a.resume_instance(_ID),
    Operation.CONSOLE_OUTPUT: lambda a: a.console_output(_ID),
    Operation.LIST_KEY_PAIRS: lambda a: a.list_key_pairs(),
    Operation.CREATE_KEY_PAIR: lambda a: a.create_key_pair(unique("key")),
    Operation.IMPORT_KEY_PAIR: lambda a: a.import_key_pair(unique("key"), "ssh-ed25519 AAAA ct"),
    Operation.DELETE_KEY_PAIR: lambda a: a.delete_key_pair(_ID),
    Operation.LIST_SECURITY_GROUPS: lambda a: a.list_security_groups(),
    Operation.CREATE_SECURITY_GROUP: lambda a: a.create_security_group(unique("sg"), "contract"),
    Operation.DELETE_SECURITY_GROUP: lambda a: a.delete_security_group(_ID),
    Operation.AUTHORIZE_SECURITY_RULE: lambda a: a.authorize_security_rule(_ID, _RULE),
    Operation.REVOKE_SECURITY_RULE: lambda a: a.revoke_security_rule(_ID, _RULE),
    Operation.LIST_VOLUMES: lambda a: a.list_volumes(),
    Operation.CREATE_VOLUME: lambda a: a.create_volume(VolumeSpec(unique("vol"), 1, client_token=new_token())),
    Operation.DELETE_VOLUME: lambda a: a.delete_volume(_ID),
    Operation.ATTACH_VOLUME: lambda a: a.attach_volume(_ID, _ID),
    Operation.DETACH_VOLUME: lambda a: a.detach_volume(_ID),
    Operation.LIST_SNAPSHOTS: lambda a: a.list_snapshots(),
    Operation.CREATE_SNAPSHOT: lambda a: a.create_snapshot(_ID, unique("snap"), client_token=new_token()),
    Operation.DELETE_SNAPSHOT: lambda a: a.delete_snapshot(_ID),
    Operation.LIST_ADDRESSES: lambda a: a.list_addresses(),
    Operation.ALLOCATE_ADDRESS: lambda a: a.allocate_address(client_token=new_token()),
    Operation.ASSOCIATE_ADDRESS: lambda a: a.associate_address(_ID, _ID),
    Operation.DISASSOCIATE_ADDRESS: lambda a: a.disassociate_address(_ID),
    Operation.RELEASE_ADDRESS: lambda a: a.release_address(_ID),
    Operation.GET_METRICS: lambda a: a.get_metrics(_ID, datetime.now(UTC)),
    Operation.QUOTAS: lambda a: a.quotas(),
}

# A feature that builds on others is only usable with them.
PREREQUISITES: dict[Feature, frozenset[Feature]] = {
    Feature.IMAGE_CREATE: frozenset({Feature.IMAGES, Feature.INSTANCES}),
    Feature.IDEMPOTENT_LAUNCH: frozenset({Feature.INSTANCES}),
    Feature.USER_DATA: frozenset({Feature.INSTANCES}),
    Feature.INSTANCE_START_STOP: frozenset({Feature.INSTANCES}),
    Feature.INSTANCE_REBOOT: frozenset({Feature.INSTANCES}),
    Feature.INSTANCE_SUSPEND: frozenset({Feature.INSTANCES}),
    Feature.CONSOLE_OUTPUT: frozenset({Feature.INSTANCES}),
    Feature.KEY_PAIR_IMPORT: frozenset({Feature.KEY_PAIRS}),
    Feature.VOLUME_ATTACH: frozenset({Feature.VOLUMES, Feature.INSTANCES}),
    Feature.SNAPSHOTS: frozenset({Feature.VOLUMES}),
    Feature.VOLUME_FROM_SNAPSHOT: frozenset({Feature.VOLUMES, Feature.SNAPSHOTS}),
    Feature.METRICS: frozenset({Feature.INSTANCES}),
    Feature.QUOTAS: frozenset({Feature.INSTANCES, Feature.FLAVORS}),
}


def test_the_call_table_covers_every_contract_operation() -> None:
    methods = {name for name, member in vars(CloudAdapter).items() if inspect.iscoroutinefunction(member)}
    assert set(Operation) == methods - {"close"}
    assert {op for ops in FEATURE_OPERATIONS.values() for op in ops} == set(Operation)
    assert set(CALLS) == set(Operation)
    assert set(FEATURE_OPERATIONS) == set(Feature)


async def test_the_base_refuses_each_operation_by_its_name() -> None:
    for operation, call in CALLS.items():
        with pytest.raises(UnsupportedOperation) as refused:
            await call(AdapterBase())
        assert refused.value.operation == operation


@pytest.mark.each_feature(declared=True)
def test_declared_feature_operations_are_implemented(adapter_class: type[CloudAdapter], feature: Feature) -> None:
    inherited = [op for op in FEATURE_OPERATIONS[feature] if getattr(adapter_class, op) is getattr(AdapterBase, op)]
    assert not inherited, f"{adapter_class.__name__} declares {feature.value} but inherits the refusal of {inherited}"


def test_declared_features_are_coherent(adapter_class: type[CloudAdapter]) -> None:
    declared = adapter_class.features
    missing = {f.value: sorted(p - declared) for f, p in PREREQUISITES.items() if f in declared and not p <= declared}
    assert not missing, f"{adapter_class.__name__} declares features without what they build on: {missing}"


@pytest.mark.each_feature(declared=False)
async def test_undeclared_feature_operations_are_refused(cloud: ContractCloud, feature: Feature) -> None:
    for operation in FEATURE_OPERATIONS[feature]:
        with pytest.raises(UnsupportedOperation) as refused:
            await CALLS[operation](cloud.adapter)
        assert refused.value.operation == operation
        assert refused.value.driver == cloud.adapter.driver


@pytest.mark.needs(Feature.INSTANCES)
@pytest.mark.lacks(Feature.USER_DATA)
async def test_user_data_is_refused_where_not_supported(cloud: ContractCloud, cleanup: Cleanup) -> None:
    """Dropping a boot script silently would leave a machine that never configures itself."""
    spec = launch_spec(cloud, user_data="#!/bin/sh\necho contract\n")
    with pytest.raises(UnsupportedOperation):
        launched = await cloud.adapter.launch_instance(spec)
        cleanup.instance(launched.id)
    assert spec.name not in {i.name for i in await all_instances(cloud)}


@pytest.mark.needs(Feature.VOLUMES, Feature.SNAPSHOTS)
@pytest.mark.lacks(Feature.VOLUME_FROM_SNAPSHOT)
async def test_volume_from_snapshot_is_refused_where_not_supported(cloud: ContractCloud, cleanup: Cleanup) -> None:
    volume = await cloud.adapter.create_volume(VolumeSpec(unique("vol"), 1, zone=cloud.zone, client_token=new_token()))
    cleanup.volume(volume.id)
    snapshot = await cloud.adapter.create_snapshot(volume.id, unique("snap"), client_token=new_token())
    cleanup.snapshot(snapshot.id)
    name = unique("vol")
    with pytest.raises(UnsupportedOperation):
        created = await cloud.adapter.create_volume(
            VolumeSpec(name, 1, zone=cloud.zone, snapshot_id=snapshot.id, client_token=new_token())
        )
        cleanup.volume(created.id)
    assert name not in {v.name for v in await cloud.adapter.list_volumes()}
