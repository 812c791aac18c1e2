"""SimCloud on a real PostgreSQL: catalogue, launches, lifecycle, accounts apart, state kept across restarts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError

import adapters.simcloud
from adapters import registry
from adapters.base import (
    CloudAdapter,
    CloudNotFound,
    Feature,
    Instance,
    InstanceState,
    InvalidCloudRequest,
    InvalidCloudState,
    LaunchSpec,
)
from adapters.registry import AdapterContext
from adapters.simcloud import SimCloudAdapter
from kernel import db
from kernel.migrations import migrate
from tests.conftest import make_pool

pytestmark = pytest.mark.integration

FAST: dict[str, Any] = {
    "boot_seconds": 0.2,
    "stop_seconds": 0.2,
    "start_seconds": 0.2,
    "reboot_seconds": 0.2,
    "terminate_seconds": 0.2,
}
# Long enough that a transition is certainly still under way when the test looks right after asking.
SLOW: dict[str, Any] = dict.fromkeys(FAST, 60)
DEADLINE = 10.0

Connect = Callable[..., Awaitable[SimCloudAdapter]]


@pytest.fixture
def account() -> str:
    return f"acct-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def connect(pool: db.Pool, account: str) -> Connect:
    async def connect(name: str | None = None, config: dict[str, Any] | None = None) -> SimCloudAdapter:
        return await adapters.simcloud.SimCloudAdapter.connect(
            name or account, FAST if config is None else config, AdapterContext(pool=pool)
        )

    return connect


@pytest.fixture
async def cloud(connect: Connect) -> SimCloudAdapter:
    return await connect()


def spec(token: str | None = None, *, image: str = "img-debian-12", flavor: str = "sim.small") -> LaunchSpec:
    return LaunchSpec(
        name="web-1",
        image_id=image,
        flavor_id=flavor,
        client_token=token or uuid.uuid4().hex,
        user_data="#!/bin/sh\necho hi",
        tags={"team": "blue"},
    )


async def state_of(cloud: CloudAdapter, instance_id: str) -> InstanceState:
    found = await cloud.get_instances([instance_id])
    assert [i.id for i in found] == [instance_id]
    return found[0].state


async def wait_for_state(cloud: CloudAdapter, instance_id: str, wanted: InstanceState) -> Instance:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while True:
        found = await cloud.get_instances([instance_id])
        if found and found[0].state == wanted:
            return found[0]
        if loop.time() > deadline:
            pytest.fail(f"instance {instance_id} never reached {wanted}; last seen {found}")
        await asyncio.sleep(0.05)


async def test_the_registry_connects_a_simcloud_adapter(pool: db.Pool, account: str) -> None:
    adapter = await registry.connect("simcloud", account, FAST, AdapterContext(pool=pool))

    assert isinstance(adapter, CloudAdapter)
    assert adapter.driver == "simcloud"
    assert Feature.IDEMPOTENT_LAUNCH in adapter.features
    await adapter.close()


async def test_images_and_flavors_are_listed(cloud: SimCloudAdapter) -> None:
    images = await cloud.list_images()
    flavors = await cloud.list_flavors()

    assert {i.id for i in images} >= {"img-ubuntu-2404", "img-debian-12", "img-rocky-9", "img-windows-2022"}
    windows = await cloud.get_image("img-windows-2022")
    assert (windows.os, windows.min_disk_gb) == ("windows", 30)
    assert [f.id for f in flavors][:2] == ["sim.nano", "sim.small"]
    small = await cloud.get_flavor("sim.small")
    assert (small.vcpus, small.ram_mb, small.disk_gb) == (1, 2048, 20)
    assert small.extra["hourly_price"] == pytest.approx(0.02)


async def test_unknown_image_or_flavor_is_not_found(cloud: SimCloudAdapter) -> None:
    with pytest.raises(CloudNotFound):
        await cloud.get_image("img-nope")
    with pytest.raises(CloudNotFound):
        await cloud.get_flavor("sim.gigantic")
    with pytest.raises(CloudNotFound, match="img-nope"):
        await cloud.launch_instance(spec(image="img-nope"))
    with pytest.raises(CloudNotFound, match="sim.gigantic"):
        await cloud.launch_instance(spec(flavor="sim.gigantic"))


async def test_launch_is_pending_then_running_after_boot_time(cloud: SimCloudAdapter) -> None:
    launched = await cloud.launch_instance(spec())

    assert launched.state == InstanceState.PENDING
    assert launched.id.startswith("sim-")
    assert launched.name == "web-1"
    assert (launched.image_id, launched.flavor_id) == ("img-debian-12", "sim.small")
    assert len(launched.private_ips) == 1 and launched.private_ips[0].startswith("10.")
    assert launched.created_at.tzinfo is not None

    running = await wait_for_state(cloud, launched.id, InstanceState.RUNNING)

    assert running.private_ips == launched.private_ips
    assert running.created_at == launched.created_at


async def test_the_instance_carries_its_tags(cloud: SimCloudAdapter) -> None:
    # `Instance.tags` is the contract's place for them, on every cloud alike.
    launched = await cloud.launch_instance(spec())

    assert launched.tags == {"team": "blue"}
    [seen] = await cloud.get_instances([launched.id])
    assert seen.tags == {"team": "blue"}


async def test_list_instances_pages_through_the_accounts_instances(connect: Connect) -> None:
    cloud = await connect()
    other = await connect(f"other-{uuid.uuid4().hex[:8]}")
    mine = {(await cloud.launch_instance(spec())).id for _ in range(5)}
    await other.launch_instance(spec())

    pages = []
    cursor: str | None = None
    while True:
        page = await cloud.list_instances(cursor=cursor, limit=2)
        pages.append([i.id for i in page.items])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert [len(p) for p in pages] == [2, 2, 1]
    listed = [i for p in pages for i in p]
    assert listed == sorted(mine)
    whole = await cloud.list_instances()
    assert [i.id for i in whole.items] == sorted(mine)
    assert whole.next_cursor is None


async def test_list_instances_of_an_empty_account(cloud: SimCloudAdapter) -> None:
    page = await cloud.list_instances(limit=10)

    assert list(page.items) == []
    assert page.next_cursor is None


async def test_the_same_client_token_launches_once(cloud: SimCloudAdapter, pool: db.Pool) -> None:
    token = uuid.uuid4().hex

    first = await cloud.launch_instance(spec(token))
    second = await cloud.launch_instance(spec(token))
    other = await cloud.launch_instance(spec())

    assert second.id == first.id
    assert other.id != first.id
    count = await pool.fetchval("SELECT count(*) FROM simcloud.instances WHERE client_token = $1", token)
    assert count == 1


async def test_concurrent_launches_with_one_token_make_one_instance(cloud: SimCloudAdapter) -> None:
    token = uuid.uuid4().hex

    results = await asyncio.gather(*(cloud.launch_instance(spec(token)) for _ in range(8)))

    assert len({r.id for r in results}) == 1


async def test_stop_start_reboot_terminate_reach_their_states(cloud: SimCloudAdapter) -> None:
    instance = await cloud.launch_instance(spec())
    await wait_for_state(cloud, instance.id, InstanceState.RUNNING)

    assert (await cloud.stop_instance(instance.id)).state == InstanceState.STOPPING
    await wait_for_state(cloud, instance.id, InstanceState.STOPPED)

    assert (await cloud.start_instance(instance.id)).state == InstanceState.STARTING
    await wait_for_state(cloud, instance.id, InstanceState.RUNNING)

    assert (await cloud.reboot_instance(instance.id)).state == InstanceState.REBOOTING
    await wait_for_state(cloud, instance.id, InstanceState.RUNNING)

    assert (await cloud.terminate_instance(instance.id)).state == InstanceState.TERMINATING
    await wait_for_state(cloud, instance.id, InstanceState.TERMINATED)

    # Terminating again is harmless; anything else is refused.
    assert (await cloud.terminate_instance(instance.id)).state == InstanceState.TERMINATED
    with pytest.raises(InvalidCloudState):
        await cloud.start_instance(instance.id)


async def test_invalid_transitions_are_refused_and_change_nothing(connect: Connect) -> None:
    cloud = await connect(config=SLOW)
    instance = await cloud.launch_instance(spec())

    for act in (cloud.stop_instance, cloud.start_instance, cloud.reboot_instance):
        with pytest.raises(InvalidCloudState, match="pending"):
            await act(instance.id)

    assert await state_of(cloud, instance.id) == InstanceState.PENDING


async def test_repeated_actions_are_idempotent(connect: Connect) -> None:
    cloud = await connect(config={**SLOW, "boot_seconds": 0})
    instance = await cloud.launch_instance(spec())
    assert await state_of(cloud, instance.id) == InstanceState.RUNNING

    first = await cloud.stop_instance(instance.id)
    second = await cloud.stop_instance(instance.id)

    assert first.state == second.state == InstanceState.STOPPING
    terminating = await cloud.terminate_instance(instance.id)
    assert terminating.state == InstanceState.TERMINATING
    assert (await cloud.terminate_instance(instance.id)).state == InstanceState.TERMINATING


async def test_terminate_during_boot(connect: Connect) -> None:
    slow_boot = await connect(config={**FAST, "boot_seconds": 60})
    instance = await slow_boot.launch_instance(spec())

    assert (await slow_boot.terminate_instance(instance.id)).state == InstanceState.TERMINATING
    await wait_for_state(slow_boot, instance.id, InstanceState.TERMINATED)


async def test_unknown_instance_is_not_found(cloud: SimCloudAdapter) -> None:
    assert await cloud.get_instances(["sim-does-not-exist"]) == []
    assert await cloud.get_instances([]) == []
    for act in (cloud.start_instance, cloud.stop_instance, cloud.reboot_instance, cloud.terminate_instance):
        with pytest.raises(CloudNotFound):
            await act("sim-does-not-exist")


async def test_get_instances_returns_only_the_ones_that_exist(cloud: SimCloudAdapter) -> None:
    a = await cloud.launch_instance(spec())
    b = await cloud.launch_instance(spec())

    found = await cloud.get_instances([a.id, "sim-missing", b.id])

    assert {i.id for i in found} == {a.id, b.id}


async def test_accounts_do_not_see_each_others_instances(connect: Connect) -> None:
    alice = await connect()
    bob = await connect(f"other-{uuid.uuid4().hex[:8]}")
    token = uuid.uuid4().hex

    mine = await alice.launch_instance(spec(token))
    # The same client token in another account is another instance.
    theirs = await bob.launch_instance(spec(token))

    assert theirs.id != mine.id
    assert await bob.get_instances([mine.id]) == []
    assert [i.id for i in await alice.get_instances([mine.id, theirs.id])] == [mine.id]
    for act in (bob.start_instance, bob.stop_instance, bob.reboot_instance, bob.terminate_instance):
        with pytest.raises(CloudNotFound):
            await act(mine.id)
    assert await state_of(alice, mine.id) == InstanceState.PENDING


async def test_state_survives_a_new_adapter(connect: Connect) -> None:
    before = await connect()
    instance = await before.launch_instance(spec())
    await wait_for_state(before, instance.id, InstanceState.RUNNING)
    await before.stop_instance(instance.id)
    await before.close()

    after = await connect()

    # The stop under way completes for the new adapter, which can act on the instance.
    await wait_for_state(after, instance.id, InstanceState.STOPPED)
    assert (await after.start_instance(instance.id)).state == InstanceState.STARTING
    await wait_for_state(after, instance.id, InstanceState.RUNNING)


async def test_a_relaunch_after_restart_returns_the_same_instance(connect: Connect) -> None:
    token = uuid.uuid4().hex
    first = await (await connect()).launch_instance(spec(token))

    second = await (await connect()).launch_instance(spec(token))

    assert second.id == first.id


async def test_migrating_again_changes_nothing(simcloud_url: str, cloud: SimCloudAdapter) -> None:
    instance = await cloud.launch_instance(spec())

    await asyncio.to_thread(
        migrate, simcloud_url, schema=adapters.simcloud.SCHEMA, location=adapters.simcloud.MIGRATIONS
    )

    assert len(await cloud.list_images()) == 4
    assert len(await cloud.list_flavors()) == 5
    assert [i.id for i in await cloud.get_instances([instance.id])] == [instance.id]


async def test_an_instance_lands_in_the_zone_asked_for_or_the_first(connect: Connect) -> None:
    cloud = await connect(config={**FAST, "zones": ["sim-1c", "sim-1d"]})

    default = await cloud.launch_instance(spec())
    chosen = await cloud.launch_instance(replace(spec(), zone="sim-1d"))

    assert (default.zone, chosen.zone) == ("sim-1c", "sim-1d")
    with pytest.raises(InvalidCloudRequest, match="zone sim-1a is not one of sim-1c, sim-1d"):
        await cloud.launch_instance(replace(spec(), zone="sim-1a"))


async def test_malformed_launches_are_refused(cloud: SimCloudAdapter) -> None:
    bad = [
        replace(spec(), name=""),
        replace(spec(), client_token=""),
        replace(spec(), client_token="t" * 65),
        replace(spec(), user_data="x" * (16 * 1024 + 1)),
        replace(spec(), tags={f"k{i}": "v" for i in range(51)}),
        replace(spec(), tags={"": "empty key"}),
        replace(spec(), tags={"simcloud:load": "steady:-3"}),
    ]
    for launch in bad:
        with pytest.raises(InvalidCloudRequest):
            await cloud.launch_instance(launch)

    assert (await cloud.list_instances()).items == []


async def test_suspend_and_resume(cloud: SimCloudAdapter) -> None:
    instance = await cloud.launch_instance(spec())
    await wait_for_state(cloud, instance.id, InstanceState.RUNNING)

    assert (await cloud.suspend_instance(instance.id)).state == InstanceState.SUSPENDED
    assert (await cloud.suspend_instance(instance.id)).state == InstanceState.SUSPENDED
    with pytest.raises(InvalidCloudState, match="suspended"):
        await cloud.stop_instance(instance.id)
    assert (await cloud.resume_instance(instance.id)).state == InstanceState.RUNNING
    assert await state_of(cloud, instance.id) == InstanceState.RUNNING
    with pytest.raises(CloudNotFound):
        await cloud.suspend_instance("sim-does-not-exist")


async def test_the_cursor_is_opaque_and_checked(cloud: SimCloudAdapter) -> None:
    ids = sorted([(await cloud.launch_instance(spec())).id for _ in range(3)])

    page = await cloud.list_instances(limit=1)

    assert page.next_cursor is not None and ids[0] not in page.next_cursor
    assert [i.id for i in (await cloud.list_instances(cursor=page.next_cursor, limit=5)).items] == ids[1:]
    for cursor in ("", "not-a-cursor", "eyJ4IjogMX0=", ids[0]):
        with pytest.raises(InvalidCloudRequest, match="cursor"):
            await cloud.list_instances(cursor=cursor)
    for limit in (0, 1001):
        with pytest.raises(InvalidCloudRequest, match="limit"):
            await cloud.list_instances(limit=limit)


async def test_a_retried_launch_does_not_validate_again(connect: Connect) -> None:
    # The first launch was accepted: its retry answers the same instance even if what it named is gone since.
    cloud = await connect()
    group = await cloud.create_security_group("short-lived", "")
    token = uuid.uuid4().hex
    first = await cloud.launch_instance(replace(spec(token), security_group_ids=(group.id,)))
    await cloud.terminate_instance(first.id)
    await wait_for_state(cloud, first.id, InstanceState.TERMINATED)
    await cloud.delete_security_group(group.id)

    again = await cloud.launch_instance(replace(spec(token), security_group_ids=(group.id,)))

    assert (again.id, again.state) == (first.id, InstanceState.TERMINATED)


async def test_a_bad_account_setting_is_refused_when_connecting(pool: db.Pool, account: str) -> None:
    with pytest.raises(ValidationError):
        await adapters.simcloud.SimCloudAdapter.connect(account, {"boot_secnds": 1}, AdapterContext(pool=pool))
    with pytest.raises(ValidationError):
        await adapters.simcloud.SimCloudAdapter.connect(account, {"launch_failure_rate": 2}, AdapterContext(pool=pool))


async def test_instances_from_before_the_whole_contract_migration_live_on(database_url: str) -> None:
    await asyncio.to_thread(
        migrate, database_url, schema=adapters.simcloud.SCHEMA, location=adapters.simcloud.MIGRATIONS, revision="0001"
    )
    old = await make_pool(database_url, adapters.simcloud.SCHEMA)
    try:
        await old.execute(
            """INSERT INTO simcloud.instances (account_id, id, client_token, name, image_id, flavor_id, state,
                   created_at, private_ip, user_data)
               VALUES ('acct-old', 'sim-0000000000000old', 'tok', 'legacy', 'img-debian-12', 'sim.small', 'running',
                   now() - interval '5 minutes', '10.0.0.5', '#!/bin/sh\necho legacy')"""
        )
        await old.execute(
            """INSERT INTO simcloud.instances (account_id, id, client_token, name, image_id, flavor_id, state,
                   created_at, private_ip)
               VALUES ('acct-old', 'sim-000000000stopped', 'tok2', 'idle', 'img-debian-12', 'sim.small', 'stopped',
                   now() - interval '5 minutes', '10.0.0.6')"""
        )
    finally:
        await old.close()

    await asyncio.to_thread(
        migrate, database_url, schema=adapters.simcloud.SCHEMA, location=adapters.simcloud.MIGRATIONS
    )

    pool = await make_pool(database_url, adapters.simcloud.SCHEMA)
    try:
        cloud = await adapters.simcloud.SimCloudAdapter.connect("acct-old", FAST, AdapterContext(pool=pool))
        [legacy] = await cloud.get_instances(["sim-0000000000000old"])
        assert (legacy.state, legacy.zone, legacy.security_group_ids, legacy.public_ips) == (
            InstanceState.RUNNING,
            None,
            (),
            (),
        )
        assert "]: legacy\n" in await cloud.console_output(legacy.id)
        samples = await cloud.get_metrics(legacy.id, legacy.created_at)
        assert {s.value for s in samples if s.name == "cpu_utilization"} == {20}
        assert (await cloud.stop_instance(legacy.id)).state == InstanceState.STOPPING
        [idle] = await cloud.get_instances(["sim-000000000stopped"])
        assert idle.state == InstanceState.STOPPED
        assert (await cloud.console_output(idle.id)).rstrip().endswith("reboot: Power down")
        assert (await cloud.start_instance(idle.id)).state == InstanceState.STARTING
    finally:
        await pool.close()
