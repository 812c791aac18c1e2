"""Instances: launch and what a launch carries, listing and paging, the lifecycle, unknown ids, console output."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from adapters.base import CloudAdapter, CloudNotFound, Feature, Instance, InstanceState, InvalidCloudState
from tests.contract.cloud import ContractCloud
from tests.contract.helpers import (
    Cleanup,
    all_instances,
    eventually,
    find_instance,
    launch,
    launch_spec,
    missing_like,
    running_instance,
    unique,
    wait_instance,
    wait_instance_gone,
)
from tests.tokens import new_token

S = InstanceState


def _assert_launched_as_asked(instance: Instance, cloud: ContractCloud, name: str) -> None:
    assert instance.id, "an instance without an id"
    assert instance.name == name
    assert instance.image_id == cloud.image_id
    assert instance.flavor_id == cloud.flavor_id
    assert instance.created_at.tzinfo is not None, "created_at must be timezone-aware"


@pytest.mark.needs(Feature.INSTANCES)
async def test_launch_reads_pending_or_running_then_running(cloud: ContractCloud, cleanup: Cleanup) -> None:
    spec = launch_spec(cloud)
    launched = await launch(cloud, cleanup, spec)
    assert launched.state in {S.PENDING, S.RUNNING}, f"a new instance reads {launched.state}"
    _assert_launched_as_asked(launched, cloud, spec.name)
    running = await wait_instance(cloud, launched.id, S.RUNNING)
    _assert_launched_as_asked(running, cloud, spec.name)
    assert running.created_at == launched.created_at
    listed = {i.id: i for i in await all_instances(cloud)}
    assert launched.id in listed, "list_instances does not show the launched instance"
    assert listed[launched.id].name == spec.name


@pytest.mark.needs(Feature.INSTANCES)
async def test_launch_carries_tags(cloud: ContractCloud, cleanup: Cleanup) -> None:
    tags = {"clanavi-contract": "yes", "team": "platform"}
    launched = await launch(cloud, cleanup, launch_spec(cloud, tags=tags))
    assert dict(launched.tags).items() >= tags.items(), f"launched with tags {tags}, answered {launched.tags}"
    running = await wait_instance(cloud, launched.id, S.RUNNING)
    assert dict(running.tags).items() >= tags.items(), f"launched with tags {tags}, reads {running.tags}"


@pytest.mark.needs(Feature.INSTANCES, Feature.IDEMPOTENT_LAUNCH)
async def test_the_same_client_token_launches_once(cloud: ContractCloud, cleanup: Cleanup) -> None:
    spec = launch_spec(cloud)
    first = await launch(cloud, cleanup, spec)
    again = await launch(cloud, cleanup, spec)
    assert again.id == first.id, "a launch retried with the same client token created a second instance"
    await wait_instance(cloud, first.id, S.RUNNING)
    third = await launch(cloud, cleanup, spec)
    assert third.id == first.id
    named = [i.id for i in await all_instances(cloud) if i.name == spec.name]
    assert named == [first.id], f"instances named {spec.name}: {named}"


@pytest.mark.needs(Feature.INSTANCES, Feature.KEY_PAIRS)
async def test_launch_with_a_key_pair_reads_it_back(cloud: ContractCloud, cleanup: Cleanup) -> None:
    key = await cloud.adapter.create_key_pair(unique("key"))
    cleanup.key_pair(key.name)
    launched = await launch(cloud, cleanup, launch_spec(cloud, key_name=key.name))
    assert launched.key_name == key.name
    assert (await wait_instance(cloud, launched.id, S.RUNNING)).key_name == key.name


@pytest.mark.needs(Feature.INSTANCES, Feature.SECURITY_GROUPS)
async def test_launch_in_a_security_group_reads_it_back(cloud: ContractCloud, cleanup: Cleanup) -> None:
    group = await cloud.adapter.create_security_group(unique("sg"), "contract: launch in a group")
    cleanup.security_group(group.id)
    launched = await launch(cloud, cleanup, launch_spec(cloud, security_group_ids=(group.id,)))
    assert group.id in launched.security_group_ids, f"answered groups {launched.security_group_ids}"
    running = await wait_instance(cloud, launched.id, S.RUNNING)
    assert group.id in running.security_group_ids, f"reads groups {running.security_group_ids}"


@pytest.mark.needs(Feature.INSTANCES, Feature.ZONES)
async def test_launch_in_a_zone_reads_it_back(cloud: ContractCloud, cleanup: Cleanup) -> None:
    zones = [z.id for z in await cloud.adapter.list_zones() if z.available]
    zone = cloud.zone or zones[-1]
    launched = await launch(cloud, cleanup, launch_spec(cloud, zone=zone))
    assert launched.zone == zone
    assert (await wait_instance(cloud, launched.id, S.RUNNING)).zone == zone


@pytest.mark.needs(Feature.INSTANCES, Feature.USER_DATA)
async def test_launch_with_user_data_boots(cloud: ContractCloud, cleanup: Cleanup) -> None:
    script = "#!/bin/sh\necho 'clanavi contract' > /tmp/contract\n"
    launched = await launch(cloud, cleanup, launch_spec(cloud, user_data=script))
    assert launched.state in {S.PENDING, S.RUNNING}
    await wait_instance(cloud, launched.id, S.RUNNING)


@pytest.mark.needs(Feature.INSTANCES)
async def test_list_instances_pages_one_by_one_without_repeats(cloud: ContractCloud, cleanup: Cleanup) -> None:
    launched = await asyncio.gather(*(launch(cloud, cleanup) for _ in range(3)))
    by_one = await all_instances(cloud, limit=1)  # asserts no page over the limit, no repeats, no looping cursor
    whole = await all_instances(cloud)
    assert {i.id for i in launched} <= {i.id for i in by_one}, "paging one by one missed a launched instance"
    assert sorted(i.id for i in by_one) == sorted(i.id for i in whole), "paging by one and by 100 disagree"


@pytest.mark.needs(Feature.INSTANCES)
async def test_get_instances_leaves_out_the_missing_ones(cloud: ContractCloud, cleanup: Cleanup) -> None:
    first, second = await asyncio.gather(launch(cloud, cleanup), launch(cloud, cleanup))
    missing = missing_like(first.id)
    found = await cloud.adapter.get_instances([first.id, missing, second.id])
    assert sorted(i.id for i in found) == sorted([first.id, second.id])
    assert list(await cloud.adapter.get_instances([])) == []
    assert list(await cloud.adapter.get_instances([missing])) == []


@pytest.mark.needs(Feature.INSTANCES, Feature.INSTANCE_START_STOP)
async def test_stop_then_start(cloud: ContractCloud, cleanup: Cleanup) -> None:
    instance = await running_instance(cloud, cleanup)
    stopping = await cloud.adapter.stop_instance(instance.id)
    assert stopping.id == instance.id
    assert stopping.state in {S.STOPPING, S.STOPPED}, f"stop answered {stopping.state}"
    await wait_instance(cloud, instance.id, S.STOPPED)
    listed = {i.id: i.state for i in await all_instances(cloud)}
    assert listed.get(instance.id) is S.STOPPED, (
        f"get_instances reads stopped, list_instances {listed.get(instance.id)}"
    )
    starting = await cloud.adapter.start_instance(instance.id)
    assert starting.state in {S.STARTING, S.PENDING, S.RUNNING}, f"start answered {starting.state}"
    await wait_instance(cloud, instance.id, S.RUNNING)


@pytest.mark.needs(Feature.INSTANCES, Feature.INSTANCE_REBOOT)
async def test_reboot_comes_back_running(cloud: ContractCloud, cleanup: Cleanup) -> None:
    instance = await running_instance(cloud, cleanup)
    rebooting = await cloud.adapter.reboot_instance(instance.id)
    assert rebooting.id == instance.id
    assert rebooting.state in {S.REBOOTING, S.RUNNING}, f"reboot answered {rebooting.state}"
    await wait_instance(cloud, instance.id, S.RUNNING)


@pytest.mark.needs(Feature.INSTANCES, Feature.INSTANCE_SUSPEND)
async def test_suspend_then_resume(cloud: ContractCloud, cleanup: Cleanup) -> None:
    instance = await running_instance(cloud, cleanup)
    suspended = await cloud.adapter.suspend_instance(instance.id)
    assert suspended.id == instance.id
    assert suspended.state in {S.SUSPENDED, S.STOPPING, S.RUNNING}, f"suspend answered {suspended.state}"
    await wait_instance(cloud, instance.id, S.SUSPENDED)
    resumed = await cloud.adapter.resume_instance(instance.id)
    assert resumed.state in {S.STARTING, S.PENDING, S.RUNNING}, f"resume answered {resumed.state}"
    await wait_instance(cloud, instance.id, S.RUNNING)


@pytest.mark.needs(Feature.INSTANCES)
async def test_terminate_reads_terminated_or_gone(cloud: ContractCloud, cleanup: Cleanup) -> None:
    instance = await running_instance(cloud, cleanup)
    terminating = await cloud.adapter.terminate_instance(instance.id)
    assert terminating.id == instance.id
    assert terminating.state in {S.TERMINATING, S.TERMINATED}, f"terminate answered {terminating.state}"
    await wait_instance_gone(cloud, instance.id)
    listed = {i.id: i.state for i in await all_instances(cloud)}
    assert listed.get(instance.id, S.TERMINATED) is S.TERMINATED, f"listed as {listed.get(instance.id)}"


@pytest.mark.needs(Feature.INSTANCES, Feature.INSTANCE_START_STOP)
async def test_a_terminated_instance_does_not_start_again(cloud: ContractCloud, cleanup: Cleanup) -> None:
    instance = await running_instance(cloud, cleanup)
    await cloud.adapter.terminate_instance(instance.id)
    await wait_instance_gone(cloud, instance.id)
    with pytest.raises((InvalidCloudState, CloudNotFound)):
        await cloud.adapter.start_instance(instance.id)
    after = await find_instance(cloud, instance.id)
    assert after is None or after.state is S.TERMINATED, f"a terminated instance came back as {after}"


@pytest.mark.needs(Feature.INSTANCES)
async def test_terminating_a_pending_instance_ends_it(cloud: ContractCloud, cleanup: Cleanup) -> None:
    launched = await launch(cloud, cleanup)
    await cloud.adapter.terminate_instance(launched.id)
    await wait_instance_gone(cloud, launched.id)
    instance = await find_instance(cloud, launched.id)
    assert instance is None or instance.state is S.TERMINATED, f"reads {instance}"


# Operations that name one instance, by the feature that brings them.
ON_ONE_INSTANCE: dict[Feature, tuple[Callable[[CloudAdapter, str], Awaitable[object]], ...]] = {
    Feature.INSTANCES: (lambda a, i: a.terminate_instance(i),),
    Feature.INSTANCE_START_STOP: (lambda a, i: a.start_instance(i), lambda a, i: a.stop_instance(i)),
    Feature.INSTANCE_REBOOT: (lambda a, i: a.reboot_instance(i),),
    Feature.INSTANCE_SUSPEND: (lambda a, i: a.suspend_instance(i), lambda a, i: a.resume_instance(i)),
    Feature.CONSOLE_OUTPUT: (lambda a, i: a.console_output(i),),
    Feature.IMAGE_CREATE: (lambda a, i: a.create_image(i, unique("img"), client_token=new_token()),),
    Feature.METRICS: (lambda a, i: a.get_metrics(i, datetime.now(UTC)),),
}


@pytest.mark.needs(Feature.INSTANCES)
@pytest.mark.each_feature(declared=True, among=tuple(ON_ONE_INSTANCE))
async def test_an_unknown_instance_is_not_found(cloud: ContractCloud, cleanup: Cleanup, feature: Feature) -> None:
    real = await launch(cloud, cleanup)  # an unknown id must look like a real one (clouds check the format)
    unknown = missing_like(real.id)
    for call in ON_ONE_INSTANCE[feature]:
        with pytest.raises(CloudNotFound):
            await call(cloud.adapter, unknown)
    assert await find_instance(cloud, unknown) is None


@pytest.mark.needs(Feature.INSTANCES, Feature.CONSOLE_OUTPUT)
async def test_console_output_of_a_running_instance(cloud: ContractCloud, cleanup: Cleanup) -> None:
    instance = await running_instance(cloud, cleanup)
    output = await eventually(
        lambda: cloud.adapter.console_output(instance.id),
        cloud.settle_seconds,
        until=lambda text: isinstance(text, str) and bool(text.strip()),
        what=f"console output from running instance {instance.id}",
    )
    assert isinstance(output, str)
