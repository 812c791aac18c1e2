"""The EC2 adapter's client-side rate limit (its policy over the kernel's token bucket) and its backoff, on a
hand-driven clock: no sleeping, no server."""

from __future__ import annotations

import asyncio

import pytest

from adapters.base import Throttled
from adapters.ec2 import ThrottleConfig
from adapters.ec2._throttle import Throttle, backoff, is_non_mutating
from kernel.retry import pause_after
from tests.clock import FakeClock


class RecordingSleep:
    """Stands in for asyncio.sleep: records the waits and moves the fake clock on by them."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.clock.advance(seconds)


def test_actions_are_classified_like_ec2() -> None:
    assert is_non_mutating("DescribeInstances")
    assert is_non_mutating("GetConsoleOutput")
    assert not is_non_mutating("RunInstances")
    assert not is_non_mutating("AuthorizeSecurityGroupIngress")


def test_each_action_has_its_own_bucket_sized_by_its_category() -> None:
    clock = FakeClock()
    throttle = Throttle(ThrottleConfig(), clock=clock)
    # EC2's published defaults: Describe* 100 refilling 20/s, mutating 200 refilling 5/s.
    assert [throttle.reserve("ec2", "DescribeInstances") for _ in range(100)] == [0.0] * 100
    assert throttle.reserve("ec2", "DescribeInstances") == pytest.approx(1 / 20)
    assert throttle.reserve("ec2", "DescribeVolumes") == 0.0  # another action, another bucket
    assert [throttle.reserve("ec2", "StopInstances") for _ in range(200)] == [0.0] * 200
    assert throttle.reserve("ec2", "StopInstances") == pytest.approx(1 / 5)
    describe = throttle.request_bucket("ec2", "DescribeImages")
    mutate = throttle.request_bucket("ec2", "CreateVolume")
    watch = throttle.request_bucket("cloudwatch", "GetMetricData")
    assert (describe.capacity, describe.rate) == (100, 20)
    assert (mutate.capacity, mutate.rate) == (200, 5)
    assert (watch.capacity, watch.rate) == (50, 50)


def test_run_instances_also_spends_a_resource_token_per_instance() -> None:
    clock = FakeClock()
    config = ThrottleConfig.model_validate({"mutating": {"capacity": 10_000, "refill_per_second": 10_000}})
    throttle = Throttle(config, clock=clock)
    # 1,000 instances at once, then about 2 a second.
    assert [throttle.reserve("ec2", "RunInstances", resources=1) for _ in range(1000)] == [0.0] * 1000
    assert throttle.reserve("ec2", "RunInstances", resources=1) == pytest.approx(0.5)
    assert throttle.reserve("ec2", "RunInstances", resources=1) == pytest.approx(1.0)
    clock.advance(10)
    assert throttle.resource_bucket("RunInstances") is not None
    assert throttle.resource_bucket("TerminateInstances") is None


def test_configured_buckets_replace_the_defaults() -> None:
    config = ThrottleConfig.model_validate(
        {
            "non_mutating": {"capacity": 3, "refill_per_second": 1},
            "actions": {"DescribeInstances": {"capacity": 1, "refill_per_second": 4}},
        }
    )
    throttle = Throttle(config, clock=FakeClock())
    assert [throttle.reserve("ec2", "DescribeInstances") for _ in range(2)] == pytest.approx([0.0, 0.25])
    assert [throttle.reserve("ec2", "DescribeVolumes") for _ in range(4)] == pytest.approx([0.0, 0.0, 0.0, 1.0])


def test_a_wait_beyond_the_limit_is_refused_and_takes_nothing() -> None:
    clock = FakeClock()
    config = ThrottleConfig.model_validate(
        {"mutating": {"capacity": 1, "refill_per_second": 0.1}, "max_wait_seconds": 5}
    )
    throttle = Throttle(config, clock=clock)
    assert throttle.reserve("ec2", "CreateVolume") == 0.0
    with pytest.raises(Throttled):
        throttle.reserve("ec2", "CreateVolume")  # would wait 10 s
    clock.advance(10)  # the refused request took no token: one is back after 10 s
    assert throttle.reserve("ec2", "CreateVolume") == 0.0


def test_a_disabled_throttle_never_waits() -> None:
    throttle = Throttle(ThrottleConfig(enabled=False), clock=FakeClock())
    assert all(throttle.reserve("ec2", "RunInstances", resources=1) == 0.0 for _ in range(5000))


async def test_acquire_waits_off_the_debt_and_refunds_when_cancelled() -> None:
    clock = FakeClock()
    sleep = RecordingSleep(clock)
    config = ThrottleConfig.model_validate({"non_mutating": {"capacity": 2, "refill_per_second": 4}})
    throttle = Throttle(config, clock=clock, sleep=sleep)
    for _ in range(4):
        await throttle.acquire("ec2", "DescribeInstances")
    assert sleep.waits == pytest.approx([0.25, 0.25])

    async def cancelled_sleep(seconds: float) -> None:
        raise asyncio.CancelledError

    blocked = Throttle(config, clock=clock, sleep=cancelled_sleep)
    await blocked.acquire("ec2", "DescribeImages")
    await blocked.acquire("ec2", "DescribeImages")
    with pytest.raises(asyncio.CancelledError):
        await blocked.acquire("ec2", "DescribeImages")
    # The cancelled request gave its token back: the bucket is empty, not in debt.
    assert blocked.request_bucket("ec2", "DescribeImages").tokens == pytest.approx(0)


def test_backoff_doubles_up_to_the_cap_with_full_jitter() -> None:
    wait = backoff(ThrottleConfig(backoff_base_seconds=0.5, backoff_cap_seconds=20.0))
    for failures, ceiling in zip(range(1, 9), (0.5, 1, 2, 4, 8, 16, 20, 20), strict=True):
        draws = [pause_after(wait, failures) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in draws)
        # Full jitter: spread over the whole range, not bunched at its top.
        assert min(draws) < ceiling * 0.2 and max(draws) > ceiling * 0.8
    assert 0 <= pause_after(wait, 10_000) <= 20.0  # no overflow
