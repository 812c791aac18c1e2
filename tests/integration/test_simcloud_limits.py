"""SimCloud's limits and faults on a real PostgreSQL: quotas, the API rate limit, launches that fail, and the
speed-up of simulated time."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from adapters.base import InstanceState, QuotaExceeded, Throttled, VolumeSpec, VolumeState
from adapters.registry import AdapterContext
from adapters.simcloud import SimCloudAdapter, SimCloudConfig, SimStore
from adapters.simcloud.faults import launch_fails
from adapters.simcloud.throttle import account_bucket
from kernel import db
from tests.clock import FakeClock
from tests.integration.simcloud_harness import Make, SimClock, spec
from tests.tokens import new_token

pytestmark = pytest.mark.integration


async def states(cloud: SimCloudAdapter, ids: list[str]) -> dict[str, InstanceState]:
    return {i.id: i.state for i in await cloud.get_instances(ids)}


# --- quotas ------------------------------------------------------------------------------------------------------


async def test_max_instances_counts_instances_not_terminated(make: Make, clock: SimClock) -> None:
    cloud = make(max_instances=2, terminate_seconds=5)
    first = await cloud.launch_instance(spec())
    await cloud.launch_instance(spec())

    with pytest.raises(QuotaExceeded, match="2 instances"):
        await cloud.launch_instance(spec())
    await cloud.terminate_instance(first.id)
    # Terminating is not terminated yet: the instance still holds its place.
    with pytest.raises(QuotaExceeded):
        await cloud.launch_instance(spec())
    clock.advance(5)
    assert (await cloud.launch_instance(spec())).state == InstanceState.PENDING


async def test_max_vcpus_counts_the_flavors(make: Make) -> None:
    cloud = make(max_vcpus=3)
    await cloud.launch_instance(spec(flavor_id="sim.medium"))

    with pytest.raises(QuotaExceeded, match="vCPUs"):
        await cloud.launch_instance(spec(flavor_id="sim.medium"))
    await cloud.launch_instance(spec(flavor_id="sim.small"))
    with pytest.raises(QuotaExceeded):
        await cloud.launch_instance(spec(flavor_id="sim.nano"))


async def test_a_retried_launch_answers_its_instance_even_when_the_quota_is_full(make: Make) -> None:
    cloud = make(max_instances=1)
    token = uuid.uuid4().hex
    first = await cloud.launch_instance(spec(client_token=token))

    again = await cloud.launch_instance(spec(client_token=token))

    assert again.id == first.id


async def test_concurrent_launches_never_exceed_the_quota(make: Make) -> None:
    cloud = make(max_instances=5)

    outcomes = await asyncio.gather(*(cloud.launch_instance(spec()) for _ in range(20)), return_exceptions=True)

    assert sum(isinstance(o, QuotaExceeded) for o in outcomes) == 15
    assert len((await cloud.list_instances()).items) == 5


async def test_quotas_are_per_account(make: Make) -> None:
    full = make(max_instances=1)
    await full.launch_instance(spec())
    other = make(f"other-{uuid.uuid4().hex[:8]}", max_instances=1)

    assert (await other.launch_instance(spec())).state == InstanceState.PENDING


# --- the API rate limit ------------------------------------------------------------------------------------------


async def test_every_call_of_the_account_spends_from_one_bucket(pool: db.Pool) -> None:
    ticks = FakeClock()
    cloud = SimCloudAdapter(SimStore(pool, f"acct-{uuid.uuid4().hex[:8]}"), SimCloudConfig(), account_bucket(3, ticks))

    await cloud.list_flavors()
    launched = await cloud.launch_instance(spec())
    await cloud.get_instances([launched.id])

    for call in (cloud.list_zones(), cloud.console_output(launched.id), cloud.stop_instance(launched.id)):
        with pytest.raises(Throttled, match="retry in 0.33 s"):
            await call
    ticks.now += 1 / 3
    assert [f.id for f in await cloud.list_flavors()][0] == "sim.nano"
    with pytest.raises(Throttled):
        await cloud.list_flavors()


async def test_the_rate_limit_setting_throttles_the_account_across_its_adapters(pool: db.Pool) -> None:
    account = f"acct-{uuid.uuid4().hex[:8]}"
    # One call every 100 s: the burst of one is spent and nothing refills while the test runs.
    settings = {"rate_limit_per_second": 0.01}
    first = await SimCloudAdapter.connect(account, settings, AdapterContext(pool=pool))
    second = await SimCloudAdapter.connect(account, settings, AdapterContext(pool=pool))
    elsewhere = await SimCloudAdapter.connect(f"other-{uuid.uuid4().hex[:8]}", settings, AdapterContext(pool=pool))

    await first.list_regions()

    with pytest.raises(Throttled) as caught:
        await second.list_images()
    assert caught.value.retryable
    assert len(await elsewhere.list_regions()) == 1


async def test_throttled_calls_change_nothing(pool: db.Pool) -> None:
    ticks = FakeClock()
    account = f"acct-{uuid.uuid4().hex[:8]}"
    cloud = SimCloudAdapter(SimStore(pool, account), SimCloudConfig(), account_bucket(1, ticks))
    await cloud.list_regions()

    with pytest.raises(Throttled):
        await cloud.launch_instance(spec())

    assert await pool.fetchval("SELECT count(*) FROM simcloud.instances WHERE account_id = $1", account) == 0


# --- launches that fail ------------------------------------------------------------------------------------------


async def test_with_rate_one_every_launch_fails_at_boot_time_with_a_reason(make: Make, clock: SimClock) -> None:
    cloud = make(launch_failure_rate=1.0, boot_seconds=4)

    launched = await cloud.launch_instance(spec())

    assert (launched.state, launched.reason) == (InstanceState.PENDING, None)
    clock.advance(4)
    [failed] = await cloud.get_instances([launched.id])
    assert failed.state == InstanceState.ERROR
    assert failed.reason is not None and failed.reason.startswith("simulated hardware failure")
    assert "Kernel panic" in await cloud.console_output(launched.id)
    terminating = await cloud.terminate_instance(launched.id)
    assert (terminating.state, terminating.reason) == (InstanceState.TERMINATING, None)


async def test_with_rate_zero_every_launch_runs(make: Make, clock: SimClock) -> None:
    cloud = make(launch_failure_rate=0.0, boot_seconds=1)
    ids = [(await cloud.launch_instance(spec())).id for _ in range(20)]

    clock.advance(1)

    assert set((await states(cloud, ids)).values()) == {InstanceState.RUNNING}


async def test_at_half_rate_about_half_fail_and_each_token_decides(make: Make, clock: SimClock) -> None:
    cloud = make(launch_failure_rate=0.5, boot_seconds=1)
    tokens = [f"half-{i}" for i in range(200)]
    launched = {t: (await cloud.launch_instance(spec(client_token=t))).id for t in tokens}
    clock.advance(1)

    found = await states(cloud, list(launched.values()))
    failed = {t for t, i in launched.items() if found[i] == InstanceState.ERROR}

    assert {found[i] for i in launched.values()} == {InstanceState.RUNNING, InstanceState.ERROR}
    assert 70 <= len(failed) <= 130
    assert failed == {t for t in tokens if launch_fails(t, 0.5)}
    # The same tokens in another account fail alike: the outcome belongs to the token.
    other = make(f"other-{uuid.uuid4().hex[:8]}", launch_failure_rate=0.5, boot_seconds=0)
    again = [await other.launch_instance(spec(client_token=t)) for t in tokens[:40]]
    assert {t for t, i in zip(tokens, again, strict=False) if i.state == InstanceState.ERROR} == failed & set(
        tokens[:40]
    )


# --- simulated time ----------------------------------------------------------------------------------------------


async def test_speedup_shortens_every_transition(make: Make, clock: SimClock) -> None:
    cloud = make(boot_seconds=60, stop_seconds=30, volume_seconds=120, speedup=60)
    launched = await cloud.launch_instance(spec())

    clock.advance(0.99)
    assert (await states(cloud, [launched.id]))[launched.id] == InstanceState.PENDING
    clock.advance(0.01)
    assert (await states(cloud, [launched.id]))[launched.id] == InstanceState.RUNNING
    await cloud.stop_instance(launched.id)
    clock.advance(0.5)
    assert (await states(cloud, [launched.id]))[launched.id] == InstanceState.STOPPED
    volume = await cloud.create_volume(VolumeSpec("v", 10, client_token=new_token()))
    clock.advance(1.99)
    assert [v.state for v in await cloud.list_volumes()] == [VolumeState.CREATING]
    clock.advance(0.01)
    assert [v.state for v in await cloud.list_volumes()] == [VolumeState.AVAILABLE]
    assert volume.state == VolumeState.CREATING


async def test_speedup_on_the_real_clock(pool: db.Pool) -> None:
    # A minute's boot at 600 times the speed: a tenth of a second.
    cloud = await SimCloudAdapter.connect(
        f"acct-{uuid.uuid4().hex[:8]}", {"boot_seconds": 60, "speedup": 600}, AdapterContext(pool=pool)
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    launched = await cloud.launch_instance(spec())

    while (await states(cloud, [launched.id]))[launched.id] != InstanceState.RUNNING:
        assert loop.time() - started < 5, "a sped-up boot took more than 5 s"
        await asyncio.sleep(0.01)

    assert launched.state == InstanceState.PENDING
